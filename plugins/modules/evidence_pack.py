# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: evidence_pack
short_description: Export a verified BRAiN evidence pack to a file
version_added: 0.1.0
description:
  - Requests an evidence pack (seed S7.2) from C(POST /api/sovereign-mode/evidence/export), checks its
    C(content_hash) locally (the SHA-256 of the pack's canonical JSON without that member, computed with the same
    code the evidence tools use) and through C(POST /api/sovereign-mode/evidence/verify), and writes it to O(dest).
  - The backend's packs are deterministic, so a second run with the same window finds the same pack and reports no
    change. An existing O(dest) that differs is only replaced with O(force=true).
  - In check mode the pack is requested and verified (both calls only read) but not written.
options:
  scope:
    description:
      - C(audit) for compliance (the first 100 events of the window), C(internal) (all events) or C(investor)
        (aggregates only).
    type: str
    required: true
    choices: [audit, investor, internal]
  start_time:
    description: Start of the window, ISO 8601 with a time zone; the backend's default is 1970.
    type: str
  end_time:
    description: End of the window (exclusive), ISO 8601 with a time zone; the backend's default is tomorrow.
    type: str
  dest:
    description: File to write the pack to (JSON), on the host the module runs on. Its directory must exist.
    type: path
    required: true
  force:
    description: Replace an existing O(dest) whose content differs.
    type: bool
    default: false
  mode:
    description: Permissions of O(dest).
    type: raw
    default: "0640"
extends_documentation_fragment:
  - brain.ops_assurance.api
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
author: brain.ops_assurance developers (@brain-ops-assurance)
seealso:
  - module: brain.ops_assurance.evidence_verify
"""

EXAMPLES = r"""
- name: Audit pack for November, on the controller
  brain.ops_assurance.evidence_pack:
    api_url: https://brain.example.org
    api_token: "{{ vault_brain_read_token }}"
    scope: audit
    start_time: "2026-11-01T00:00:00Z"
    end_time: "2026-12-01T00:00:00Z"
    dest: "{{ playbook_dir }}/evidence/pack-audit-2026-11.json"
  delegate_to: localhost
"""

RETURN = r"""
dest:
  description: Where the pack is (or, in check mode, would be) written.
  returned: always
  type: str
  sample: /srv/evidence/pack-audit-2026-11.json
content_hash:
  description: The pack's C(content_hash), verified locally and by the backend.
  returned: success
  type: str
  sample: 9f2c4e...
scope:
  description: The scope as the backend normalised it.
  returned: success
  type: str
  sample: AUDIT
event_count:
  description: Events in the window (C(event_summary.total)).
  returned: success
  type: int
  sample: 1250
"""

import hashlib
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.brain.ops_assurance.plugins.module_utils.api import BrainApi, BrainApiError, argument_spec
from ansible_collections.brain.ops_assurance.plugins.module_utils.evidence import canonical_json


def content_hash(pack):
    """The backend's pack hash: SHA-256 of the canonical pack without its content_hash."""
    return hashlib.sha256(canonical_json({k: v for k, v in pack.items() if k != "content_hash"})).hexdigest()


def pack_bytes(pack):
    """The file: readable JSON with sorted keys, so equal packs give equal files."""
    return (json.dumps(pack, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            scope={"type": "str", "required": True, "choices": ["audit", "investor", "internal"]},
            start_time={"type": "str"},
            end_time={"type": "str"},
            dest={"type": "path", "required": True},
            force={"type": "bool", "default": False},
            mode={"type": "raw", "default": "0640"},
        ),
        supports_check_mode=True,
    )
    p = module.params
    request = {"scope": p["scope"].upper(), **{k: p[k] for k in ("start_time", "end_time") if p[k]}}
    api = BrainApi(module)
    try:
        pack = api.call("export the evidence pack", "POST", "/api/sovereign-mode/evidence/export", request)
        if pack.get("content_hash") != content_hash(pack):
            module.fail_json(msg=f"the pack's content_hash {pack.get('content_hash')!r} does not match its content ({content_hash(pack)}); nothing written")
        verdict = api.call("verify the evidence pack", "POST", "/api/sovereign-mode/evidence/verify", pack)
    except BrainApiError as err:
        module.fail_json(msg=str(err), status=err.status)
    if verdict.get("valid") is not True or verdict.get("computed_hash") != pack["content_hash"]:
        module.fail_json(msg=f"the backend does not verify the pack (valid: {verdict.get('valid')!r}); nothing written", verify=verdict)
    data, dest = pack_bytes(pack), p["dest"]
    result = {"dest": dest, "content_hash": pack["content_hash"], "scope": pack.get("scope"), "event_count": pack.get("event_summary", {}).get("total")}
    if not os.path.isdir(os.path.dirname(dest) or "."):
        module.fail_json(msg=f"the directory of dest {dest} does not exist", **result)
    existing = None
    if os.path.exists(dest):
        with open(dest, "rb") as fh:
            existing = fh.read()
        if existing != data and not p["force"]:
            module.fail_json(msg=f"{dest} exists with another pack; set force=true to replace it", **result)
    changed = existing != data
    if changed and not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest) or ".", prefix=".evidence-pack-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        module.atomic_move(tmp, dest)
    file_args = module.load_file_common_arguments({"path": dest, "mode": p["mode"]})
    if not module.check_mode or not changed:
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
