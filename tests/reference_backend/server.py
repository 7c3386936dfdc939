"""Reference implementation of the BRAiN governance API.

The contract is docs/governance-api.md. Standard library only, so it runs on a bare Debian 12
python3; all state lives in SQLite under --state-dir, so a restart loses nothing.

    python3 server.py --host 127.0.0.1 --port 8000 --state-dir /var/lib/brain-backend \
        [--token-file F] [--read-token-file F] [--protect-metrics] [--enable-drills] \
        [--seed-events N] [--seed-days D] [--seed S]

With --profile brain-main it answers as the real BRAiN main does instead (brain_main.py beside
this file; needs the cryptography package): see docs/governance-api.md, "Compatibility".
"""

import argparse
import hashlib
import hmac
import json
import os
import random
import signal
import sqlite3
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

GENESIS_HASH = "0" * 64
MAX_BODY = 256 * 1024 * 1024
EXPORT_LIMIT_DEFAULT = 10_000
EXPORT_LIMIT_MAX = 100_000
AUDIT_SCOPE_EVENTS = 100
MODES = ("ONLINE", "OFFLINE", "SOVEREIGN", "QUARANTINE")
SCOPES = ("AUDIT", "INVESTOR", "INTERNAL")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COUNTERS = (
    "mode_switch_total",
    "quarantine_total",
    "executor_failures_total",
    "executor_blocked_total",
    "preflight_failures_total",
    "axe_trust_violations_total",
    "policy_violations_total",
    "authn_failures_total",
    "authz_denials_total",
    "decisions_total",
    "decisions_traced_total",
    "override_activations_total",
)


class ApiError(Exception):
    """A client error: rendered as {"error": message, "status": status}."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def canonical_json(obj):
    """The one byte form that is hashed: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(entry, prev_hash):
    """h_N = SHA256(canonical(entry_N without "hash") || h_{N-1}) (seed 03)."""
    return hashlib.sha256(canonical_json(entry) + prev_hash.encode("ascii")).hexdigest()


def pack_hash(pack):
    """Evidence pack hash: SHA-256 of the canonical pack without its content_hash member."""
    return hashlib.sha256(canonical_json({k: v for k, v in pack.items() if k != "content_hash"})).hexdigest()


def format_ts(dt):
    # Fixed width, so timestamps sort as text in SQLite.
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value, field):
    if not isinstance(value, str):
        raise ApiError(400, f"{field} must be an ISO 8601 string")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{field} is not an ISO 8601 timestamp: {value[:64]!r}") from None
    if dt.tzinfo is None:
        raise ApiError(400, f"{field} must carry a time zone (e.g. 'Z')")
    return format_ts(dt)


def reason_of(body, required=True):
    reason = body.get("reason")
    if reason is None and not required:
        return None
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(400, "reason is required: a non-empty string")
    if len(reason) > 500:
        raise ApiError(400, "reason is longer than 500 characters")
    return reason.strip()


def string_field(body, field, default=None):
    value = body.get(field, default)
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ApiError(400, f"{field} is required: a non-empty string of at most 200 characters")
    return value.strip()


