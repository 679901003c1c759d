/*-------------------------------------------------------------------------
 *
 * sql_files.c
 *	  SQL functions for a sandbox's filesystem: write, read, list, remove,
 *	  make a directory.  Paths are the sandbox's (relative ones resolve
 *	  against /home/user).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "json_util.h"
#include "registry.h"
#include "sandbox.h"
#include "sql_common.h"

PG_FUNCTION_INFO_V1(sandbox_write_file);
PG_FUNCTION_INFO_V1(sandbox_read_file);
PG_FUNCTION_INFO_V1(sandbox_read_file_text);
PG_FUNCTION_INFO_V1(sandbox_list_files);
PG_FUNCTION_INFO_V1(sandbox_remove_file);
PG_FUNCTION_INFO_V1(sandbox_make_dir);

/*
 * resolve_path_args reads (sandbox_id, path) and checks the caller may use
 * the sandbox.
 */
static char *
resolve_path_args(FunctionCallInfo fcinfo, E2BTarget *t)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	char	   *path = arg_text_required(fcinfo, 1, "path");

	registry_resolve(sandbox_id, t);
	registry_touch(sandbox_id);
	return path;
}

/*
 * path_body builds the {"path": ...} body of a filesystem RPC.
 */
static char *
path_body(const char *path)
{
	StringInfoData body;
	bool		first = true;

	initStringInfo(&body);
	appendStringInfoChar(&body, '{');
	json_append_kv_string(&body, &first, "path", path);
	appendStringInfoChar(&body, '}');
	return body.data;
}

/*
 * sandbox_write_file(sandbox_id, path, content) writes a file, creating
 * parent directories and replacing any existing file.  The same C function
 * serves the bytea and text overloads (both are plain varlenas).
 */
Datum
sandbox_write_file(PG_FUNCTION_ARGS)
{
	E2BTarget	t;
	char	   *path = resolve_path_args(fcinfo, &t);
	bytea	   *content;
	HttpRequest *req;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("content must not be null")));
	content = PG_GETARG_BYTEA_PP(2);
	req = e2b_write_file_request(&t, path, VARDATA_ANY(content), VARSIZE_ANY_EXHDR(content));
	/* large uploads: allow the transfer time, not just the usual timeout */
	http_set_timeouts(req, sandbox_connect_timeout,
					  sandbox_http_timeout + (long) (VARSIZE_ANY_EXHDR(content) / 1024), 0);
	perform_or_raise(req, psprintf("write file \"%s\"", path), t.sandbox_id, SERVICE_ENVD);
	PG_RETURN_INT64((int64) VARSIZE_ANY_EXHDR(content));
}

/*
 * read_file fetches a file's bytes; raises a clear error when it does not
 * exist or exceeds sandbox.max_response_bytes.
 */
static HttpRequest *
read_file(FunctionCallInfo fcinfo, E2BTarget *t, char **path_out)
{
	char	   *path = resolve_path_args(fcinfo, t);
	HttpRequest *req = e2b_read_file_request(t, path);
	CallError	err;

	http_perform_sync(req, NULL, NULL);
	if (call_error_from_http(req, SERVICE_ENVD, &err))
	{
		if (err.kind == CALL_NOT_FOUND && !sandbox_gone(&err))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("file \"%s\" does not exist in sandbox \"%s\"", path, t->sandbox_id),
					 errdetail("%s", call_error_describe(&err))));
		raise_sandbox_call_error(&err, psprintf("read file \"%s\"", path), t->sandbox_id);
	}
	*path_out = path;
	return req;
}

/*
 * sandbox_read_file(sandbox_id, path) returns a file's exact bytes.
 */
Datum
sandbox_read_file(PG_FUNCTION_ARGS)
{
	E2BTarget	t;
	char	   *path;
	HttpRequest *req = read_file(fcinfo, &t, &path);
	size_t		n = http_data_len(req);
	bytea	   *result = palloc(VARHDRSZ + n);

	SET_VARSIZE(result, VARHDRSZ + n);
	memcpy(VARDATA(result), http_data(req), n);
	PG_RETURN_BYTEA_P(result);
}

/*
 * sandbox_read_file_text reads a file as text; invalid UTF-8 and NUL bytes
 * become U+FFFD instead of failing.
 */
Datum
sandbox_read_file_text(PG_FUNCTION_ARGS)
{
	E2BTarget	t;
	char	   *path;
	HttpRequest *req = read_file(fcinfo, &t, &path);

	PG_RETURN_TEXT_P(sandbox_bytes_to_text(http_data(req), http_data_len(req)));
}

/*
 * rpc_or_raise runs a unary filesystem RPC and returns its answer.
 */
static Jsonb *
rpc_or_raise(E2BTarget *t, const char *rpc, const char *body, const char *action,
			 CallError *err_out)
{
	HttpRequest *req = e2b_rpc_request(t, rpc, body);
	Jsonb	   *out;
	CallError	err;

	http_perform_sync(req, NULL, NULL);
	if (!e2b_parse_rpc(req, &out, &err))
	{
		if (err_out)
		{
			*err_out = err;
			return NULL;
		}
		raise_sandbox_call_error(&err, action, t->sandbox_id);
	}
	return out;
}

