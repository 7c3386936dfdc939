"""The API modules, run by ansible-playbook against the real reference backend: the integration
targets' rhythm (check, apply, idempotent check and apply, with diff), the exact error of every
failure, and no token in any output."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.brain.ops_assurance.plugins.modules.evidence_pack import content_hash
from helpers.backend import ADMIN, READER, Backend, BrainMain, refused_port
from helpers.evidence import day, export, on_the_clock, seeded_backend
from helpers.fault_proxy import FaultProxy
from helpers.processes import command_lines
from helpers.stub_api import BrainEvidence, BrainSafeMode, StubApi

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


def playbook(tmp_path, tasks, url, token, json_output=False, env=None):
    """Run the tasks against `url` on the tests' clock; the token travels in a vars file, as from Vault."""
    (tmp_path / "play.yml").write_text(PLAY.format(tasks=tasks))
    (tmp_path / "vars.json").write_text(json.dumps({"brain_api_url": url, "brain_api_token": token, "ansible_python_interpreter": sys.executable}))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0", **(env or {})}
    if json_output:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"@{tmp_path / 'vars.json'}", str(tmp_path / "play.yml")]
    return subprocess.run([*cmd, *([] if json_output else ["-vvv"])], env=on_the_clock(env), capture_output=True, text=True, timeout=300, check=False)


def one_task(tmp_path, module, args, url, token=ADMIN, env=None):
    """The result of a single task, from the json callback."""
    task = f"    - name: The task\n      {module}: {json.dumps(args)}\n      ignore_errors: true\n"
    r = playbook(tmp_path, task, url, token, json_output=True, env=env)
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
    with refused_port() as port:
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
        ("truncate", "HTTP 200: the answer was cut short", 200),
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
    if api:  # the shared options' notes, what the module needs, and what a failure returns
        assert "NOTES:" in r.stdout and "REQUIREMENTS:" in r.stdout and "BRAIN_API_TOKEN" in r.stdout
        assert "returned: failure" in r.stdout
    assert not re.search(r"\bseed\b|issue [0-9]|S7\.[0-9]", r.stdout)


def test_evidence_pack_documents_its_contents_and_file_attributes():
    r = subprocess.run(["ansible-doc", "brain.ops_assurance.evidence_pack"], capture_output=True, text=True, check=False)
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", r.stdout).split())
    assert "the governance state at the time of the export, not at the end of the window" in text
    for option in ("owner", "group", "mode", "setype", "attributes"):
        assert re.search(rf"^\s+(\x1b\[[0-9;]*m)?{option}\b", r.stdout, re.M), option


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
        r = one_task(tmp_path, "brain.ops_assurance.evidence_pack", {"scope": "audit", "dialect": "contract", "dest": str(tmp_path / "p.json")}, proxy.url)
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


# ---- safe_mode never reports a state it did not see (misbehaving API: a stub) -------------------
OFF = {("GET", "/api/safe-mode/status"): [(200, {"enabled": False}, {})]}
ENABLE = {"state": "enabled", "reason": "INC-1 freeze", "retries": 0}


def test_a_write_is_never_redirected_into_a_read(tmp_path):
    with StubApi({**OFF, ("POST", "/api/safe-mode/enable"): [(302, {}, {"Location": "/api/safe-mode/status"})]}) as api:
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode", ENABLE, api.url)
    assert r["failed"] and r["status"] == 302 and not r.get("changed")
    assert r["msg"] == (
        f"enable safe mode failed (POST {api.url}/api/safe-mode/enable): HTTP 302: the API redirected a POST to /api/safe-mode/status;"
        " writes are never redirected: set api_url to the final URL"
    )
    assert [q["method"] for q in api.requests] == ["GET", "POST"]


