/*-------------------------------------------------------------------------
 *
 * json_util.h
 *	  Reading JSON through PostgreSQL's jsonb, and building it with
 *	  escape_json.  No hand-written JSON parser.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_JSON_UTIL_H
#define SANDBOX_JSON_UTIL_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/*
 * Deepest nesting of arrays and objects accepted from a provider or a
 * sandbox; PostgreSQL's recursive JSON code must never run out of stack.
 */
#define JSON_MAX_DEPTH 512

extern Jsonb *json_parse(const char *data, size_t len);
extern const char *json_parse_error(void);
extern Jsonb *json_parse_cstring(const char *s);
extern JsonbContainer *json_root(Jsonb *j);
extern bool json_is_object(JsonbContainer *c);
extern bool json_is_array(JsonbContainer *c);

extern JsonbValue *json_get(JsonbContainer *c, const char *key);
extern char *json_get_string(JsonbContainer *c, const char *key);
extern bool json_get_int64(JsonbContainer *c, const char *key, int64 *out);
extern bool json_get_bool(JsonbContainer *c, const char *key, bool *out);
extern JsonbContainer *json_get_object(JsonbContainer *c, const char *key);
extern JsonbContainer *json_get_array(JsonbContainer *c, const char *key);
extern Jsonb *json_get_jsonb(JsonbContainer *c, const char *key);
extern int	jarr_length(JsonbContainer *c);
extern JsonbValue *jarr_get(JsonbContainer *c, int i);
extern JsonbContainer *json_value_container(JsonbValue *v);
extern char *json_value_string(JsonbValue *v);

extern void json_append_string(StringInfo buf, const char *s);
extern void json_append_kv_string(StringInfo buf, bool *first, const char *key, const char *val);
extern void json_append_kv_int(StringInfo buf, bool *first, const char *key, int64 val);
extern void json_append_kv_raw(StringInfo buf, bool *first, const char *key, const char *raw);
extern char *json_body_to_utf8(StringInfo buf, size_t *len);

#endif							/* SANDBOX_JSON_UTIL_H */
