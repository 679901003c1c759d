/* api.c - control-plane handlers (see api.h). */
#include "api.h"

#include "b64.h"
#include "config.h"
#include "isolation.h"
#include "metrics.h"
#include "netcfg.h"
#include "sandbox.h"
#include "stats.h"
#include "templates.h"
#include "timeutil.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ENVD_VERSION "0.6.13"
#define CLIENT_ID "6532622b"

/* Constant-time comparison for the API key. */
static bool key_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* Authorization hook of the api server: X-API-Key must match --api-key exactly
 * (constant-time comparison); answers 401 otherwise. */
int api_auth(httpd_req_t *req, void *arg)
{
    (void)arg;
    const char *k = httpd_header(req, "X-API-Key");
    return (k && key_equal(k, g_cfg.api_key)) ? 0 : 401;
}

/* Error-body hook of the api server: E2B's {"code","message"}, with E2B's
 * default messages when the caller gave none (e.g. the 401 of the auth hook). */
json_t *api_error_body(httpd_req_t *req, int status, const char *message, void *arg)
{
    (void)req;
    (void)arg;
    if (!message) {
        switch (status) {
        case 401:
            message = "Invalid API key, please visit https://e2b.dev/docs/api-key for more information.";
            break;
        case 404:
            message = "Not Found";
            break;
        case 429:
            message = "Rate limit exceeded, please try again later";
            break;
        case 503:
            message = "Service unavailable";
            break;
        default:
            message = "Internal server error";
        }
    }
    return json_pack("{s:i,s:s}", "code", status, "message", message);
}

/* E2B's 404 for an unknown sandbox. */
static httpd_result_t not_found(httpd_req_t *req, const char *id)
{
    return httpd_reply_error(req, 404, "Sandbox \"%s\" doesn't exist or you don't have access to it",
                             id ? id : "");
}

/* Parses the JSON body; answers 400 and returns NULL if it is not an object. */
static json_t *body_object(httpd_req_t *req, httpd_result_t *rc)
{
    char err[200];
    json_t *b = httpd_body_json(req, err, sizeof err);
    if (!b || !json_is_object(b)) {
        json_decref(b);
        *rc = httpd_reply_error(req, 400, "Error when parsing request: %s",
                                b ? "body must be a JSON object" : err);
        return NULL;
    }
    return b;
}

/* Checks that a value is absent or an object of strings. */
static bool string_map_ok(json_t *v)
{
    if (!v || json_is_null(v))
        return true;
    if (!json_is_object(v))
        return false;
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) if (!json_is_string(x)) return false;
    return true;
}

/* Reads an optional integer timeout in seconds and validates it against
 * the plan maximum; 0 means "absent".  Returns -1 after answering 400. */
static int parse_timeout(httpd_req_t *req, json_t *v, int *out, httpd_result_t *rc)
{
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v)) {
        *rc = httpd_reply_error(req, 400, "Error when parsing request: timeout must be an integer");
        return -1;
    }
    json_int_t t = json_integer_value(v);
    if (t <= 0) {
        *rc = httpd_reply_error(req, 400, "Timeout must be greater than 0 seconds");
        return -1;
    }
    if (t > g_cfg.max_timeout_s) {
        *rc = httpd_reply_error(req, 400, "Timeout cannot be greater than %d hours",
                                (g_cfg.max_timeout_s + 3599) / 3600);
        return -1;
    }
    *out = (int)t;
    return 0;
}

/* The "domain" of a sandbox: --domain, or null ("use E2B_DOMAIN"). */
static json_t *domain_json(void)
{
    return g_cfg.domain ? json_string(g_cfg.domain) : json_null();
}

/* The Sandbox object returned by create/connect/resume. */
static json_t *sandbox_json(const sandbox_t *sb)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "templateID", sb->tmpl->id, "alias",
                          sb->tmpl->alias, "sandboxID", sb->id, "clientID", CLIENT_ID,
                          "envdVersion", ENVD_VERSION, "trafficAccessToken",
                          sb->traffic_token[0] ? json_string(sb->traffic_token) : json_null(),
                          "domain", domain_json());
    if (sb->token[0])
        json_object_set_new(o, "envdAccessToken", json_string(sb->token));
    return o;
}

