"""The ad hoc playbooks, run by name as an operator runs them, against the scenario's hosts (the
backend and the evidence host). Runs after test_evidence_export.py, which made the evidence."""

import datetime
import json
import os
import subprocess

from helpers.evidence import pack_hash

INVENTORY = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", ""), "inventory")
TOKEN = ["-e", "brain_api_token={{ brain_test_token }}"]  # a template: the token is never in argv


def playbook(name, *args, cwd=None):
    """Run as from a shell in `cwd`: the shell exports PWD, from which relative output paths are taken."""
    cmd = ["ansible-playbook", "-i", INVENTORY, f"brain.ops_assurance.{name}", *args]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "PWD": str(cwd or os.getcwd())}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=cwd, check=False)
    return r.returncode, r.stdout + r.stderr


def test_safe_mode_refuses_to_run_without_a_reason():
    rc, out = playbook("safe_mode", *TOKEN, "-e", "safe_mode_state=enabled")
    assert rc != 0 and "Say what and why" in out


def test_safe_mode_freezes_and_unfreezes_with_before_and_after(backend):
    rc, out = playbook("safe_mode", *TOKEN, "-e", "safe_mode_state=enabled", "-e", '{"safe_mode_reason": "INC-42 molecule"}')
    assert rc == 0 and "safe mode off -> on; reason: INC-42 molecule" in out, out
    rc, out = playbook("safe_mode", *TOKEN, "-e", "safe_mode_state=enabled", "-e", '{"safe_mode_reason": "INC-42 molecule"}')
    assert rc == 0 and "safe mode on -> on (unchanged)" in out and "changed=0" in out
    rc, out = playbook("safe_mode", *TOKEN, "-e", "safe_mode_state=disabled", "-e", '{"safe_mode_reason": "INC-42 resolved"}')
    assert rc == 0 and "safe mode on -> off; reason: INC-42 resolved" in out
    token = backend.file("/etc/brain-backend/token").content_string.strip()
    assert token not in out


def test_verify_evidence_summarises_each_host():
    rc, out = playbook("verify_evidence")
    assert rc == 0 and "PASS: 9 checked, 0 failed" in out, out


def test_evidence_pack_lands_verified_on_the_controller(tmp_path):
    # A relative directory is the operator's current one, not the installed collection's.
    rc, out = playbook("evidence_pack", *TOKEN, "-e", "evidence_pack_scope=internal", "-e", "evidence_pack_dir=packs", cwd=tmp_path)
    assert rc == 0, out
    (pack_file,) = (tmp_path / "packs").iterdir()
    tomorrow = (datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1)).isoformat()
    assert pack_file.name == f"ev-backend-internal-1970-01-01-{tomorrow}.json"
    assert oct(pack_file.stat().st_mode & 0o777) == "0o640"  # an internal pack holds every audit event
    pack = json.loads(pack_file.read_text())
    assert pack_hash(pack) == pack["content_hash"]
    assert f"content_hash {pack['content_hash']} (verified locally and by the API)" in out
    pack_file.write_text("{}\n")  # a different pack of the same name is never replaced
    rc, out = playbook("evidence_pack", *TOKEN, "-e", "evidence_pack_scope=internal", "-e", "evidence_pack_dir=packs", cwd=tmp_path)
    assert rc != 0 and f"{pack_file} already holds a different pack" in out and pack_file.read_text() == "{}\n", out


def test_check_timers_passes_then_fails_when_disabled_or_stale(host):
    rc, out = playbook("check_timers")
    assert rc == 0 and "evidence export timer OK" in out, out
    host.check_output("systemctl disable --now brain-evidence-export.timer")
    try:
        rc, out = playbook("check_timers")
        assert rc != 0
        assert "the timer is not enabled (UnitFileState=disabled)" in out and "the timer is not active (ActiveState=inactive)" in out, out
    finally:
        host.check_output("systemctl enable --now brain-evidence-export.timer")
    host.check_output("touch -d '3 days ago' /var/lib/brain/evidence/manifest-*.json")
    try:
        rc, out = playbook("check_timers")
        assert rc != 0 and "h old (more than 26 h)" in out and "the newest export is 7" in out, out
    finally:
        host.check_output("touch /var/lib/brain/evidence/manifest-*.json")
    assert playbook("check_timers")[0] == 0
