"""HTTP stubs for the API modules' tests: an API that misbehaves on purpose (redirects, answers of the wrong
shape, retry hints), and BrainSafeMode, which answers the safe-mode routes in the shapes of BRAiN's own
router (`safe_mode_enabled`, `was_enabled`/`was_disabled`, FastAPI's `{"detail": ...}` errors) until the
reference backend has a profile for it. Every request is recorded, headers included."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubApi:
    """Answers from `routes`: (method, path) -> list of answers, used in order, the last one repeating.

    An answer is (status, body, headers); body is a dict/list (sent as JSON) or bytes. A callable answer
    is called with the request record and returns such a tuple."""

    def __init__(self, routes=None, delay=0.0):
        self.routes = dict(routes or {})
        self.delay = delay
        self.requests = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                stub.handle(self)

            def do_POST(self):
                stub.handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def handle(self, h):
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        record = {"method": h.command, "path": h.path, "headers": dict(h.headers.items()), "body": json.loads(raw) if raw else None}
        with self.lock:
            self.requests.append(record)
            answers = self.routes.get((h.command, h.path))
            answer = (answers.pop(0) if len(answers) > 1 else answers[0]) if answers else (404, {"detail": "Not Found"}, {})
        if self.delay:
            time.sleep(self.delay)
        status, body, headers = answer(record) if callable(answer) else answer
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


class BrainSafeMode(StubApi):
    """Safe mode in the shapes of BRAiN's safe-mode router (backend/app/modules/safe_mode): a state in memory,
    bearer auth with FastAPI's error bodies, a reason required by validation (422), reason and actor cleared
    on disable."""

    def __init__(self, token, enabled=False):
        super().__init__()
        self.token = token
        self.enabled, self.at, self.reason, self.by = enabled, ("2026-11-29T08:00:00" if enabled else None), ("frozen earlier" if enabled else ""), ("admin-1" if enabled else "")
        self.routes = {
            ("GET", "/api/safe-mode/status"): [self.status],
            ("POST", "/api/safe-mode/enable"): [lambda r: self.set(r, True)],
            ("POST", "/api/safe-mode/disable"): [lambda r: self.set(r, False)],
        }

    def body(self):
        return {
            "safe_mode_enabled": self.enabled,
            "enabled_at": self.at,
            "enabled_reason": self.reason,
            "enabled_by": self.by,
            "blocked_operations": ["Factory executions", "Deployments", "Bundle loads"] if self.enabled else [],
            "allowed_operations": ["Read-only APIs", "Monitoring", "Audit log access", "Metrics"],
        }

    def denied(self, record):
        if record["headers"].get("Authorization") != f"Bearer {self.token}":
            return 401, {"detail": "Invalid or missing authentication token"}, {"WWW-Authenticate": "Bearer"}
        return None

    def status(self, record):
        return self.denied(record) or (200, {"success": True, **self.body()}, {})

    def set(self, record, enabled):
        denied = self.denied(record)
        if denied:
            return denied
        body = record["body"] if isinstance(record["body"], dict) else {}
        if not isinstance(body.get("reason"), str):
            return 422, {"detail": [{"type": "missing", "loc": ["body", "reason"], "msg": "Field required", "input": body}]}, {}
        changed = self.enabled is not enabled
        if changed:
            self.enabled = enabled
            self.at, self.reason, self.by = (("2026-11-30T01:00:00.123456", body["reason"], "admin-2") if enabled else (None, "", ""))
        key = "was_enabled" if enabled else "was_disabled"
        word = "enabled" if enabled else "disabled"
        message = f"Safe mode {word} successfully" if changed else f"Safe mode was already {word}"
        return 200, {"success": True, "message": message, key: changed, **self.body()}, {}