/* E2B's ShortID: "<id>" or "<id>-<clientID>", the id in [a-z0-9]+. */
static bool valid_sandbox_id(const char *id)
{
    if (!id || !id[0])
        return false;
    const char *dash = strchr(id, '-');
    if (dash && strchr(dash + 1, '-'))
        return false;
    size_t n = dash ? (size_t)(dash - id) : strlen(id);
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9')))
            return false;
    return true;
}

/* ListedSandbox (and, with detail, SandboxDetail) fields. */
static json_t *listed_json(sandbox_t *sb, bool detail)
{
    pthread_mutex_lock(&sb->mu);
    sbx_state_t st = sb->state;
    int64_t end = st == SBX_PAUSED ? sb->paused_ms : sb->end_ms; /* E2B: the pause time */
    json_t *network = sb->network ? json_deep_copy(sb->network) : NULL;
    int allow_internet = sb->allow_internet;
    pthread_mutex_unlock(&sb->mu);
    char started[40], ended[40];
    time_rfc3339_ms(sb->started_ms, started, sizeof started);
    time_rfc3339_ms(end, ended, sizeof ended);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:O,s:s,s:s,s:[]}", "sandboxID",
                          sb->id, "templateID", sb->tmpl->id, "alias", sb->tmpl->alias, "clientID",
                          CLIENT_ID, "startedAt", started, "endAt", ended, "cpuCount", 2,
                          "memoryMB", 512, "diskSizeMB", 1024, "metadata", sb->metadata, "state",
                          st == SBX_PAUSED ? "paused" : "running", "envdVersion", ENVD_VERSION,
                          "volumeMounts");
    if (detail) {
        if (sb->token[0])
            json_object_set_new(o, "envdAccessToken", json_string(sb->token));
        json_object_set_new(o, "domain", domain_json());
        if (allow_internet >= 0)
            json_object_set_new(o, "allowInternetAccess", json_boolean(allow_internet));
        if (network) {
            json_object_set_new(o, "network", network);
            network = NULL;
        }
        json_object_set_new(o, "lifecycle",
                            json_pack("{s:b,s:s}", "autoResume", sb->auto_resume, "onTimeout",
                                      sb->auto_pause ? "pause" : "kill"));
    }
    json_decref(network);
    return o;
}

/* Reads an optional boolean (absent/null = def); false after answering
 * Go's "cannot unmarshal" 400 for another type. */
