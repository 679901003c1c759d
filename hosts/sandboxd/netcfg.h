/*
 * netcfg.h - the "network" of a create request (and the body of PUT
 * /sandboxes/{id}/network), validated as E2B's API does and normalized to
 * what GET /sandboxes/{id} reports back.
 *
 * sandboxd stores and reports these settings but cannot enforce egress
 * rules: sandboxes share the host's network.  It does enforce the ingress
 * side: allowPublicTraffic=false makes every port but envd's require the
 * trafficAccessToken, and maskRequestHost replaces the Host header of
 * forwarded requests (see proxy.h, portfwd.h).
 */
#ifndef SANDBOXD_NETCFG_H
#define SANDBOXD_NETCFG_H

#include <jansson.h>
#include <stddef.h>

/* Validates a create body's "network" object (NULL/null = none).  Returns
 * 0 with *out = the normalized config ({allowOut?, denyOut?,
 * allowPublicTraffic?, maskRequestHost?, rules?}, or NULL for none), or
 * an HTTP status (400, 403) with E2B's message in msg. */
int netcfg_parse_create(json_t *network, json_t **out, char *msg, size_t msgsz);

/* Validates a PUT /sandboxes/{id}/network body: 0 with *egress = the new
 * egress keys ({allowOut?, denyOut?, rules?}) and *allow_internet (-1 if
 * absent), or an HTTP status with a message. */
int netcfg_parse_update(json_t *body, json_t **egress, int *allow_internet, char *msg,
                        size_t msgsz);

#endif
