/*-------------------------------------------------------------------------
 *
 * jschema.h
 *	  A JSON Schema subset: checking a run's result_schema, and a model's
 *	  structured answer against it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_JSCHEMA_H
#define SANDBOX_JSCHEMA_H

#include "postgres.h"
#include "utils/jsonb.h"

extern char *jschema_check_schema(Jsonb *schema);
extern char *jschema_validate(const char *schema_json, const char *value_json);

#endif							/* SANDBOX_JSCHEMA_H */
