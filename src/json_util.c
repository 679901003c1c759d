/*-------------------------------------------------------------------------
 *
 * json_util.c
 *	  Small helpers on top of jsonb for reading provider answers, and on
 *	  top of escape_json for building requests.
 *
 * Answers are first validated with PostgreSQL's JSON lexer (which reports
 * errors without throwing), so a malformed answer becomes a NULL the
 * caller turns into a clear protocol error, never an unexpected ERROR in
 * the middle of the worker's loop.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "json_util.h"
#include "sandbox.h"

/*
 * neutralise_nul_escapes replaces each JSON escape \u0000 with \ufffd in
 * place: jsonb cannot store NUL, and a process's output may contain it.
 * Only escapes are touched: an escaped backslash is skipped as a pair.
 */
static void
neutralise_nul_escapes(char *s, size_t len)
{
	size_t		i;

	for (i = 0; i + 1 < len; i++)
	{
		if (s[i] != '\\')
			continue;
		if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
			memcpy(s + i + 2, "fffd", 4);
		i++;					/* skip the escaped character */
	}
}

/*
 * nesting_depth returns the deepest nesting of arrays and objects in a JSON
 * text, outside strings, without recursion: a hostile answer of 100,000
 * nested arrays must be refused before any recursive parser sees it.
 */
static int
nesting_depth(const char *s, size_t len)
{
	int			depth = 0;
	int			deepest = 0;
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{')
		{
			if (++depth > deepest)
				deepest = depth;
		}
		else if (c == ']' || c == '}')
			depth--;
	}
	return deepest;
}

static const char *last_parse_error = NULL;

/*
 * json_parse parses len bytes of UTF-8 JSON into a Jsonb, or returns NULL
 * when they are not JSON that PostgreSQL can hold: not valid JSON, nested
 * deeper than JSON_MAX_DEPTH, or a number outside numeric's range (which
 * the lexer accepts but jsonb_in refuses).  It never raises an error for
 * what a provider or a sandbox sent; json_parse_error() says why it
 * refused.  Invalid UTF-8 is replaced first.
 */
Jsonb *
json_parse(const char *data, size_t len)
{
	char	   *s = sandbox_bytes_to_cstring(data, len);
	size_t		slen = strlen(s);
	JsonLexContext *lex;
	MemoryContext cxt = CurrentMemoryContext;
	Jsonb	   *volatile result = NULL;

	last_parse_error = NULL;
	if (nesting_depth(s, slen) > JSON_MAX_DEPTH)
	{
		last_parse_error = "it is nested deeper than " CppAsString2(JSON_MAX_DEPTH) " levels";
		return NULL;
	}
	neutralise_nul_escapes(s, slen);
	lex = makeJsonLexContextCstringLen(s, slen, GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
	{
		last_parse_error = "it is not valid JSON";
		return NULL;
	}

	/*
	 * jsonb_in fails on numbers numeric cannot hold (1e999999): a pure
	 * computation, so catching its error without a subtransaction is safe.
	 */
	PG_TRY();
	{
		result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		result = NULL;
		last_parse_error = "it holds a value PostgreSQL cannot store (a number outside numeric's range?)";
	}
	PG_END_TRY();
	return result;
}

/*
 * json_parse_error says why the last json_parse returned NULL.
 */
const char *
json_parse_error(void)
{
	return last_parse_error ? last_parse_error : "it is not valid JSON";
}

/*
 * json_parse_cstring is json_parse for a NUL-terminated string.
 */
Jsonb *
json_parse_cstring(const char *s)
{
	return json_parse(s, strlen(s));
}

/*
 * json_root returns the top container of a parsed document, or NULL.
 */
JsonbContainer *
json_root(Jsonb *j)
{
	return j ? &j->root : NULL;
}

/*
 * json_is_object tells whether c is a JSON object (not a scalar).
 */
bool
json_is_object(JsonbContainer *c)
{
	return c != NULL && JsonContainerIsObject(c) && !JsonContainerIsScalar(c);
}

/*
 * json_is_array tells whether c is a JSON array (not a scalar).
 */
bool
json_is_array(JsonbContainer *c)
{
	return c != NULL && JsonContainerIsArray(c) && !JsonContainerIsScalar(c);
}

/*
 * json_get returns the value of key in object c, or NULL (also when c is
 * not an object).
 */
JsonbValue *
json_get(JsonbContainer *c, const char *key)
{
	if (!json_is_object(c))
		return NULL;
	return getKeyJsonValueFromContainer(c, key, strlen(key), NULL);
}

/*
 * json_value_string returns a palloc'd copy of a string value, or NULL.
 */
char *
json_value_string(JsonbValue *v)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * json_get_string returns the string value of key in object c, or NULL.
 */
char *
json_get_string(JsonbContainer *c, const char *key)
{
	return json_value_string(json_get(c, key));
}

/*
 * json_get_int64 reads an integer that may be a JSON number or a numeric
 * string (protobuf's JSON mapping writes int64 as a string).
 */
bool
json_get_int64(JsonbContainer *c, const char *key, int64 *out)
{
	JsonbValue *v = json_get(c, key);
	char	   *s;
	char	   *end;
	long long	x;

	if (v == NULL)
		return false;
	/* numbers go through text, so that 1e300 or 1.5 is "not an int64", not an error */
	if (v->type == jbvNumeric)
		s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvString)
		s = pnstrdup(v->val.string.val, v->val.string.len);
	else
		return false;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE)
		return false;
	*out = (int64) x;
	return true;
}

