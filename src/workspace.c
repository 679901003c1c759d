/*-------------------------------------------------------------------------
 *
 * workspace.c
 *	  Building the steps that fill a run's sandbox before the first model
 *	  turn and collect its work after the last (see workspace.h), and the
 *	  checks of those inputs at INSERT.
 *
 * Commands get their variable parts through environment variables, never
 * spliced into the script, so a URL, a branch or a glob is data, not
 * shell.  The repository's credentials are a secret's environment
 * variable read by a git credential helper: the value is never in a
 * command line, a URL, an event or the repository's config.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"

#include "json_util.h"
#include "sandbox.h"
#include "workspace.h"

#define MAX_INPUT_FILE_BYTES (16 * 1024 * 1024)
#define MAX_INPUT_BYTES (64 * 1024 * 1024)

/* clone; on a new branch; the commit it starts from on the last line */
static const char *const clone_script =
"set -e\n"
"cd " WORKSPACE_HOME "\n"
"args=()\n"
"[ -n \"$PGSANDBOX_DEPTH\" ] && args+=(--depth \"$PGSANDBOX_DEPTH\")\n"
"sha=''\n"
"if [[ \"$PGSANDBOX_REF\" =~ ^[0-9a-f]{7,40}$ ]]; then sha=$PGSANDBOX_REF;\n"
"elif [ -n \"$PGSANDBOX_REF\" ]; then args+=(--branch \"$PGSANDBOX_REF\"); fi\n"
"if [ -n \"$PGSANDBOX_SECRET_VAR\" ]; then\n"
"  helper='!f() { echo username=x-access-token; echo \"password=$'\"$PGSANDBOX_SECRET_VAR\"'\"; }; f'\n"
"  origin=$(printf '%s' \"$PGSANDBOX_URL\" | sed -E 's#^([a-z]+://[^/]+).*#\\1#')\n"
"  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=\"credential.$origin.helper\" GIT_CONFIG_VALUE_0=\"$helper\"\n"
"fi\n"
"git clone -q \"${args[@]}\" -- \"$PGSANDBOX_URL\" repo 2>&1\n"
"cd repo\n"
"[ -n \"$sha\" ] && git checkout -q \"$sha\" 2>&1\n"
"git checkout -q -b \"$PGSANDBOX_BRANCH\" 2>&1\n"
"[ -n \"$PGSANDBOX_SECRET_VAR\" ] && git config \"credential.$origin.helper\" \"$helper\"\n"
"git config user.name 'sandbox agent'\n"
"git config user.email 'agent@sandbox.invalid'\n"
"git rev-parse HEAD\n";

/* the diff against the starting commit, files not yet added included */
static const char *const diff_script =
"cd " WORKSPACE_REPO " && git add -A -N . && git -c core.quotepath=off diff --binary \"$PGSANDBOX_START\"";

/* commit what changed (if anything) and push the branch; the commit last */
static const char *const push_script =
"set -e\n"
"cd " WORKSPACE_REPO "\n"
"git add -A\n"
"git diff --cached --quiet || git commit -q -m \"$PGSANDBOX_MESSAGE\" 2>&1\n"
"git push -q origin \"HEAD:refs/heads/$PGSANDBOX_BRANCH\" 2>&1\n"
"git rev-parse HEAD\n";

/* files matching the globs: size, tab, path; then "total N" */
static const char *const list_script =
"cd " WORKSPACE_HOME " || exit 1\n"
"shopt -s globstar nullglob dotglob\n"
"declare -A seen\n"
"n=0\n"
"while IFS= read -r g; do\n"
"  [ -z \"$g\" ] && continue\n"
"  for f in $g; do\n"
"    [ -f \"$f\" ] || continue\n"
"    [ -n \"${seen[$f]}\" ] && continue\n"
"    seen[$f]=1\n"
"    n=$((n+1))\n"
"    [ $n -le \"$PGSANDBOX_MAX\" ] && printf '%s\\t%s\\n' \"$(stat -c %s -- \"$f\")\" \"$f\"\n"
"  done\n"
"done <<< \"$PGSANDBOX_GLOBS\"\n"
"echo \"total $n\"\n";

