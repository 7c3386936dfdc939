# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: backend_info
short_description: Find out what a BRAiN backend provides, and in which dialect
version_added: 0.1.0
description:
  - Probes the backend's governance API and reports, for each capability this collection relies on, whether the backend
    provides it, in which dialect (the contract of this collection, real BRAiN as released, or the governance branch),
    and which features of the collection it makes possible.
  - Never stays silent about a gap. A capability that answers but does not serve what its dialect needs (a renamed
    metric, a version skew) is reported as missing, with what it lacks. A capability named in O(required) that is
    missing fails the task, unless O(accept_missing) names it too; an accepted gap is still reported as a warning.
  - Only reads. Routes that only take C(POST) are probed with C(GET), which the backend refuses (C(405)) without acting.
  - The dialects and what each provides are in the collection's C(docs/governance-api.md).
options:
  required:
    description:
      - Capabilities that must be present. The task fails, listing each missing one and why, unless it is in
        O(accept_missing).
    type: list
    elements: str
    default: []
    choices: [governance_metrics, operations_metrics, safe_mode, audit_export, evidence_packs, service_tokens]
  accept_missing:
    description:
      - Capabilities whose absence you accept knowingly (for example a backend that does not mount the safe mode
        routes). They are reported as warnings instead of failing the task.
    type: list
    elements: str
    default: []
    choices: [governance_metrics, operations_metrics, safe_mode, audit_export, evidence_packs, service_tokens]
extends_documentation_fragment:
  - brain.ops_assurance.api
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  idempotent:
    description: It only reads; a second run reports no change.
    support: full
  platform:
    platforms: posix
notes:
  - A token the backend refuses (C(401)) makes every protected capability missing with that reason; it does not pass as
    "not mounted".
author: brain.ops_assurance developers (@brain-ops-assurance)
seealso:
  - module: brain.ops_assurance.safe_mode_info
"""

EXAMPLES = r"""
- name: Refuse to deploy alerts that could never fire
  brain.ops_assurance.backend_info:
    api_url: http://127.0.0.1:8000
    api_token: "{{ vault_brain_read_token }}"
    required: [governance_metrics, operations_metrics, audit_export]
  register: brain_backend

- name: Deploy on a backend without safe mode routes, knowingly
  brain.ops_assurance.backend_info:
    required: [governance_metrics, safe_mode]
    accept_missing: [safe_mode]