/*
 * json_get_bool reads a boolean value of key; false when absent or not a
 * boolean.
 */
bool
json_get_bool(JsonbContainer *c, const char *key, bool *out)
{
	JsonbValue *v = json_get(c, key);

	if (v == NULL || v->type != jbvBool)
		return false;
	*out = v->val.boolean;
	return true;
}

/*
 * json_value_container returns the container of an object or array value.
 */
JsonbContainer *
json_value_container(JsonbValue *v)
{
	if (v == NULL || v->type != jbvBinary)
		return NULL;
	return v->val.binary.data;
}

/*
 * json_get_object returns the object value of key, or NULL.
 */
JsonbContainer *
json_get_object(JsonbContainer *c, const char *key)
{
	JsonbContainer *r = json_value_container(json_get(c, key));

	return json_is_object(r) ? r : NULL;
}

/*
 * json_get_array returns the array value of key, or NULL.
 */
JsonbContainer *
json_get_array(JsonbContainer *c, const char *key)
{
	JsonbContainer *r = json_value_container(json_get(c, key));

	return json_is_array(r) ? r : NULL;
}

/*
 * json_get_jsonb returns the value of key as a standalone Jsonb (any type),
 * or NULL when absent.
 */
Jsonb *
json_get_jsonb(JsonbContainer *c, const char *key)
{
	JsonbValue *v = json_get(c, key);

	if (v == NULL)
		return NULL;
	return JsonbValueToJsonb(v);
}

/*
 * jarr_length returns the number of elements of an array (0 otherwise).
 */
int
jarr_length(JsonbContainer *c)
{
	return json_is_array(c) ? (int) JsonContainerSize(c) : 0;
}

/*
 * jarr_get returns element i of an array, or NULL.
 */
JsonbValue *
jarr_get(JsonbContainer *c, int i)
{
	if (!json_is_array(c))
		return NULL;
	return getIthJsonbValueFromContainer(c, i);
}

/* builders */

/*
 * json_append_string appends s as an escaped JSON string.
 */
void
json_append_string(StringInfo buf, const char *s)
{
	escape_json(buf, s ? s : "");
}

/*
 * append_key writes the separator and "key": of the next member.
 */
static void
append_key(StringInfo buf, bool *first, const char *key)
{
	if (!*first)
		appendStringInfoChar(buf, ',');
	*first = false;
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
}

/*
 * json_append_kv_string appends "key": "escaped value" to an object
 * being built (NULL values become "").
 */
void
json_append_kv_string(StringInfo buf, bool *first, const char *key, const char *val)
{
	append_key(buf, first, key);
	escape_json(buf, val ? val : "");
}

/*
 * json_append_kv_int appends "key": number to an object being built.
 */
void
json_append_kv_int(StringInfo buf, bool *first, const char *key, int64 val)
{
	append_key(buf, first, key);
	appendStringInfo(buf, INT64_FORMAT, val);
}

/*
 * json_append_kv_raw appends "key": raw, where raw is already JSON text.
 */
void
json_append_kv_raw(StringInfo buf, bool *first, const char *key, const char *raw)
{
	append_key(buf, first, key);
	appendStringInfoString(buf, raw);
}

/*
 * json_body_to_utf8 returns the built JSON in UTF-8, as sent on the wire.
 */
char *
json_body_to_utf8(StringInfo buf, size_t *len)
{
	char	   *s = pg_server_to_any(buf->data, buf->len, PG_UTF8);

	*len = strlen(s);
	return s;
}