/*
 * env_json builds a JSON object of strings from name/value pairs
 * (NULL-terminated; a NULL value leaves its name out).
 */
static char *
env_json(const char *const *pairs)
{
	StringInfoData b;
	bool		first = true;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	for (int i = 0; pairs[i]; i += 2)
		if (pairs[i + 1])
			json_append_kv_string(&b, &first, pairs[i], pairs[i + 1]);
	appendStringInfoChar(&b, '}');
	return b.data;
}

/*
 * safe_path tells whether p stays under /home/user: absolute
 * paths must start there, and no component may be "..".
 */
static bool
safe_path(const char *p)
{
	const char *c;

	if (p == NULL || p[0] == '\0' || strchr(p, '\n') || strlen(p) > 4096)
		return false;
	if (p[0] == '/' && strncmp(p, WORKSPACE_HOME "/", strlen(WORKSPACE_HOME) + 1) != 0)
		return false;
	for (c = p; *c; c++)
		if ((c == p || c[-1] == '/') && c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
			return false;
	return true;
}

/*
 * full_path makes a path under /home/user absolute.
 */
static char *
full_path(const char *p)
{
	return p[0] == '/' ? pstrdup(p) : psprintf(WORKSPACE_HOME "/%s", p);
}

/*
 * valid_ref tells whether s may name a git branch or tag given to us:
 * letters, digits, . _ / -, not starting with - or /, no "..".
 */
static bool
valid_ref(const char *s)
{
	if (s == NULL || s[0] == '\0' || s[0] == '-' || s[0] == '/' || strlen(s) > 200 || strstr(s, ".."))
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			  *c == '.' || *c == '_' || *c == '/' || *c == '-'))
			return false;
	return true;
}

/*
 * valid_env_name tells whether s is an environment variable's name.
 */
static bool
valid_env_name(const char *s)
{
	if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9') || strlen(s) > 128)
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	return true;
}

/*
 * url_problem accepts http://, https:// and git:// URLs without credentials
 * (they belong in a secret), whitespace or control characters: NULL, or
 * what is wrong.
 */
static const char *
url_problem(const char *url)
{
	const char *host;
	const char *slash;

	if (url == NULL || url[0] == '\0')
		return "repo.url is missing";
	if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "git://", 6) == 0)
		host = url + 6;
	else
		return "repo.url must start with https://, http:// or git://";
	for (const char *c = url; *c; c++)
		if ((unsigned char) *c <= ' ' || *c == 0x7f)
			return "repo.url may not contain spaces or control characters";
	slash = strchr(host, '/');
	if (host[0] == '\0' || host[0] == '/')
		return "repo.url has no host";
	if (memchr(host, '@', slash ? (size_t) (slash - host) : strlen(host)))
		return "repo.url may not carry credentials; name a secret in repo.secret instead";
	if (strlen(url) > 2048)
		return "repo.url is longer than 2048 bytes";
	return NULL;
}

/*
 * workspace_strip_credentials returns a URL fit for an event (it never has
 * credentials: they are refused at INSERT; this is a second guard).
 */
char *
workspace_strip_credentials(const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *at;
	const char *slash;

	if (scheme == NULL)
		return pstrdup(url);
	slash = strchr(scheme + 3, '/');
	at = strchr(scheme + 3, '@');
	if (at && (slash == NULL || at < slash))
		return psprintf("%.*s%s", (int) (scheme + 3 - url), url, at + 1);
	return pstrdup(url);
}

/*
 * workspace_check_files checks agent_runs.files: an object mapping paths
 * under /home/user to text, or to {"base64": "..."}.  NULL when fine.
 */
