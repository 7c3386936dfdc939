"""HTTP stubs for the API modules' tests: an API that misbehaves on purpose (redirects, answers of the wrong
shape, retry hints), and BrainSafeMode, which answers the safe-mode routes in the shapes of BRAiN's own
router (`safe_mode_enabled`, `was_enabled`/`was_disabled`, FastAPI's `{"detail": ...}` errors) until the
reference backend has a profile for it. Every request is recorded, headers included."""

import hashlib
import json
import threading
import time

from helpers.loopback import LoopbackServer


class StubApi(LoopbackServer):
    """Answers from `routes`: (method, path) -> list of answers, used in order, the last one repeating.

    An answer is (status, body, headers); body is a dict/list (sent as JSON) or bytes. A callable answer
    is called with the request record and returns such a tuple."""

    def __init__(self, routes=None, delay=0.0):
        self.routes = dict(routes or {})
        self.delay = delay
        self.requests = []
        self.lock = threading.Lock()
        self.serve()

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
        self.enabled, self.at, self.reason, self.by = (
            enabled,
            ("2026-11-29T08:00:00" if enabled else None),
            ("frozen earlier" if enabled else ""),
            ("admin-1" if enabled else ""),
        )
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
            self.at, self.reason, self.by = ("2026-11-30T01:00:00.123456", body["reason"], "admin-2") if enabled else (None, "", "")
        key = "was_enabled" if enabled else "was_disabled"
        word = "enabled" if enabled else "disabled"
        message = f"Safe mode {word} successfully" if changed else f"Safe mode was already {word}"
        return 200, {"success": True, "message": message, key: changed, **self.body()}, {}


class BrainEvidence(StubApi):
    """Evidence packs in the shapes of BRAiN's evidence router (sovereign_mode: /evidence/export and /verify):
    `from_timestamp`/`to_timestamp` (both included), lower-case `scope`, a hash over a documented subset with
    default json.dumps separators, `is_valid`/`original_hash`, a new `pack_id`/`generated_at` per export. As in
    BRAiN, a time with a zone compares as nothing and the pack silently holds no events."""

    EVENTS = (
        {"id": "a1", "timestamp": "2026-11-10T08:00:00", "event_type": "sovereign.mode_changed", "mode_before": "online", "mode_after": "sovereign"},
        {"id": "a2", "timestamp": "2026-11-20T09:30:00", "event_type": "system.safe_mode_enabled", "mode_before": None, "mode_after": None},
        {"id": "a3", "timestamp": "2026-12-01T00:00:00", "event_type": "system.safe_mode_disabled", "mode_before": None, "mode_after": None},
    )

    def __init__(self, token):
        super().__init__()
        self.token = token
        self.exports = 0
        self.routes = {("POST", "/api/sovereign-mode/evidence/export"): [self.export], ("POST", "/api/sovereign-mode/evidence/verify"): [self.verify]}

    @staticmethod
    def digest(pack):
        keys = (
            "scope",
            "time_range_start",
            "time_range_end",
            "current_mode",
            "audit_summary",
            "mode_history",
            "bundle_summary",
            "executor_summary",
            "evidence_format_version",
        )
        return hashlib.sha256(json.dumps({k: pack[k] for k in keys}, sort_keys=True).encode()).hexdigest()

    def export(self, record):
        if record["headers"].get("Authorization") != f"Bearer {self.token}":
            return 401, {"detail": "Invalid or missing authentication token"}, {}
        body = record["body"] or {}
        missing = [k for k in ("from_timestamp", "to_timestamp") if k not in body]
        if missing or body.get("scope", "audit") not in ("audit", "investor", "internal"):
            detail = [{"type": "missing", "loc": ["body", k], "msg": "Field required"} for k in missing]
            return 422, {"detail": detail or [{"loc": ["body", "scope"], "msg": "Input should be 'audit', 'investor' or 'internal'"}]}, {}
        start, end = body["from_timestamp"], body["to_timestamp"]
        aware = any(s.endswith("Z") or "+" in s[10:] for s in (start, end))
        events = [] if aware else [e for e in self.EVENTS if start <= e["timestamp"] <= end]
        self.exports += 1
        summary = {}
        for e in events:
            summary[e["event_type"]] = summary.get(e["event_type"], 0) + 1
        pack = {
            "pack_id": f"evidence_2026113{self.exports}_{body['scope']}",
            "generated_at": f"2026-11-30T01:00:0{self.exports}",
            "scope": body["scope"],
            "time_range_start": start,
            "time_range_end": end,
            "current_mode": "sovereign",
            "governance_config": {"current_mode": "sovereign", "network_check_enabled": False},
            "audit_events": events,
            "audit_summary": summary,
            "mode_history": [
                {"timestamp": e["timestamp"], "from": e["mode_before"], "to": e["mode_after"]} for e in events if e["event_type"] == "sovereign.mode_changed"
            ],
            "override_usage": {"override_count": 0, "override_events": [], "note": "Override system not yet implemented"},
            "bundle_summary": {"total_bundles": 0, "validated": 0, "quarantined": 0},
            "executor_summary": {"total_executor_events": 0},
            "hash_algorithm": "sha256",
            "system_version": "1.0.0",
            "evidence_format_version": "1.0",
        }
        pack["content_hash"] = self.digest(pack)
        return 200, pack, {}

    def verify(self, record):
        pack = record["body"]
        computed = self.digest(pack)
        return (
            200,
            {
                "is_valid": computed == pack["content_hash"],
                "original_hash": pack["content_hash"],
                "computed_hash": computed,
                "pack_id": pack["pack_id"],
                "message": "ok",
            },
            {},
        )
