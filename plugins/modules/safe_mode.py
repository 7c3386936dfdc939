# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: safe_mode
short_description: Freeze or unfreeze the BRAiN backend (safe mode)
version_added: 0.1.0
description:
  - Enables or disables the backend's global safe mode (seed S7.4). In safe mode the backend refuses every
    execution; reads, metrics and audit logging go on.
  - Reads C(GET /api/safe-mode/status) first and changes the state only when it differs, so a second run reports
    no change. The reason is sent with the change and recorded in the backend's audit log.
  - Check mode predicts the change without making it; diff mode shows the state before and after.
options:
  state:
    description: Whether safe mode should be on (C(enabled)) or off (C(disabled)).
    type: str
    required: true
    choices: [enabled, disabled]
  reason:
    description:
      - Why, for the audit trail (an incident number, a change ticket). Required; at most 500 characters.
      - Only sent when the state changes.
    type: str
    required: true
extends_documentation_fragment:
  - brain.ops_assurance.api
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
author: brain.ops_assurance developers (@brain-ops-assurance)
seealso:
  - module: brain.ops_assurance.safe_mode_info
"""

EXAMPLES = r"""
- name: Freeze the backend during an incident
  brain.ops_assurance.safe_mode:
    api_url: https://brain.example.org
    api_token: "{{ vault_brain_api_token }}"
    state: enabled
    reason: INC-42 suspicious owner override

- name: Unfreeze it, with the connection set once for the play
  module_defaults:
    group/brain.ops_assurance.api:
      api_url: https://brain.example.org
      api_token: "{{ vault_brain_api_token }}"
  brain.ops_assurance.safe_mode:
    state: disabled
    reason: INC-42 resolved
"""

RETURN = r"""
before:
  description: Safe mode before the task, as C(GET /api/safe-mode/status) returned it.
  returned: always
  type: dict
  sample: {enabled: false, reason: null, changed_at: null, changed_by: null, source: null}
after:
  description: Safe mode after the task; in check mode, the predicted state (C(changed_at) and C(changed_by) unknown, so null).
  returned: always
  type: dict
  sample: {enabled: true, reason: INC-42, changed_at: "2026-11-22T08:00:00.000000Z", changed_by: "api:admin", source: api}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.brain.ops_assurance.plugins.module_utils.api import BrainApi, BrainApiError, argument_spec

STATUS = "/api/safe-mode/status"


def decide(before, state, reason):
    """Whether to change, and the state expected afterwards (a prediction until the API answers)."""
    wanted = state == "enabled"
    if bool(before.get("enabled")) == wanted:
        return False, before
    return True, {"enabled": wanted, "reason": reason, "changed_at": None, "changed_by": None, "source": "api"}


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            state={"type": "str", "required": True, "choices": ["enabled", "disabled"]},
            reason={"type": "str", "required": True},
        ),
        supports_check_mode=True,
    )
    reason = module.params["reason"].strip()
    if not reason or len(reason) > 500:
        module.fail_json(msg="reason must be a non-empty string of at most 500 characters")
    api = BrainApi(module)
    try:
        before = api.call("read safe mode status", "GET", STATUS)
        changed, after = decide(before, module.params["state"], reason)
        if changed and not module.check_mode:
            action = "enable" if module.params["state"] == "enabled" else "disable"
            after = api.call(f"{action} safe mode", "POST", f"/api/safe-mode/{action}", {"reason": reason})
            after.pop("changed", None)
    except BrainApiError as err:
        module.fail_json(msg=str(err), status=err.status)
    result = {"changed": changed, "before": before, "after": after}
    if module._diff:
        result["diff"] = {"before": {"enabled": bool(before.get("enabled"))}, "after": {"enabled": bool(after.get("enabled"))}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