class Store:
    """The audit log (hash-chained) and the governance state, in one SQLite database.

    Every state change and its audit event commit in one transaction, so the log and the state
    never disagree, even across a crash.
    """

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.db = self._connect()
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY,
                ts TEXT NOT NULL,
                event_type TEXT NOT NULL,
                line TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
            CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )
        row = self.db.execute("SELECT seq, ts, line FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        if row:
            self.last_seq, self.last_ts, self.last_hash = row[0], row[1], json.loads(row[2])["hash"]
        else:
            self.last_seq, self.last_ts, self.last_hash = 0, "", GENESIS_HASH

    def _connect(self):
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def reader(self):
        """A connection of its own for a long read, so writers are never blocked by it."""
        return self._connect()

    # state ----------------------------------------------------------------------------------
    def get(self, key, default=None, db=None):
        row = (db or self.db).execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def _put(self, key, value):
        self.db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def state(self, db=None):
        return {
            "mode": self.get("mode", "ONLINE", db),
            "safe_mode": self.get("safe_mode", {"enabled": False, "reason": None, "changed_at": None, "changed_by": None, "source": None}, db),
            "override": self.get("override", {"active": False, "reason": None, "activated_at": None, "activated_by": None}, db),
            "quarantined_bundles": self.get("quarantined_bundles", [], db),
            "counters": {**dict.fromkeys(COUNTERS, 0), **self.get("counters", {}, db)},
            "last_success": self.get("last_success", 0, db),
        }

    def bump(self, name, by=1):
        """Increment a persisted counter outside of an event (authn failures, say)."""
        with self.lock:
            self._bump(name, by)

    def _bump(self, name, by=1):
        counters = self.get("counters", {})
        counters[name] = counters.get(name, 0) + by
        self._put("counters", counters)

    # audit log ------------------------------------------------------------------------------
    def _next_ts(self, now=None):
        ts = format_ts(now or datetime.now(UTC))
        # The chain order is seq order; keep time monotonic with it even if the clock steps back.
        return max(ts, self.last_ts)

    def _event(self, event_type, severity, actor, details, trace_id, ts):
        entry = {
            "actor": actor,
            "details": details,
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "prev_hash": self.last_hash,
            "seq": self.last_seq + 1,
            "severity": severity,
            "timestamp": ts,
            "trace_id": trace_id,
        }
        entry["hash"] = chain_hash(entry, self.last_hash)
        self.last_seq, self.last_ts, self.last_hash = entry["seq"], ts, entry["hash"]
        return entry

    def change(self, event_type, severity, actor, details, updates=(), counters=(), traced=True):
        """Apply state updates, counter increments and one audit event atomically."""
        with self.lock:
            saved = (self.last_seq, self.last_ts, self.last_hash)
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for key, value in updates:
                    self._put(key, value)
                for name in counters:
                    self._bump(name)
                trace_id = uuid.uuid4().hex if traced else None
                entry = self._event(event_type, severity, actor, details, trace_id, self._next_ts())
                self.db.execute(
                    "INSERT INTO events (seq, ts, event_type, line) VALUES (?, ?, ?, ?)",
                    (entry["seq"], entry["timestamp"], event_type, canonical_json(entry).decode("utf-8")),
                )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                self.last_seq, self.last_ts, self.last_hash = saved
                raise
            return entry

    def seed(self, count, days, rng, end=None):
        """Append `count` routine events spread evenly over the `days` days before `end` (now)."""
        if self.last_seq:
            return 0
        kinds = (
            ("executor.run_succeeded", "INFO", 40),
            ("preflight.passed", "INFO", 25),
            ("bundle.loaded", "INFO", 15),
            ("policy.evaluated", "INFO", 12),
            ("executor.run_failed", "WARNING", 4),
            ("preflight.failed", "WARNING", 3),
            ("auth.token_rejected", "WARNING", 1),
        )
        names = [k[0] for k in kinds]
        severity = {k[0]: k[1] for k in kinds}
        weights = [k[2] for k in kinds]
        start = (end or datetime.now(UTC)) - timedelta(days=days)
        step = (timedelta(days=days) - timedelta(minutes=1)) / max(count, 1)
        batch = []
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            for i in range(count):
                event_type = rng.choices(names, weights)[0]
                details = {"bundle_id": f"bundle-{rng.randrange(1, 64):03d}", "host": f"exec-{rng.randrange(1, 9)}"}
                if event_type.endswith("failed"):
                    details["error"] = rng.choice(("timeout", "signature mismatch", "exit code 1", "resource limit"))
                ts = format_ts(start + step * i)
                entry = self._event(event_type, severity[event_type], "system", details, uuid.UUID(int=rng.getrandbits(128)).hex, ts)
                batch.append((entry["seq"], ts, event_type, canonical_json(entry).decode("utf-8")))
                if len(batch) == 20_000:
                    self.db.executemany("INSERT INTO events (seq, ts, event_type, line) VALUES (?, ?, ?, ?)", batch)
                    batch.clear()
            self.db.executemany("INSERT INTO events (seq, ts, event_type, line) VALUES (?, ?, ?, ?)", batch)
            self.db.execute("COMMIT")
        return count

    def seq_range(self, db, start, end):
        """First and last seq with start <= ts < end (ts is monotonic in seq)."""
        lo = db.execute("SELECT MIN(seq) FROM events WHERE ts >= ?", (start,)).fetchone()[0]
        hi = db.execute("SELECT MAX(seq) FROM events WHERE ts < ?", (end,)).fetchone()[0]
        if lo is None or hi is None or lo > hi:
            return None
        return lo, hi

    def lines(self, db, start, end, event_types=None, after=0, limit=None):
        found = self.seq_range(db, start, end)
        if not found:
            return
        lo, hi = found
        sql = "SELECT seq, line FROM events WHERE seq >= ? AND seq <= ? AND seq > ?"
        args = [lo, hi, after]
        if event_types:
            sql += f" AND event_type IN ({','.join('?' * len(event_types))})"
            args += list(event_types)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        yield from db.execute(sql, args)

    def count_by_type(self, db, start, end):
        found = self.seq_range(db, start, end)
        if not found:
            return {}
        rows = db.execute("SELECT event_type, COUNT(*) FROM events WHERE seq BETWEEN ? AND ? GROUP BY event_type ORDER BY event_type", found)
        return dict(rows.fetchall())


class Metrics:
    """Request latency histogram, in memory: like any process, it starts from zero."""

    def __init__(self):
        self.lock = threading.Lock()
        self.hist = {}

    def observe(self, route, seconds):
        with self.lock:
            counts, total = self.hist.setdefault(route, ([0] * (len(LATENCY_BUCKETS) + 1), [0.0]))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-1] += 1
            total[0] += seconds

    def render(self):
        out = []
        with self.lock:
            for route in sorted(self.hist):
                counts, total = self.hist[route]
                for bound, n in zip(LATENCY_BUCKETS, counts[:-1], strict=True):
                    out.append(f'brain_request_duration_seconds_bucket{{route="{route}",le="{bound}"}} {n}')
                out.append(f'brain_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} {counts[-1]}')
                out.append(f'brain_request_duration_seconds_sum{{route="{route}"}} {total[0]:.6f}')
                out.append(f'brain_request_duration_seconds_count{{route="{route}"}} {counts[-1]}')
        return out


