# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of this collection. It may change in any release without notice.

What a backend provides and in which dialect, told from what it answers. One place for the
dialect names (the modules' options and returns, the prometheus role's dialects, the reference
backend's profiles all use them) and for each probe, so backend_info and evidence_pack's
O(dialect=auto) can never disagree:
- `contract`: this collection's governance API contract (docs/governance-api.md);
- `brain_main`: real BRAiN as released (satoshiflow/BRAiN main);
- `governance_branch`: the metric names of BRAiN's unmerged governance branch.
"""

import json
import re

from ansible_collections.brain.ops_assurance.plugins.module_utils._api import BrainApiError
from ansible_collections.brain.ops_assurance.plugins.module_utils._safe_mode import STATUS as SAFE_MODE_STATUS
from ansible_collections.brain.ops_assurance.plugins.module_utils._safe_mode import UnknownAnswer, normalise

DIALECTS = ("contract", "brain_main", "governance_branch")
# Names released in 0.1.0 that still work, with a deprecation warning, until 2.0.0 (the version is written out in
# each deprecate call, where ansible-test's pylint checks it).
DEPRECATED_DIALECTS = {"seed": "contract", "upstream_main": "brain_main", "brain": "brain_main"}


def deprecated_dialect(name):
    """The warning for an old dialect name, or None for a current one."""
    if name in DEPRECATED_DIALECTS:
        return f"the dialect name {name!r} is deprecated; use {DEPRECATED_DIALECTS[name]!r}"
    return None


# Which series tell each metrics dialect apart: a subset that each dialect always exposes (its HELP/TYPE lines count,
# since a labelled counter has no sample before its first increment). Order matters: the first complete match wins.
METRIC_DIALECTS = {
    "governance_metrics": (
        "/api/sovereign-mode/metrics",
        {
            "contract": (
                "sovereign_override_active",
                "sovereign_override_activated_timestamp_seconds",
                "sovereign_bundles_quarantined",
                "sovereign_axe_trust_violations_total",
                "sovereign_preflight_failures_total",
            ),
            "governance_branch": (
                "sovereign_override_active",
                "sovereign_override_usage_total",
                "sovereign_preflight_failure_total",
                "sovereign_bundle_quarantine_total",
                "axe_trust_violation_total",
            ),
        },
    ),
    "operations_metrics": (
        "/metrics",
        {
            "contract": (
                "brain_mode_current",
                "brain_override_active",
                "brain_quarantine_total",
                "brain_executor_failures_total",
                "brain_authn_failures_total",
                "brain_decisions_total",
                "brain_request_duration_seconds",
            ),
            "brain_main": (
                "brain_info",
                "brain_mode_current",
                "brain_mode_switch_total",
                "brain_override_active",
                "brain_quarantine_total",
                "brain_executor_failures_total",
                "brain_last_success_timestamp",
            ),
        },
    ),
}

ENABLES = {
    "governance_metrics": ["governance alerts (override, quarantine, AXE trust, preflight)", "Tabletop 001 detection"],
    "operations_metrics": ["mode, executor, safe mode, security and latency alerts"],
    "safe_mode": ["safe_mode and safe_mode_info modules", "safe_mode playbook", "the drill's freeze"],
    "audit_export": ["daily evidence export over the API (evidence_export role; an audit_file source does without)"],
    "evidence_packs": ["evidence_pack module and playbook"],
    "service_tokens": ["OAuth2 client credentials instead of a static token"],
}
CAPABILITIES = list(ENABLES)

# The rule pack's alerts each capability makes possible, per dialect: those whose series the capability's scrape job
# carries in that dialect after the prometheus role's renames. Derived from the rule pack and the role's
# prometheus_brain_dialects; tests/unit/test_rule_pack.py fails when this table and the rendered pack disagree.
ALERTS = {
    "governance_metrics": {
        "contract": (
            "GovernanceOverrideActive",
            "GovernanceOverrideActiveTooLong",
            "GovernanceBundleQuarantined",
            "GovernanceAxeTrustViolation",
            "GovernancePreflightFailures",
        ),
        "governance_branch": (
            "GovernanceOverrideActive",
            "GovernanceBundleQuarantined",
            "GovernanceAxeTrustViolation",
            "GovernancePreflightFailures",
            "BrainModeFlapping",
        ),
    },
    "operations_metrics": {
        "contract": (
            "GovernanceOverrideActive",
            "GovernanceBundleQuarantined",
            "GovernanceSafeModeEnabled",
            "GovernanceModeQuarantine",
            "BrainModeFlapping",
            "BrainExecutorFailures",
            "BrainExecutorFailureRatio",
            "BrainLastSuccessTooOld",
            "BrainAuditSequenceRegressed",
            "BrainAuditStalled",
            "BrainAuthnFailureSpike",
            "BrainAuthzDenials",
            "BrainPolicyViolations",
            "BrainLatencyP95AboveSLO",
            "BrainLatencyP99AboveSLO",
            "BrainTraceIncomplete",
        ),
        "brain_main": (
            "GovernanceOverrideActive",
            "GovernanceBundleQuarantined",
            "GovernanceModeQuarantine",
            "BrainModeFlapping",
            "BrainExecutorFailures",
            "BrainLastSuccessTooOld",
        ),
    },
    # The daily export feeds the evidence host's node_exporter, which these read.
    "audit_export": {"contract": ("BrainEvidenceExportStale", "BrainEvidenceExportFailed")},
}

# Bounds on what a probe reads: a metrics page of a governance backend is a few KiB.
MAX_BODY = 4 * 1024 * 1024
EVIDENCE_EXPORT = "/api/sovereign-mode/evidence/export"
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def metric_families(text):
    """The metric names a Prometheus text page declares (TYPE/HELP) or samples; histogram series under their family."""
    names = set()
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("TYPE", "HELP") and _NAME.fullmatch(parts[2]):
                names.add(parts[2])
            continue
        match = _NAME.match(line)
        if match:
            name = match.group(0)
            names.add(name)
            for suffix in _HISTOGRAM_SUFFIXES:
                if name.endswith(suffix):
                    names.add(name[: -len(suffix)])
    return names


def api_fetch(api):
    """`fetch(path) -> (status, text)` over the collection's client; status None when no response came back."""

    def fetch(path):
        try:
            return api.probe("probe " + path, path, MAX_BODY)
        except BrainApiError as err:
            return err.status, ""

    return fetch


def unavailable(endpoint, status, detail):
    return {"available": False, "dialect": None, "endpoint": endpoint, "status": status, "detail": detail, "missing_series": []}


def refusal(endpoint, status):
    """Why a probe's non-2xx answer means the capability cannot be used."""
    if status is None:
        return "no response"
    if status == 404:
        return f"not served (HTTP 404): the backend does not mount {endpoint}"
    if status in (401, 403):
        return f"the token was refused (HTTP {status}), so whether the backend provides it is unknown"
    return f"unexpected answer (HTTP {status})"


def classify_metrics(capability, status, body):
    """Which dialect a metrics page speaks, or why it is not usable."""
    endpoint, dialects = METRIC_DIALECTS[capability]
    if status != 200:
        return unavailable(endpoint, status, refusal(endpoint, status))
    families = metric_families(body)
    best, best_missing = None, None
    for dialect, signature in dialects.items():
        missing = [name for name in signature if name not in families]
        if not missing:
            return {
                "available": True,
                "dialect": dialect,
                "endpoint": endpoint,
                "status": status,
                "detail": f"{len(families)} metric families",
                "missing_series": [],
            }
        if best_missing is None or len(missing) < len(best_missing):
            best, best_missing = dialect, missing
    if len(best_missing) == len(dialects[best]):
        result = unavailable(endpoint, status, "answers, but serves none of the series of any known dialect")
        result["missing_series"] = best_missing
        return result
    result = unavailable(endpoint, status, f"serves only part of the {best} dialect; missing: {', '.join(best_missing)}")
    result["missing_series"] = best_missing
    return result


def classify_safe_mode(status, body):
    """Safe mode is usable when its status reads as the safe mode modules read it (the same code)."""
    endpoint = SAFE_MODE_STATUS
    if status != 200:
        return unavailable(endpoint, status, refusal(endpoint, status))
    try:
        state = json.loads(body)
    except ValueError:
        return unavailable(endpoint, status, "the answer is not JSON")
    try:
        dialect, normalised = normalise(state, "the status") if isinstance(state, dict) else (None, None)
    except UnknownAnswer:
        dialect = None
    if dialect is None:
        return unavailable(endpoint, status, "the answer has no boolean enabled or safe_mode_enabled: an unknown dialect")
    detail = f"safe mode is {'on' if normalised['enabled'] else 'off'}"
    return {"available": True, "dialect": dialect, "endpoint": endpoint, "status": status, "detail": detail, "missing_series": []}


def classify_route(endpoint, status, dialect):
    """A POST-only route probed with GET: 405 says it is mounted, without acting."""
    if status == 405:
        return {"available": True, "dialect": dialect, "endpoint": endpoint, "status": status, "detail": "mounted", "missing_series": []}
    if status == 200:
        return unavailable(endpoint, status, "answers GET, which the route should refuse: not the expected API")
    return unavailable(endpoint, status, refusal(endpoint, status))


def evidence_pack_dialect(openapi, refusal_body):
    """The evidence pack request dialect: from the FastAPI schema when the backend publishes one, else from the
    shape of its 405 answer (FastAPI's {"detail": ...} is real BRAiN's; {"error": ...} is the contract's)."""
    if isinstance(openapi, dict):
        text = json.dumps(openapi.get("components", {}))
        if "from_timestamp" in text:
            return "brain_main"
        if "start_time" in text:
            return "contract"
    try:
        body = json.loads(refusal_body)
    except ValueError:
        return None
    if isinstance(body, dict) and "detail" in body:
        return "brain_main"
    if isinstance(body, dict) and "error" in body:
        return "contract"
    return None


def probe_evidence_packs(fetch):
    """The evidence pack capability and its request dialect, from `fetch(path) -> (status, text)`."""
    pack_status, refusal_body = fetch(EVIDENCE_EXPORT)
    dialect = None
    if pack_status == 405:
        status, text = fetch("/openapi.json")
        try:
            openapi = json.loads(text) if status == 200 else None
        except ValueError:
            openapi = None
        dialect = evidence_pack_dialect(openapi, refusal_body)
    result = classify_route(EVIDENCE_EXPORT, pack_status, dialect)
    if result["available"] and dialect is None:
        result.update(available=False, detail="mounted, but its request dialect is unknown")
    return result


def probe_all(fetch):
    """Every capability, from `fetch(path) -> (status, text)`; status None when no response came back."""
    results = {}
    for capability, (endpoint, _dialects) in METRIC_DIALECTS.items():
        results[capability] = classify_metrics(capability, *fetch(endpoint))
    results["safe_mode"] = classify_safe_mode(*fetch(SAFE_MODE_STATUS))
    results["audit_export"] = classify_route("/api/sovereign-mode/audit/export", fetch("/api/sovereign-mode/audit/export")[0], "contract")
    results["evidence_packs"] = probe_evidence_packs(fetch)
    results["service_tokens"] = classify_route("/api/auth/service-token", fetch("/api/auth/service-token")[0], "brain_main")
    for capability, result in results.items():
        result["enables"] = ENABLES[capability]
        result["alerts"] = list(ALERTS.get(capability, {}).get(result["dialect"], ())) if result["available"] else []
    return results


def backend_dialect(capabilities):
    """(dialect, why) for scraping the backend: its metrics' dialect; a backend without metrics is told by the
    dialects of its other capabilities. None when they disagree or nothing was found."""
    metrics = {c["dialect"] for name, c in capabilities.items() if name in METRIC_DIALECTS and c["available"]}
    found = metrics or {c["dialect"] for c in capabilities.values() if c["available"] and c["dialect"]}
    if len(found) == 1:
        return next(iter(found)), f"from its {'metrics' if metrics else 'API, no metrics'}"
    if found:
        return None, f"its {'metrics' if metrics else 'capabilities'} speak several dialects ({', '.join(sorted(found))})"
    return None, "no capability tells its dialect"