static bool opt_bool(httpd_req_t *req, json_t *b, const char *key, const char *type_name,
                     bool def, bool *out, httpd_result_t *rc)
{
    json_t *v = json_object_get(b, key);
    *out = def;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        *rc = httpd_reply_error(req, 400,
                                "Error when parsing request: json: cannot unmarshal %s into Go "
                                "struct field %s.%s of type bool",
                                json_is_string(v) ? "string" : json_is_number(v) ? "number"
                                                                                 : "value",
                                type_name, key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* POST /sandboxes and /v2/sandboxes: validate (in E2B's order and with its
 * messages), enforce the limit, create. */
static httpd_result_t create(httpd_req_t *req, bool v2)
{
    httpd_result_t rc;
    json_t *b = body_object(req, &rc);
    if (!b)
        return rc;
    const char *tid = json_string_value(json_object_get(b, "templateID"));
    json_t *meta = json_object_get(b, "metadata");
    json_t *envs = json_object_get(b, "envVars");
    json_t *ar = json_object_get(b, "autoResume");
    json_t *network = NULL;
    int timeout;
    bool auto_pause, auto_pause_memory, auto_resume = false, secure, allow_internet = true;
    bool has_allow_internet = json_object_get(b, "allow_internet_access") &&
                              !json_is_null(json_object_get(b, "allow_internet_access"));
    const char *type_name = v2 ? "NewSandboxV2" : "NewSandbox";
    char msg[512];
    int st;
    if (!tid || !tid[0]) {
        rc = httpd_reply_error(req, 400, "Error when parsing request: templateID is required");
    } else if (!string_map_ok(meta) || !string_map_ok(envs)) {
        rc = httpd_reply_error(req, 400, "Error when parsing request: metadata and envVars must "
                                         "be objects of strings");
    } else if (!opt_bool(req, b, "autoPause", type_name, false, &auto_pause, &rc) ||
               !opt_bool(req, b, "autoPauseMemory", type_name, true, &auto_pause_memory, &rc) ||
               !opt_bool(req, b, "secure", type_name, false, &secure, &rc) ||
               !opt_bool(req, b, "allow_internet_access", type_name, true, &allow_internet, &rc)) {
        /* answered */
    } else if (ar && !json_is_null(ar) &&
               (!json_is_object(ar) || !json_is_boolean(json_object_get(ar, "enabled")))) {
        rc = httpd_reply_error(req, 400, "Error when parsing request: autoResume must be "
                                         "{\"enabled\": bool}");
    } else if (parse_timeout(req, json_object_get(b, "timeout"), &timeout, &rc) == 0) {
        auto_resume = json_is_object(ar) && json_is_true(json_object_get(ar, "enabled"));
        const template_t *t = templates_find(tid);
        secure = v2 || secure;
        if (!t) {
            rc = httpd_reply_error(req, 404, "template '%s' not found", tid);
        } else if (!auto_pause_memory && !auto_pause) {
            rc = httpd_reply_error(req, 400, "autoPauseMemory=false only applies when autoPause is true.");
        } else if (!auto_pause_memory && auto_resume) {
            rc = httpd_reply_error(req, 400,
                                   "autoPauseMemory=false (filesystem-only auto-pause) cannot be "
                                   "combined with autoResume: a filesystem-only snapshot cannot "
                                   "be auto-resumed by traffic and must be resumed explicitly.");
        } else if ((st = netcfg_parse_create(json_object_get(b, "network"), &network, msg,
                                             sizeof msg))) {
            rc = httpd_reply_error(req, st, "%s", msg);
        } else if (network && json_is_false(json_object_get(network, "allowPublicTraffic")) &&
                   !secure) {
            rc = httpd_reply_error(req, 400, "You cannot create a sandbox without public access "
                                             "unless you enable secure envd access via 'secure' "
                                             "flag.");
        } else {
            int t_s = timeout ? timeout : (v2 ? 300 : 15);
            /* E2B: the create timeout clamped to the plan, at least 300 s */
            int resume_s = t_s > g_cfg.max_timeout_s ? g_cfg.max_timeout_s : t_s;
            if (resume_s < 300)
                resume_s = 300;
            sbx_create_t p = {
                .tmpl = t,
                .timeout_s = t_s,
                .metadata = json_is_object(meta) ? meta : NULL,
                .env_vars = json_is_object(envs) ? envs : NULL,
                .secure = secure,
                .auto_pause = auto_pause,
                .auto_pause_memory = auto_pause_memory,
                .auto_resume = auto_resume,
                .auto_resume_timeout_s = resume_s,
                .network = network,
                .allow_internet = has_allow_internet ? allow_internet : -1,
                .traffic_token = network && json_is_false(json_object_get(network, "allowPublicTraffic")),
            };
            int status;
            sandbox_t *sb = sandbox_create(&p, &status, msg, sizeof msg);
            if (!sb) {
                rc = httpd_reply_error(req, status, "%s", msg);
            } else {
                rc = httpd_reply_json(req, 201, sandbox_json(sb));
                sandbox_unref(sb);
            }
        }
    }
    json_decref(network);
    json_decref(b);
    return rc;
}

/* POST /sandboxes: the SDK <= 2.50 create (15 s default timeout). */
static httpd_result_t post_sandboxes_v1(httpd_req_t *req)
{
    return create(req, false);
}

/* POST /v2/sandboxes: the SDK 2.51 create (300 s default, always secured). */
static httpd_result_t post_sandboxes_v2(httpd_req_t *req)
{
    return create(req, true);
}

/* Go's url.QueryUnescape: '+' is a space, %XX a byte (in place). */
static void query_unescape(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '+')
            *p = ' ';
    MHD_http_unescape(s);
}

/* Parses E2B's metadata filter ("k=v&k2=v2", escaped as the SDK does it)
 * into an object; NULL if malformed. */
static json_t *parse_metadata_filter(const char *q)
{
    json_t *f = json_object();
    if (!q || !q[0])
        return f;
    char *copy = strdup(q);
    if (!copy) {
        json_decref(f);
        return NULL;
    }
    query_unescape(copy);
    char *save = NULL;
    for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (!eq) {
            free(copy);
            json_decref(f);
            return NULL;
        }
        *eq = '\0';
        query_unescape(pair);
        query_unescape(eq + 1);
        json_object_set_new(f, pair, json_string(eq + 1));
    }
    free(copy);
    return f;
}

