# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: safe_mode
short_description: Freeze or unfreeze the BRAiN backend (safe mode)
version_added: 0.1.0
description:
  - Enables or disables the backend's global safe mode, its kill switch. In safe mode the backend refuses every
    execution; reads, metrics and audit logging go on.
  - Reads C(GET /api/safe-mode/status) first and changes the state only when it differs, so a second run reports
    no change. The reason is sent with the change and recorded in the backend's audit log.
  - After a change the module confirms the state the backend reports (from its answer, or by reading the status
    again when the answer does not include it). It fails, naming what came back, when the state is not the one
    asked for or the answer is not understood. It never reports success for a state it has not seen.
  - Check mode predicts the change without making it; diff mode shows the state and the reason before and after.
notes:
  - Two API dialects are understood and detected from the answers, see RV(dialect).
  - When the backend answers that the state was already set (someone changed it between the read and the write),
    the task reports no change and warns that the given O(reason) was not recorded.
requirements:
  - A token whose role may change safe mode (the admin role).
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
    details: The diff holds C(enabled) and C(reason).
  idempotent:
    description: A second run with the same options changes nothing and reports no change.
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
  description: Safe mode before the task, read from C(GET /api/safe-mode/status), in one shape for every dialect.
  returned: success
  type: dict
  contains:
    enabled:
      description: Whether executions are refused.
      type: bool
    reason:
      description: The reason recorded with the last change, or null (the C(brain) dialect clears it on disable).
      type: str
    changed_at:
      description: When it last changed (UTC), or null.
      type: str
    changed_by:
      description: Who changed it, or null.
      type: str
    source:
      description: C(api), C(env) when the backend started with safe mode set in its environment, or null.
      type: str
  sample: {enabled: false, reason: null, changed_at: null, changed_by: null, source: null}
after:
  description:
    - Safe mode after the task, as the backend confirmed it, in the shape of RV(before).
    - In check mode, the predicted state (C(changed_at) and C(changed_by) unknown, so null).
  returned: success
  type: dict
  sample: {enabled: true, reason: INC-42, changed_at: "2026-11-22T08:00:00.000000Z", changed_by: "api:admin", source: api}
dialect:
  description:
    - The API dialect the backend answered in. C(contract) (C(enabled), C(changed)) or C(brain), BRAiN's safe-mode
      router (C(safe_mode_enabled), C(was_enabled), C(was_disabled)).
  returned: success
  type: str
  sample: contract
status:
  description: The HTTP status of the failed call, or null when no response came back.
  returned: failure
  type: int
  sample: 403
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.brain.ops_assurance.plugins.module_utils._api import BrainApi, BrainApiError, argument_spec
from ansible_collections.brain.ops_assurance.plugins.module_utils._safe_mode import (
    UnknownAnswer,
    changed_flag,
    describe,
    dialect_of,
    normalise,
    predict,
    read_status,
)


def change(api, dialect, wanted, reason):
    """Ask for the state and confirm it: (changed, after) as the backend reports them."""
    action = "enable" if wanted else "disable"
    answer = api.call(f"{action} safe mode", "POST", f"/api/safe-mode/{action}", {"reason": reason})
    what = f"the answer to {action}"
    answer_dialect = dialect_of(answer)
    flag = changed_flag(answer, answer_dialect or dialect, action, what)
    # When the answer does not carry the state, read it back rather than assume it.
    after = normalise(answer, what)[1] if answer_dialect else read_status(api, f"the status read back after {action}")[1]
    if after["enabled"] is not wanted:
        raise UnknownAnswer(f"safe mode is still {'off' if wanted else 'on'} after {action} safe mode: the backend answered {describe(answer)}")
    # The backend's own word wins: False means someone else set this state first.
    return (True if flag is None else flag), after


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
    wanted = module.params["state"] == "enabled"
    api = BrainApi(module)
    try:
        dialect, before = read_status(api)
        changed, after = before["enabled"] is not wanted, before
        if changed:
            after = predict(dialect, wanted, reason)
            if not module.check_mode:
                changed, after = change(api, dialect, wanted, reason)
                if not changed:
                    module.warn(
                        f"the backend says safe mode was already {module.params['state']} when the request arrived "
                        f"(changed by {after['changed_by']} at {after['changed_at']}): the reason given was not recorded"
                    )
    except BrainApiError as err:
        module.fail_json(msg=str(err), status=err.status)
    except UnknownAnswer as err:
        module.fail_json(msg=str(err), status=200)
    result = {"changed": changed, "before": before, "after": after, "dialect": dialect}
    if module._diff:
        result["diff"] = {"before": _diff_view(before), "after": _diff_view(after)}
    module.exit_json(**result)


def _diff_view(state):
    return {"enabled": state["enabled"], "reason": state["reason"]}


if __name__ == "__main__":
    main()