char *
workspace_check_files(Jsonb *files)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int64		total = 0;
	int			level = 0;
	char	   *key = NULL;

	if (!JB_ROOT_IS_OBJECT(files) || JB_ROOT_IS_SCALAR(files))
		return "files must be a JSON object of paths to contents";
	it = JsonbIteratorInit(&files->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
		{
			level++;
			if (tok == WJB_BEGIN_ARRAY || level > 2)
				return psprintf("files.\"%s\" must be text or {\"base64\": \"...\"}", key ? key : "");
			continue;
		}
		if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
		{
			level--;
			continue;
		}
		if (tok == WJB_KEY && level == 1)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (!safe_path(key))
				return psprintf("files: \"%s\" is not a path under " WORKSPACE_HOME, key);
			continue;
		}
		if (tok == WJB_KEY && level == 2)
		{
			if (v.val.string.len != 6 || strncmp(v.val.string.val, "base64", 6) != 0)
				return psprintf("files.\"%s\" may only have the key \"base64\"", key);
			continue;
		}
		if (tok == WJB_VALUE)
		{
			int64		len;

			if (v.type != jbvString)
				return psprintf("files.\"%s\" must be text or {\"base64\": \"...\"}", key ? key : "");
			len = level == 2 ? pg_b64_dec_len(v.val.string.len) : v.val.string.len;
			if (level == 2)
			{
				char	   *buf = palloc(len + 1);
				int			n = pg_b64_decode(v.val.string.val, v.val.string.len, buf, len);

				if (n < 0)
					return psprintf("files.\"%s\".base64 is not valid base64", key);
				len = n;
				pfree(buf);
			}
			if (len > MAX_INPUT_FILE_BYTES)
				return psprintf("files.\"%s\" is " INT64_FORMAT " bytes, more than %d", key, len, MAX_INPUT_FILE_BYTES);
			total += len;
			if (total > MAX_INPUT_BYTES)
				return psprintf("files hold more than %d bytes", MAX_INPUT_BYTES);
		}
	}
	return NULL;
}

/*
 * workspace_check_repo checks agent_runs.repo.  NULL when fine.
 */
char *
workspace_check_repo(Jsonb *repo)
{
	JsonbContainer *c = &repo->root;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	const char *p;
	char	   *s;
	JsonbValue *jv;

	if (!json_is_object(c))
		return "repo must be a JSON object with at least \"url\"";
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY)
		{
			char	   *k = pnstrdup(v.val.string.val, v.val.string.len);

			if (strcmp(k, "url") != 0 && strcmp(k, "ref") != 0 && strcmp(k, "branch") != 0 &&
				strcmp(k, "depth") != 0 && strcmp(k, "secret") != 0 && strcmp(k, "push") != 0)
				return psprintf("repo has an unknown key \"%s\" (the keys are url, ref, branch, depth, secret, push)", k);
		}
	if ((p = url_problem(json_get_string(c, "url"))) != NULL)
		return pstrdup(p);
	if ((jv = json_get(c, "ref")) && (jv->type != jbvString || !valid_ref(json_get_string(c, "ref"))))
		return "repo.ref must be a branch, a tag or a commit id";
	if ((jv = json_get(c, "branch")) && (jv->type != jbvString || !valid_ref(json_get_string(c, "branch"))))
		return "repo.branch must be a valid branch name (letters, digits, . _ / -)";
	if ((jv = json_get(c, "depth")))
	{
		int64		d;

		if (jv->type != jbvNumeric || !json_get_int64(c, "depth", &d) || d < 1 || d > 1000000)
			return "repo.depth must be a whole number from 1 to 1000000";
	}
	if ((jv = json_get(c, "secret")) && (jv->type != jbvString || !valid_env_name((s = json_get_string(c, "secret")))))
		return "repo.secret must name a secret";
	if ((jv = json_get(c, "push")) && jv->type != jbvBool)
		return "repo.push must be true or false";
	return NULL;
}