@pytest.mark.parametrize(
    "answer,message",
    [
        ({"ok": True}, "safe mode is still off after enable safe mode: the backend answered an object with keys [ok]"),
        ({"enabled": False, "changed": True}, "safe mode is still off after enable safe mode: the backend answered an object with keys [changed, enabled]"),
        ({"enabled": "false", "changed": True}, "the answer to enable: enabled is 'false' (str), not true or false"),
        ({"enabled": True, "changed": "yes"}, "the answer to enable: changed is 'yes' (str), not true or false"),
    ],
)
def test_safe_mode_fails_on_an_answer_that_does_not_confirm_the_state(tmp_path, answer, message):
    with StubApi({**OFF, ("POST", "/api/safe-mode/enable"): [(200, answer, {})]}) as api:
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode", ENABLE, api.url)
    assert r["failed"] and r["msg"] == message and not r.get("changed")


def test_safe_mode_reads_the_state_back_when_the_answer_does_not_say(tmp_path):
    status = [(200, {"enabled": False}, {}), (200, {"enabled": True, "reason": "INC-1 freeze", "changed_by": "api:admin"}, {})]
    with StubApi({("GET", "/api/safe-mode/status"): status, ("POST", "/api/safe-mode/enable"): [(200, {"accepted": True}, {})]}) as api:
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode", ENABLE, api.url)
    assert r["changed"] is True and r["after"]["enabled"] is True and r["after"]["changed_by"] == "api:admin"
    assert [q["method"] for q in api.requests] == ["GET", "POST", "GET"]


def test_safe_mode_believes_the_api_when_someone_else_changed_it_first(tmp_path):
    theirs = {
        "enabled": True,
        "reason": "INC-7 other operator",
        "changed_at": "2026-11-30T00:00:01Z",
        "changed_by": "api:other",
        "source": "api",
        "changed": False,
    }
    with StubApi({**OFF, ("POST", "/api/safe-mode/enable"): [(200, theirs, {})]}) as api:
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode", ENABLE, api.url)
    assert r["changed"] is False and r["after"]["reason"] == "INC-7 other operator"
    assert r["warnings"] == [
        "the backend says safe mode was already enabled when the request arrived"
        " (changed by api:other at 2026-11-30T00:00:01Z): the reason given was not recorded"
    ]


@pytest.mark.parametrize("module", ["safe_mode", "safe_mode_info"])
def test_a_status_of_unknown_shape_is_a_failure(tmp_path, module):
    args = ENABLE if module == "safe_mode" else {}
    with StubApi({("GET", "/api/safe-mode/status"): [(200, {"frozen": "yes"}, {})]}) as api:
        r = one_task(tmp_path, f"brain.ops_assurance.{module}", args, api.url)
    assert r["failed"] and r["msg"] == "the status answer does not say whether safe mode is on (no enabled or safe_mode_enabled): an object with keys [frozen]"
    assert [q["method"] for q in api.requests] == ["GET"]


# ---- BRAiN's own safe-mode dialect ---------------------------------------------------------------
def four_steps(tmp_path, url, state, reason):
    """check mode, apply, idempotent check, idempotent apply, each with diff: the four results."""
    args = json.dumps({"state": state, "reason": reason})
    tasks = "".join(
        f"    - name: Step {n}\n      brain.ops_assurance.safe_mode: {args}\n      check_mode: {str(check).lower()}\n      diff: true\n"
        for n, check in enumerate((True, False, True, False))
    )
    r = playbook(tmp_path, tasks, url, ADMIN, json_output=True)
    assert ADMIN not in r.stdout + r.stderr
    return [t["hosts"]["localhost"] for t in json.loads(r.stdout)["plays"][0]["tasks"]]


