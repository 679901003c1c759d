/*
 * models.h - GET /v1/models and GET /v1/models/{id}.
 *
 * One model, "modeld", in a shape both SDKs page through:
 * {"object":"list","data":[{"id","object":"model","type":"model",
 *  "display_name","created","created_at","owned_by"}],"has_more":false,
 *  "first_id","last_id"}.  Any id is "found" by /v1/models/{id}, since every
 * model name is accepted by the chat routes.
 */
#ifndef MODELD_MODELS_H
#define MODELD_MODELS_H

#include "httpd.h"

/* GET /v1/models */
httpd_result_t models_list(httpd_req_t *req);

/* GET /v1/models/{id} */
httpd_result_t models_get(httpd_req_t *req);

#endif
