"""An HTTP proxy in front of the real reference backend that injects one fault per request.

The exporter under test talks real HTTP to it; every request is forwarded to the backend, and the
next planned fault (if any) is applied to what goes back: an error status, a delay, a cut-off
body, a flipped byte, a body rewritten with matching headers.
"""

import hashlib
import threading
import time

import requests

from helpers.loopback import LoopbackServer


class FaultProxy(LoopbackServer):
    def __init__(self, upstream):
        self.upstream = upstream
        self.plan = []  # faults for the next requests, in order; then requests pass through
        self.requests = 0
        self.lock = threading.Lock()
        self.serve()

    def handle(self, h):
        with self.lock:
            self.requests += 1
            fault = self.plan.pop(0) if self.plan else "pass"
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in h.headers.items() if k.lower() in ("authorization", "accept", "content-type")}
        if fault.startswith("sleep:"):
            time.sleep(float(fault.split(":")[1]))
        if fault.startswith("body:"):  # a 200 whose body is not what the API promises
            return self.send(h, 200, fault[5:].encode(), {"Content-Type": "application/json"})
        if fault.startswith("status:"):
            code, *retry_after = fault.split(":")[1:]
            return self.send(
                h,
                int(code),
                b'{"error": "injected", "status": %s}\n' % code.encode(),
                {"Content-Type": "application/json", **({"Retry-After": retry_after[0]} if retry_after else {})},
            )
        r = requests.request(h.command, self.upstream + h.path, data=body or None, headers=headers, timeout=60)
        content = r.content
        out = {k: v for k, v in r.headers.items() if k.lower().startswith("x-brain-") or k.lower() == "content-type"}
        if fault == "truncate":
            return self.send(h, r.status_code, content, out, cut=len(content) // 2)
        if fault == "flip-byte":  # the body no longer matches X-Brain-Content-Hash
            content = flip(content)
        elif fault == "flip-byte-rehash":  # an altered event, with headers recomputed to match
            content = flip(content)
            out["X-Brain-Content-Hash"] = hashlib.sha256(content).hexdigest()
        elif fault == "garbage-rehash":  # not JSON, with headers that match it
            content = b"not json at all\n" * int(out.get("X-Brain-Event-Count", "1") or 1)
            out["X-Brain-Content-Hash"] = hashlib.sha256(content).hexdigest()
        self.send(h, r.status_code, content, out)

    @staticmethod
    def send(h, status, content, headers, cut=None):
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(content)))
        h.end_headers()
        h.wfile.write(content[:cut] if cut is not None else content)
        if cut is not None:
            h.wfile.flush()
            h.close_connection = True


def flip(content):
    """Change one character inside the first event's details (keeps the line valid JSON)."""
    i = content.index(b'"host":"exec-') + len(b'"host":"exec-')
    return content[:i] + (b"9" if content[i : i + 1] != b"9" else b"8") + content[i + 1 :]