def test_brain_dialect_unfreezes_a_frozen_backend_and_confirms_it(tmp_path):
    with BrainSafeMode(ADMIN, enabled=True) as brain:
        steps = four_steps(tmp_path, brain.url, "disabled", "INC-9 resolved")
        assert brain.enabled is False
        posts = [q for q in brain.requests if q["method"] == "POST"]
    assert [s.get("failed", False) for s in steps] == [False] * 4, steps
    assert [s["changed"] for s in steps] == [True, True, False, False]
    diff = {"before": {"enabled": True, "reason": "frozen earlier"}, "after": {"enabled": False, "reason": None}}
    assert steps[0]["diff"] == steps[1]["diff"] == diff and steps[0]["after"] == steps[1]["after"]
    assert steps[2]["diff"]["before"] == steps[2]["diff"]["after"] == {"enabled": False, "reason": None}
    assert {s["dialect"] for s in steps} == {"brain_main"}
    assert [(q["path"], q["body"]) for q in posts] == [("/api/safe-mode/disable", {"reason": "INC-9 resolved"})]


def test_brain_dialect_freezes_once(tmp_path):
    with BrainSafeMode(ADMIN) as brain:
        steps = four_steps(tmp_path, brain.url, "enabled", "INC-9 freeze")
        assert brain.enabled is True and brain.reason == "INC-9 freeze"
    assert [s["changed"] for s in steps] == [True, True, False, False]
    assert steps[0]["diff"] == steps[1]["diff"] == {"before": {"enabled": False, "reason": None}, "after": {"enabled": True, "reason": "INC-9 freeze"}}
    assert steps[1]["after"] == {
        "enabled": True,
        "reason": "INC-9 freeze",
        "changed_at": "2026-11-30T01:00:00.123456",
        "changed_by": "admin-2",
        "source": "api",
    }
    assert steps[3]["after"] == steps[1]["after"]


def test_brain_dialect_info_and_fastapi_errors(tmp_path):
    with BrainSafeMode(ADMIN, enabled=True) as brain:
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {}, brain.url)
        assert r["dialect"] == "brain_main" and r["safe_mode"]["enabled"] is True and r["safe_mode"]["reason"] == "frozen earlier"
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {}, brain.url, token="wrong-token-value")
        assert r["msg"] == f"read safe mode status failed (GET {brain.url}/api/safe-mode/status): HTTP 401: Invalid or missing authentication token"
    invalid = {"detail": [{"type": "missing", "loc": ["body", "reason"], "msg": "Field required", "input": {"token": "echoed-secret"}}]}
    with StubApi({**OFF, ("POST", "/api/safe-mode/enable"): [(422, invalid, {})]}) as api:
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode", ENABLE, api.url)
    assert r["msg"] == f"enable safe mode failed (POST {api.url}/api/safe-mode/enable): HTTP 422: body.reason: Field required"
    assert "echoed-secret" not in json.dumps(r)


# ---- the shared client ---------------------------------------------------------------------------
def test_the_token_never_follows_a_redirect(tmp_path):
    with StubApi(OFF) as elsewhere, StubApi({("GET", "/api/safe-mode/status"): [(302, {}, {"Location": elsewhere.url + "/api/safe-mode/status"})]}) as api:
        one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {}, api.url)
    assert api.requests[0]["headers"]["Authorization"] == f"Bearer {ADMIN}"
    assert [q["headers"].get("Authorization") for q in elsewhere.requests] == [None]


def test_a_netrc_entry_does_not_replace_the_token(shared_backend, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-the-token\n")
    netrc.chmod(0o600)
    r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {}, shared_backend.url(""), env={"NETRC": str(netrc)})
    assert r.get("failed") is not True, r["msg"]
    assert r["safe_mode"]["enabled"] is False


def test_a_503_with_retry_after_is_retried_after_that_wait(shared_backend, tmp_path):
    proxy = FaultProxy(shared_backend.url(""))
    try:
        proxy.plan = ["status:503:2"]
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {}, proxy.url)
        assert proxy.requests == 2
        proxy.plan = ["status:503"] * 3
        failed = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {"retries": 2}, proxy.url)
        assert proxy.requests == 5
    finally:
        proxy.close()
    assert r["safe_mode"]["enabled"] is False
    assert r["warnings"] == [f"read safe mode status failed (GET {proxy.url}/api/safe-mode/status): HTTP 503: injected; retrying in 2 s (attempt 2 of 4)"]
    assert failed["failed"] and failed["msg"] == f"read safe mode status failed (GET {proxy.url}/api/safe-mode/status): HTTP 503: injected"
    assert [w[-15:] for w in failed["warnings"]] == ["attempt 2 of 3)", "attempt 3 of 3)"]


