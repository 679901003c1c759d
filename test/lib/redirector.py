#!/usr/bin/env python3
"""test/lib/redirector.py PORT_FILE: a tiny HTTP server for the redirect tests.

  POST /same/sandboxes   -> 307 to /final/sandboxes on this same origin
  POST /final/sandboxes  -> 201 with a Sandbox body (records the X-API-Key it got)
  POST /other/sandboxes  -> 307 to http://localhost:<this port>/final/sandboxes
                            (another origin: "localhost" is not "127.0.0.1")
  GET  /seen             -> JSON list of the paths that carried an X-API-Key

It writes its port to PORT_FILE and serves until killed.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("X-API-Key"):
            seen.append(self.path)
        port = self.server.server_address[1]
        if self.path == "/same/sandboxes":
            self.reply(307, headers=[("Location", "/final/sandboxes")])
        elif self.path == "/other/sandboxes":
            self.reply(307, headers=[("Location", f"http://localhost:{port}/final/sandboxes")])
        elif self.path == "/final/sandboxes":
            body = json.dumps({"sandboxID": "iredirected0000000001", "templateID": "base",
                               "clientID": "6532622b", "envdVersion": "0.6.13"}).encode()
            self.reply(201, body, [("Content-Type", "application/json")])
        else:
            self.reply(404)

    def do_GET(self):
        body = json.dumps(seen).encode()
        self.reply(200, body, [("Content-Type", "application/json")])


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
