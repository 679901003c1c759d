/*
 * admin.h - the admin endpoints every test server exposes on its control
 * port (authorization is the server's usual hook; faults never apply):
 *
 *   GET    /admin/faults         current configuration {"seed":..,"rules":[..]}
 *   PUT    /admin/faults         replace it (body: {"seed"?:N,"rules":[rule..]}) -> 200 + config
 *   POST   /admin/faults         append one rule (body: rule) -> 201 {"id":N}
 *   DELETE /admin/faults         remove every rule -> 204
 *   DELETE /admin/faults/{id}    remove one rule -> 204 (404 if unknown)
 *   GET    /admin/stats          counters and request counts (see stats.h)
 *   POST   /admin/stats/reset    zero counters and request counts -> 204
 *
 * Rule format: see faults.h.
 */
#ifndef COMMON_ADMIN_H
#define COMMON_ADMIN_H

#include "httpd.h"

/* Adds the admin routes to `h`. */
void admin_register(httpd_t *h);

#endif