@pytest.mark.parametrize(
    "args,message",
    [
        ({"ca_path": "/nonexistent/ca.pem"}, "ca_path /nonexistent/ca.pem is not a file"),
        ({"client_cert": "/nonexistent/client.pem"}, "client_cert /nonexistent/client.pem is not a file"),
        ({"timeout": 0}, "timeout must be a number of seconds above 0, got 0"),
        ({"timeout": -5}, "timeout must be a number of seconds above 0, got -5"),
        ({"retries": -1}, "retries must be 0 or more, got -1"),
    ],
)
def test_connection_options_are_checked_before_any_request(tmp_path, args, message):
    with StubApi(OFF) as api:
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", args, api.url)
    assert r["failed"] and r["msg"] == message and api.requests == []


def ad_hoc(env, url, token):
    """`ansible localhost -m safe_mode_info` as an operator types it, with the connection in the environment."""
    cmd = [
        "ansible",
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-m",
        "brain.ops_assurance.safe_mode_info",
        "-vvv",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
    ]
    env = {**os.environ, **env, "ANSIBLE_NOCOLOR": "1", "BRAIN_API_URL": url, "BRAIN_API_TOKEN": token}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_environment_fallback_keeps_the_token_out_of_ps_output_and_errors(shared_backend):
    token = "env-only-token-0123456789"
    with StubApi({("GET", "/api/safe-mode/status"): [(200, {"enabled": False}, {})]}, delay=3) as api:
        proc = ad_hoc({}, api.url, token)
        seen = []
        while proc.poll() is None:  # the stub holds the request 3 s: the module is running meanwhile
            seen += [line for line in command_lines() if "ansible" in line or "AnsiballZ" in line]
            time.sleep(0.2)
        out = proc.stdout.read()
        assert api.requests and api.requests[0]["headers"]["Authorization"] == f"Bearer {token}"
    assert proc.returncode == 0 and '"enabled": false' in out, out
    assert any("AnsiballZ_safe_mode_info" in line for line in seen)  # the scan saw the module run
    assert not [line for line in command_lines() + seen if token in line]
    assert token not in out
    wrong = "env-wrong-token-9876543210"
    proc = ad_hoc({}, shared_backend.url(""), wrong)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0 and "HTTP 401: missing or invalid bearer token" in out and wrong not in out, out


# ---- evidence_pack: dest first, a window two runs agree on ---------------------------------------
def test_evidence_pack_checks_dest_before_any_request(shared_backend, tmp_path):
    proxy = FaultProxy(shared_backend.url(""))
    try:
        r = one_task(tmp_path, "brain.ops_assurance.evidence_pack", {"scope": "audit", "dest": str(tmp_path)}, proxy.url)
        missing = one_task(tmp_path, "brain.ops_assurance.evidence_pack", {"scope": "audit", "dest": str(tmp_path / "no" / "p.json")}, proxy.url)
        window = one_task(
            tmp_path, "brain.ops_assurance.evidence_pack", {"scope": "audit", "dest": str(tmp_path / "p.json"), "end_time": "yesterday"}, proxy.url
        )
        assert proxy.requests == 0
    finally:
        proxy.close()
    assert r["failed"] and r["msg"] == f"dest {tmp_path} is a directory; give the path of the pack file"
    assert missing["msg"] == f"the directory of dest {tmp_path / 'no' / 'p.json'} does not exist"
    assert window["msg"] == "end_time must be ISO 8601 with a time zone (2026-11-01T00:00:00Z) or a date (2026-11-01), got 'yesterday'"


