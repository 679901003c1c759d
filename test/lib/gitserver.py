#!/usr/bin/env python3
"""test/lib/gitserver.py - a git smart-HTTP server for tests (see gitserver.sh).

Serves the bare repositories under ROOT through `git http-backend` (CGI, from
Debian's git package), on 127.0.0.1:PORT (0 = a free port; the bound port is
printed on stdout as "gitserver: listening on 127.0.0.1:PORT").

  /<repo>.git/...        anonymous: clone, fetch and push
  /auth/<repo>.git/...   the same repositories behind HTTP Basic auth: any
                         user name, the password must be PASSWORD; else 401
                         with WWW-Authenticate (so git asks its credential
                         helpers / askpass, as with GitHub)

One log line per request on stderr: method, path (never the query's or the
headers' secrets: the Authorization header is never logged), status.

GITSERVER_AUTH_LOG=FILE: each refused password's sha256 (hex) is appended to
FILE, so a test can tell whether a client offered it some secret (without
the value being written anywhere).
"""
import hashlib
import base64
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0
PASSWORD = os.environ.get("GITSERVER_PASSWORD", "")
AUTH_LOG = os.environ.get("GITSERVER_AUTH_LOG", "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # one line per request, no headers
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline().strip()
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline().strip():
                        pass
                    return bytes(out)
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        path = self.path.split("?", 1)[0]
        sys.stderr.write(f"gitserver: {self.command} {path} {status}\n")
        sys.stderr.flush()

    def _handle(self):
        path, _, query = self.path.partition("?")
        user = ""
        if path.startswith("/auth/"):
            path = path[len("/auth"):]
            auth = self.headers.get("Authorization", "")
            ok = False
            if auth.startswith("Basic "):
                try:
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    ok = bool(PASSWORD) and p == PASSWORD
                    user = u
                except Exception:
                    ok = False
            if not ok:
                if AUTH_LOG and auth.startswith("Basic "):
                    try:
                        p = base64.b64decode(auth[6:]).decode().partition(":")[2]
                        with open(AUTH_LOG, "a") as f:
                            f.write(hashlib.sha256(p.encode()).hexdigest() + "\n")
                    except Exception:
                        pass
                self._body()
                return self._send(401, [("WWW-Authenticate", 'Basic realm="gitserver"')],
                                  b"authentication required\n")
        body = self._body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": user or "anonymous",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        p = subprocess.run(["git", "http-backend"], input=body, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.stderr:
            sys.stderr.write("gitserver: http-backend: " + p.stderr.decode(errors="replace"))
        head, _, out = p.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, out = p.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode(errors="replace").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        self._send(status, headers, out)

    do_GET = _handle
    do_POST = _handle


srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"gitserver: listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    pass