def exposition(families):
    """Prometheus text format from [(name, type, help, [(labels, value)])]."""
    out = []
    for name, kind, text, samples in families:
        out.append(f"# HELP {name} {text}")
        out.append(f"# TYPE {name} {kind}")
        if callable(samples):
            out.extend(samples())
            continue
        for labels, value in samples:
            out.append(f"{name}{labels} {value}")
    return ("\n".join(out) + "\n").encode("utf-8")


class Backend:
    """The API operations, independent of HTTP."""

    def __init__(self, store, drills):
        self.store = store
        self.drills = drills
        self.metrics = Metrics()

    # metrics --------------------------------------------------------------------------------
    def sovereign_metrics(self):
        s = self.store.state()
        c = s["counters"]
        since = s["override"]["activated_at"]
        since_epoch = datetime.fromisoformat(since).timestamp() if s["override"]["active"] and since else 0
        return exposition(
            [
                ("sovereign_override_active", "gauge", "1 while an owner override is active, else 0.", [("", int(s["override"]["active"]))]),
                (
                    "sovereign_override_activated_timestamp_seconds",
                    "gauge",
                    "Unix time the active override began; 0 when none is active.",
                    [("", f"{since_epoch:.3f}")],
                ),
                (
                    "sovereign_override_activations_total",
                    "counter",
                    "Owner overrides activated (catches one shorter than a scrape).",
                    [("", c["override_activations_total"])],
                ),
                ("sovereign_bundles_quarantined", "gauge", "Bundles currently in quarantine.", [("", len(s["quarantined_bundles"]))]),
                ("sovereign_axe_trust_violations_total", "counter", "AXE trust violations recorded.", [("", c["axe_trust_violations_total"])]),
                ("sovereign_preflight_failures_total", "counter", "Failed governance preflight checks.", [("", c["preflight_failures_total"])]),
                ("sovereign_mode_info", "gauge", "The current sovereign mode, as a label; always 1.", [(f'{{mode="{s["mode"]}"}}', 1)]),
            ]
        )

    def brain_metrics(self):
        s = self.store.state()
        c = s["counters"]
        decisions = c["decisions_total"]
        completeness = c["decisions_traced_total"] / decisions if decisions else 1.0
        return exposition(
            [
                ("brain_mode_current", "gauge", "Current mode: 0 ONLINE, 1 OFFLINE, 2 SOVEREIGN, 3 QUARANTINE.", [("", MODES.index(s["mode"]))]),
                ("brain_mode_switch_total", "counter", "Mode switches.", [("", c["mode_switch_total"])]),
                ("brain_override_active", "gauge", "1 while an owner override is active, else 0.", [("", int(s["override"]["active"]))]),
                ("brain_quarantine_total", "counter", "Bundles put into quarantine.", [("", c["quarantine_total"])]),
                ("brain_executor_failures_total", "counter", "Failed executor runs.", [("", c["executor_failures_total"])]),
                ("brain_last_success_timestamp", "gauge", "Unix time of the last successful executor run; 0 if none.", [("", f"{s['last_success']:.3f}")]),
                ("brain_safe_mode_enabled", "gauge", "1 while safe mode (global kill switch) is enabled, else 0.", [("", int(s["safe_mode"]["enabled"]))]),
                ("brain_executions_blocked_total", "counter", "Executions refused because safe mode is enabled.", [("", c["executor_blocked_total"])]),
                ("brain_authn_failures_total", "counter", "API requests rejected for a missing or wrong token.", [("", c["authn_failures_total"])]),
                ("brain_authz_denials_total", "counter", "API requests refused to a token without the right role.", [("", c["authz_denials_total"])]),
                ("brain_policy_violations_total", "counter", "Policy violations detected.", [("", c["policy_violations_total"])]),
                ("brain_decisions_total", "counter", "Governance decisions taken.", [("", decisions)]),
                (
                    "brain_decisions_untraced_total",
                    "counter",
                    "Decisions recorded without a complete trace.",
                    [("", decisions - c["decisions_traced_total"])],
                ),
                ("brain_trace_completeness_ratio", "gauge", "Share of decisions with a complete trace (1 when none yet).", [("", f"{completeness:.6f}")]),
                ("brain_audit_last_seq", "gauge", "Sequence number of the newest audit event.", [("", self.store.last_seq)]),
                ("brain_request_duration_seconds", "histogram", "API request latency by route.", self.metrics.render),
            ]
        )

    # safe mode ------------------------------------------------------------------------------
    def safe_mode_status(self):
        return self.store.state()["safe_mode"]

    def set_safe_mode(self, enabled, reason, actor, source="api"):
        before = self.safe_mode_status()
        if before["enabled"] == enabled:
            return {**before, "changed": False}
        after = {"enabled": enabled, "reason": reason, "changed_at": format_ts(datetime.now(UTC)), "changed_by": actor, "source": source}
        self.store.change(
            "system.safe_mode_enabled" if enabled else "system.safe_mode_disabled",
            "WARNING" if enabled else "INFO",
            actor,
            {"reason": reason, "source": source},
            updates=[("safe_mode", after)],
        )
        return {**after, "changed": True}

    # audit export ---------------------------------------------------------------------------
    def audit_export(self, body):
        start = parse_ts(body.get("start_time"), "start_time")
        end = parse_ts(body.get("end_time"), "end_time")
        if start >= end:
            raise ApiError(400, "start_time must be before end_time")
        event_types = body.get("event_types")
        if event_types is not None and (not isinstance(event_types, list) or not all(isinstance(t, str) and t for t in event_types) or len(event_types) > 100):
            raise ApiError(400, "event_types must be a list of at most 100 non-empty strings")
        include_hash = body.get("include_hash", True)
        if not isinstance(include_hash, bool):
            raise ApiError(400, "include_hash must be a boolean")
        cursor = body.get("cursor", 0)
        if cursor is None:
            cursor = 0
        if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
            raise ApiError(400, "cursor must be a non-negative integer (the last seq already received)")
        limit = body.get("limit", EXPORT_LIMIT_DEFAULT)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= EXPORT_LIMIT_MAX:
            raise ApiError(400, f"limit must be an integer from 1 to {EXPORT_LIMIT_MAX}")
        db = self.store.reader()
        try:
            db.execute("BEGIN")  # one snapshot for the whole page
            rows = list(self.store.lines(db, start, end, event_types, cursor, limit + 1))
        finally:
            db.close()
        has_more = len(rows) > limit
        rows = rows[:limit]
        if include_hash:
            lines = [line for _seq, line in rows]
        else:
            lines = []
            for _seq, line in rows:
                event = json.loads(line)
                del event["hash"], event["prev_hash"]
                lines.append(canonical_json(event).decode("utf-8"))
        content = "".join(line + "\n" for line in lines).encode("utf-8")
        return {
            "export_id": str(uuid.uuid4()),
            "format": "jsonl",
            "start_time": start,
            "end_time": end,
            "event_count": len(lines),
            "first_seq": rows[0][0] if rows else None,
            "last_seq": rows[-1][0] if rows else None,
            "has_more": has_more,
            "next_cursor": rows[-1][0] if has_more else None,
            "content_hash": hashlib.sha256(content).hexdigest(),
        }, content

    # evidence packs -------------------------------------------------------------------------
    def evidence_export(self, body):
        scope = body.get("scope")
        if not isinstance(scope, str) or scope.upper() not in SCOPES:
            raise ApiError(400, f"scope must be one of {', '.join(SCOPES)}")
        scope = scope.upper()
        start = parse_ts(body.get("start_time", "1970-01-01T00:00:00Z"), "start_time")
        end = parse_ts(body["end_time"], "end_time") if "end_time" in body else format_ts(datetime.now(UTC) + timedelta(days=1))
        if start >= end:
            raise ApiError(400, "start_time must be before end_time")
        db = self.store.reader()
        try:
            db.execute("BEGIN")
            state = self.store.state(db)
            by_type = self.store.count_by_type(db, start, end)
            pack = {
                "format_version": 1,
                "scope": scope,
                "time_range": {"start": start, "end": end},
                "governance_config": {
                    "mode": state["mode"],
                    "safe_mode": state["safe_mode"],
                    "override": state["override"],
                    "quarantined_bundles": state["quarantined_bundles"],
                },
                "event_summary": {"total": sum(by_type.values()), "by_type": by_type},
                "mode_history": [
                    {"seq": e["seq"], "timestamp": e["timestamp"], "from": e["details"]["from"], "to": e["details"]["to"]}
                    for e in (json.loads(line) for _seq, line in self.store.lines(db, start, end, ["sovereign.mode_changed"]))
                ],
                "bundle_trust_summary": {
                    "currently_quarantined": state["quarantined_bundles"],
                    "quarantined": by_type.get("bundle.quarantined", 0),
                    "released": by_type.get("bundle.released", 0),
                    "trust_violations": by_type.get("axe.trust_violation", 0),
                },
                "executor_summary": {
                    "succeeded": by_type.get("executor.run_succeeded", 0),
                    "failed": by_type.get("executor.run_failed", 0),
                    "blocked": by_type.get("system.safe_mode_execution_blocked", 0),
                },
            }
            if scope != "INVESTOR":
                limit = AUDIT_SCOPE_EVENTS if scope == "AUDIT" else None
                pack["audit_events"] = [json.loads(line) for _seq, line in self.store.lines(db, start, end, limit=limit)]
        finally:
            db.close()
        pack["content_hash"] = pack_hash(pack)
        return pack

    def evidence_verify(self, body):
        claimed = body.get("content_hash")
        if not isinstance(claimed, str):
            raise ApiError(400, "the body must be an evidence pack carrying its content_hash")
        actual = pack_hash(body)
        return {"valid": hmac.compare_digest(actual, claimed), "content_hash": claimed, "computed_hash": actual}

    # drill controls -------------------------------------------------------------------------
    def drill(self, action, body, actor):
        if not self.drills:
            raise ApiError(404, "drill controls are disabled (start the backend with --enable-drills)")
        st = self.store.state()
        change = self.store.change
        if action == "override/activate":
            reason = reason_of(body)
            if st["override"]["active"]:
                return {"changed": False, "override": st["override"]}
            now = format_ts(datetime.now(UTC))
            override = {"active": True, "reason": reason, "activated_at": now, "activated_by": actor}
            change(
                "sovereign.override_activated", "WARNING", actor, {"reason": reason}, updates=[("override", override)], counters=["override_activations_total"]
            )
            return {"changed": True, "override": override}
        if action == "override/clear":
            reason = reason_of(body)
            if not st["override"]["active"]:
                return {"changed": False, "override": st["override"]}
            override = {"active": False, "reason": None, "activated_at": None, "activated_by": None}
            change("sovereign.override_cleared", "INFO", actor, {"reason": reason, "was": st["override"]}, updates=[("override", override)])
            return {"changed": True, "override": override}
        if action == "bundle/quarantine":
            bundle = string_field(body, "bundle_id")
            reason = reason_of(body)
            if bundle in st["quarantined_bundles"]:
                return {"changed": False, "quarantined_bundles": st["quarantined_bundles"]}
            bundles = sorted(st["quarantined_bundles"] + [bundle])
            change(
                "bundle.quarantined",
                "WARNING",
                actor,
                {"bundle_id": bundle, "reason": reason},
                updates=[("quarantined_bundles", bundles)],
                counters=["quarantine_total"],
            )
            return {"changed": True, "quarantined_bundles": bundles}
        if action == "bundle/release":
            bundle = string_field(body, "bundle_id")
            if bundle not in st["quarantined_bundles"]:
                return {"changed": False, "quarantined_bundles": st["quarantined_bundles"]}
            bundles = [b for b in st["quarantined_bundles"] if b != bundle]
            change("bundle.released", "INFO", actor, {"bundle_id": bundle}, updates=[("quarantined_bundles", bundles)])
            return {"changed": True, "quarantined_bundles": bundles}
        if action == "executor/run":
            outcome = body.get("outcome", "success")
            if outcome not in ("success", "failure"):
                raise ApiError(400, "outcome must be 'success' or 'failure'")
            bundle = string_field(body, "bundle_id", "bundle-drill")
            if st["safe_mode"]["enabled"]:
                change("system.safe_mode_execution_blocked", "WARNING", actor, {"bundle_id": bundle}, counters=["executor_blocked_total"])
                raise ApiError(409, "safe mode is enabled: execution blocked")
            if outcome == "success":
                change(
                    "executor.run_succeeded",
                    "INFO",
                    actor,
                    {"bundle_id": bundle},
                    updates=[("last_success", time.time())],
                    counters=["decisions_total", "decisions_traced_total"],
                )
            else:
                change(
                    "executor.run_failed",
                    "ERROR",
                    actor,
                    {"bundle_id": bundle, "error": "drill"},
                    counters=["executor_failures_total", "decisions_total", "decisions_traced_total"],
                )
            return {"changed": True, "outcome": outcome}
        if action == "preflight/failure":
            check = string_field(body, "check", "drill")
            change("preflight.failed", "WARNING", actor, {"check": check}, counters=["preflight_failures_total"])
            return {"changed": True}
        if action == "trust/violation":
            bundle = string_field(body, "bundle_id", "bundle-drill")
            change("axe.trust_violation", "CRITICAL", actor, {"bundle_id": bundle}, counters=["axe_trust_violations_total"])
            return {"changed": True}
        if action == "policy/violation":
            policy = string_field(body, "policy", "drill")
            change("policy.violation", "ERROR", actor, {"policy": policy}, counters=["policy_violations_total"])
            return {"changed": True}
        if action == "mode/switch":
            mode = body.get("mode")
            if mode not in MODES:
                raise ApiError(400, f"mode must be one of {', '.join(MODES)}")
            if mode == st["mode"]:
                return {"changed": False, "mode": mode}
            change("sovereign.mode_changed", "WARNING", actor, {"from": st["mode"], "to": mode}, updates=[("mode", mode)], counters=["mode_switch_total"])
            return {"changed": True, "mode": mode}
        if action == "trace/gap":
            change("decision.untraced", "WARNING", actor, {"note": "decision recorded without a trace"}, counters=["decisions_total"], traced=False)
            return {"changed": True}
        raise ApiError(404, f"unknown drill action: {action[:64]}")