def test_evidence_pack_without_a_window_agrees_with_itself(shared_backend, tmp_path):
    args = json.dumps({"scope": "internal", "dest": str(tmp_path / "pack.json")})
    tasks = "".join(f"    - name: Run {n}\n      brain.ops_assurance.evidence_pack: {args}\n" for n in range(2))
    r = playbook(tmp_path, tasks, shared_backend.url(""), ADMIN, json_output=True)
    first, second = (t["hosts"]["localhost"] for t in json.loads(r.stdout)["plays"][0]["tasks"])
    assert first["changed"] is True and second.get("failed") is not True and second["changed"] is False, second
    tomorrow = day(1)
    assert (first["start_time"], first["end_time"]) == ("1970-01-01T00:00:00Z", f"{tomorrow}T00:00:00Z")
    assert json.loads((tmp_path / "pack.json").read_text())["time_range"] == {"start": "1970-01-01T00:00:00.000000Z", "end": f"{tomorrow}T00:00:00.000000Z"}


def test_evidence_pack_playbook_never_replaces_a_different_pack_and_writes_0640(shared_backend, tmp_path):
    (tmp_path / "vars.json").write_text(
        json.dumps({"brain_api_url": shared_backend.url(""), "brain_api_token": ADMIN, "ansible_python_interpreter": sys.executable})
    )
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"@{tmp_path / 'vars.json'}", "-e", "evidence_pack_hosts=localhost"]
    cmd += ["-e", "evidence_pack_scope=internal", "-e", f"evidence_pack_dir={tmp_path / 'packs'}", "brain.ops_assurance.evidence_pack"]
    (tmp_path / "controller-tmp").mkdir()
    env = on_the_clock({**os.environ, "ANSIBLE_NOCOLOR": "1", "TMPDIR": str(tmp_path / "controller-tmp")})
    working_dirs = set(Path("/var/tmp").glob("brain-evidence-pack-*"))
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stdout[-3000:]
    tomorrow = day(1)
    (pack,) = (tmp_path / "packs").iterdir()
    assert oct(pack.stat().st_mode & 0o777) == "0o640"
    assert json.loads(pack.read_text())["content_hash"] in first.stdout
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stdout[-3000:]
    pack.write_text("{}\n")
    other = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert pack.read_text() == "{}\n" and list((tmp_path / "packs").iterdir()) == [pack]
    assert other.returncode != 0 and f"{pack} already holds a different pack" in other.stdout and "Nothing was replaced" in other.stdout, other.stdout[-3000:]
    assert pack.name == f"localhost-internal-1970-01-01-{tomorrow}.json"
    assert ADMIN not in first.stdout + again.stdout + other.stdout
    # The working directories (each with a copy of the pack) are gone, also after the refusal.
    assert set(Path("/var/tmp").glob("brain-evidence-pack-*")) == working_dirs
    assert list((tmp_path / "controller-tmp").iterdir()) == []


# ---- evidence_pack dialect=auto (the default): found as backend_info finds it -------------------------
def test_evidence_pack_finds_the_dialect_of_either_reference_profile_by_default(shared_backend, tmp_path):
    """Without dialect, a contract backend gets the contract request and real main its own (the old default, the
    contract, got 422 from real main); success comes only after the pack verified in the dialect found."""
    (tmp_path / "main").mkdir()
    main = BrainMain(tmp_path / "main", routers="shipped")  # main.py as shipped mounts the evidence router
    try:
        found = {
            name: one_task(tmp_path, "brain.ops_assurance.evidence_pack", {"scope": "audit", "dest": str(tmp_path / f"{name}.json")}, url, token=token)
            for name, url, token in (("contract", shared_backend.url(""), ADMIN), ("brain_main", main.url(""), main.token()))
        }
    finally:
        main.stop()
    for name, r in found.items():
        assert r.get("failed") is not True and r["changed"] is True and r["dialect"] == name, r
        assert json.loads((tmp_path / f"{name}.json").read_text())["content_hash"] == r["content_hash"]
    assert "from_timestamp" not in (tmp_path / "contract.json").read_text() and "time_range_start" in (tmp_path / "brain_main.json").read_text()


