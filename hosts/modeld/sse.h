/*
 * sse.h - server-sent-event answers built in full, then streamed.
 *
 * The scripted answer is known before the first byte is sent, so a stream is
 * simply a list of frames handed to httpd_reply_stream() one message at a
 * time.  The last frame (message_stop / [DONE]) is sent as the stream's
 * closing message, so the common "cut" fault leaves exactly it out and the
 * "drop" fault closes the connection after `after_messages` frames.
 */
#ifndef MODELD_SSE_H
#define MODELD_SSE_H

#include "hostile.h"
#include "httpd.h"

#include <jansson.h>
#include <stddef.h>

typedef struct sse sse_t;

/* An empty frame list, or NULL when out of memory.  `raw` (may be NULL) are
 * the hostile placeholders' raw values, spliced into each frame by
 * sse_add() (they need to live only while frames are added). */
sse_t *sse_new(char *const *raw);

/* Appends "event: <event>\n" (if event is not NULL) and "data: <json>\n\n";
 * `data` is stolen.  Returns 0 or -1. */
int sse_add(sse_t *s, const char *event, json_t *data);

/* Appends raw frame text as is.  Returns 0 or -1. */
int sse_add_raw(sse_t *s, const char *text);

/* Streams the frames (text/event-stream); takes ownership of `s`. */
httpd_result_t sse_reply(httpd_req_t *req, sse_t *s);

/* Frees a frame list that was not handed to sse_reply(). */
void sse_free(sse_t *s);

/* The piece size for a delta stream of `len` bytes: `small`, or 64 KiB for
 * texts over 64 KiB (so a huge answer is not millions of frames). */
#define SSE_BIG 65536
size_t sse_piece_size(size_t len, size_t small);

/* Length of the next piece of `s` (length `len`) to send as one delta: at
 * most `want` bytes, never splitting a UTF-8 character, at least 1. */
size_t sse_piece(const char *s, size_t len, size_t want);

#endif
