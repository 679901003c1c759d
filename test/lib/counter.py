#!/usr/bin/env python3
"""test/lib/counter.py: a tiny counting HTTP server for the durable-run tests.

Every command of a test run calls it (curl) so that every execution is
counted, whichever attempt or sandbox ran it:

  GET    /hit/<key>   increments <key>; answers its new count (text)
  GET    /count/<key> answers <key>'s count (0 if never hit), without counting
  GET    /counts      JSON object of every key's count
  DELETE /counts      forgets every count (204)
  GET    /health      "ok"

Keys are [A-Za-z0-9._-]{1,200}; anything else is a 400.  It listens on
127.0.0.1, on PORT (argument, default 0 = a free port), prints
"counter: listening on 127.0.0.1:PORT" on stdout (one flushed line) once it
accepts connections, and serves until SIGTERM/SIGINT.  Standard library only.
With COUNTER_LOG set, each hit is appended to that file as "<unix time> <key>
<count>" (for diagnostics).
"""
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
counts = {}
lock = threading.Lock()
log_path = os.environ.get("COUNTER_LOG") or None
log_file = open(log_path, "a", buffering=1) if log_path else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def key_of(self, prefix):
        key = self.path[len(prefix):].split("?", 1)[0]
        if not KEY.match(key):
            self.reply(400, b"bad key\n")
            return None
        return key

    def do_GET(self):
        if self.path.startswith("/hit/"):
            key = self.key_of("/hit/")
            if key is None:
                return
            with lock:
                n = counts.get(key, 0) + 1
                counts[key] = n
                if log_file:
                    log_file.write("%.3f %s %d\n" % (time.time(), key, n))
            self.reply(200, b"%d\n" % n)
        elif self.path.startswith("/count/"):
            key = self.key_of("/count/")
            if key is None:
                return
            with lock:
                n = counts.get(key, 0)
            self.reply(200, b"%d\n" % n)
        elif self.path == "/counts":
            with lock:
                body = json.dumps(counts, sort_keys=True).encode() + b"\n"
            self.reply(200, body, "application/json")
        elif self.path == "/health":
            self.reply(200, b"ok\n")
        else:
            self.reply(404, b"not found\n")

    def do_DELETE(self):
        if self.path == "/counts":
            with lock:
                counts.clear()
            self.reply(204)
        else:
            self.reply(404, b"not found\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    srv = Server(("127.0.0.1", port), Handler)

    def stop(*_):
        # shutdown() waits for serve_forever, so from another thread
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("counter: listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()


if __name__ == "__main__":
    main()
