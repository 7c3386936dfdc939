"""The reference backend's brain-main profile: BRAiN main at ad0f2d05, as its code behaves.

Reproduces, from reading satoshiflow/BRAiN (no code copied; the facts and their file:line are in
docs/governance-api.md, "Compatibility"): the routes main.py mounts (optionally with the Sprint 7
safe-mode and monitoring routers), FastAPI's error bodies, RS256 JWT auth with the real claims and
error texts, the service-token and login endpoints, safe mode in process memory, the monitoring
collector's /metrics text, the sovereign-mode status, mode switch and in-memory audit list, the
audit JSONL file under the state directory, and evidence packs with the real request, hash rule
and verification. Needs the `cryptography` package (RS256); the seed profile does not.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import uuid
from calendar import timegm
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://brain.falklabs.de"
AUDIENCE = "brain-api"
ACCESS_TOKEN_MINUTES = 15
MODES = ("online", "offline", "sovereign", "quarantine")
SCOPES = ("audit", "investor", "internal")
ADMIN_ROLES = ("admin", "SYSTEM_ADMIN")
OPERATOR_ROLES = ("admin", "operator", "SYSTEM_ADMIN")
AUDIT_FILE = os.path.join("storage", "sovereign_mode_audit.jsonl")
CONFIG_FILE = os.path.join("storage", "sovereign_mode_config.json")
AUDIT_ROUTE_MAX = 1000
MAX_BODY = 256 * 1024 * 1024
NON_INTERNAL_EVENTS = 100
# ModeConfig's fields and defaults, in the order the real service serialises them.
CONFIG_DEFAULTS = {
    "current_mode": "online",
    "active_bundle_id": None,
    "auto_detect_network": True,
    "network_check_interval": 30,
    "network_check_enabled": True,
    "strict_validation": True,
    "allow_unsigned_bundles": False,
    "quarantine_on_failure": True,
    "block_external_http": True,
    "block_external_dns": True,
    "allowed_domains": [],
    "fallback_to_offline": True,
    "fallback_bundle_id": None,
    "audit_mode_changes": True,
    "audit_bundle_loads": True,
    "audit_network_blocks": True,
}
SAFE_MODE_BLOCKED = ["Factory executions", "Deployments", "Bundle loads"]
SAFE_MODE_ALLOWED = ["Read-only APIs", "Monitoring", "Audit log access", "Metrics"]
IPV6_GATE_ERRORS = {
    "fail": "IPv6 is active but ip6tables is not available. Cannot enforce IPv6 blocking. Install iptables package or disable IPv6 on the host.",
}


def utcnow():
    """Naive UTC, as datetime.utcnow() in the real code: its timestamps carry no zone."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso(dt):
    """A datetime as pydantic writes it to JSON: naive stays naive, UTC becomes 'Z'."""
    if dt is None:
        return None
    text = dt.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def fastapi_json(obj):
    """The bytes of FastAPI's JSONResponse: compact, UTF-8, insertion order."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class HttpError(Exception):
    """FastAPI's HTTPException: rendered as {"detail": detail}."""

    def __init__(self, status, detail, headers=None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class Invalid(Exception):
    """A pydantic validation failure: FastAPI answers 422 {"detail": [errors]}."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


# ---- request bodies, validated as pydantic 2 (lax mode) would ---------------------------------
TRUE_WORDS = {"1", "on", "t", "true", "y", "yes"}
FALSE_WORDS = {"0", "off", "f", "false", "n", "no"}
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}:?\d{2})?)?$")


def parse_datetime(value):
    """A pydantic datetime: ISO 8601 text or a Unix time; returns (datetime, None) or (None, error)."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return None, ("datetime_type", "Input should be a valid datetime", None)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC), None
    text = value.strip()
    if len(text) < 10:
        return None, ("datetime_from_date_parsing", "Input should be a valid datetime or date, input is too short", "input is too short")
    if not DATETIME_RE.match(text):
        error = "invalid character in year" if not text[:4].isdigit() else "input is too short" if len(text) < 10 else "invalid date separator, expected `-`"
        return None, ("datetime_from_date_parsing", f"Input should be a valid datetime or date, {error}", error)
    month = int(text[5:7])
    if not 1 <= month <= 12:
        error = "month value is outside expected range of 1-12"
        return None, ("datetime_from_date_parsing", f"Input should be a valid datetime or date, {error}", error)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        error = "day value is outside expected range"
        return None, ("datetime_from_date_parsing", f"Input should be a valid datetime or date, {error}", error)
    return parsed, None


def validate(body, fields):
    """Validate a JSON body against [(name, kind, default)] (default ... = required).

    kind: "str", "str?", "bool", "datetime", or a tuple of enum values. Returns a dict in field
    order; raises Invalid with every error, as pydantic reports them all at once.
    """
    if body is None:
        raise Invalid([{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}])
    if not isinstance(body, dict):
        raise Invalid(
            [{"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary or object to extract fields from", "input": body}]
        )
    out, errors = {}, []
    for name, kind, default in fields:
        loc = ["body", name]
        if name not in body:
            if default is ...:
                errors.append({"type": "missing", "loc": loc, "msg": "Field required", "input": body})
            else:
                out[name] = default
            continue
        value = body[name]
        if kind == "str?" and value is None:
            out[name] = None
        elif kind in ("str", "str?"):
            if isinstance(value, str):
                out[name] = value
            else:
                errors.append({"type": "string_type", "loc": loc, "msg": "Input should be a valid string", "input": value})
        elif kind == "bool":
            if isinstance(value, bool):
                out[name] = value
            elif isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
                out[name] = value.strip().lower() in TRUE_WORDS
            elif isinstance(value, (int, float)) and value in (0, 1):
                out[name] = bool(value)
            elif isinstance(value, (str, int, float)):
                errors.append({"type": "bool_parsing", "loc": loc, "msg": "Input should be a valid boolean, unable to interpret input", "input": value})
            else:
                errors.append({"type": "bool_type", "loc": loc, "msg": "Input should be a valid boolean", "input": value})
        elif kind == "datetime":
            parsed, error = parse_datetime(value)
            if error:
                entry = {"type": error[0], "loc": loc, "msg": error[1], "input": value}
                if error[2]:
                    entry["ctx"] = {"error": error[2]}
                errors.append(entry)
            else:
                out[name] = parsed
        else:  # a str Enum: the value itself, exactly
            if isinstance(value, str) and value in kind:
                out[name] = value
            else:
                expected = ", ".join(f"'{v}'" for v in kind[:-1]) + f" or '{kind[-1]}'"
                errors.append({"type": "enum", "loc": loc, "msg": f"Input should be {expected}", "input": value, "ctx": {"expected": expected}})
    if errors:
        raise Invalid(errors)
    return out


# ---- RS256 tokens (app/core/token_keys.py, jwt_middleware.py, python-jose 3.3.0) --------------
class Keys:
    """The backend's one RSA key: signs tokens, gives the kid and the JWKS."""

    def __init__(self, pem=None):
        if pem:
            key = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("the JWT key must be an RSA private key")
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private = key
        self.public = key.public_key()
        der = self.public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = hashlib.sha256(der).hexdigest()[:16]

    def jwks(self):
        numbers = self.public.public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {"keys": [{"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b64url(n), "e": b64url(e)}]}

    def sign(self, claims):
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode()) + "." + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.private.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def access_token(self, subject, scopes, token_type, extra, minutes=ACCESS_TOKEN_MINUTES):
        """The claims AuthService._create_access_token_rs256 signs: note, no roles of its own."""
        now = int(time.time())
        claims = {
            "sub": subject,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + int(minutes * 60),
            "scope": " ".join(scopes),
            "type": token_type,
            "jti": str(uuid.uuid4()),
            **extra,
        }
        return self.sign(claims), int(minutes * 60)

    def verify(self, token):
        """Claims of a valid token. Raises Unauthorized with the detail JWTBearer would give."""
        invalid = Unauthorized("Invalid token")
        parts = token.split(".")
        if len(parts) != 3:
            raise invalid
        try:
            header = json.loads(b64url_decode(parts[0]))
            payload = b64url_decode(parts[1])
            signature = b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            raise invalid from None
        if not isinstance(header, dict) or not header.get("kid") or header.get("alg") != "RS256" or header["kid"] != self.kid:
            raise invalid
        try:
            self.public.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(payload)
        except (InvalidSignature, ValueError, UnicodeDecodeError):
            raise invalid from None
        if not isinstance(claims, dict):
            raise invalid
        check_claims(claims)
        return claims


class Unauthorized(HttpError):
    def __init__(self, detail, header="Bearer"):
        super().__init__(401, detail, {"WWW-Authenticate": header})


def claim_int(claims, name, message):
    try:
        return int(claims[name])
    except ValueError:
        raise Unauthorized(f"Invalid token claims: {message}") from None
    except TypeError:  # python-jose lets this escape; JWTBearer turns it into "Invalid token"
        raise Unauthorized("Invalid token") from None


def check_claims(claims):
    """python-jose 3.3.0 _validate_claims, in its order, with the real issuer and audience."""
    now = timegm(datetime.now(UTC).utctimetuple())
    if "iat" in claims:
        claim_int(claims, "iat", "Issued At claim (iat) must be an integer.")
    if "nbf" in claims and claim_int(claims, "nbf", "Not Before claim (nbf) must be an integer.") > now:
        raise Unauthorized("Invalid token claims: The token is not yet valid (nbf)")
    if "exp" in claims and claim_int(claims, "exp", "Expiration Time claim (exp) must be an integer.") < now:
        raise Unauthorized("Token has expired", 'Bearer error="invalid_token" error_description="Token expired"')
    if "aud" in claims:  # jose skips a missing aud even when an audience is expected
        aud = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
        if not isinstance(aud, list) or any(not isinstance(a, str) for a in aud):
            raise Unauthorized("Invalid token claims: Invalid claim format in token")
        if AUDIENCE not in aud:
            raise Unauthorized("Invalid token claims: Invalid audience")
    if claims.get("iss") != ISSUER:
        raise Unauthorized("Invalid token claims: Invalid issuer")
    if "sub" in claims and not isinstance(claims["sub"], str):
        raise Unauthorized("Invalid token claims: Subject must be a string.")
    if "jti" in claims and not isinstance(claims["jti"], str):
        raise Unauthorized("Invalid token claims: JWT ID must be a string.")
    if "at_hash" in claims:
        raise Unauthorized("Invalid token claims: No access_token provided to compare against at_hash claim.")


class Principal:
    def __init__(self, claims=None):
        self.anonymous = claims is None
        claims = claims or {}
        roles = claims.get("roles", []) or claims.get("role", [])
        self.roles = [roles] if isinstance(roles, str) else list(roles) if isinstance(roles, list) else []
        self.id = claims.get("sub", "") if claims else "anonymous"


def principal_of(header, keys):
    """get_current_principal: HTTPBearer(auto_error=False) then JWTBearer's exact 'Bearer' check."""
    scheme, _sep, credentials = (header or "").partition(" ")
    if not header or not scheme or not credentials or scheme != "Bearer":
        return Principal()
    return Principal(keys.verify(credentials))


def require(principal, roles):
    """auth_deps.require_role: 401 for anonymous, 403 without one of the roles."""
    if principal.anonymous:
        raise Unauthorized("Authentication required")
    if not any(r in principal.roles for r in roles):
        raise HttpError(403, f"Insufficient permissions. Required role: one of {', '.join(roles)}")
    return principal


# ---- in-memory services, created on first use as the real singletons are -----------------------
class Metrics:
    """app/modules/monitoring/metrics.py MetricsCollector: in memory, started on first use."""

    def __init__(self):
        self.started = time.time()
        self.last_success = self.started
        self.mode = "online"  # not the persisted mode: the collector knows only switches it saw
        self.switches = self.quarantines = self.failures = 0
        self.override = False

    def text(self):
        families = [
            ("brain_info", "BRAiN monitoring metadata", "gauge", f'brain_info{{version="1.0.0",started_at="{int(self.started)}"}} 1'),
            (
                "brain_mode_current",
                "Current operation mode (0=online, 1=offline, 2=sovereign, 3=quarantine)",
                "gauge",
                f'brain_mode_current{{mode="{self.mode}"}} {MODES.index(self.mode)}',
            ),
            ("brain_mode_switch_total", "Total number of mode switches", "counter", f"brain_mode_switch_total {self.switches}"),
            ("brain_override_active", "Active override status (0=inactive, 1=active)", "gauge", f"brain_override_active {int(self.override)}"),
            ("brain_quarantine_total", "Total bundles quarantined", "counter", f"brain_quarantine_total {self.quarantines}"),
            ("brain_executor_failures_total", "Total executor hard failures", "counter", f"brain_executor_failures_total {self.failures}"),
            ("brain_last_success_timestamp", "Last successful operation (unix timestamp)", "gauge", f"brain_last_success_timestamp {self.last_success!r}"),
        ]
        lines = []
        for name, text, kind, sample in families:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", sample, ""]
        return "\n".join(lines)

    def summary(self):
        return {
            "current_mode": self.mode,
            "mode_switches_total": self.switches,
            "override_active": self.override,
            "quarantine_total": self.quarantines,
            "executor_failures_total": self.failures,
            "last_success_timestamp": self.last_success,
            "last_success_iso": datetime.fromtimestamp(self.last_success).isoformat(),
            "uptime_seconds": int(time.time() - self.started),
        }


class SafeMode:
    """app/modules/safe_mode/service.py: process memory only; BRAIN_SAFE_MODE read on first use."""

    def __init__(self):
        self.enabled = os.environ.get("BRAIN_SAFE_MODE", "false").lower() in ("true", "1", "yes")
        self.at = utcnow() if self.enabled else None
        self.reason = "Environment variable" if self.enabled else ""  # not audited, as in the real code
        self.by = "env" if self.enabled else ""

    def status(self):
        return {
            "safe_mode_enabled": self.enabled,
            "enabled_at": self.at.isoformat() if self.at else None,
            "enabled_reason": self.reason,
            "enabled_by": self.by,
            "blocked_operations": list(SAFE_MODE_BLOCKED) if self.enabled else [],
            "allowed_operations": list(SAFE_MODE_ALLOWED),
        }


class Sovereign:
    """app/modules/sovereign_mode/service.py: config file, in-memory audit list, audit JSONL."""

    def __init__(self, state_dir, network_online, ipv6_gate):
        self.audit_path = os.path.join(state_dir, AUDIT_FILE)
        self.config_path = os.path.join(state_dir, CONFIG_FILE)
        self.config = self._load_config()
        self.audit_log = []  # since process start only; the file keeps everything
        self.network_online = network_online
        self.ipv6_gate = ipv6_gate
        self.last_network_check = None
        self.last_mode_change = None

    def _load_config(self):
        config = dict(CONFIG_DEFAULTS)
        try:
            with open(self.config_path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return config
        if not isinstance(data, dict) or data.get("current_mode", "online") not in MODES:
            return config  # the real service logs the error and uses the defaults
        config.update({k: v for k, v in data.items() if k in config})
        return config

    def save_config(self):
        os.makedirs(os.path.dirname(self.config_path), exist_ok=True)
        with open(self.config_path, "w", encoding="utf-8") as fh:
            json.dump(self.config, fh, indent=2)

    def audit(
        self,
        event_type,
        success=True,
        severity=None,
        reason=None,
        error=None,
        triggered_by="system",
        mode_before=None,
        mode_after=None,
        bundle_id=None,
        ipv6_related=False,
        metadata=None,
    ):
        """SovereignModeService._audit: severity derived as the real code derives it."""
        if severity is None:
            severity = (
                "error"
                if not success
                else "warning"
                if "failed" in event_type or "blocked" in event_type
                else "critical"
                if "critical" in event_type
                else "info"
            )
        now = utcnow()
        entry = {
            "id": f"{event_type.split('.')[-1]}_{int(now.replace(tzinfo=UTC).timestamp() * 1000)}",
            "timestamp": iso(now),
            "event_type": event_type,
            "severity": severity,
            "mode_before": mode_before,
            "mode_after": mode_after,
            "bundle_id": bundle_id,
            "reason": reason,
            "triggered_by": triggered_by,
            "success": success,
            "error": error,
            "ipv6_related": ipv6_related,
            "metadata": metadata or {},
        }
        self.audit_log.append(entry)
        os.makedirs(os.path.dirname(self.audit_path), exist_ok=True)
        with open(self.audit_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
        return entry

    def status(self):
        if self.last_network_check is None:  # checked once, on the first status call
            self.last_network_check = utcnow()
        return {
            "mode": self.config["current_mode"],
            "is_online": self.network_online,
            "is_sovereign": self.config["current_mode"] == "sovereign",
            "active_bundle": None,
            "available_bundles": 0,
            "validated_bundles": 0,
            "quarantined_bundles": 0,
            "network_blocks_count": 0,
            "last_network_check": iso(self.last_network_check),
            "config": dict(self.config),
            "system_version": "1.0.0",
            "last_mode_change": iso(self.last_mode_change),
        }


# ---- evidence packs (app/modules/sovereign_mode/evidence_export.py) ---------------------------
def pack_hash(pack):
    """The documented subset, json.dumps(sort_keys=True) with its default separators."""
    subset = {
        "scope": pack["scope"],
        "time_range_start": pack["time_range_start"].isoformat(),
        "time_range_end": pack["time_range_end"].isoformat(),
        "current_mode": pack["current_mode"],
        "audit_summary": pack["audit_summary"],
        "mode_history": pack["mode_history"],
        "bundle_summary": pack["bundle_summary"],
        "executor_summary": pack["executor_summary"],
        "evidence_format_version": pack["evidence_format_version"],
    }
    return hashlib.sha256(json.dumps(subset, sort_keys=True).encode("utf-8")).hexdigest()


def load_events(path, start, end):
    """Entries with start <= timestamp <= end; an aware bound against naive entries matches none."""
    events = []
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError:
        return events
    with fh:
        for line in fh:
            try:
                entry = json.loads(line.strip())
                ts = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
                if start <= ts <= end:  # TypeError for aware vs naive: skipped, as the real code does
                    events.append(entry)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
    return events


def export_pack(request, sovereign):
    events = load_events(sovereign.audit_path, request["from_timestamp"], request["to_timestamp"])
    summary = {}
    for e in events:
        summary[e["event_type"]] = summary.get(e["event_type"], 0) + 1
    scope = request["scope"]
    bundle = {"total_bundles": 0, "validated": 0, "quarantined": 0}
    if scope == "internal":
        bundle.update(loaded=0, failed=0)
    executor = None
    if request["include_executor_summary"]:
        factory = [e["event_type"] for e in events if e["event_type"].startswith("factory.")]
        executor = {
            "total_executor_events": len(factory),
            "executions_started": factory.count("factory.execution_started"),
            "executions_completed": factory.count("factory.execution_completed"),
            "executions_failed": factory.count("factory.execution_failed"),
            "steps_completed": factory.count("factory.step_completed"),
            "steps_failed": factory.count("factory.step_failed"),
            "rollbacks": factory.count("factory.rollback_started"),
        }
    now = utcnow()
    pack = {
        "pack_id": f"evidence_{now:%Y%m%d_%H%M%S}_{scope}",
        "generated_at": now,
        "scope": scope,
        "time_range_start": request["from_timestamp"],
        "time_range_end": request["to_timestamp"],
        "current_mode": sovereign.config["current_mode"],
        "governance_config": dict(sovereign.config),
        "audit_events": events if scope == "internal" else events[:NON_INTERNAL_EVENTS],
        "audit_summary": summary,
        "mode_history": [
            {
                "timestamp": datetime.fromisoformat(e["timestamp"]).isoformat(),
                "from": e["mode_before"],
                "to": e["mode_after"],
                "reason": e["reason"],
                "triggered_by": e["triggered_by"],
            }
            for e in events
            if e["event_type"] == "sovereign.mode_changed"
        ],
        "override_usage": {"override_count": 0, "override_events": [], "note": "Override system not yet implemented"},
        "bundle_summary": bundle,
        "executor_summary": executor,
        "content_hash": "",
        "hash_algorithm": "sha256",
        "system_version": "1.0.0",
        "evidence_format_version": "1.0",
    }
    pack["content_hash"] = pack_hash(pack)
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in pack.items()}


PACK_FIELDS = [
    ("pack_id", "str", ...),
    ("generated_at", "datetime", None),
    ("scope", SCOPES, ...),
    ("time_range_start", "datetime", ...),
    ("time_range_end", "datetime", ...),
    ("current_mode", MODES, ...),
    ("content_hash", "str", ...),
    ("evidence_format_version", "str", "1.0"),
]


def verify_pack(body):
    """POST /evidence/verify: the pack is re-validated, then the subset is hashed again."""
    pack = validate(body, PACK_FIELDS)
    errors = []
    for name, default in (("audit_summary", {}), ("mode_history", []), ("bundle_summary", {}), ("executor_summary", None)):
        value = body.get(name, default)
        ok = (value is None and name == "executor_summary") or isinstance(value, type(default) if default is not None else dict)
        if not ok:
            kind = "list_type" if name == "mode_history" else "dict_type"
            errors.append(
                {"type": kind, "loc": ["body", name], "msg": f"Input should be a valid {'list' if kind == 'list_type' else 'dictionary'}", "input": value}
            )
        pack[name] = value
    if errors:
        raise Invalid(errors)
    computed = pack_hash(pack)
    valid = pack["content_hash"] == computed
    return {
        "is_valid": valid,
        "original_hash": pack["content_hash"],
        "computed_hash": computed,
        "pack_id": pack["pack_id"],
        "message": "Evidence pack integrity verified" if valid else "Evidence pack integrity FAILED",
    }


# ---- the API --------------------------------------------------------------------------------
class Backend:
    """The brain-main operations, independent of HTTP. One lock: the real services each lock."""

    def __init__(self, opts):
        self.opts = opts
        self.lock = threading.RLock()
        self._sovereign = self._safe = self._metrics = None

    @property
    def sovereign(self):
        with self.lock:
            if self._sovereign is None:
                self._sovereign = Sovereign(self.opts.state_dir, self.opts.network == "online", self.opts.ipv6_gate)
            return self._sovereign

    @property
    def safe(self):
        with self.lock:
            if self._safe is None:
                self._safe = SafeMode()
            return self._safe

    @property
    def metrics(self):
        with self.lock:
            if self._metrics is None:
                self._metrics = Metrics()
            return self._metrics

    # safe mode ----------------------------------------------------------------------------
    def safe_mode_set(self, enable, reason, principal):
        with self.lock:
            safe = self.safe
            changed = safe.enabled != enable
            if changed:
                safe.enabled = enable
                if enable:
                    safe.at, safe.reason, safe.by = utcnow(), reason, principal.id
                self.sovereign.audit(
                    "system.safe_mode_enabled" if enable else "system.safe_mode_disabled",
                    severity="critical" if enable else "warning",
                    reason=reason,
                    triggered_by=principal.id,
                )
                if not enable:
                    safe.at, safe.reason, safe.by = None, "", ""
            word = "enabled" if enable else "disabled"
            message = f"Safe mode {word} successfully" if changed else f"Safe mode was already {word}"
            return {"success": True, "message": message, f"was_{word}": changed, **safe.status()}

    # sovereign mode -----------------------------------------------------------------------
    def change_mode(self, request, triggered_by="api"):
        with self.lock:
            sov = self.sovereign
            old, new, force = sov.config["current_mode"], request["target_mode"], request["force"]
            if old == new and not force:
                return sov.status()
            if new == "online" and not force and not sov.network_online:
                raise HttpError(400, "Cannot switch to ONLINE mode: network unavailable")
            if new == "sovereign" and not force:
                self._ipv6_gate(sov)
            if new in ("offline", "sovereign"):
                sov.audit("sovereign.dmz_stopped", severity="info", reason=f"DMZ stopped for {new} mode", mode_after=new)
            sov.config["current_mode"] = new
            sov.last_mode_change = utcnow()
            self.metrics.switches += 1
            self.metrics.mode = new
            sov.save_config()
            if sov.config["audit_mode_changes"]:
                sov.audit("sovereign.mode_changed", severity="info", mode_before=old, mode_after=new, reason=request["reason"], triggered_by=triggered_by)
            return sov.status()

    def _ipv6_gate(self, sov):
        gate = sov.ipv6_gate
        meta = {"ipv6_active": gate != "not_applicable", "policy": "block", "ip6tables_available": gate == "pass", "rules_applied": gate == "pass"}
        severity = {"pass": "info", "not_applicable": "warning"}.get(gate, "error")
        sov.audit(
            "sovereign.ipv6_gate_checked",
            success=gate != "fail",
            severity=severity,
            reason=f"IPv6 gate check: {gate}",
            ipv6_related=True,
            metadata={"metadata": meta},
        )
        if gate == "fail":
            error = IPV6_GATE_ERRORS["fail"]
            sov.audit(
                "sovereign.ipv6_gate_failed",
                success=False,
                severity="critical",
                reason="IPv6 gate check failed - cannot activate sovereign mode",
                error=error,
                ipv6_related=True,
                metadata={"metadata": {k: meta[k] for k in ("ipv6_active", "policy", "ip6tables_available")}},
            )
            raise HttpError(
                400,
                "❌ Cannot activate Sovereign Mode: IPv6 gate check failed.\n\n"
                f"Reason: {error}\n\n"
                "Solutions:\n1. Install ip6tables:\n   sudo apt-get update && sudo apt-get install iptables\n\n"
                "2. Disable IPv6 on host:\n   sudo sysctl -w net.ipv6.conf.all.disable_ipv6=1\n"
                "   sudo sysctl -w net.ipv6.conf.default.disable_ipv6=1\n\n"
                "   Make persistent: Add to /etc/sysctl.conf:\n   net.ipv6.conf.all.disable_ipv6 = 1\n"
                "   net.ipv6.conf.default.disable_ipv6 = 1\n\n"
                "3. Apply IPv6 firewall rules:\n   sudo scripts/sovereign-fw.sh apply sovereign\n\n"
                "Current Status:\n- IPv6 Active: Yes\n- ip6tables Available: No\n- Policy: block\n- Rules Applied: No",
            )
        if gate == "pass":
            sov.audit(
                "sovereign.ipv6_gate_passed",
                severity="info",
                reason="IPv6 gate check passed - IPv6 is properly blocked",
                ipv6_related=True,
                metadata={"metadata": {k: meta[k] for k in ("ipv6_active", "policy", "rules_applied")}},
            )

    # drill controls (reference backend only) ---------------------------------------------------
    def drill(self, action, body, principal):
        """Move what real main can move, through the writers its code has; refuse the rest."""
        with self.lock:
            m = self.metrics
            if action in ("override/activate", "override/clear"):
                # MetricsCollector.set_override_active exists but real main never calls it.
                active = action == "override/activate"
                changed = m.override != active
                m.override = active
                return {"changed": changed, "brain_override_active": int(active)}
            if action == "bundle/quarantine":
                m.quarantines += 1  # BundleManager.quarantine_bundle of a known bundle
                return {"changed": True, "brain_quarantine_total": m.quarantines}
            if action == "executor/run":
                outcome = body.get("outcome", "success") if isinstance(body, dict) else None
                if outcome not in ("success", "failure"):
                    raise HttpError(400, "outcome must be 'success' or 'failure'")
                if self.safe.enabled:  # SafeModeService.check_and_block, from the executor
                    self.sovereign.audit(
                        "system.safe_mode_execution_blocked",
                        success=False,
                        severity="warning",
                        reason="Operation blocked: executor_drill_step_drill",
                        triggered_by="safe_mode",
                    )
                    raise HttpError(409, "Operation blocked: BRAiN is in SAFE MODE")
                if outcome == "success":
                    m.last_success = time.time()
                else:
                    m.failures += 1
                return {"changed": True, "outcome": outcome}
            if action == "mode/switch":
                mode = body.get("mode") if isinstance(body, dict) else None
                if mode not in MODES:
                    raise HttpError(400, f"mode must be one of {', '.join(MODES)}")
                before = self.sovereign.config["current_mode"]
                self.change_mode({"target_mode": mode, "force": True, "reason": "drill", "bundle_id": None}, triggered_by=principal.id)
                return {"changed": before != mode, "mode": mode}
            if action in SEED_ONLY_DRILLS:
                raise HttpError(404, f"drill {action} has no counterpart in BRAiN main (no such signal): seed profile only")
            raise HttpError(404, "Not Found")


SEED_ONLY_DRILLS = ("preflight/failure", "trust/violation", "policy/violation", "trace/gap", "bundle/release")


# ---- HTTP, as FastAPI/Starlette answer it -------------------------------------------------
def route_table(sprint7):
    """(method, path) -> handler name. main.py as shipped, or with the Sprint 7 routers mounted."""
    routes = {
        ("GET", "/"): "root",
        ("GET", "/api/health"): "health",
        ("POST", "/api/auth/service-token"): "service_token",
        ("POST", "/api/auth/login"): "login",
        ("GET", "/api/auth/.well-known/jwks.json"): "jwks",
        ("GET", "/api/sovereign-mode/status"): "sovereign_status",
        ("GET", "/api/sovereign-mode/config"): "sovereign_config",
        ("POST", "/api/sovereign-mode/mode"): "sovereign_mode",
        ("GET", "/api/sovereign-mode/audit"): "sovereign_audit",
        ("POST", "/api/sovereign-mode/evidence/export"): "evidence_export",
        ("POST", "/api/sovereign-mode/evidence/verify"): "evidence_verify",
    }
    if sprint7:
        routes.update(
            {
                ("GET", "/api/safe-mode/status"): "safe_mode_status",
                ("POST", "/api/safe-mode/enable"): "safe_mode_enable",
                ("POST", "/api/safe-mode/disable"): "safe_mode_disable",
                ("GET", "/metrics"): "metrics",
                ("GET", "/metrics/summary"): "metrics_summary",
                ("GET", "/metrics/health"): "metrics_health",
            }
        )
    return routes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "brain-reference-backend/1 (brain-main)"
    backend = None
    keys = None
    routes = {}
    paths = set()
    clients = {}  # client_id -> (secret, allowed scopes)
    users = {}  # email -> (password, role, id)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def _dispatch(self, method):
        url = urlsplit(self.path)
        self._body_read = False
        try:
            self._handle(method, url)
        except Invalid as err:
            self._json(422, {"detail": err.errors})
        except HttpError as err:
            self._json(err.status, {"detail": err.detail}, err.headers)
        except Exception as err:  # a bug in the reference backend: say so, never hang the client
            self.log_error("internal error: %r", err)
            self._send(500, b"Internal Server Error", "text/plain; charset=utf-8")

    def _handle(self, method, url):
        path = url.path
        if path.startswith("/api/drill/") and self.backend.opts.enable_drills:
            if method != "POST":
                raise HttpError(405, "Method Not Allowed", {"Allow": "POST"})
            body = self._body()
            principal = self._admin()
            return self._json(200, self.backend.drill(path[len("/api/drill/") :], body, principal))
        name = self.routes.get((method, path))
        if name is None:
            if path in self.paths:
                allowed = ", ".join(m for m, p in self.routes if p == path)
                raise HttpError(405, "Method Not Allowed", {"Allow": allowed})
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            if path != "/" and other in self.paths:  # Starlette's redirect_slashes
                location = f"http://{self.headers.get('Host', 'localhost')}{other}" + (f"?{url.query}" if url.query else "")
                return self._send(307, b"", None, {"location": location})
            raise HttpError(404, "Not Found")
        getattr(self, "r_" + name)(url)

    # routes -------------------------------------------------------------------------------
    def _admin(self):
        return require(principal_of(self.headers.get("Authorization"), self.keys), ADMIN_ROLES)

    def r_root(self, _url):
        self._json(200, {"name": "BRAiN Core Backend", "version": "0.3.0", "status": "operational", "docs": "/docs", "api_health": "/api/health"})

    def r_health(self, _url):
        self._json(200, {"status": "ok", "message": "BRAiN Core Backend is running", "version": "0.3.0"})

    def r_jwks(self, _url):
        self._json(200, self.keys.jwks())

    def r_service_token(self, _url):
        req = validate(self._body(), [("client_id", "str", ...), ("client_secret", "str", ...), ("scope", "str?", None)])
        known = self.clients.get(req["client_id"])
        # bcrypt in the real service; a constant-time compare here
        if known is None or not hmac.compare_digest(req["client_secret"].encode(), known[0].encode()):
            raise Unauthorized("Invalid client credentials")
        requested = {s.strip() for s in (req["scope"] or "").split() if s.strip()}
        invalid = requested - set(known[1])
        if invalid:
            raise Unauthorized(f"Invalid scopes requested: {invalid}")
        scopes = list(requested) if requested else list(known[1])
        extra = {"client_id": req["client_id"], "account_type": "service"}
        token, expires_in = self.keys.access_token(str(uuid.uuid5(uuid.NAMESPACE_URL, "service:" + req["client_id"])), scopes, "service", extra)
        self._json(200, {"access_token": token, "token_type": "bearer", "expires_in": expires_in, "scope": " ".join(scopes)})

    def r_login(self, _url):
        body = self._body()
        req = validate(body, [("email", "str", ...), ("password", "str", ...)])
        errors = []
        if "@" not in req["email"]:  # EmailStr; its other refusals are not reproduced
            reason = "An email address must have an @-sign."
            errors.append(
                {
                    "type": "value_error",
                    "loc": ["body", "email"],
                    "msg": f"value is not a valid email address: {reason}",
                    "input": req["email"],
                    "ctx": {"reason": reason},
                }
            )
        if len(req["password"]) < 8:
            errors.append(
                {
                    "type": "string_too_short",
                    "loc": ["body", "password"],
                    "msg": "String should have at least 8 characters",
                    "input": req["password"],
                    "ctx": {"min_length": 8},
                }
            )
        if errors:
            raise Invalid(errors)
        user = self.users.get(req["email"].lower())
        if user is None or not hmac.compare_digest(req["password"].encode(), user[0].encode()):
            raise Unauthorized("Incorrect email or password")
        scopes = {"admin": ["read", "write", "admin"], "operator": ["read", "write"]}.get(user[1], ["read"])
        token, expires_in = self.keys.access_token(user[2], scopes, "human", {"email": req["email"], "role": user[1]})
        self._json(200, {"access_token": token, "refresh_token": b64url(os.urandom(32)), "token_type": "bearer", "expires_in": expires_in})

    def r_sovereign_status(self, _url):
        self._admin()
        self._json(200, self.backend.sovereign.status())

    def r_sovereign_config(self, _url):
        self._admin()
        self._json(200, dict(self.backend.sovereign.config))

    def r_sovereign_mode(self, _url):
        body = self._body()
        self._admin()
        req = validate(body, [("target_mode", MODES, ...), ("force", "bool", False), ("reason", "str?", None), ("bundle_id", "str?", None)])
        self._json(200, self.backend.change_mode(req))

    def r_sovereign_audit(self, url):
        self._admin()
        query = parse_qs(url.query)
        raw = query.get("limit", ["100"])[-1]
        try:
            limit = int(raw)
        except ValueError:
            raise Invalid(
                [
                    {
                        "type": "int_parsing",
                        "loc": ["query", "limit"],
                        "msg": "Input should be a valid integer, unable to parse string as an integer",
                        "input": raw,
                    }
                ]
            ) from None
        if limit < 1:
            raise Invalid(
                [{"type": "greater_than_equal", "loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1", "input": raw, "ctx": {"ge": 1}}]
            )
        if limit > AUDIT_ROUTE_MAX:
            raise Invalid(
                [
                    {
                        "type": "less_than_equal",
                        "loc": ["query", "limit"],
                        "msg": f"Input should be less than or equal to {AUDIT_ROUTE_MAX}",
                        "input": raw,
                        "ctx": {"le": AUDIT_ROUTE_MAX},
                    }
                ]
            )
        entries = self.backend.sovereign.audit_log
        if "event_type" in query:
            entries = [e for e in entries if e["event_type"] == query["event_type"][-1]]
        self._json(200, entries[-limit:])

    def r_evidence_export(self, _url):
        body = self._body()
        self._admin()
        fields = [
            ("from_timestamp", "datetime", ...),
            ("to_timestamp", "datetime", ...),
            ("scope", SCOPES, "audit"),
            ("include_bundle_details", "bool", True),
            ("include_executor_summary", "bool", True),
        ]
        self._json(200, export_pack(validate(body, fields), self.backend.sovereign))

    def r_evidence_verify(self, _url):
        body = self._body()
        self._admin()
        self._json(200, verify_pack(body))

    def r_safe_mode_status(self, _url):
        require(principal_of(self.headers.get("Authorization"), self.keys), OPERATOR_ROLES)
        self._json(200, {"success": True, **self.backend.safe.status()})

    def r_safe_mode_enable(self, _url):
        self._safe_mode(True)

    def r_safe_mode_disable(self, _url):
        self._safe_mode(False)

    def _safe_mode(self, enable):
        body = self._body()
        principal = self._admin()
        req = validate(body, [("reason", "str", ...)])
        self._json(200, self.backend.safe_mode_set(enable, req["reason"], principal))

    def r_metrics(self, _url):
        self._send(200, self.backend.metrics.text().encode("utf-8"), "text/plain; charset=utf-8")

    def r_metrics_summary(self, _url):
        self._json(200, {"success": True, "metrics": self.backend.metrics.summary()})

    def r_metrics_health(self, _url):
        self.backend.metrics  # noqa: B018 - first use starts the collector, as the real route does
        self._json(200, {"healthy": True, "message": "Metrics collector operational"})

    # plumbing -----------------------------------------------------------------------------
    def _body(self):
        """The request body as FastAPI hands it to the model: parsed JSON, raw text, or None."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise HttpError(400, "There was an error parsing the body") from None
        if length > MAX_BODY:  # the double's own limit; uvicorn has none
            raise HttpError(413, f"the body must be at most {MAX_BODY} bytes")
        self._body_read = True
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw:
            return None
        content_type = self.headers.get("Content-Type")
        subtype = (content_type or "").split(";")[0].strip().lower()
        if content_type and not (subtype == "application/json" or (subtype.startswith("application/") and subtype.endswith("+json"))):
            return raw.decode("utf-8", "replace")  # a form body: validated, and refused, as a string
        try:
            return json.loads(raw)
        except json.JSONDecodeError as err:
            raise Invalid([{"type": "json_invalid", "loc": ["body", err.pos], "msg": "JSON decode error", "input": {}, "ctx": {"error": err.msg}}]) from None
        except UnicodeDecodeError:
            raise HttpError(400, "There was an error parsing the body") from None

    def _json(self, status, obj, headers=None):
        self._send(status, fastapi_json(obj), "application/json", headers)

    def _send(self, status, payload, content_type, headers=None):
        if not self._body_read and self.headers.get("Content-Length", "0") not in ("", "0"):
            # Refused before its body was read: close, so the unread body is never taken for a request.
            self.close_connection = True
            headers = {**(headers or {}), "connection": "close"}
        self.send_response(status)
        if content_type:
            self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        # Request lines only; headers (and so tokens) are never logged.
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def read_secret(path, what):
    try:
        with open(path, encoding="utf-8") as fh:
            value = fh.read().strip()
    except OSError as err:
        raise SystemExit(f"server.py: cannot read {what} {path}: {err.strerror}") from None
    if not value:
        raise SystemExit(f"server.py: {what} {path} is empty")
    return value


def handler_class(args):
    """The bound handler for parsed server.py options (profile brain-main)."""
    pem = None
    if args.jwt_key_file:
        pem = read_secret(args.jwt_key_file, "JWT key file").encode()
    elif os.environ.get("BRAIN_JWT_PRIVATE_KEY"):
        pem = os.environ["BRAIN_JWT_PRIVATE_KEY"].encode()
    try:
        keys = Keys(pem)
    except ValueError as err:
        raise SystemExit(f"server.py: the JWT key is not a usable RSA private key: {err}") from None
    clients = {}
    if args.client_id_file:
        client_id = read_secret(args.client_id_file, "client id file")
        secret = read_secret(args.client_secret_file, "client secret file")
        clients[client_id] = (secret, [s for s in args.client_scopes.split() if s])
    users = {}
    if args.login_email:
        password = read_secret(args.login_password_file, "login password file")
        if len(password) < 8:
            raise SystemExit("server.py: the login password must have at least 8 characters (the real LoginRequest)")
        users[args.login_email.lower()] = (password, args.login_role, str(uuid.uuid5(uuid.NAMESPACE_URL, "user:" + args.login_email.lower())))
    routes = route_table(args.brain_routers == "sprint7")
    return type(
        "BrainMainHandler",
        (Handler,),
        {"backend": Backend(args), "keys": keys, "routes": routes, "paths": {p for _m, p in routes}, "clients": clients, "users": users},
    )


def seed_audit_file(state_dir, count, days, rng, end=None):
    """On an empty audit file, write `count` past entries of kinds real main writes, naive UTC."""
    path = os.path.join(state_dir, AUDIT_FILE)
    if os.path.exists(path) and os.path.getsize(path):
        return 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    kinds = (
        ("sovereign.network_probe_passed", "info", True, 70),
        ("sovereign.bundle_loaded", "info", True, 10),
        ("sovereign.network_probe_failed", "warning", False, 10),
        ("sovereign.mode_changed", "info", True, 5),
        ("factory.execution_completed", "info", True, 5),
    )
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    start = end - timedelta(days=days)
    step = (timedelta(days=days) - timedelta(minutes=1)) / max(count, 1)
    mode = "online"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(count):
            event_type, severity, success, _w = rng.choices(kinds, [k[3] for k in kinds])[0]
            ts = start + step * i
            before = after = None
            if event_type == "sovereign.mode_changed":
                before, after = mode, "offline" if mode == "online" else "online"
                mode = after
            entry = {
                "id": f"{event_type.split('.')[-1]}_{int(ts.replace(tzinfo=UTC).timestamp() * 1000)}",
                "timestamp": ts.isoformat(),
                "event_type": event_type,
                "severity": severity,
                "mode_before": before,
                "mode_after": after,
                "bundle_id": None,
                "reason": None if success else "Network probe failed: timeout",
                "triggered_by": "api" if before else "system",
                "success": success,
                "error": None if success else "timeout",
                "ipv6_related": False,
                "metadata": {},
            }
            fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
    return count


def mint(key_file, subject, roles, minutes):
    """A token like jwt_middleware.create_token makes (tests and drills; not an API of BRAiN)."""
    keys = Keys(read_secret(key_file, "JWT key file").encode())
    now = int(time.time())
    claims = {"sub": subject, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + int(minutes * 60), "scope": "", "roles": roles, "type": "human"}
    return keys.sign(claims)
