/* auth.c - API key check (see auth.h). */
#include "auth.h"

#include "errors.h"
#include "options.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Compares without an early exit, so timing does not reveal the prefix. */
static bool same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* Accepts the request when no key is configured or a header carries it in
 * a form the request's provider uses. */
int auth_check(httpd_req_t *req, void *arg)
{
    const modeld_opts_t *o = arg;
    if (!o->api_key)
        return 0;
    const char *auth = httpd_header(req, "authorization");
    bool bearer = auth && strncasecmp(auth, "Bearer ", 7) == 0 && same(auth + 7, o->api_key);
    if (bearer)
        return 0;
    const char *xkey = httpd_header(req, "x-api-key");
    if (provider_of(req) != PROVIDER_OPENAI && xkey && same(xkey, o->api_key))
        return 0;
    return 401;
}
