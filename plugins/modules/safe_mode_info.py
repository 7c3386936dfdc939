# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: safe_mode_info
short_description: Read whether the BRAiN backend is in safe mode
version_added: 0.1.0
description:
  - Returns the backend's safe mode state from C(GET /api/safe-mode/status). Changes nothing.
  - The answer is read in the dialect the backend speaks (see RV(dialect)) into one shape. An answer whose shape
    is not known, or whose state is not a boolean, is a failure that names what came back, never a guess.
requirements:
  - A token whose role may read the safe mode status (a read-only token is enough for the contract; BRAiN asks for
    the operator role).
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
    description: A second run with the same options changes nothing and reports no change.
    support: full
  platform:
    platforms: posix
author: brain.ops_assurance developers (@brain-ops-assurance)
seealso:
  - module: brain.ops_assurance.safe_mode
"""

EXAMPLES = r"""
- name: Is the backend frozen?
  brain.ops_assurance.safe_mode_info:
    api_url: https://brain.example.org
    api_token: "{{ vault_brain_read_token }}"  # a read-only token is enough
  register: brain_safe_mode

- name: Say so
  ansible.builtin.debug:
    msg: "safe mode {{ 'ON since ' ~ brain_safe_mode.safe_mode.changed_at if brain_safe_mode.safe_mode.enabled else 'off' }}"

- name: Ad hoc, with the token from the environment rather than the command line
  # BRAIN_API_URL=https://brain.example.org BRAIN_API_TOKEN=... ansible localhost -m brain.ops_assurance.safe_mode_info
  brain.ops_assurance.safe_mode_info:
"""

RETURN = r"""
safe_mode:
  description: The state as the API reported it, in one shape for every dialect.
  returned: success
  type: dict
  contains:
    enabled:
      description: Whether executions are refused.
      type: bool
      sample: true
    reason:
      description: The reason given with the last change, or null before any change (the C(brain) dialect clears it on disable).
      type: str
      sample: INC-42
    changed_at:
      description: When it last changed (UTC), or null.
      type: str
      sample: "2026-11-22T08:00:00.000000Z"
    changed_by:
      description: Who changed it (for example C(api:admin)), or null.
      type: str
      sample: api:admin
    source:
      description: C(api), or C(env) when the backend started with E(BRAIN_SAFE_MODE) set; null before any change.
      type: str
      sample: api
dialect:
  description:
    - The API dialect the backend answered in. C(contract) (C(enabled)) or C(brain), BRAiN's safe-mode router
      (C(safe_mode_enabled), C(enabled_reason), C(enabled_by), C(enabled_at)).
  returned: success
  type: str
  sample: brain
status:
  description: The HTTP status of the failed call, or null when no response came back.
  returned: failure
  type: int
  sample: 401
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.brain.ops_assurance.plugins.module_utils._api import BrainApi, BrainApiError, argument_spec
from ansible_collections.brain.ops_assurance.plugins.module_utils._safe_mode import UnknownAnswer, read_status


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        dialect, state = read_status(BrainApi(module))
    except BrainApiError as err:
        module.fail_json(msg=str(err), status=err.status)
    except UnknownAnswer as err:
        module.fail_json(msg=str(err), status=200)
    module.exit_json(changed=False, safe_mode=state, dialect=dialect)


if __name__ == "__main__":
    main()
