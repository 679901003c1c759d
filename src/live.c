/*-------------------------------------------------------------------------
 *
 * live.c
 *	  Holding a command's live output between two tool_output events.
 *
 * Output arrives in pieces that may split a UTF-8 character, or a
 * secret's value, anywhere.  A take hands over only whole characters, and
 * can hold back a tail (the longest secret's length less one) so the
 * caller's redaction sees a value whole; the final take holds back
 * nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "live.h"
#include "sandbox.h"

/*
 * live_init prepares an empty sink that accepts at most budget bytes.
 */
void
live_init(LiveSink *s, int64 budget)
{
	memset(s, 0, sizeof(*s));
	initStringInfo(&s->out);
	initStringInfo(&s->err);
	s->budget = Max(budget, 0);
}

/*
 * live_append keeps what fits of a piece of output (the run's budget, and
 * LIVE_MAX_PENDING until the next take) and counts the rest as dropped.
 */
void
live_append(LiveSink *s, bool is_stderr, const char *data, size_t len)
{
	StringInfo	buf = is_stderr ? &s->err : &s->out;
	size_t		pending = (size_t) s->out.len + (size_t) s->err.len;
	size_t		room = pending < LIVE_MAX_PENDING ? LIVE_MAX_PENDING - pending : 0;
	size_t		keep = Min(len, room);

	keep = (size_t) Min((int64) keep, s->budget);
	if (keep > 0)
	{
		appendBinaryStringInfo(buf, data, (int) keep);
		s->budget -= keep;
	}
	s->dropped += len - keep;
	s->dropped_total += len - keep;
}

/*
 * live_pending tells whether a take would have something to say.
 */
bool
live_pending(const LiveSink *s)
{
	return s->out.len > 0 || s->err.len > 0 || s->dropped > 0;
}

/*
 * whole_prefix is how many of buf's first `upto` bytes end on a character
 * boundary: a trailing lead byte whose sequence is not complete is left.
 */
static size_t
whole_prefix(const char *buf, size_t upto)
{
	size_t		back = 0;

	/* walk back over at most 3 continuation bytes to the lead byte */
	while (back < 4 && back < upto)
	{
		unsigned char c = (unsigned char) buf[upto - 1 - back];

		if ((c & 0xC0) != 0x80)
		{
			int			need = (c < 0x80) ? 1 : pg_utf_mblen(&c);

			if ((size_t) need > back + 1)
				return upto - 1 - back;	/* incomplete: keep it for later */
			return upto;
		}
		back++;
	}
	return upto;
}

/*
 * take_one moves what may be shown of one stream into text, leaving its
 * held-back tail in the buffer.
 */
static char *
take_one(StringInfo buf, size_t holdback, int64 *shown)
{
	size_t		upto;
	char	   *text;

	if (buf->len == 0 || (size_t) buf->len <= holdback)
		return NULL;
	upto = whole_prefix(buf->data, buf->len - holdback);
	if (upto == 0)
		return NULL;
	text = sandbox_bytes_to_cstring(buf->data, upto);
	*shown += upto;
	memmove(buf->data, buf->data + upto, buf->len - upto);
	buf->len -= upto;
	buf->data[buf->len] = '\0';
	return text;
}

/*
 * live_take hands over what is pending (stdout, stderr, bytes dropped
 * since the last take), keeping the last `holdback` bytes of each stream
 * back.  Returns false when there is nothing to show.
 */
bool
live_take(LiveSink *s, size_t holdback, LiveChunk *chunk)
{
	chunk->out = take_one(&s->out, holdback, &s->shown_total);
	chunk->err = take_one(&s->err, holdback, &s->shown_total);
	chunk->dropped = s->dropped;
	s->dropped = 0;
	return chunk->out != NULL || chunk->err != NULL || chunk->dropped > 0;
}