/*
 * workspace_check_globs checks agent_runs.artifacts.  NULL when fine.
 */
char *
workspace_check_globs(List *globs)
{
	ListCell   *lc;

	foreach(lc, globs)
	{
		char	   *g = lfirst(lc);

		if (!safe_path(g) || strchr(g, '\r'))
			return psprintf("artifacts: \"%s\" is not a pattern under " WORKSPACE_HOME, g);
	}
	return NULL;
}

/*
 * workspace_parse_repo reads a run's repo JSON (checked at INSERT); the
 * branch defaults to run-<id>.  False for NULL or unreadable JSON.
 */
bool
workspace_parse_repo(const char *json, const char *run_id, WsRepo *out)
{
	Jsonb	   *j;
	JsonbContainer *c;
	JsonbValue *v;
	int64		depth = 0;

	memset(out, 0, sizeof(*out));
	if (json == NULL || (j = json_parse_cstring(json)) == NULL || !json_is_object((c = json_root(j))))
		return false;
	out->url = json_get_string(c, "url");
	if (out->url == NULL)
		return false;
	out->ref = json_get_string(c, "ref");
	out->branch = json_get_string(c, "branch");
	if (out->branch == NULL)
		out->branch = psprintf("run-%s", run_id);
	if (json_get_int64(c, "depth", &depth))
		out->depth = (int) Max(0, Min(depth, 1000000));
	out->secret = json_get_string(c, "secret");
	v = json_get(c, "push");
	out->push = v && v->type == jbvBool && v->val.boolean;
	return true;
}

/*
 * workspace_input_steps lists what fills a fresh sandbox: each file, then
 * the clone.
 */
List *
workspace_input_steps(const char *files_json, const WsRepo *repo)
{
	List	   *steps = NIL;

	if (files_json)
	{
		Jsonb	   *j = json_parse_cstring(files_json);
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		if (j && json_is_object(json_root(j)))
		{
			it = JsonbIteratorInit(&j->root);
			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				if (tok == WJB_KEY)
					key = pnstrdup(v.val.string.val, v.val.string.len);
				else if (tok == WJB_VALUE && key)
				{
					WsStep	   *s = palloc0(sizeof(WsStep));

					s->kind = WS_WRITE;
					s->purpose = WSP_FILE;
					s->path = full_path(key);
					if (v.type == jbvString)
					{
						s->data = pnstrdup(v.val.string.val, v.val.string.len);
						s->len = v.val.string.len;
					}
					else if (v.type == jbvBinary)
					{
						char	   *b64 = json_get_string(v.val.binary.data, "base64");
						int			dlen = b64 ? pg_b64_dec_len(strlen(b64)) : 0;

						s->data = palloc(dlen + 1);
						s->len = b64 ? Max(0, pg_b64_decode(b64, strlen(b64), s->data, dlen)) : 0;
					}
					else
						continue;
					steps = lappend(steps, s);
				}
			}
		}
	}
	if (repo && repo->url)
	{
		WsStep	   *s = palloc0(sizeof(WsStep));
		const char *const env[] = {
			"PGSANDBOX_URL", repo->url,
			"PGSANDBOX_REF", repo->ref,
			"PGSANDBOX_BRANCH", repo->branch,
			"PGSANDBOX_DEPTH", repo->depth > 0 ? psprintf("%d", repo->depth) : NULL,
			"PGSANDBOX_SECRET_VAR", repo->secret,
			NULL
		};

		s->kind = WS_COMMAND;
		s->purpose = WSP_CLONE;
		s->command = pstrdup(clone_script);
		s->envs_json = env_json(env);
		steps = lappend(steps, s);
	}
	return steps;
}

/*
 * workspace_output_steps lists what is collected after the last turn: the
 * repository's diff, the commit and push, and the artifacts' listing
 * (whose output then gives one read per file).
 */
