/*-------------------------------------------------------------------------
 *
 * stream.c
 *	  Decoding Connect envelopes and NDJSON lines from a byte stream that
 *	  arrives in arbitrary pieces.
 *
 * Both decoders work on whatever bytes are buffered, handle every complete
 * frame, and report how many bytes they used, so a frame split across
 * reads is simply finished on a later call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stream.h"

/*
 * connect_decode handles every complete envelope in data: 1 flag byte, a
 * 4-byte big-endian length, then that many payload bytes.
 */
StreamStatus
connect_decode(const char *data, size_t len, size_t *consumed,
			   EnvelopeFn fn, void *arg)
{
	size_t		pos = 0;
	StreamStatus status = STREAM_NEED_MORE;

	while (len - pos >= 5)
	{
		const unsigned char *h = (const unsigned char *) data + pos;
		uint32		n = ((uint32) h[1] << 24) | ((uint32) h[2] << 16) |
		((uint32) h[3] << 8) | (uint32) h[4];

		if (n > CONNECT_MAX_ENVELOPE || (h[0] & ~(CONNECT_FLAG_COMPRESSED | CONNECT_FLAG_END_STREAM)) != 0)
		{
			status = STREAM_BAD_FRAME;
			break;
		}
		if (len - pos - 5 < n)
			break;
		if (h[0] & CONNECT_FLAG_COMPRESSED)
		{
			/* we never send Connect-Accept-Encoding, so this is a violation */
			status = STREAM_BAD_FRAME;
			break;
		}
		pos += 5 + n;
		if (!fn(h[0], (const char *) h + 5, n, arg))
		{
			status = STREAM_STOP;
			break;
		}
	}
	*consumed = pos;
	return status;
}

/*
 * connect_envelope appends one uncompressed message envelope to out.
 */
void
connect_envelope(StringInfo out, const char *json, size_t len)
{
	unsigned char h[5];

	h[0] = 0;
	h[1] = (len >> 24) & 0xFF;
	h[2] = (len >> 16) & 0xFF;
	h[3] = (len >> 8) & 0xFF;
	h[4] = len & 0xFF;
	appendBinaryStringInfo(out, (const char *) h, 5);
	appendBinaryStringInfo(out, json, len);
}

/*
 * ndjson_decode handles every complete line in data (blank lines are
 * skipped).  With final set, a last line without its newline is handled
 * too.
 */
StreamStatus
ndjson_decode(const char *data, size_t len, size_t *consumed, bool final,
			  LineFn fn, void *arg)
{
	size_t		pos = 0;

	while (pos < len)
	{
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t		linelen;
		size_t		next;

		if (nl == NULL)
		{
			if (!final)
				break;
			linelen = len - pos;
			next = len;
		}
		else
		{
			linelen = nl - (data + pos);
			next = pos + linelen + 1;
		}
		if (linelen > 0 && data[pos + linelen - 1] == '\r')
			linelen--;
		if (linelen > 0 && !fn(data + pos, linelen, arg))
		{
			*consumed = next;
			return STREAM_STOP;
		}
		pos = next;
	}
	*consumed = pos;
	return STREAM_NEED_MORE;
}
