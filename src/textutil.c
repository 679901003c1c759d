/*-------------------------------------------------------------------------
 *
 * textutil.c
 *	  Turning bytes that came out of a sandbox into PostgreSQL text.
 *
 * A command's output is arbitrary bytes: it may hold NUL bytes or invalid
 * UTF-8.  Returning it must never fail the call, so invalid sequences and
 * NUL bytes become U+FFFD (the Unicode replacement character) before the
 * result is converted to the database encoding.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "sandbox.h"

#define REPLACEMENT_UTF8 "\xEF\xBF\xBD"

/*
 * utf8_sequence_length returns the length of the valid UTF-8 sequence at p
 * (at most len bytes available), or 0 when it is invalid, truncated or NUL.
 */
static int
utf8_sequence_length(const unsigned char *p, size_t len)
{
	int			n;

	if (p[0] == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	n = pg_utf_mblen(p);
	if (n < 2 || n > 4 || (size_t) n > len)
		return 0;
	if (!pg_utf8_islegal(p, n))
		return 0;
	return n;
}

/*
 * sanitize_utf8 copies data into buf, replacing NUL bytes and invalid UTF-8
 * with U+FFFD, so the result is a valid, NUL-free UTF-8 string.
 */
static void
sanitize_utf8(StringInfo buf, const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *) data;
	size_t		i = 0;

	while (i < len)
	{
		int			n = utf8_sequence_length(p + i, len - i);

		if (n == 0)
		{
			appendBinaryStringInfo(buf, REPLACEMENT_UTF8, 3);
			i++;
		}
		else
		{
			appendBinaryStringInfo(buf, (const char *) p + i, n);
			i += n;
		}
	}
}

/*
 * convert_one converts one UTF-8 character to the database encoding, or
 * returns NULL when the database encoding cannot hold it.
 */
static char *
convert_one(const char *utf8, int n)
{
	char		one[5];
	char	   *volatile conv = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	memcpy(one, utf8, n);
	one[n] = '\0';
	PG_TRY();
	{
		conv = pg_any_to_server(one, n, PG_UTF8);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		conv = NULL;
	}
	PG_END_TRY();
	return conv;
}

/*
 * to_server_encoding converts a valid UTF-8 string to the database
 * encoding.  Characters the database encoding cannot hold become '?', so
 * the conversion cannot fail.
 */
static char *
to_server_encoding(char *utf8, size_t len)
{
	StringInfoData out;
	size_t		i = 0;

	if (GetDatabaseEncoding() == PG_UTF8 || GetDatabaseEncoding() == PG_SQL_ASCII)
		return utf8;

	initStringInfo(&out);
	while (i < len)
	{
		int			n = pg_utf_mblen((unsigned char *) utf8 + i);

		if (n == 1)
			appendStringInfoChar(&out, utf8[i]);
		else
		{
			char	   *conv = convert_one(utf8 + i, n);

			appendStringInfoString(&out, conv ? conv : "?");
		}
		i += n;
	}
	return out.data;
}

/*
 * sandbox_bytes_to_cstring returns a palloc'd, NUL-terminated string in the
 * database encoding made from arbitrary bytes.
 */
char *
sandbox_bytes_to_cstring(const char *data, size_t len)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (len > 0)
		sanitize_utf8(&buf, data, len);
	return to_server_encoding(buf.data, buf.len);
}

/*
 * sandbox_bytes_to_text is sandbox_bytes_to_cstring returning a text datum.
 */
text *
sandbox_bytes_to_text(const char *data, size_t len)
{
	return cstring_to_text(sandbox_bytes_to_cstring(data, len));
}

/*
 * sandbox_truncate_for_message returns at most max bytes of data, made safe
 * for an error message, with "..." appended when something was cut.  Used to
 * quote a provider's answer in errdetail without flooding the log.
 */
char *
sandbox_truncate_for_message(const char *data, size_t len, size_t max)
{
	char	   *s;

	if (data == NULL)
		return pstrdup("");
	if (len <= max)
		return sandbox_bytes_to_cstring(data, len);
	/* cut on a character boundary where possible */
	while (max > 0 && (((unsigned char) data[max]) & 0xC0) == 0x80)
		max--;
	s = sandbox_bytes_to_cstring(data, max);
	return psprintf("%s...", s);
}

/*
 * sandbox_vformat formats a message into a palloc'd string, however long:
 * the body of the printf-style error helpers (call_error_set, agent_fail).
 */
char *
sandbox_vformat(const char *fmt, va_list ap)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		copy;
		int			needed;

		va_copy(copy, ap);
		needed = appendStringInfoVA(&buf, fmt, copy);
		va_end(copy);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	return buf.data;
}
