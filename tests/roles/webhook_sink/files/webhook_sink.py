"""Test-only Alertmanager webhook receiver: appends each notification as one JSON line."""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

OUT = sys.argv[3]


class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(OUT, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(json.loads(body), sort_keys=True) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


HTTPServer((sys.argv[1], int(sys.argv[2])), Sink).serve_forever()
