# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: evidence_pack
short_description: Export a verified BRAiN evidence pack to a file
version_added: 0.1.0
description:
  - Requests an evidence pack from C(POST /api/sovereign-mode/evidence/export), checks its C(content_hash) locally
    (the SHA-256 of the pack's canonical JSON without that member, computed with the same code the evidence tools
    use) and through C(POST /api/sovereign-mode/evidence/verify), and writes it to O(dest).
  - "A pack holds: the window (C(time_range)); the governance state B(at the time of the export), not at the end of
    the window (C(governance_config): operating mode, safe mode with its reason, override, quarantined bundles); a
    count of the window's audit events by type (C(event_summary)); the mode changes in the window
    (C(mode_history)); bundle trust and executor summaries; the audit events themselves (C(audit_events): the first
    100 for O(scope=audit), all of them for O(scope=internal), none for O(scope=investor)); and C(content_hash)."
  - O(dest) is checked before any request. The backend's packs are deterministic for a window, so a second run with
    the same window and no new events finds the same pack and reports no change. An existing O(dest) that differs
    is only replaced with O(force=true).
  - In check mode the pack is requested and verified (both calls only read) but not written.
notes:
  - "With O(dialect=brain) (BRAiN's own evidence router): the request carries C(from_timestamp) and C(to_timestamp)
    as naive UTC (BRAiN compares times without a zone, and one with a zone silently selects no events) and a
    lower-case C(scope); the window's end is sent as the last microsecond before O(end_time), because BRAiN
    includes its end. BRAiN's C(content_hash) covers only C(scope), the window, C(current_mode),
    C(audit_summary), C(mode_history), C(bundle_summary), C(executor_summary) and C(evidence_format_version)
    (sorted keys, Python's default JSON separators): B(not the audit events nor the governance configuration), a
    weaker guarantee than the contract's. Its C(pack_id) and C(generated_at) change on every export, so they are
    left out when comparing with an existing O(dest)."
  - An O(scope=internal) pack holds every audit event of the window; keep it as private as the audit log (the
    default O(mode) is C(0640)).
  - The window's ends are sent as given, normalised to UTC with a C(Z) suffix.
requirements:
  - A token whose role may export evidence.
options:
  scope:
    description:
      - C(audit) for compliance (the first 100 events of the window), C(internal) (all events) or C(investor)
        (aggregates only).
    type: str
    required: true
    choices: [audit, investor, internal]
  start_time:
    description:
      - Start of the window, ISO 8601 with a time zone (C(2026-11-01T00:00:00Z)) or a UTC date (C(2026-11-01)).
      - Default C(1970-01-01T00:00:00Z), the whole audit log.
    type: str
  end_time:
    description:
      - End of the window (exclusive), ISO 8601 with a time zone or a UTC date.
      - Default the start of the next UTC day, so that every run on one day asks for the same window and finds the
        same pack when no events arrived in between.
    type: str
  dialect:
    description:
      - The API dialect of the backend's evidence endpoints. C(contract) is the governance API contract
        (C(start_time)/C(end_time), C(valid)); C(brain) is BRAiN's own router (C(from_timestamp)/C(to_timestamp),
        C(is_valid)).
    type: str
    choices: [contract, brain]
    default: contract
  dest:
    description:
      - File to write the pack to (JSON with sorted keys), on the host the module runs on. Its directory must exist;
        it must not be a directory.
    type: path
    required: true
  force:
    description: Replace an existing O(dest) whose content differs.
    type: bool
    default: false
  mode:
    description: Permissions of O(dest), as in M(ansible.builtin.file).
    type: raw
    default: "0640"
extends_documentation_fragment:
  - brain.ops_assurance.api
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    description: A second run with the same options changes nothing and reports no change.
    support: full
    details: For one window, as long as no audit events arrive in it between runs.
  safe_file_operations:
    description: Writes O(dest) through a temporary file moved into place, with Ansible's file functions.
    support: full
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
start_time:
  description: Start of the window that was requested (UTC).
  returned: success
  type: str
  sample: "2026-11-01T00:00:00Z"
end_time:
  description: End of the window that was requested (UTC, exclusive).
  returned: success
  type: str
  sample: "2026-12-01T00:00:00Z"
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
  description: Events in the window (C(event_summary.total); with O(dialect=brain) the sum of C(audit_summary)).
  returned: success
  type: int
  sample: 1250
status:
  description: The HTTP status of the failed call, or null when no response came back.
  returned: failure
  type: int
  sample: 403
"""

import datetime
import hashlib
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.brain.ops_assurance.plugins.module_utils._api import BrainApi, BrainApiError, argument_spec
from ansible_collections.brain.ops_assurance.plugins.module_utils.evidence import canonical_json

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def content_hash(pack):
    """The backend's pack hash: SHA-256 of the canonical pack without its content_hash."""
    return hashlib.sha256(canonical_json({k: v for k, v in pack.items() if k != "content_hash"})).hexdigest()


# BRAiN's hash covers these members only (its evidence exporter's _compute_content_hash).
BRAIN_HASHED = (
    "scope",
    "time_range_start",
    "time_range_end",
    "current_mode",
    "audit_summary",
    "mode_history",
    "bundle_summary",
    "executor_summary",
    "evidence_format_version",
)
BRAIN_VOLATILE = ("pack_id", "generated_at")  # new on every export: not part of what makes two packs the same


def brain_content_hash(pack):
    """BRAiN's pack hash: SHA-256 of json.dumps(the hashed members, sort_keys=True) with default separators.
    Its times are naive ISO strings, which is how they come over the wire when requested naive."""
    return hashlib.sha256(json.dumps({k: pack.get(k) for k in BRAIN_HASHED}, sort_keys=True).encode("utf-8")).hexdigest()