"""

RETURN = r"""
capabilities:
  description: One entry per capability.
  returned: always
  type: dict
  contains:
    available:
      description: Whether the backend provides the capability in a dialect the collection understands.
      type: bool
      sample: false
    dialect:
      description:
        - V(contract) (this collection's contract), V(brain-main) (real BRAiN as released), V(governance-branch)
          (the metric names of BRAiN's unmerged governance branch), or null when unavailable or unknown.
      type: str
      sample: brain-main
    endpoint:
      description: The path probed.
      type: str
      sample: /api/sovereign-mode/metrics
    status:
      description: The HTTP status of the probe, or null when no response came back.
      type: int
      sample: 404
    detail:
      description: What was found, in one sentence; for a missing capability, why.
      type: str
      sample: not served (HTTP 404)
    missing_series:
      description: For metrics, the series the closest dialect lacks.
      type: list
      elements: str
      sample: [sovereign_override_active]
    enables:
      description: What in this collection needs the capability.
      type: list
      elements: str
  sample:
    safe_mode: {available: true, dialect: brain-main, endpoint: /api/safe-mode/status, status: 200,
                detail: safe mode is off, missing_series: [], enables: [safe_mode and safe_mode_info modules]}
report:
  description: The same as a table for people, one line per capability; printed by the site playbook.
  returned: always
  type: list
  elements: str
  sample:
    - "governance_metrics  available  contract: 11 metric families"
    - "safe_mode           MISSING    not served (HTTP 404): the backend does not mount /api/safe-mode/status
      -> without: safe_mode and safe_mode_info modules, safe_mode playbook, the drill's freeze"
missing:
  description: The capabilities that are not available, required or not.
  returned: always
  type: list
  elements: str
  sample: [safe_mode, audit_export]
"""

import json
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.brain.ops_assurance.plugins.module_utils._api import BrainApi, BrainApiError, argument_spec

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
            "governance-branch": (
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
            "brain-main": (
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
    "audit_export": ["daily evidence export (evidence_export role)"],
    "evidence_packs": ["evidence_pack module and playbook"],
    "service_tokens": ["OAuth2 client credentials instead of a static token"],
}
CAPABILITIES = list(ENABLES)

# Bounds on what a probe reads: a metrics page of a governance backend is a few KiB.
MAX_BODY = 4 * 1024 * 1024
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
    endpoint = "/api/safe-mode/status"
    if status != 200:
        return unavailable(endpoint, status, refusal(endpoint, status))
    try:
        state = json.loads(body)
    except ValueError:
        return unavailable(endpoint, status, "the answer is not JSON")
    if isinstance(state, dict):
        for dialect, key in (("contract", "enabled"), ("brain-main", "safe_mode_enabled")):
            if isinstance(state.get(key), bool):
                return {
                    "available": True,
                    "dialect": dialect,
                    "endpoint": endpoint,
                    "status": status,
                    "detail": f"safe mode is {'on' if state[key] else 'off'}",
                    "missing_series": [],
                }
    return unavailable(endpoint, status, "the answer has no boolean enabled or safe_mode_enabled: an unknown dialect")


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
            return "brain-main"
        if "start_time" in text:
            return "contract"
    try:
        body = json.loads(refusal_body)
    except ValueError:
        return None
    if isinstance(body, dict) and "detail" in body:
        return "brain-main"
    if isinstance(body, dict) and "error" in body:
        return "contract"
    return None


def probe_all(fetch):
    """Every capability, from `fetch(path) -> (status, text)`; status None when no response came back."""
    results = {}
    for capability, (endpoint, _dialects) in METRIC_DIALECTS.items():
        results[capability] = classify_metrics(capability, *fetch(endpoint))
    results["safe_mode"] = classify_safe_mode(*fetch("/api/safe-mode/status"))
    results["audit_export"] = classify_route("/api/sovereign-mode/audit/export", fetch("/api/sovereign-mode/audit/export")[0], "contract")
    pack_status, refusal_body = fetch("/api/sovereign-mode/evidence/export")
    dialect = None
    if pack_status == 405:
        status, text = fetch("/openapi.json")
        try:
            openapi = json.loads(text) if status == 200 else None
        except ValueError:
            openapi = None
        dialect = evidence_pack_dialect(openapi, refusal_body)
    results["evidence_packs"] = classify_route("/api/sovereign-mode/evidence/export", pack_status, dialect)
    if results["evidence_packs"]["available"] and dialect is None:
        results["evidence_packs"].update(available=False, detail="mounted, but its request dialect is unknown")
    results["service_tokens"] = classify_route("/api/auth/service-token", fetch("/api/auth/service-token")[0], "brain-main")
    for capability, result in results.items():
        result["enables"] = ENABLES[capability]
    return results


def report(capabilities):
    width = max(len(name) for name in capabilities)
    lines = []
    for name, c in capabilities.items():
        if c["available"]:
            lines.append(f"{name:<{width}}  available  {c['dialect']}: {c['detail']}")
        else:
            lines.append(f"{name:<{width}}  MISSING    {c['detail']} -> without: {', '.join(c['enables'])}")
    return lines


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            required={"type": "list", "elements": "str", "default": [], "choices": CAPABILITIES},
            accept_missing={"type": "list", "elements": "str", "default": [], "choices": CAPABILITIES},
        ),
        supports_check_mode=True,
    )
    api = BrainApi(module)

    def fetch(path):
        try:
            return api.probe("probe " + path, path, MAX_BODY)
        except BrainApiError as err:
            return err.status, ""

    capabilities = probe_all(fetch)
    missing = [name for name in CAPABILITIES if not capabilities[name]["available"]]
    for name in missing:
        if name in module.params["accept_missing"]:
            module.warn(f"{name} is missing, accepted: {capabilities[name]['detail']}; not available: {'; '.join(ENABLES[name])}")
    refused = [name for name in module.params["required"] if name in missing and name not in module.params["accept_missing"]]
    if refused:
        reasons = "; ".join(f"{name}: {capabilities[name]['detail']}" for name in refused)
        module.fail_json(msg=f"the backend lacks required capabilities: {reasons}", capabilities=capabilities, missing=missing, report=report(capabilities))
    module.exit_json(changed=False, capabilities=capabilities, missing=missing, report=report(capabilities))


if __name__ == "__main__":
    main()
