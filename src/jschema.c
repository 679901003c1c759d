/*-------------------------------------------------------------------------
 *
 * jschema.c
 *	  The part of JSON Schema that structured results need: checking a
 *	  schema given at INSERT, and checking a model's answer against it.
 *
 * Keywords understood: type (a name or a list), properties, required,
 * additionalProperties (boolean or schema), items, enum, const, anyOf,
 * oneOf, allOf, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
 * minLength, maxLength, minItems, maxItems.  Others (description, title,
 * format, $schema, default, examples...) are accepted and ignored, as the
 * providers themselves do with most of them.  Nesting is bounded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "jschema.h"
#include "json_util.h"

#define JSCHEMA_MAX_DEPTH 64

static const char *const type_names[] = {
	"object", "array", "string", "number", "integer", "boolean", "null", NULL
};

/*
 * known_type tells whether name is a JSON Schema type.
 */
static bool
known_type(const char *name)
{
	for (int i = 0; type_names[i]; i++)
		if (strcmp(name, type_names[i]) == 0)
			return true;
	return false;
}

/*
 * value_type names a JSON value's type as JSON Schema does ("integer" for
 * a whole number).
 */
static const char *
value_type(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvBool:
			return "boolean";
		case jbvNumeric:
			{
				char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));

				return strchr(s, '.') || strchr(s, 'e') || strchr(s, 'E') ? "number" : "integer";
			}
		case jbvBinary:
			return json_is_object(v->val.binary.data) ? "object" : "array";
		default:
			return "object";
	}
}

/*
 * number_of reads a numeric value as a double (schema bounds are doubles).
 */
static double
number_of(JsonbValue *v)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(v->val.numeric)));
}

static char *check_schema(JsonbContainer *s, const char *path, int depth);

/*
 * check_schema_list checks a keyword whose value is a list of schemas.
 */
static char *
check_schema_list(JsonbContainer *s, const char *key, const char *path, int depth)
{
	JsonbValue *v = json_get(s, key);

	if (v == NULL)
		return NULL;
	if (v->type != jbvBinary || !json_is_array(v->val.binary.data) || jarr_length(v->val.binary.data) == 0)
		return psprintf("%s.%s must be a non-empty array of schemas", path, key);
	for (int i = 0; i < jarr_length(v->val.binary.data); i++)
	{
		JsonbValue *e = jarr_get(v->val.binary.data, i);
		char	   *p;

		if (e->type != jbvBinary || !json_is_object(e->val.binary.data))
			return psprintf("%s.%s[%d] must be a schema (an object)", path, key, i);
		if ((p = check_schema(e->val.binary.data, psprintf("%s.%s[%d]", path, key, i), depth + 1)))
			return p;
	}
	return NULL;
}

/*
 * check_schema checks one schema object; NULL when fine.
 */
static char *
check_schema(JsonbContainer *s, const char *path, int depth)
{
	JsonbValue *v;
	char	   *p;
	static const char *const numeric_keys[] = {
		"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
		"minLength", "maxLength", "minItems", "maxItems", NULL
	};

	if (depth > JSCHEMA_MAX_DEPTH)
		return psprintf("%s: the schema is nested deeper than %d levels", path, JSCHEMA_MAX_DEPTH);
	if (!json_is_object(s))
		return psprintf("%s must be a schema (an object)", path);
	if ((v = json_get(s, "type")))
	{
		if (v->type == jbvString)
		{
			char	   *t = pnstrdup(v->val.string.val, v->val.string.len);

			if (!known_type(t))
				return psprintf("%s.type: unknown type \"%s\"", path, t);
		}
		else if (v->type == jbvBinary && json_is_array(v->val.binary.data))
		{
			for (int i = 0; i < jarr_length(v->val.binary.data); i++)
			{
				JsonbValue *e = jarr_get(v->val.binary.data, i);

				if (e->type != jbvString || !known_type(pnstrdup(e->val.string.val, e->val.string.len)))
					return psprintf("%s.type[%d] is not a type name", path, i);
			}
		}
		else
			return psprintf("%s.type must be a type name or a list of them", path);
	}
	if ((v = json_get(s, "properties")))
	{
		JsonbIterator *it;
		JsonbValue	kv;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		if (v->type != jbvBinary || !json_is_object(v->val.binary.data))
			return psprintf("%s.properties must be an object of schemas", path);
		it = JsonbIteratorInit(v->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				key = pnstrdup(kv.val.string.val, kv.val.string.len);
			else if (tok == WJB_VALUE)
			{
				if (kv.type != jbvBinary || !json_is_object(kv.val.binary.data))
					return psprintf("%s.properties.%s must be a schema (an object)", path, key);
				if ((p = check_schema(kv.val.binary.data, psprintf("%s.properties.%s", path, key), depth + 1)))
					return p;
			}
		}
	}
	if ((v = json_get(s, "required")))
	{
		if (v->type != jbvBinary || !json_is_array(v->val.binary.data))
			return psprintf("%s.required must be an array of property names", path);
		for (int i = 0; i < jarr_length(v->val.binary.data); i++)
			if (jarr_get(v->val.binary.data, i)->type != jbvString)
				return psprintf("%s.required[%d] must be a property name", path, i);
	}
	if ((v = json_get(s, "additionalProperties")) && v->type != jbvBool)
	{
		if (v->type != jbvBinary || !json_is_object(v->val.binary.data))
			return psprintf("%s.additionalProperties must be a boolean or a schema", path);
		if ((p = check_schema(v->val.binary.data, psprintf("%s.additionalProperties", path), depth + 1)))
			return p;
	}
	if ((v = json_get(s, "items")))
	{
		if (v->type != jbvBinary || !json_is_object(v->val.binary.data))
			return psprintf("%s.items must be a schema (an object)", path);
		if ((p = check_schema(v->val.binary.data, psprintf("%s.items", path), depth + 1)))
			return p;
	}
	if ((v = json_get(s, "enum")) &&
		(v->type != jbvBinary || !json_is_array(v->val.binary.data) || jarr_length(v->val.binary.data) == 0))
		return psprintf("%s.enum must be a non-empty array", path);
	for (int i = 0; numeric_keys[i]; i++)
		if ((v = json_get(s, numeric_keys[i])) && v->type != jbvNumeric)
			return psprintf("%s.%s must be a number", path, numeric_keys[i]);
	if ((p = check_schema_list(s, "anyOf", path, depth)) ||
		(p = check_schema_list(s, "oneOf", path, depth)) ||
		(p = check_schema_list(s, "allOf", path, depth)))
		return p;
	return NULL;
}

