/* admin.c - fault and stats admin endpoints (see admin.h). */
#include "admin.h"

#include "faults.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>

/* GET /admin/faults */
static httpd_result_t get_faults(httpd_req_t *req)
{
    return httpd_reply_json(req, 200, faults_to_json());
}

/* PUT /admin/faults: replaces the configuration atomically. */
static httpd_result_t put_faults(httpd_req_t *req)
{
    char err[256];
    json_t *body = httpd_body_json(req, err, sizeof err);
    if (!body)
        return httpd_reply_error(req, 400, "invalid JSON: %s", err);
    int rc = faults_set(body, err, sizeof err);
    json_decref(body);
    if (rc < 0)
        return httpd_reply_error(req, 400, "%s", err);
    return httpd_reply_json(req, 200, faults_to_json());
}

/* POST /admin/faults: appends one rule. */
static httpd_result_t post_fault(httpd_req_t *req)
{
    char err[256];
    json_t *body = httpd_body_json(req, err, sizeof err);
    if (!body)
        return httpd_reply_error(req, 400, "invalid JSON: %s", err);
    int id = faults_add(body, err, sizeof err);
    json_decref(body);
    if (id < 0)
        return httpd_reply_error(req, 400, "%s", err);
    return httpd_reply_json(req, 201, json_pack("{s:i}", "id", id));
}

/* DELETE /admin/faults: resets to "no faults". */
static httpd_result_t delete_faults(httpd_req_t *req)
{
    faults_clear();
    return httpd_reply_empty(req, 204);
}

/* DELETE /admin/faults/{id}: removes one rule. */
static httpd_result_t delete_fault(httpd_req_t *req)
{
    const char *s = httpd_param(req, 0);
    char *end = NULL;
    long id = strtol(s, &end, 10);
    if (!end || *end || faults_remove((int)id) < 0)
        return httpd_reply_error(req, 404, "fault rule %s not found", s);
    return httpd_reply_empty(req, 204);
}

/* GET /admin/stats */
static httpd_result_t get_stats(httpd_req_t *req)
{
    return httpd_reply_json(req, 200, stats_to_json());
}

/* POST /admin/stats/reset */
static httpd_result_t reset_stats(httpd_req_t *req)
{
    stats_reset();
    return httpd_reply_empty(req, 204);
}

/* Installs the routes; they are never subject to fault injection. */
void admin_register(httpd_t *h)
{
    httpd_route(h, "GET", "/admin/faults", get_faults, HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "PUT", "/admin/faults", put_faults, HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "POST", "/admin/faults", post_fault, HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "DELETE", "/admin/faults", delete_faults, HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "DELETE", "/admin/faults/{id}", delete_fault, HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "GET", "/admin/stats", get_stats, HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "POST", "/admin/stats/reset", reset_stats, HTTPD_NO_FAULTS, NULL);
}
