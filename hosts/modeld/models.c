/* models.c - the model list (see models.h). */
#include "models.h"

#include "ids.h"

#define MODEL_ID "modeld"
#define MODEL_CREATED 1767225600 /* 2026-01-01T00:00:00Z, fixed for determinism */

/* One model object carrying both providers' fields. */
static json_t *model_json(const char *id)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "id", id, "object", "model", "type", "model",
                     "display_name", "modeld scripted model", "created",
                     (json_int_t)MODEL_CREATED, "created_at", "2026-01-01T00:00:00Z", "owned_by",
                     "modeld");
}

/* The list with one entry. */
httpd_result_t models_list(httpd_req_t *req)
{
    request_id(req);
    return httpd_reply_json(req, 200,
                            json_pack("{s:s,s:[o],s:b,s:s,s:s}", "object", "list", "data",
                                      model_json(MODEL_ID), "has_more", 0, "first_id", MODEL_ID,
                                      "last_id", MODEL_ID));
}

/* Echoes the requested id as a model. */
httpd_result_t models_get(httpd_req_t *req)
{
    request_id(req);
    return httpd_reply_json(req, 200, model_json(httpd_param(req, 0)));
}