/* True if every filter key has the same value in the sandbox's metadata. */
static bool metadata_matches(const sandbox_t *sb, json_t *filter)
{
    const char *k;
    json_t *v;
    json_object_foreach(filter, k, v) {
        const char *mv = json_string_value(json_object_get(sb->metadata, k));
        if (!mv || strcmp(mv, json_string_value(v)) != 0)
            return false;
    }
    return true;
}

/* Parses an RFC 3339 time ("2025-01-01T00:00:00Z", fraction and offset
 * allowed) into wall-clock ms; -1 if malformed. */
static int64_t parse_rfc3339(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        while (digits > 0 && digits < 3) {
            ms *= 10;
            digits++;
        }
    }
    int64_t off = 0;
    if (*p == '+' || *p == '-') {
        int hh = 0, mm = 0;
        if (sscanf(p + 1, "%d:%d", &hh, &mm) != 2)
            return -1;
        off = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
    } else if (*p != 'Z' && *p != 'z') {
        return -1;
    }
    return ((int64_t)timegm(&tm) - off) * 1000 + ms;
}

/* Page cursor: base64("<seq>__<sandboxID>"), opaque to clients. */
static void make_cursor(const sandbox_t *sb, char *out, size_t n)
{
    char raw[96];
    int len = snprintf(raw, sizeof raw, "%llu__%s", (unsigned long long)sb->seq, sb->id);
    if (b64_encoded_len((size_t)len) < n)
        b64_encode((const unsigned char *)raw, (size_t)len, out);
    else
        out[0] = '\0';
}

/* Decodes a cursor into the creation sequence number; -1 if invalid. */
static long long parse_cursor(const char *tok)
{
    unsigned char raw[128];
    size_t len = strlen(tok);
    if (len > 160)
        return -1;
    ssize_t n = b64_decode(tok, len, raw);
    if (n <= 0)
        return -1;
    raw[n] = '\0';
    char *end = NULL;
    long long seq = strtoll((char *)raw, &end, 10);
    if (!end || strncmp(end, "__", 2) != 0 || seq <= 0)
        return -1;
    return seq;
}

/* GET /v2/sandboxes: filters, then a page in creation order (asc default,
 * "order=desc" reverses); X-Next-Token carries the next cursor. */
