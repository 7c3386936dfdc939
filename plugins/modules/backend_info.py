# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: backend_info
short_description: Find out what a BRAiN backend provides, and in which dialect
version_added: 0.1.0
description:
  - Probes the backend's governance API and reports, for each capability this collection relies on, whether the backend
    provides it, in which dialect (the contract of this collection, real BRAiN as released, or the governance branch),
    and which features and alerts of the collection it makes possible.
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
        - V(contract) (this collection's contract), V(brain_main) (real BRAiN as released), V(governance_branch)
          (the metric names of BRAiN's unmerged governance branch), or null when unavailable or unknown.
        - The same names as the prometheus role's metric dialects and the C(dialect) option
          of M(brain.ops_assurance.evidence_pack). Release 0.1.0 returned V(brain-main) and V(governance-branch).
      type: str
      sample: brain_main
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
    alerts:
      description:
        - The alerts of the prometheus role's rule pack that this capability makes possible on this backend, in its
          dialect; empty when the capability is missing, or when no alert reads it (safe mode's state reaches
          Prometheus through the operations metrics, C(brain_safe_mode_enabled)).
        - V(governance_metrics) and V(operations_metrics) list the alerts whose series that scrape job carries in the
          dialect found, after the role's renames (an alert that reads either of two series counts when one is there).
          V(audit_export) lists the evidence export's alerts, which need the daily export it makes possible.
        - An alert listed nowhere for a backend can never fire for it. The alerts on scraping itself
          (C(BrainTargetDown), C(BrainScrapeFailing), C(BrainContractMissing)) work for every backend and are not listed.
      type: list
      elements: str
      sample: [GovernanceOverrideActive, GovernanceBundleQuarantined, GovernanceModeQuarantine, BrainModeFlapping]
  sample:
    safe_mode: {available: true, dialect: brain_main, endpoint: /api/safe-mode/status, status: 200,
                detail: safe mode is off, missing_series: [], enables: [safe_mode and safe_mode_info modules], alerts: []}
dialect:
  description:
    - The dialect to scrape this backend's metrics in, a key of the prometheus role's C(prometheus_brain_dialects),
      is the dialect of its metrics capabilities; for a backend without metrics, the one dialect its other capabilities
      speak. Null when they speak several or none is available; the last line of RV(report) says which.
    - The C(site) playbook scrapes each backend in this dialect unless told otherwise.
  returned: always
  type: str
  sample: brain_main
report:
  description: The same as a table for people, one line per capability; printed by the site playbook.
  returned: always
  type: list
  elements: str
  sample:
    - "governance_metrics  available  contract: 11 metric families; alerts: GovernanceOverrideActive, ..."
    - "safe_mode           MISSING    not served (HTTP 404): the backend does not mount /api/safe-mode/status
      -> without: safe_mode and safe_mode_info modules, safe_mode playbook, the drill's freeze"
    - "dialect             contract  (from its metrics)"
missing:
  description: The capabilities that are not available, required or not.
  returned: always
  type: list
  elements: str
  sample: [safe_mode, audit_export]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.brain.ops_assurance.plugins.module_utils._api import BrainApi, argument_spec
from ansible_collections.brain.ops_assurance.plugins.module_utils._capabilities import CAPABILITIES, ENABLES, api_fetch, backend_dialect, probe_all


def report(capabilities, dialect, why):
    width = max(len(name) for name in capabilities)
    lines = []
    for name, c in capabilities.items():
        if c["available"]:
            alerts = f"; alerts: {', '.join(c['alerts'])}" if c["alerts"] else ""
            lines.append(f"{name:<{width}}  available  {c['dialect']}: {c['detail']}{alerts}")
        else:
            lines.append(f"{name:<{width}}  MISSING    {c['detail']} -> without: {', '.join(c['enables'])}")
    lines.append(f"{'dialect':<{width}}  {dialect or 'UNKNOWN'}  ({why})")
    return lines


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            required={"type": "list", "elements": "str", "default": [], "choices": CAPABILITIES},
            accept_missing={"type": "list", "elements": "str", "default": [], "choices": CAPABILITIES},
        ),
        supports_check_mode=True,
    )
    capabilities = probe_all(api_fetch(BrainApi(module)))
    dialect, why = backend_dialect(capabilities)
    missing = [name for name in CAPABILITIES if not capabilities[name]["available"]]
    for name in missing:
        if name in module.params["accept_missing"]:
            module.warn(f"{name} is missing, accepted: {capabilities[name]['detail']}; not available: {'; '.join(ENABLES[name])}")
    refused = [name for name in module.params["required"] if name in missing and name not in module.params["accept_missing"]]
    if refused:
        reasons = "; ".join(f"{name}: {capabilities[name]['detail']}" for name in refused)
        module.fail_json(
            msg=f"the backend lacks required capabilities: {reasons}",
            capabilities=capabilities,
            missing=missing,
            dialect=dialect,
            report=report(capabilities, dialect, why),
        )
    module.exit_json(changed=False, capabilities=capabilities, missing=missing, dialect=dialect, report=report(capabilities, dialect, why))


if __name__ == "__main__":
    main()