def naive_utc(moment):
    """BRAiN's form of a UTC time: no zone (one with a zone compares as nothing and selects no events)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}" if moment.microsecond else "")


def export_request(dialect, scope, start, end):
    """The export request body for the window [start, end)."""
    if dialect == "brain":  # BRAiN includes to_timestamp: end just before the exclusive end
        return {"scope": scope, "from_timestamp": naive_utc(start), "to_timestamp": naive_utc(end - datetime.timedelta(microseconds=1))}
    return {"scope": scope.upper(), "start_time": z_time(start), "end_time": z_time(end)}


def check_pack(dialect, pack, verdict):
    """Why the pack or the backend's verdict on it is not right, or None."""
    claimed = pack.get("content_hash")
    computed = brain_content_hash(pack) if dialect == "brain" else content_hash(pack)
    if claimed != computed:
        return f"the pack's content_hash {claimed!r} does not match its content ({computed})"
    valid_key = "is_valid" if dialect == "brain" else "valid"
    if verdict is None:
        return None
    if verdict.get(valid_key) is not True or verdict.get("computed_hash") != claimed:
        return f"the backend does not verify the pack ({valid_key}: {verdict.get(valid_key)!r}, computed_hash: {verdict.get('computed_hash')!r})"
    return None


def event_count(dialect, pack):
    summary = pack.get("audit_summary" if dialect == "brain" else "event_summary")
    if not isinstance(summary, dict):
        return None
    if dialect == "brain":
        return sum(v for v in summary.values() if isinstance(v, int))
    return summary.get("total")


def same_pack(dialect, existing, pack):
    """Whether the file at dest already holds this pack (BRAiN's identifiers aside)."""
    if dialect != "brain":
        return existing == pack_bytes(pack)
    try:
        old = json.loads(existing)
    except ValueError:
        return False
    return isinstance(old, dict) and {k: v for k, v in old.items() if k not in BRAIN_VOLATILE} == {k: v for k, v in pack.items() if k not in BRAIN_VOLATILE}


def pack_bytes(pack):
    """The file: readable JSON with sorted keys, so equal packs give equal files."""
    return (json.dumps(pack, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def utc_time(value, name):
    """An ISO 8601 time with a zone, or a date (midnight UTC), as an aware UTC datetime; ValueError otherwise."""
    try:
        if len(value) == 10:
            parsed = datetime.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=datetime.UTC)
        else:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"{name} must be ISO 8601 with a time zone (2026-11-01T00:00:00Z) or a date (2026-11-01), got {value[:64]!r}")
    return parsed.astimezone(datetime.UTC)


def z_time(moment):
    """UTC with a Z suffix, microseconds only when there are any."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}" if moment.microsecond else "") + "Z"


def window(start_time, end_time, now):
    """(start, end) as sent: the defaults are whole UTC days, so runs on one day ask for the same window."""
    start = utc_time(start_time, "start_time") if start_time else EPOCH
    if end_time:
        end = utc_time(end_time, "end_time")
    else:
        end = datetime.datetime.combine(now.astimezone(datetime.UTC).date() + datetime.timedelta(days=1), datetime.time(), datetime.UTC)
    if start >= end:
        raise ValueError(f"start_time {z_time(start)} must be before end_time {z_time(end)}")
    return start, end


def check_dest(dest):
    """Why dest cannot be written, or None: checked before any request."""
    parent = os.path.dirname(dest) or "."
    if os.path.isdir(dest):
        return f"dest {dest} is a directory; give the path of the pack file"
    if not os.path.isdir(parent):
        return f"the directory of dest {dest} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the directory of dest {dest} is not writable"
    return None


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            scope={"type": "str", "required": True, "choices": ["audit", "investor", "internal"]},
            start_time={"type": "str"},
            end_time={"type": "str"},
            dialect={"type": "str", "default": "contract", "choices": ["contract", "brain"]},
            dest={"type": "path", "required": True},
            force={"type": "bool", "default": False},
            mode={"type": "raw", "default": "0640"},
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    p = module.params
    dest = p["dest"]
    problem = check_dest(dest)
    if problem:
        module.fail_json(msg=problem)
    try:
        start, end = window(p["start_time"], p["end_time"], datetime.datetime.now(datetime.UTC))
    except ValueError as err:
        module.fail_json(msg=str(err))
    dialect = p["dialect"]
    api = BrainApi(module)
    try:
        pack = api.call("export the evidence pack", "POST", "/api/sovereign-mode/evidence/export", export_request(dialect, p["scope"], start, end))
        problem = check_pack(dialect, pack, None)
        if problem:
            module.fail_json(msg=f"{problem}; nothing written")
        verdict = api.call("verify the evidence pack", "POST", "/api/sovereign-mode/evidence/verify", pack)
    except BrainApiError as err:
        module.fail_json(msg=str(err), status=err.status)
    problem = check_pack(dialect, pack, verdict)
    if problem:
        module.fail_json(msg=f"{problem}; nothing written", verify=verdict)
    result = {
        "dest": dest,
        "start_time": z_time(start),
        "end_time": z_time(end),
        "content_hash": pack["content_hash"],
        "scope": pack.get("scope"),
        "event_count": event_count(dialect, pack),
    }
    existing = None
    if os.path.exists(dest):
        with open(dest, "rb") as fh:
            existing = fh.read()
        if not same_pack(dialect, existing, pack) and not p["force"]:
            module.fail_json(msg=f"{dest} exists with another pack; set force=true to replace it", **result)
    changed = existing is None or not same_pack(dialect, existing, pack)
    data = pack_bytes(pack)
    if changed and not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest) or ".", prefix=".evidence-pack-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        module.atomic_move(tmp, dest)
    file_args = module.load_file_common_arguments(p, path=dest)
    if not module.check_mode or not changed:
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