static httpd_result_t list_v2(httpd_req_t *req)
{
    json_t *filter = parse_metadata_filter(httpd_query(req, "metadata"));
    if (!filter)
        return httpd_reply_error(req, 400, "Error parsing metadata: invalid key value pair in query");
    bool want_running = true, want_paused = true;
    const char *state = httpd_query(req, "state");
    if (state && state[0]) {
        want_running = want_paused = false;
        char *copy = strdup(state), *save = NULL;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
            if (strcmp(t, "running") == 0)
                want_running = true;
            else if (strcmp(t, "paused") == 0)
                want_paused = true;
            else {
                free(copy);
                json_decref(filter);
                return httpd_reply_error(req, 400, "invalid state '%s'", t);
            }
        }
        free(copy);
    }
    long limit = 100;
    const char *ls = httpd_query(req, "limit");
    if (ls && ls[0]) {
        char *end = NULL;
        limit = strtol(ls, &end, 10);
        if (*end || limit < 1 || limit > 100) {
            json_decref(filter);
            return httpd_reply_error(req, 400, "limit must be between 1 and 100");
        }
    }
    long long after = 0;
    const char *tok = httpd_query(req, "nextToken");
    if (tok && tok[0] && (after = parse_cursor(tok)) < 0) {
        json_decref(filter);
        return httpd_reply_error(req, 400, "Error parsing nextToken: invalid cursor");
    }
    const char *order = httpd_query(req, "order");
    bool desc = order && strcasecmp(order, "desc") == 0;
    if (order && order[0] && !desc && strcasecmp(order, "asc") != 0) {
        json_decref(filter);
        return httpd_reply_error(req, 400, "order must be asc or desc");
    }
    const char *tmpl = httpd_query(req, "template");
    const template_t *tf = tmpl && tmpl[0] ? templates_find(tmpl) : NULL;
    const char *sa = httpd_query(req, "startedAfter");
    int64_t started_after = -1;
    if (sa && sa[0] && (started_after = parse_rfc3339(sa)) < 0) {
        json_decref(filter);
        return httpd_reply_error(req, 400, "startedAfter must be an RFC 3339 time");
    }

    size_t n;
    sandbox_t **all = sandbox_snapshot(&n);
    json_t *out = json_array();
    char next[200] = "";
    bool more = false;
    for (size_t k = 0; k < n && !more; k++) {
        sandbox_t *sb = all[desc ? n - 1 - k : k];
        if (after && (desc ? sb->seq >= (uint64_t)after : sb->seq <= (uint64_t)after))
            continue;
        pthread_mutex_lock(&sb->mu);
        sbx_state_t st = sb->state;
        pthread_mutex_unlock(&sb->mu);
        if (st == SBX_DEAD || (st == SBX_RUNNING && !want_running) ||
            (st == SBX_PAUSED && !want_paused) || !metadata_matches(sb, filter) ||
            (tmpl && tmpl[0] && sb->tmpl != tf) ||
            (started_after >= 0 && sb->started_ms <= started_after))
            continue;
        if ((long)json_array_size(out) == limit) {
            more = true; /* one more match exists beyond this page */
            break;
        }
        json_array_append_new(out, listed_json(sb, false));
        make_cursor(sb, next, sizeof next);
    }
    sandbox_snapshot_free(all, n);
    json_decref(filter);
    if (more && next[0])
        httpd_add_header(req, "X-Next-Token", next);
    char total[32];
    snprintf(total, sizeof total, "%d", sandbox_count(SBX_RUNNING));
    httpd_add_header(req, "X-Total-Running", total);
    return httpd_reply_json(req, 200, out);
}

/* GET /sandboxes (deprecated): every running sandbox matching metadata. */
static httpd_result_t list_v1(httpd_req_t *req)
{
    json_t *filter = parse_metadata_filter(httpd_query(req, "metadata"));
    if (!filter)
        return httpd_reply_error(req, 400, "Error parsing metadata: invalid key value pair in query");
    size_t n;
    sandbox_t **all = sandbox_snapshot(&n);
    json_t *out = json_array();
    for (size_t k = 0; k < n; k++) {
        pthread_mutex_lock(&all[k]->mu);
        bool running = all[k]->state == SBX_RUNNING;
        pthread_mutex_unlock(&all[k]->mu);
        if (running && metadata_matches(all[k], filter))
            json_array_append_new(out, listed_json(all[k], false));
    }
    sandbox_snapshot_free(all, n);
    json_decref(filter);
    return httpd_reply_json(req, 200, out);
}

/* GET /sandboxes/{id} */
static httpd_result_t get_sandbox(httpd_req_t *req)
{
    sandbox_t *sb = sandbox_get(httpd_param(req, 0));
    if (!sb)
        return not_found(req, httpd_param(req, 0));
    json_t *j = listed_json(sb, true);
    sandbox_unref(sb);
    return httpd_reply_json(req, 200, j);
}