List *
workspace_output_steps(const WsRepo *repo, const char *start_commit, const char *commit_message,
					   List *globs)
{
	List	   *steps = NIL;

	if (repo && repo->url && start_commit)
	{
		WsStep	   *s = palloc0(sizeof(WsStep));
		const char *const env[] = {"PGSANDBOX_START", start_commit, NULL};

		s->kind = WS_COMMAND;
		s->purpose = WSP_DIFF;
		s->command = pstrdup(diff_script);
		s->envs_json = env_json(env);
		steps = lappend(steps, s);
		if (repo->push)
		{
			const char *const penv[] = {
				"PGSANDBOX_MESSAGE", commit_message,
				"PGSANDBOX_BRANCH", repo->branch,
				NULL
			};

			s = palloc0(sizeof(WsStep));
			s->kind = WS_COMMAND;
			s->purpose = WSP_PUSH;
			s->command = pstrdup(push_script);
			s->envs_json = env_json(penv);
			steps = lappend(steps, s);
		}
	}
	if (globs != NIL)
	{
		WsStep	   *s = palloc0(sizeof(WsStep));
		StringInfoData g;
		ListCell   *lc;
		char	   *max = psprintf("%d", sandbox_max_artifacts);

		initStringInfo(&g);
		foreach(lc, globs)
		{
			char	   *p = lfirst(lc);

			/* patterns are relative to /home/user, where the listing runs */
			if (strncmp(p, WORKSPACE_HOME "/", strlen(WORKSPACE_HOME) + 1) == 0)
				p += strlen(WORKSPACE_HOME) + 1;
			appendStringInfo(&g, "%s\n", p);
		}
		{
			const char *const env[] = {"PGSANDBOX_GLOBS", g.data, "PGSANDBOX_MAX", max, NULL};

			s->kind = WS_COMMAND;
			s->purpose = WSP_LIST;
			s->command = pstrdup(list_script);
			s->envs_json = env_json(env);
		}
		steps = lappend(steps, s);
	}
	return steps;
}

/*
 * workspace_clone_commit takes the starting commit from the clone's
 * output (its last line), or NULL.
 */
char *
workspace_clone_commit(const char *stdout_text)
{
	const char *end;
	const char *start;

	if (stdout_text == NULL)
		return NULL;
	end = stdout_text + strlen(stdout_text);
	while (end > stdout_text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	start = end;
	while (start > stdout_text && start[-1] != '\n')
		start--;
	if (end - start < 7 || end - start > 64)
		return NULL;
	for (const char *c = start; c < end; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return NULL;
	return pnstrdup(start, end - start);
}

/*
 * workspace_listed_files reads the listing: a WS_READ step per file (at
 * most sandbox.max_artifacts were printed), and how many matched beyond.
 */
List *
workspace_listed_files(const char *stdout_text, int64 *left_out)
{
	List	   *steps = NIL;
	const char *line = stdout_text;
	int64		total = 0;

	*left_out = 0;
	while (line && *line)
	{
		const char *nl = strchr(line, '\n');
		size_t		len = nl ? (size_t) (nl - line) : strlen(line);
		char	   *l = pnstrdup(line, len);
		char	   *tab = strchr(l, '\t');

		if (strncmp(l, "total ", 6) == 0)
			total = strtoll(l + 6, NULL, 10);
		else if (tab)
		{
			WsStep	   *s = palloc0(sizeof(WsStep));

			*tab = '\0';
			s->kind = WS_READ;
			s->purpose = WSP_ARTIFACT;
			s->size = strtoll(l, NULL, 10);
			s->name = pstrdup(tab + 1);
			s->path = full_path(tab + 1);
			steps = lappend(steps, s);
		}
		line = nl ? nl + 1 : NULL;
	}
	if (total > list_length(steps))
		*left_out = total - list_length(steps);
	return steps;
}