# Routes: (method, path) -> (handler name, access). Access: public, metrics, read, write.
ROUTES = {
    ("GET", "/metrics/health"): ("health", "public"),
    ("GET", "/metrics"): ("brain_metrics", "metrics"),
    ("GET", "/api/sovereign-mode/metrics"): ("sovereign_metrics", "metrics"),
    ("POST", "/api/sovereign-mode/audit/export"): ("audit_export", "read"),
    ("POST", "/api/sovereign-mode/evidence/export"): ("evidence_export", "read"),
    ("POST", "/api/sovereign-mode/evidence/verify"): ("evidence_verify", "read"),
    ("GET", "/api/safe-mode/status"): ("safe_mode_status", "read"),
    ("POST", "/api/safe-mode/enable"): ("safe_mode_enable", "write"),
    ("POST", "/api/safe-mode/disable"): ("safe_mode_disable", "write"),
}
ROUTE_PATHS = {path for _method, path in ROUTES}
DRILL_PREFIX = "/api/drill/"


def ndjson_header(field):
    """export_id -> X-Brain-Export-Id: the NDJSON form of an AuditExportResponse field."""
    return "X-Brain-" + "-".join(part.title() for part in field.split("_"))


def ndjson_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "brain-reference-backend/1"
    backend = None  # set by serve()
    tokens = {}  # role -> token
    protect_metrics = False

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        self._started = time.perf_counter()
        self._body_read = False
        path = urlsplit(self.path).path
        self._route = path if path in ROUTE_PATHS else ("/api/drill" if path.startswith(DRILL_PREFIX) else "other")
        try:
            self._handle(method, path)
        except ApiError as err:
            self._json(err.status, {"error": err.message, "status": err.status})
        except Exception as err:  # a bug in the reference backend: say so, never hang the client
            self.log_error("internal error: %r", err)
            self._json(500, {"error": "internal error", "status": 500})

    def _handle(self, method, path):
        if path.startswith(DRILL_PREFIX):
            name, access = "drill", "write"
            if method != "POST":
                raise ApiError(405, f"{method} is not allowed on {path}")
        else:
            found = ROUTES.get((method, path))
            if not found:
                if path in ROUTE_PATHS:
                    raise ApiError(405, f"{method} is not allowed on {path}")
                raise ApiError(404, f"no such endpoint: {path[:128]}")
            name, access = found
        role = self._authenticate(access)
        body = self._body() if method == "POST" else {}
        b = self.backend
        if name == "health":
            return self._json(200, {"status": "ok"})
        if name in ("brain_metrics", "sovereign_metrics"):
            return self._send(200, getattr(b, name)(), "text/plain; version=0.0.4; charset=utf-8")
        if name == "audit_export":
            meta, content = b.audit_export(body)
            if "application/x-ndjson" in self.headers.get("Accept", ""):
                headers = {ndjson_header(k): ndjson_value(v) for k, v in meta.items()}
                return self._send(200, content, "application/x-ndjson", headers)
            return self._json(200, {**meta, "content": content.decode("utf-8")})
        if name == "evidence_export":
            return self._json(200, b.evidence_export(body))
        if name == "evidence_verify":
            return self._json(200, b.evidence_verify(body))
        if name == "safe_mode_status":
            return self._json(200, b.safe_mode_status())
        actor = f"api:{role}"
        if name in ("safe_mode_enable", "safe_mode_disable"):
            return self._json(200, b.set_safe_mode(name == "safe_mode_enable", reason_of(body), actor))
        return self._json(200, b.drill(path[len(DRILL_PREFIX) :], body, actor))

    def _authenticate(self, access):
        """Return the caller's role; raise 401 (no or wrong token) or 403 (read token on a write)."""
        if access == "public" or not self.tokens or (access == "metrics" and not self.protect_metrics):
            return "admin" if not self.tokens else "anonymous"
        header = self.headers.get("Authorization", "")
        scheme, _sep, presented = header.partition(" ")
        role = None
        if scheme.lower() == "bearer" and presented:
            for name, token in self.tokens.items():
                if hmac.compare_digest(presented.strip().encode(), token.encode()):
                    role = name
        if role is None:
            self.backend.store.bump("authn_failures_total")
            raise ApiError(401, "missing or invalid bearer token")
        if access == "write" and role != "admin":
            self.backend.store.bump("authz_denials_total")
            raise ApiError(403, f"the {role} token may not call this endpoint")
        return role

    def _body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise ApiError(411, "send the body with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "Content-Length is not a number") from None
        if length < 0 or length > MAX_BODY:
            raise ApiError(413, f"the body must be at most {MAX_BODY} bytes")
        self._body_read = True
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise ApiError(400, f"the body is not valid JSON: {err}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    def _json(self, status, obj):
        self._send(status, json.dumps(obj, sort_keys=True).encode("utf-8") + b"\n", "application/json")

    def _send(self, status, payload, content_type, headers=None):
        # Observed before the answer leaves, so a client that reads the metrics next sees it.
        self.backend.metrics.observe(self._route, time.perf_counter() - self._started)
        if not self._body_read and (self.headers.get("Content-Length", "0") not in ("", "0") or "Transfer-Encoding" in self.headers):
            # Refused before its body was read: close, so the unread body is never taken for a request.
            self.close_connection = True
            headers = {**(headers or {}), "Connection": "close"}
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="brain"')
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        # Request lines only; headers (and so tokens) are never logged.
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def read_token(path, what):
    try:
        with open(path, encoding="utf-8") as fh:
            token = fh.read().strip()
    except OSError as err:
        raise SystemExit(f"server.py: cannot read {what} {path}: {err.strerror}") from None
    if not token:
        raise SystemExit(f"server.py: {what} {path} is empty")
    return token


def parse_args(argv):
    p = argparse.ArgumentParser(description="Reference BRAiN governance API (see docs/governance-api.md).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--state-dir", required=True, help="directory for the SQLite state (created if missing)")
    p.add_argument("--token-file", help="file holding the admin bearer token; without it the API is open")
    p.add_argument("--read-token-file", help="file holding a read-only bearer token (needs --token-file)")
    p.add_argument("--protect-metrics", action="store_true", help="require a token on the metrics endpoints too")
    p.add_argument("--enable-drills", action="store_true", help="enable POST /api/drill/* (tests and tabletop drills)")
    p.add_argument("--seed-events", type=int, default=0, metavar="N", help="on an empty log, add N routine past events")
    p.add_argument("--seed-days", type=float, default=7.0, metavar="D", help="spread seeded events over the D days before --seed-end")
    p.add_argument("--seed-end", metavar="TIME", help="end of the seeded span, ISO 8601 with a zone, not in the future (default: now)")
    p.add_argument("--seed", type=int, default=None, help="random seed for --seed-events")
    brain_main_options(p)
    args = p.parse_args(argv)
    check_profile_options(p, args)
    if args.read_token_file and not args.token_file:
        p.error("--read-token-file needs --token-file")
    if args.seed_events < 0 or args.seed_days <= 0:
        p.error("--seed-events must be >= 0 and --seed-days > 0")
    if args.seed_end:
        try:
            args.seed_end = datetime.fromisoformat(args.seed_end)
        except ValueError:
            p.error(f"--seed-end is not an ISO 8601 time: {args.seed_end!r}")
        if args.seed_end.tzinfo is None or args.seed_end > datetime.now(UTC):
            p.error("--seed-end must carry a time zone and not be in the future")
    return args


def brain_main_options(p):
    """Options of the brain-main profile (real BRAiN main at ad0f2d05, brain_main.py)."""
    g = p.add_argument_group("profile", "--profile brain-main answers as the real BRAiN main does (docs/governance-api.md)")
    g.add_argument("--profile", choices=("seed", "brain-main"), default="seed", help="seed: the contract in docs/governance-api.md (default)")
    g.add_argument(
        "--brain-routers", choices=("shipped", "sprint7"), default="shipped", help="main.py as shipped, or with the Sprint 7 safe-mode and monitoring routers"
    )
    g.add_argument("--jwt-key-file", help="RSA private key (PEM) that signs and checks tokens; default BRAIN_JWT_PRIVATE_KEY, else a new one")
    g.add_argument("--client-id-file", help="service account client id for POST /api/auth/service-token")
    g.add_argument("--client-secret-file", help="that service account's client secret")
    g.add_argument("--client-scopes", default="", metavar="SCOPES", help="space-separated scopes the service account may request")
    g.add_argument("--login-email", help="a user for POST /api/auth/login")
    g.add_argument("--login-password-file", help="that user's password (at least 8 characters)")
    g.add_argument("--login-role", choices=("admin", "operator", "viewer"), default="admin", help="that user's role (the token's role claim)")
    g.add_argument("--network", choices=("online", "offline"), default="online", help="what the connectivity check finds")
    g.add_argument(
        "--ipv6-gate", choices=("not_applicable", "pass", "fail"), default="not_applicable", help="what the IPv6 gate finds on a switch to sovereign"
    )


SEED_ONLY = ("token_file", "read_token_file", "protect_metrics")
BRAIN_MAIN_ONLY = ("jwt_key_file", "client_id_file", "client_secret_file", "login_email", "login_password_file")


def check_profile_options(p, args):
    def flag(name):
        return "--" + name.replace("_", "-")

    if args.profile == "brain-main":
        used = [flag(n) for n in SEED_ONLY if getattr(args, n)]
        if used:
            p.error(f"{', '.join(used)}: seed profile only; brain-main authenticates with RS256 JWTs (--jwt-key-file)")
        if bool(args.client_id_file) != bool(args.client_secret_file):
            p.error("--client-id-file and --client-secret-file go together")
        if bool(args.login_email) != bool(args.login_password_file):
            p.error("--login-email and --login-password-file go together")
    else:
        used = [flag(n) for n in BRAIN_MAIN_ONLY if getattr(args, n)]
        if args.brain_routers != "shipped":
            used.append("--brain-routers")
        if used:
            p.error(f"{', '.join(used)}: needs --profile brain-main")


def serve(args, handler):
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    try:
        server = ThreadingHTTPServer((args.host, args.port), handler)
    except OSError as err:
        raise SystemExit(f"server.py: cannot listen on {args.host}:{args.port}: {err.strerror}") from None

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {args.host}:{server.server_address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()
    server.server_close()


def main_brain(args):
    import brain_main  # here, so the seed profile needs only the standard library

    os.makedirs(args.state_dir, mode=0o700, exist_ok=True)
    if args.seed_events:
        added = brain_main.seed_audit_file(args.state_dir, args.seed_events, args.seed_days, random.Random(args.seed), args.seed_end)
        if added:
            print(f"seeded {added} audit entries over {args.seed_days:g} days", file=sys.stderr)
    serve(args, brain_main.handler_class(args))


def main(argv=None):
    args = parse_args(argv)
    if args.profile == "brain-main":
        return main_brain(args)
    os.makedirs(args.state_dir, mode=0o700, exist_ok=True)
    store = Store(os.path.join(args.state_dir, "brain.sqlite3"))
    if args.seed_events:
        added = store.seed(args.seed_events, args.seed_days, random.Random(args.seed), args.seed_end)
        if added:
            print(f"seeded {added} events over {args.seed_days:g} days", file=sys.stderr)
    backend = Backend(store, args.enable_drills)
    if os.environ.get("BRAIN_SAFE_MODE", "").strip().lower() in ("1", "true", "yes", "on"):
        backend.set_safe_mode(True, "BRAIN_SAFE_MODE set at start-up", "system", source="env")
    tokens = {}
    if args.token_file:
        tokens["admin"] = read_token(args.token_file, "token file")
    if args.read_token_file:
        tokens["reader"] = read_token(args.read_token_file, "read token file")
    handler = type("BoundHandler", (Handler,), {"backend": backend, "tokens": tokens, "protect_metrics": args.protect_metrics})
    try:
        serve(args, handler)
    finally:
        store.db.close()


if __name__ == "__main__":
    main()