/* DELETE /sandboxes/{id} */
static httpd_result_t delete_sandbox(httpd_req_t *req)
{
    sandbox_t *sb = sandbox_get(httpd_param(req, 0));
    if (!sb)
        return not_found(req, httpd_param(req, 0));
    int rc = sandbox_kill(sb, SBX_END_KILLED);
    sandbox_unref(sb);
    if (rc < 0)
        return not_found(req, httpd_param(req, 0));
    return httpd_reply_empty(req, 204);
}

/* POST /sandboxes/{id}/timeout {"timeout": s}: TTL = now + s. */
static httpd_result_t post_timeout(httpd_req_t *req)
{
    httpd_result_t rc;
    json_t *b = body_object(req, &rc);
    if (!b)
        return rc;
    json_t *t = json_object_get(b, "timeout");
    if (!json_is_integer(t)) {
        json_decref(b);
        return httpd_reply_error(req, 400, "Error when parsing request: timeout must be an integer");
    }
    json_int_t secs = json_integer_value(t);
    json_decref(b);
    if (secs > g_cfg.max_timeout_s)
        return httpd_reply_error(req, 400, "Timeout cannot be greater than %d hours",
                                 (g_cfg.max_timeout_s + 3599) / 3600);
    sandbox_t *sb = sandbox_get(httpd_param(req, 0));
    if (!sb)
        return not_found(req, httpd_param(req, 0));
    sandbox_set_timeout(sb, secs < 0 ? 0 : (int)secs);
    sandbox_unref(sb);
    return httpd_reply_empty(req, 204);
}

/* POST /sandboxes/{id}/refreshes {"duration": s<=3600}: keep alive. */
static httpd_result_t post_refreshes(httpd_req_t *req)
{
    httpd_result_t rc;
    json_t *b = body_object(req, &rc);
    if (!b)
        return rc;
    json_t *d = json_object_get(b, "duration");
    json_int_t secs = json_is_integer(d) ? json_integer_value(d) : 60;
    json_decref(b);
    if (secs < 0 || secs > 3600)
        return httpd_reply_error(req, 400, "Duration must be between 0 and 3600 seconds");
    sandbox_t *sb = sandbox_get(httpd_param(req, 0));
    if (!sb)
        return not_found(req, httpd_param(req, 0));
    sandbox_extend(sb, (int)secs);
    sandbox_unref(sb);
    return httpd_reply_empty(req, 204);
}

/* POST /sandboxes/{id}/pause {"memory":bool (default true)} */
static httpd_result_t post_pause(httpd_req_t *req)
{
    httpd_result_t hrc;
    json_t *b = body_object(req, &hrc);
    if (!b)
        return hrc;
    bool keep_memory = !json_is_false(json_object_get(b, "memory"));
    json_decref(b);
    sandbox_t *sb = sandbox_get(httpd_param(req, 0));
    if (!sb)
        return not_found(req, httpd_param(req, 0));
    int rc = sandbox_pause(sb, keep_memory);
    char id[SANDBOX_ID_LEN + 1];
    snprintf(id, sizeof id, "%s", sb->id);
    sandbox_unref(sb);
    if (rc < 0)
        return not_found(req, id);
    if (rc == 1)
        return httpd_reply_error(req, 409, "Sandbox \"%s\" is already paused", id);
    return httpd_reply_empty(req, 204);
}

/* Shared by resume and the connect variants: resumes a paused sandbox or
 * extends a running one.  `status_running` is the status for a sandbox
 * that was already running (409 for resume, 200 for connect). */
