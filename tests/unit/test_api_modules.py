"""The API modules, run by ansible-playbook against the real reference backend: the integration
targets' rhythm (check, apply, idempotent check and apply, with diff), the exact error of every
failure, and no token in any output."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.brain.ops_assurance.plugins.modules.evidence_pack import content_hash
from helpers.backend import ADMIN, READER, Backend, free_port
from helpers.evidence import day, export, seeded_backend
from helpers.fault_proxy import FaultProxy
from helpers.stub_api import BrainSafeMode, StubApi

TARGETS = Path(__file__).resolve().parents[1] / "integration" / "targets"
PLAY = """
- name: Test play
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/brain.ops_assurance.api:
      api_url: "{{{{ brain_api_url }}}}"
      api_token: "{{{{ brain_api_token }}}}"
  tasks:
{tasks}
"""


def playbook(tmp_path, tasks, url, token, json_output=False):
    """Run the tasks against `url`; the token travels in a vars file, as from Vault."""
    (tmp_path / "play.yml").write_text(PLAY.format(tasks=tasks))
    (tmp_path / "vars.json").write_text(json.dumps({"brain_api_url": url, "brain_api_token": token, "ansible_python_interpreter": sys.executable}))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0"}
    if json_output:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"@{tmp_path / 'vars.json'}", str(tmp_path / "play.yml")]
    return subprocess.run([*cmd, *([] if json_output else ["-vvv"])], env=env, capture_output=True, text=True, timeout=300, check=False)


def one_task(tmp_path, module, args, url, token=ADMIN):
    """The result of a single task, from the json callback."""
    task = f"    - name: The task\n      {module}: {json.dumps(args)}\n      ignore_errors: true\n"
    r = playbook(tmp_path, task, url, token, json_output=True)
    assert token not in r.stdout + r.stderr
    return json.loads(r.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture
def backend(tmp_path):
    (tmp_path / "backend").mkdir()
    b = Backend(tmp_path / "backend")
    yield b
    b.stop()


@pytest.fixture(scope="module")
def shared_backend(tmp_path_factory):
    b = Backend(tmp_path_factory.mktemp("backend"))
    yield b
    b.stop()


def test_safe_mode_integration_target(backend, tmp_path):
    tasks = f"    - name: The target\n      ansible.builtin.include_tasks: {TARGETS / 'safe_mode' / 'tasks' / 'main.yml'}\n"
    r = playbook(tmp_path, tasks, backend.url(""), ADMIN)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "failed=0" in r.stdout
    assert ADMIN not in r.stdout + r.stderr  # -vvv prints module arguments: api_token is no_log


# ---- failures: exact messages, the status, and never the token ---------------------------------
def test_backend_down_names_the_request_without_urllib_wrapping(tmp_path):
    port = free_port()
    r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {"retries": 0}, f"http://127.0.0.1:{port}")
    assert r["failed"] and r["status"] is None
    assert r["msg"] == f"read safe mode status failed (GET http://127.0.0.1:{port}/api/safe-mode/status): no response: [Errno 111] Connection refused"


def test_wrong_token(shared_backend, tmp_path):
    r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {}, shared_backend.url(""), token="wrong-token-value")
    assert r["msg"] == f"read safe mode status failed (GET {shared_backend.url('/api/safe-mode/status')}): HTTP 401: missing or invalid bearer token"
    assert r["status"] == 401


def test_read_only_token_cannot_change(shared_backend, tmp_path):
    r = one_task(tmp_path, "brain.ops_assurance.safe_mode", {"state": "enabled", "reason": "x"}, shared_backend.url(""), token=READER)
    assert r["msg"] == f"enable safe mode failed (POST {shared_backend.url('/api/safe-mode/enable')}): HTTP 403: the reader token may not call this endpoint"
    assert r["status"] == 403
    assert shared_backend.ok("GET", "/api/safe-mode/status")["enabled"] is False


@pytest.mark.parametrize(
    "fault,message,status",
    [
        ("status:503", "HTTP 503: injected", 503),
        ("status:500", "HTTP 500: injected", 500),
        ("body:not json", "HTTP 200: the response is not JSON", 200),
        ("body:[1, 2]", "HTTP 200: the response is not a JSON object", 200),
    ],
)
def test_server_faults(shared_backend, tmp_path, fault, message, status):
    proxy = FaultProxy(shared_backend.url(""))
    try:
        proxy.plan = [fault]
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode", {"state": "enabled", "reason": "x", "retries": 0}, proxy.url)
    finally:
        proxy.close()
    assert r["msg"] == f"read safe mode status failed (GET {proxy.url}/api/safe-mode/status): {message}" and r["status"] == status


def test_a_bad_url_fails_before_any_request(tmp_path):
    r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {}, "ftp://brain.example.org")
    assert r["msg"] == "api_url must start with http:// or https://, got 'ftp://brain.example.org'"


@pytest.mark.parametrize("module,api", [("safe_mode", True), ("safe_mode_info", True), ("evidence_pack", True), ("evidence_verify", False)])
def test_modules_render_in_ansible_doc(module, api):
    r = subprocess.run(["ansible-doc", f"brain.ops_assurance.{module}"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "EXAMPLES" in r.stdout and "RETURN VALUES" in r.stdout
    assert ("api_token" in r.stdout) == api


# ---- evidence_pack ------------------------------------------------------------------------------
def test_evidence_pack_rhythm_and_no_overwrite(shared_backend, tmp_path):
    dest = tmp_path / "pack.json"
    args = {"scope": "audit", "start_time": "2000-01-01T00:00:00Z", "end_time": "2100-01-01T00:00:00Z", "dest": str(dest)}
    tasks = "".join(
        f"    - name: Step {n}\n      brain.ops_assurance.evidence_pack: {json.dumps(args)}\n      check_mode: {str(check).lower()}\n      register: step{n}\n"
        for n, check in enumerate((True, False, True, False))
    )
    tasks += "    - name: Results\n      ansible.builtin.debug:\n        msg: \"{{ [step0, step1, step2, step3] | map(attribute='changed') | list }}\"\n"
    r = playbook(tmp_path, tasks, shared_backend.url(""), ADMIN, json_output=True)
    assert ADMIN not in r.stdout + r.stderr
    results = json.loads(r.stdout)["plays"][0]["tasks"]
    assert results[-1]["hosts"]["localhost"]["msg"] == [True, True, False, False]
    pack = json.loads(dest.read_text())
    assert results[1]["hosts"]["localhost"]["content_hash"] == pack["content_hash"] == content_hash(pack)
    assert oct(dest.stat().st_mode & 0o777) == "0o640"
    dest.write_text("{}\n")
    r = one_task(tmp_path, "brain.ops_assurance.evidence_pack", args, shared_backend.url(""))
    assert r["failed"] and r["msg"] == f"{dest} exists with another pack; set force=true to replace it" and dest.read_text() == "{}\n"
    r = one_task(tmp_path, "brain.ops_assurance.evidence_pack", {**args, "force": True}, shared_backend.url(""))
    assert r["changed"] and json.loads(dest.read_text()) == pack


def test_evidence_pack_refuses_a_pack_whose_hash_does_not_match(shared_backend, tmp_path):
    proxy = FaultProxy(shared_backend.url(""))
    try:
        proxy.plan = ['body:{"content_hash": "0000", "scope": "AUDIT"}']
        r = one_task(tmp_path, "brain.ops_assurance.evidence_pack", {"scope": "audit", "dest": str(tmp_path / "p.json")}, proxy.url)
    finally:
        proxy.close()
    assert r["failed"] and r["msg"].startswith("the pack's content_hash '0000' does not match its content (") and not (tmp_path / "p.json").exists()


# ---- evidence_verify ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("exported")
    b = seeded_backend(root)
    (root / "evidence").mkdir()
    try:
        assert export(b.url(""), root / "evidence", "--start-date", day(-4)).returncode == 0
    finally:
        b.stop()
    return root / "evidence"


def test_evidence_verify_passes_clean_evidence_and_changes_nothing(exported, tmp_path):
    r = one_task(tmp_path, "brain.ops_assurance.evidence_verify", {"path": str(exported)}, "http://unused")
    assert r["ok"] is True and r["changed"] is False and r["checked"] == 12 and r["problems"] == []
    r = one_task(tmp_path, "brain.ops_assurance.evidence_verify", {"path": str(exported), "since": day(-2)}, "http://unused")
    assert r["ok"] is True and r["checked"] == 6


def test_evidence_verify_fails_listing_every_problem(exported, tmp_path):
    ev = tmp_path / "ev"
    shutil.copytree(exported, ev)
    data = ev / f"audit-{day(-3)}.jsonl"
    lines = data.read_bytes().splitlines(keepends=True)
    data.write_bytes(b"".join([lines[0].replace(b'"host":"exec-', b'"host":"exec-9'), *lines[1:]]))
    r = one_task(tmp_path, "brain.ops_assurance.evidence_verify", {"path": str(ev)}, "http://unused")
    assert r["failed"] and r["ok"] is False
    assert f"{data}: line 1: hash mismatch: the event was altered after it was written" in r["msg"]
    assert r["msg"].startswith(f"{len(r['problems'])} problem(s) in the evidence: ") and len(r["problems"]) == 4  # line, sidecar, file_sha256, file_size


@pytest.mark.parametrize(
    "args,message",
    [
        ({"path": "/nonexistent"}, "/nonexistent is neither a file nor a directory"),
        ({"since": "November"}, "not a date in the form YYYY-MM-DD: 'November'"),
        ({"jobs": -1}, "jobs must be 0 or more"),
    ],
)
def test_evidence_verify_bad_input(exported, tmp_path, args, message):
    r = one_task(tmp_path, "brain.ops_assurance.evidence_verify", {"path": str(exported), **args}, "http://unused")
    assert r["failed"] and r["msg"] == message