def test_evidence_pack_requests_nothing_when_the_dialect_cannot_be_told(tmp_path):
    # A route that is mounted (405) but answers in neither dialect's shape, and no published schema.
    routes = {("GET", "/api/sovereign-mode/evidence/export"): [(405, b"Method Not Allowed", {"Content-Type": "text/plain"})]}
    with StubApi(routes) as stub:
        r = one_task(tmp_path, "brain.ops_assurance.evidence_pack", {"scope": "audit", "dest": str(tmp_path / "p.json")}, stub.url)
        posts = [q for q in stub.requests if q["method"] == "POST"]
    assert r["failed"] and r["msg"] == "cannot tell the backend's evidence pack dialect: mounted, but its request dialect is unknown; nothing requested"
    assert posts == [] and not (tmp_path / "p.json").exists()


# ---- evidence_pack in BRAiN's own dialect ----------------------------------------------------------
def test_evidence_pack_in_the_brain_dialect(tmp_path):
    dest = tmp_path / "pack.json"
    args = {"scope": "internal", "dialect": "brain_main", "start_time": "2026-11-01", "end_time": "2026-12-01", "dest": str(dest)}
    with BrainEvidence(ADMIN) as brain:
        first = one_task(tmp_path, "brain.ops_assurance.evidence_pack", args, brain.url)
        second = one_task(tmp_path, "brain.ops_assurance.evidence_pack", args, brain.url)
        contract = one_task(tmp_path, "brain.ops_assurance.evidence_pack", {**args, "dialect": "contract", "dest": str(tmp_path / "c.json")}, brain.url)
        bodies = [q["body"] for q in brain.requests if q["path"].endswith("/export")]
    # naive UTC (a zone selects no events in BRAiN), lower-case scope, the exclusive end as BRAiN's inclusive one
    assert bodies[0] == {"scope": "internal", "from_timestamp": "2026-11-01T00:00:00", "to_timestamp": "2026-11-30T23:59:59.999999"}
    assert first["changed"] is True and first["event_count"] == 2 and first.get("failed") is not True, first
    assert second["changed"] is False  # pack_id and generated_at are new on every export: the same pack otherwise
    pack = json.loads(dest.read_text())
    assert pack["pack_id"] == "evidence_20261131_internal" and first["content_hash"] == pack["content_hash"]
    assert oct(dest.stat().st_mode & 0o777) == "0o640"
    assert contract["failed"] and contract["msg"] == (
        f"export the evidence pack failed (POST {brain.url}/api/sovereign-mode/evidence/export): HTTP 422:"
        " body.from_timestamp: Field required; body.to_timestamp: Field required"
    )


def test_evidence_pack_in_the_brain_dialect_refuses_a_pack_whose_hash_does_not_match(tmp_path):
    dest = tmp_path / "pack.json"
    with BrainEvidence(ADMIN) as brain:
        real = brain.export

        def altered(record):  # a hashed member changed after hashing
            status, pack, headers = real(record)
            return status, {**pack, "mode_history": [{"from": "online", "to": "sovereign"}]}, headers

        brain.routes[("POST", "/api/sovereign-mode/evidence/export")] = [altered]
        r = one_task(
            tmp_path, "brain.ops_assurance.evidence_pack", {"scope": "audit", "dialect": "brain", "start_time": "2026-11-01", "dest": str(dest)}, brain.url
        )
    assert r["failed"] and r["msg"].startswith("the pack's content_hash '") and r["msg"].endswith("; nothing written") and not dest.exists()
    # dialect=brain is release 0.1.0's name for brain_main: still understood, with a deprecation
    assert [d["msg"] for d in r["deprecations"]] == ["the dialect name 'brain' is deprecated; use 'brain_main'"], r.get("deprecations")
