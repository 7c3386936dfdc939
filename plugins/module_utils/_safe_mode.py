# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of this collection. It may change in any release without notice.

Safe mode as the backends describe it, read into one shape. Two dialects are known:
- `contract`: the governance API contract: `{enabled, reason, changed_at, changed_by, source}`; the
  enable and disable answers add `changed`.
- `brain`: BRAiN's own safe-mode router: `{success, safe_mode_enabled, enabled_at, enabled_reason,
  enabled_by, ...}`; the enable answer adds `was_enabled`, the disable answer `was_disabled`. It
  clears reason and actor on disable.
Anything else is not understood, and the modules fail rather than guess.
"""

STATUS = "/api/safe-mode/status"
STATE_KEYS = {"contract": "enabled", "brain": "safe_mode_enabled"}
CHANGED_KEYS = {"contract": {"enable": "changed", "disable": "changed"}, "brain": {"enable": "was_enabled", "disable": "was_disabled"}}


class UnknownAnswer(Exception):
    """An answer whose shape or values the modules do not understand."""


def describe(body):
    """What came back, by its keys only: values may be long and are not ours to print."""
    keys = sorted(str(k) for k in body)
    shown = ", ".join(keys[:15]) + (f", ... ({len(keys)} keys)" if len(keys) > 15 else "")
    return f"an object with keys [{shown}]" if keys else "an empty object"


def dialect_of(body):
    """The dialect of an answer, or None when it says nothing about the state."""
    for dialect, key in STATE_KEYS.items():
        if key in body:
            return dialect
    return None


def normalise(body, what):
    """(dialect, state) of a status or change answer; state is {enabled, reason, changed_at, changed_by, source}."""
    dialect = dialect_of(body)
    if dialect is None:
        raise UnknownAnswer(f"{what} does not say whether safe mode is on (no enabled or safe_mode_enabled): {describe(body)}")
    key = STATE_KEYS[dialect]
    enabled = body[key]
    if not isinstance(enabled, bool):
        raise UnknownAnswer(f"{what}: {key} is {_short(enabled)} ({type(enabled).__name__}), not true or false")
    if dialect == "contract":
        return dialect, {"enabled": enabled, **{k: body.get(k) for k in ("reason", "changed_at", "changed_by", "source")}}
    if body.get("success", True) is not True:
        raise UnknownAnswer(f"{what}: success is {_short(body.get('success'))}, not true")
    by = body.get("enabled_by") or None
    # BRAiN marks a start-up with BRAIN_SAFE_MODE set as enabled_by "env"; anyone else used the API.
    source = "env" if by == "env" else ("api" if enabled and by else None)
    return dialect, {"enabled": enabled, "reason": body.get("enabled_reason") or None, "changed_at": body.get("enabled_at"), "changed_by": by, "source": source}


def changed_flag(body, dialect, action, what):
    """The backend's own word on whether this request changed the state; None when the answer does not say."""
    key = CHANGED_KEYS[dialect][action]
    if key not in body:
        return None
    if not isinstance(body[key], bool):
        raise UnknownAnswer(f"{what}: {key} is {_short(body[key])} ({type(body[key]).__name__}), not true or false")
    return body[key]


def predict(dialect, enabled, reason):
    """The state a change should leave; who and when are the backend's to say, so null."""
    if dialect == "brain" and not enabled:
        return {"enabled": False, "reason": None, "changed_at": None, "changed_by": None, "source": None}
    return {"enabled": enabled, "reason": reason, "changed_at": None, "changed_by": None, "source": "api"}


def read_status(api, what="the status answer"):
    """(dialect, state) from GET /api/safe-mode/status."""
    return normalise(api.call("read safe mode status", "GET", STATUS), what)


def _short(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