static httpd_result_t resume_or_connect(httpd_req_t *req, const char *id, int timeout,
                                        int status_running, bool keep_memory)
{
    sandbox_t *sb = sandbox_get(id);
    if (!sb)
        return not_found(req, id);
    int rc = sandbox_resume(sb, timeout, keep_memory);
    httpd_result_t r;
    if (rc == -1)
        r = not_found(req, id);
    else if (rc == -2)
        r = httpd_reply_error(req, 429,
                              "you have reached the maximum number of concurrent E2B sandboxes "
                              "(%d). If you need more, please contact us at "
                              "'https://e2b.dev/docs/getting-help'",
                              g_cfg.max_sandboxes);
    else if (rc == 1 && status_running == 409)
        r = httpd_reply_error(req, 409, "Sandbox \"%s\" is already running", sb->id);
    else
        r = httpd_reply_json(req, rc == 1 ? status_running : 201, sandbox_json(sb));
    sandbox_unref(sb);
    return r;
}

/* Reads the optional "timeout" of resume/connect bodies (default 300 s) and
 * "memory" (default true; false = resume from the files only). */
static int body_timeout(httpd_req_t *req, bool required, int *out, bool *memory,
                        httpd_result_t *rc)
{
    json_t *b = body_object(req, rc);
    if (!b)
        return -1;
    json_t *t = json_object_get(b, "timeout");
    int secs = 0;
    if (required && !t) {
        json_decref(b);
        *rc = httpd_reply_error(req, 400, "Error when parsing request: timeout is required");
        return -1;
    }
    if (!opt_bool(req, b, "memory", "ConnectSandbox", true, memory, rc)) {
        json_decref(b);
        return -1;
    }
    int r = parse_timeout(req, t, &secs, rc);
    json_decref(b);
    if (r < 0)
        return -1;
    *out = secs ? secs : 300;
    return 0;
}

/* POST /sandboxes/{id}/resume (deprecated): 201, or 409 if running. */
static httpd_result_t post_resume(httpd_req_t *req)
{
    int t;
    bool memory;
    httpd_result_t rc;
    if (body_timeout(req, false, &t, &memory, &rc) < 0)
        return rc;
    return resume_or_connect(req, httpd_param(req, 0), t, 409, memory);
}

/* POST /sandboxes/{id}/connect: 200 running, 201 resumed. */
static httpd_result_t post_connect_v1(httpd_req_t *req)
{
    int t;
    bool memory;
    httpd_result_t rc;
    if (body_timeout(req, true, &t, &memory, &rc) < 0)
        return rc;
    return resume_or_connect(req, httpd_param(req, 0), t, 200, memory);
}

/* POST /v2/sandboxes/{id}/connect: body optional. */
static httpd_result_t post_connect_v2(httpd_req_t *req)
{
    int t;
    bool memory;
    httpd_result_t rc;
    if (body_timeout(req, false, &t, &memory, &rc) < 0)
        return rc;
    return resume_or_connect(req, httpd_param(req, 0), t, 200, memory);
}

/* Parses an optional non-negative integer query parameter; false after
 * answering 400 (the OpenAPI validator's complaint). */
static bool query_int64(httpd_req_t *req, const char *name, int64_t *out, httpd_result_t *rc)
{
    const char *v = httpd_query(req, name);
    *out = -1;
    if (!v)
        return true;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (!v[0] || *end) {
        *rc = httpd_reply_error(req, 400, "parameter \"%s\" in query has an error: value %s: an "
                                          "invalid integer: invalid syntax", name, v);
        return false;
    }
    if (n < 0) {
        *rc = httpd_reply_error(req, 400, "parameter \"%s\" in query has an error: number must "
                                          "be at least 0", name);
        return false;
    }
    *out = n;
    return true;
}

/* JSON reply with reals printed as Go prints a float32 metric (4.36, not
 * jansson's default 17 significant digits, 4.3600000000000003). */
static httpd_result_t reply_json_metrics(httpd_req_t *req, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(body);
    if (!s)
        return httpd_reply_error(req, 500, "out of memory");
    httpd_result_t rc = httpd_reply_bytes(req, 200, "application/json", s, strlen(s));
    free(s);
    return rc;
}

/* GET /sandboxes/{id}/metrics?start=&end= (Unix seconds): the sandbox's
 * SandboxMetric series.  As in E2B, the range defaults to the first and
 * last sample, an unknown (or killed) sandbox has an empty series, and a
 * start after the end is a 400. */
