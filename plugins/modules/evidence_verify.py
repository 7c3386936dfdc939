# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: evidence_verify
short_description: Verify exported BRAiN audit evidence on the host that holds it
version_added: 0.1.0
description:
  - Verifies an audit file, a date range or a whole evidence directory written by C(brain-evidence-export),
    that is every line (canonical JSON, no duplicate keys, its chain hash over the stored bytes), the hash chain within and
    across days, the C(.sha256) sidecars, the daily manifests and their chain, Ed25519 signatures and missing days, the newest
    days included (O(until), O(max_age)).
  - The same code as C(brain-audit verify-log) (the collection's C(evidence) module_util), so both always agree.
  - Changes nothing. Fails, listing every problem found, when anything does not verify, and when nothing was verified
    (an empty directory, or no day between O(since) and O(until)).
  - Symlinks and special files (a FIFO) in place of evidence are refused, never followed or read.
  - The format is described in the collection's C(docs/evidence-export.md).
options:
  path:
    description: An C(audit-YYYY-MM-DD.jsonl) file or an evidence directory.
    type: path
    required: true
  since:
    description: With a directory, the first day (YYYY-MM-DD) to verify; the link into it is still checked.
    type: str
  until:
    description:
      - With a directory, the last day (YYYY-MM-DD) to verify. Every day up to it must be there, so deleting the newest
        days is found.
      - When set, O(max_age) does not apply.
    type: str
  max_age:
    description:
      - With a directory and without O(until), the newest day must have ended at most this many hours ago; the days after
        it are reported missing otherwise (the newest days were deleted, or the export stopped).
      - The default fits the daily export at 02:00 UTC, which exports the day that ended two hours before, with two hours
        for the run to finish.
      - V(0) turns the check off, e.g. for an old copy of the evidence.
    type: int
    default: 28
  public_key:
    description:
      - Ed25519 public key (PEM) on the host; every manifest must then carry a valid signature.
      - Without it, signatures are not checked; the module then warns and returns RV(signatures=NOT checked) if the
        evidence is signed.
      - Needs the Python package C(cryptography) on the host.
    type: path
  jobs:
    description: Worker processes per large file; C(0) uses the CPUs, at most 4.
    type: int
    default: 0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
author: brain.ops_assurance developers (@brain-ops-assurance)
seealso:
  - module: brain.ops_assurance.evidence_pack
"""

EXAMPLES = r"""
- name: Verify all evidence, signatures included
  brain.ops_assurance.evidence_verify:
    path: /var/lib/brain/evidence
    public_key: /etc/brain-evidence-export/signing-key.pub

- name: Verify November only (every day of it must be there)
  brain.ops_assurance.evidence_verify:
    path: /var/lib/brain/evidence
    since: "2026-11-01"
    until: "2026-11-30"
  register: november

- name: Verify an old copy, whatever its newest day
  brain.ops_assurance.evidence_verify:
    path: /srv/audit/evidence-2025
    max_age: 0
"""

RETURN = r"""
ok:
  description: Whether everything verified.
  returned: always
  type: bool
  sample: true
checked:
  description: How many files (and missing pieces) were checked.
  returned: always
  type: int
  sample: 12
signatures:
  description:
    - V(checked) with O(public_key); V(NOT checked) when signature files are present but no key was given (they prove
      nothing then); V(none found) otherwise.
  returned: always
  type: str
  sample: checked
results:
  description: One entry per file or missing piece, as C(brain-audit verify-log --json) lists them.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
      sample: /var/lib/brain/evidence/audit-2026-11-21.jsonl
    status:
      description: C(PASS), C(FAIL) or C(SKIP) (a day older than the retention anchor, awaiting removal).
      type: str
      sample: PASS
    problems:
      description: What is wrong, with line numbers for lines.
      type: list
      elements: str
      sample: ["line 6: hash mismatch: the event was altered after it was written (seq 1006)"]
    info:
      description: A summary for a file that passed, e.g. its events and seqs.
      type: str
      sample: 1000 events, seq 1002-2001
    notes:
      description: Remarks that are not failures, e.g. C(signatures NOT checked) on a signed manifest verified without a key.
      type: list
      elements: str
      sample: []
problems:
  description: Every problem found, each prefixed with its file.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.brain.ops_assurance.plugins.module_utils import evidence


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "since": {"type": "str"},
            "until": {"type": "str"},
            "public_key": {"type": "path"},
            "jobs": {"type": "int", "default": 0},
            "max_age": {"type": "int", "default": evidence.DEFAULT_MAX_AGE_HOURS},
        },
        supports_check_mode=True,
    )
    p = module.params
    for name in ("jobs", "max_age"):
        if p[name] < 0:
            module.fail_json(msg=f"{name} must be 0 or more")
    try:
        report = evidence.verify_path(p["path"], p["public_key"], p["since"], p["until"], p["jobs"] or None, p["max_age"])
    except (evidence.EvidenceError, ValueError, OSError) as err:
        module.fail_json(msg=str(err))
    problems = [f"{entry['path']}: {problem}" for entry in report.failed for problem in entry["problems"]]
    result = {
        "changed": False,
        "ok": report.ok,
        "checked": len(report.entries),
        "signatures": report.signatures,
        "results": report.entries,
        "problems": problems,
    }
    if report.unchecked_signatures:
        module.warn(f"{evidence.SIGNATURES_NOT_CHECKED}: {report.unchecked_signatures} signature files, no public_key given")
    if not report.ok:
        module.fail_json(msg=f"{len(problems)} problem(s) in the evidence: " + "; ".join(problems), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