/*
 * file_type_name maps envd's FILE_TYPE_* to file, dir or symlink.
 */
static const char *
file_type_name(const char *t)
{
	if (t == NULL)
		return "unknown";
	if (strcmp(t, "FILE_TYPE_FILE") == 0)
		return "file";
	if (strcmp(t, "FILE_TYPE_DIRECTORY") == 0)
		return "dir";
	if (strcmp(t, "FILE_TYPE_SYMLINK") == 0)
		return "symlink";
	return "unknown";
}

/*
 * sandbox_list_files(sandbox_id, path, depth) lists a directory: name,
 * path, type (file, dir, symlink), size, mode, modified.
 */
Datum
sandbox_list_files(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	E2BTarget	t;
	char	   *path = resolve_path_args(fcinfo, &t);
	int			depth = PG_ARGISNULL(2) ? 1 : PG_GETARG_INT32(2);
	StringInfoData body;
	bool		first = true;
	Jsonb	   *out;
	JsonbContainer *entries;
	int			n;
	CallError	err;

	if (depth < 1 || depth > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("depth must be between 1 and 100")));
	InitMaterializedSRF(fcinfo, 0);
	initStringInfo(&body);
	appendStringInfoChar(&body, '{');
	json_append_kv_string(&body, &first, "path", path);
	json_append_kv_int(&body, &first, "depth", depth);
	appendStringInfoChar(&body, '}');
	out = rpc_or_raise(&t, "filesystem.Filesystem/ListDir", body.data, "list files", &err);
	if (out == NULL)
	{
		if (err.kind == CALL_NOT_FOUND && !sandbox_gone(&err))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("directory \"%s\" does not exist in sandbox \"%s\"", path, t.sandbox_id),
					 errdetail("%s", call_error_describe(&err))));
		raise_sandbox_call_error(&err, psprintf("list \"%s\"", path), t.sandbox_id);
	}
	entries = json_get_array(json_root(out), "entries");
	n = jarr_length(entries);
	for (int i = 0; i < n; i++)
	{
		JsonbContainer *e = json_value_container(jarr_get(entries, i));
		Datum		values[6];
		bool		nulls[6] = {0};
		char	   *s;
		int64		num;

		if (!json_is_object(e))
			continue;
		s = json_get_string(e, "name");
		nulls[0] = s == NULL;
		values[0] = s ? CStringGetTextDatum(s) : (Datum) 0;
		s = json_get_string(e, "path");
		nulls[1] = s == NULL;
		values[1] = s ? CStringGetTextDatum(s) : (Datum) 0;
		values[2] = CStringGetTextDatum(file_type_name(json_get_string(e, "type")));
		nulls[3] = !json_get_int64(e, "size", &num);
		values[3] = Int64GetDatum(nulls[3] ? 0 : num);
		nulls[4] = !json_get_int64(e, "mode", &num);
		values[4] = Int32GetDatum(nulls[4] ? 0 : (int32) num);
		values[5] = parse_rfc3339(json_get_string(e, "modifiedTime"), &nulls[5]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * sandbox_remove_file(sandbox_id, path) removes a file or a directory tree;
 * false when there was nothing to remove.
 */
Datum
sandbox_remove_file(PG_FUNCTION_ARGS)
{
	E2BTarget	t;
	char	   *path = resolve_path_args(fcinfo, &t);
	char	   *body = path_body(path);
	CallError	err;

	/* envd's Remove succeeds on a missing path: ask first, to answer false */
	if (rpc_or_raise(&t, "filesystem.Filesystem/Stat", body, "stat", &err) == NULL)
	{
		if (err.kind == CALL_NOT_FOUND && !sandbox_gone(&err))
			PG_RETURN_BOOL(false);
		raise_sandbox_call_error(&err, psprintf("remove \"%s\"", path), t.sandbox_id);
	}
	(void) rpc_or_raise(&t, "filesystem.Filesystem/Remove", body,
						psprintf("remove \"%s\"", path), NULL);
	PG_RETURN_BOOL(true);
}

/*
 * sandbox_make_dir(sandbox_id, path) creates a directory (and parents);
 * false when it already exists.
 */
Datum
sandbox_make_dir(PG_FUNCTION_ARGS)
{
	E2BTarget	t;
	char	   *path = resolve_path_args(fcinfo, &t);
	CallError	err;

	if (rpc_or_raise(&t, "filesystem.Filesystem/MakeDir", path_body(path), "make a directory", &err) == NULL)
	{
		if (err.status == 409 || (err.code && strcmp(err.code, "already_exists") == 0))
			PG_RETURN_BOOL(false);
		raise_sandbox_call_error(&err, psprintf("make directory \"%s\"", path), t.sandbox_id);
	}
	PG_RETURN_BOOL(true);
}
