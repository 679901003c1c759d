/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  Framing of streamed answers: Connect protocol envelopes (envd) and
 *	  newline-delimited JSON (the code interpreter).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_STREAM_H
#define SANDBOX_STREAM_H

#include "postgres.h"
#include "lib/stringinfo.h"

#define CONNECT_FLAG_COMPRESSED 0x01
#define CONNECT_FLAG_END_STREAM 0x02
#define CONNECT_MAX_ENVELOPE (64 * 1024 * 1024)

typedef enum StreamStatus
{
	STREAM_NEED_MORE,			/* every complete frame was handled */
	STREAM_STOP,				/* the handler asked to stop */
	STREAM_BAD_FRAME			/* framing violated the protocol */
} StreamStatus;

/* Called for each complete frame; return false to stop decoding. */
typedef bool (*EnvelopeFn) (uint8 flags, const char *payload, size_t len, void *arg);
typedef bool (*LineFn) (const char *line, size_t len, void *arg);

extern StreamStatus connect_decode(const char *data, size_t len, size_t *consumed,
								   EnvelopeFn fn, void *arg);
extern void connect_envelope(StringInfo out, const char *json, size_t len);
extern StreamStatus ndjson_decode(const char *data, size_t len, size_t *consumed,
								  bool final, LineFn fn, void *arg);

#endif							/* SANDBOX_STREAM_H */