/*
 * jschema_check_schema checks a JSON Schema given for structured results:
 * NULL when it is one this extension can check answers against, else the
 * problem.  The root must describe an object (both providers ask for one).
 */
char *
jschema_check_schema(Jsonb *schema)
{
	JsonbValue *t;

	if (!JB_ROOT_IS_OBJECT(schema) || JB_ROOT_IS_SCALAR(schema))
		return pstrdup("result_schema must be a JSON Schema object");
	t = json_get(&schema->root, "type");
	if (t == NULL || t->type != jbvString || t->val.string.len != 6 ||
		strncmp(t->val.string.val, "object", 6) != 0)
		return pstrdup("result_schema must describe an object: {\"type\": \"object\", \"properties\": ...}");
	return check_schema(&schema->root, "result_schema", 0);
}

/*
 * values_equal compares two JSON values for enum and const.
 */
static bool
values_equal(JsonbValue *a, JsonbValue *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case jbvNull:
			return true;
		case jbvBool:
			return a->val.boolean == b->val.boolean;
		case jbvString:
			return a->val.string.len == b->val.string.len &&
				memcmp(a->val.string.val, b->val.string.val, a->val.string.len) == 0;
		case jbvNumeric:
			return DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(a->val.numeric),
													NumericGetDatum(b->val.numeric)));
		case jbvBinary:
			{
				Jsonb	   *ja = JsonbValueToJsonb(a);
				Jsonb	   *jb = JsonbValueToJsonb(b);

				return compareJsonbContainers(&ja->root, &jb->root) == 0;
			}
		default:
			return false;
	}
}

static char *validate(JsonbContainer *s, JsonbValue *v, const char *path, int depth);

/*
 * type_matches tells whether v has one of the types the schema allows.
 */
static bool
type_matches(JsonbValue *t, JsonbValue *v)
{
	const char *vt = value_type(v);

	if (t->type == jbvString)
	{
		char	   *want = pnstrdup(t->val.string.val, t->val.string.len);

		return strcmp(want, vt) == 0 || (strcmp(want, "number") == 0 && strcmp(vt, "integer") == 0);
	}
	for (int i = 0; i < jarr_length(t->val.binary.data); i++)
		if (type_matches(jarr_get(t->val.binary.data, i), v))
			return true;
	return false;
}

/*
 * validate checks a value against a (checked) schema; NULL when it
 * matches, else where and why not.
 */
