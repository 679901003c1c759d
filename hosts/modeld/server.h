/*
 * server.h - modeld's HTTP server: one common/httpd daemon named "model"
 * (the name fault rules match with "server") with the model routes, the
 * models list and the admin routes.
 */
#ifndef MODELD_SERVER_H
#define MODELD_SERVER_H

#include "httpd.h"
#include "options.h"

#define MODELD_SERVER_NAME "model"

/* Creates and starts the server; returns NULL after logging on failure. */
httpd_t *server_start(const modeld_opts_t *o);

#endif