static httpd_result_t get_metrics(httpd_req_t *req)
{
    const char *id = httpd_param(req, 0);
    if (!valid_sandbox_id(id))
        return httpd_reply_error(req, 400, "Invalid sandbox ID");
    httpd_result_t rc;
    int64_t start, end;
    if (!query_int64(req, "start", &start, &rc) || !query_int64(req, "end", &end, &rc))
        return rc;
    sandbox_t *sb = sandbox_get(id);
    json_t *series = NULL;
    int r = metrics_series(sb, start, end, &series);
    sandbox_unref(sb);
    if (r < 0)
        return httpd_reply_error(req, 400, "Invalid time range for metrics");
    return reply_json_metrics(req, series);
}

/* PUT /sandboxes/{id}/network: replaces the egress rules (allowOut, denyOut,
 * rules; omitted = cleared) and optionally allow_internet_access of a
 * running sandbox -> 204.  Stored and reported, not enforced. */
static httpd_result_t put_network(httpd_req_t *req)
{
    const char *id = httpd_param(req, 0);
    if (!valid_sandbox_id(id))
        return httpd_reply_error(req, 400, "Invalid sandbox ID");
    httpd_result_t rc;
    json_t *b = body_object(req, &rc);
    if (!b)
        return rc;
    json_t *egress = NULL;
    int allow_internet;
    char msg[512];
    int st = netcfg_parse_update(b, &egress, &allow_internet, msg, sizeof msg);
    json_decref(b);
    if (st)
        return httpd_reply_error(req, st, "%s", msg);
    sandbox_t *sb = sandbox_get(id);
    if (!sb || sandbox_update_network(sb, egress, allow_internet) < 0)
        rc = not_found(req, id); /* E2B: a paused sandbox is not in its store either */
    else
        rc = httpd_reply_empty(req, 204);
    sandbox_unref(sb);
    json_decref(egress);
    return rc;
}

/* GET /health (no key needed): used by scripts to wait for readiness. */
static httpd_result_t get_health(httpd_req_t *req)
{
    json_t *j = json_pack("{s:s,s:s,s:i}", "status", "ok", "isolation", iso_describe(),
                          "sandboxes", sandbox_count(SBX_RUNNING) + sandbox_count(SBX_PAUSED));
    return httpd_reply_json(req, 200, j);
}

/* Registers every control-plane route (admin routes are added by main). */
void api_register(httpd_t *h)
{
    httpd_route(h, "GET", "/health", get_health, HTTPD_PUBLIC | HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "POST", "/sandboxes", post_sandboxes_v1, 0, NULL);
    httpd_route(h, "POST", "/v2/sandboxes", post_sandboxes_v2, 0, NULL);
    httpd_route(h, "GET", "/v2/sandboxes", list_v2, 0, NULL);
    httpd_route(h, "GET", "/sandboxes", list_v1, 0, NULL);
    httpd_route(h, "GET", "/sandboxes/{id}", get_sandbox, 0, NULL);
    httpd_route(h, "DELETE", "/sandboxes/{id}", delete_sandbox, 0, NULL);
    httpd_route(h, "POST", "/sandboxes/{id}/timeout", post_timeout, 0, NULL);
    httpd_route(h, "POST", "/sandboxes/{id}/refreshes", post_refreshes, 0, NULL);
    httpd_route(h, "POST", "/sandboxes/{id}/pause", post_pause, 0, NULL);
    httpd_route(h, "GET", "/sandboxes/{id}/metrics", get_metrics, 0, NULL);
    httpd_route(h, "PUT", "/sandboxes/{id}/network", put_network, 0, NULL);
    httpd_route(h, "POST", "/sandboxes/{id}/resume", post_resume, 0, NULL);
    httpd_route(h, "POST", "/sandboxes/{id}/connect", post_connect_v1, 0, NULL);
    httpd_route(h, "POST", "/v2/sandboxes/{id}/connect", post_connect_v2, 0, NULL);
}
