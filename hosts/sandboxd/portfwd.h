/*
 * portfwd.h - E2B's per-port sandbox hosts: requests for a port other than
 * envd's (49983) and the code interpreter's (49999), addressed by a Host of
 * the form "<port>-<sandboxID>.<domain>" (what the SDK's getHost(port)
 * returns) or by the E2b-Sandbox-Id / E2b-Sandbox-Port headers, are
 * forwarded to the server a process of that sandbox listens on.
 *
 * Sandboxes share the host's network namespace, so a server listening on
 * port P inside a sandbox listens on the host's port P.  The request is
 * forwarded only if the listening socket belongs to a process of the
 * addressed sandbox (its init's process tree); otherwise E2B's 502 "The
 * sandbox is running but port is not open" is answered, as it is when
 * nothing listens.  The request goes out as HTTP/1.0 with "Connection:
 * close" (method, path, query, headers and body; hop-by-hop headers
 * dropped; Host kept, or replaced by network.maskRequestHost), and the
 * answer is streamed back.  No WebSocket or other upgrades.
 */
#ifndef SANDBOXD_PORTFWD_H
#define SANDBOXD_PORTFWD_H

#include "httpd.h"
#include "sandbox.h"

/* Forwards the request (whose buffered body is body/len) to `port` of the
 * running sandbox and answers with the upstream response, or with E2B's
 * 502 "port is not open" body. */
httpd_result_t portfwd_forward(httpd_req_t *req, sandbox_t *sb, int port, const char *body,
                               size_t len);

/* True if some process of the sandbox listens on the TCP port. */
bool portfwd_port_open(sandbox_t *sb, int port);

#endif