static char *
validate(JsonbContainer *s, JsonbValue *v, const char *path, int depth)
{
	JsonbValue *k;
	char	   *p;
	const char *vt = value_type(v);

	if (depth > JSCHEMA_MAX_DEPTH)
		return psprintf("%s is nested deeper than %d levels", path, JSCHEMA_MAX_DEPTH);
	if ((k = json_get(s, "type")) && !type_matches(k, v))
		return psprintf("%s: expected %s, got %s", path,
						k->type == jbvString ? pnstrdup(k->val.string.val, k->val.string.len) : "another type", vt);
	if ((k = json_get(s, "const")) && !values_equal(k, v))
		return psprintf("%s: not the constant the schema requires", path);
	if ((k = json_get(s, "enum")))
	{
		bool		found = false;

		for (int i = 0; i < jarr_length(k->val.binary.data) && !found; i++)
			found = values_equal(jarr_get(k->val.binary.data, i), v);
		if (!found)
			return psprintf("%s: not one of the values in enum", path);
	}
	if (v->type == jbvNumeric)
	{
		double		x = number_of(v);

		if ((k = json_get(s, "minimum")) && x < number_of(k))
			return psprintf("%s: %g is less than the minimum %g", path, x, number_of(k));
		if ((k = json_get(s, "maximum")) && x > number_of(k))
			return psprintf("%s: %g is more than the maximum %g", path, x, number_of(k));
		if ((k = json_get(s, "exclusiveMinimum")) && x <= number_of(k))
			return psprintf("%s: %g is not more than %g", path, x, number_of(k));
		if ((k = json_get(s, "exclusiveMaximum")) && x >= number_of(k))
			return psprintf("%s: %g is not less than %g", path, x, number_of(k));
	}
	if (v->type == jbvString)
	{
		int			len = pg_mbstrlen_with_len(v->val.string.val, v->val.string.len);

		if ((k = json_get(s, "minLength")) && len < number_of(k))
			return psprintf("%s: shorter than minLength %g", path, number_of(k));
		if ((k = json_get(s, "maxLength")) && len > number_of(k))
			return psprintf("%s: longer than maxLength %g", path, number_of(k));
	}
	if (v->type == jbvBinary && json_is_array(v->val.binary.data))
	{
		JsonbContainer *arr = v->val.binary.data;
		int			n = jarr_length(arr);

		if ((k = json_get(s, "minItems")) && n < number_of(k))
			return psprintf("%s: fewer than minItems %g", path, number_of(k));
		if ((k = json_get(s, "maxItems")) && n > number_of(k))
			return psprintf("%s: more than maxItems %g", path, number_of(k));
		if ((k = json_get(s, "items")))
			for (int i = 0; i < n; i++)
				if ((p = validate(k->val.binary.data, jarr_get(arr, i), psprintf("%s[%d]", path, i), depth + 1)))
					return p;
	}
	if (v->type == jbvBinary && json_is_object(v->val.binary.data))
	{
		JsonbContainer *obj = v->val.binary.data;
		JsonbValue *props = json_get(s, "properties");
		JsonbValue *extra = json_get(s, "additionalProperties");
		JsonbIterator *it;
		JsonbValue	kv;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		if ((k = json_get(s, "required")))
			for (int i = 0; i < jarr_length(k->val.binary.data); i++)
			{
				JsonbValue *name = jarr_get(k->val.binary.data, i);
				char	   *n = pnstrdup(name->val.string.val, name->val.string.len);

				if (json_get(obj, n) == NULL)
					return psprintf("%s: the required property \"%s\" is missing", path, n);
			}
		it = JsonbIteratorInit(obj);
		while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
		{
			JsonbValue *ps;

			if (tok == WJB_KEY)
			{
				key = pnstrdup(kv.val.string.val, kv.val.string.len);
				continue;
			}
			if (tok != WJB_VALUE)
				continue;
			ps = props && props->type == jbvBinary ? json_get(props->val.binary.data, key) : NULL;
			if (ps)
			{
				if ((p = validate(ps->val.binary.data, &kv, psprintf("%s.%s", path, key), depth + 1)))
					return p;
			}
			else if (extra && extra->type == jbvBool && !extra->val.boolean)
				return psprintf("%s: the property \"%s\" is not allowed", path, key);
			else if (extra && extra->type == jbvBinary &&
					 (p = validate(extra->val.binary.data, &kv, psprintf("%s.%s", path, key), depth + 1)))
				return p;
		}
	}
	if ((k = json_get(s, "allOf")))
		for (int i = 0; i < jarr_length(k->val.binary.data); i++)
			if ((p = validate(jarr_get(k->val.binary.data, i)->val.binary.data, v, path, depth + 1)))
				return p;
	if ((k = json_get(s, "anyOf")) || (k = json_get(s, "oneOf")))
	{
		int			matched = 0;
		bool		one = json_get(s, "anyOf") == NULL;

		for (int i = 0; i < jarr_length(k->val.binary.data); i++)
			if (validate(jarr_get(k->val.binary.data, i)->val.binary.data, v, path, depth + 1) == NULL)
				matched++;
		if (matched == 0 || (one && matched > 1))
			return psprintf("%s: matches %d of the schemas in %s", path, matched, one ? "oneOf" : "anyOf");
	}
	return NULL;
}

/*
 * jschema_validate checks a model's structured answer (JSON text) against
 * a schema checked by jschema_check_schema; NULL when it matches, else a
 * sentence for the model and the run's error.
 */
char *
jschema_validate(const char *schema_json, const char *value_json)
{
	Jsonb	   *schema = json_parse_cstring(schema_json);
	Jsonb	   *value = json_parse_cstring(value_json);
	JsonbValue	root;

	if (schema == NULL)
		return pstrdup("the schema could not be read");
	if (value == NULL)
		return psprintf("the answer is not JSON (%s)", json_parse_error());
	if (JB_ROOT_IS_SCALAR(value))
	{
		JsonbValue *scalar = jarr_get(&value->root, 0);

		root = *scalar;
	}
	else
	{
		root.type = jbvBinary;
		root.val.binary.data = &value->root;
		root.val.binary.len = VARSIZE(value) - VARHDRSZ;
	}
	return validate(&schema->root, &root, "$", 0);
}
