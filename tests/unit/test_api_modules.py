"""The API modules, run by ansible-playbook against the real reference backend: the integration
targets' rhythm (check, apply, idempotent check and apply, with diff), the exact error of every
failure, and no token in any output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.brain.ops_assurance.plugins.modules.safe_mode import decide
from helpers.backend import ADMIN, READER, Backend, free_port
from helpers.fault_proxy import FaultProxy

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


@pytest.mark.parametrize(
    "before,state,expected",
    [
        ({"enabled": False}, "enabled", (True, {"enabled": True, "reason": "r", "changed_at": None, "changed_by": None, "source": "api"})),
        ({"enabled": True, "reason": "x"}, "enabled", (False, {"enabled": True, "reason": "x"})),
        ({"enabled": True}, "disabled", (True, {"enabled": False, "reason": "r", "changed_at": None, "changed_by": None, "source": "api"})),
        ({"enabled": False}, "disabled", (False, {"enabled": False})),
    ],
)
def test_safe_mode_decides_from_the_state_it_read(before, state, expected):
    assert decide(before, state, "r") == expected


# ---- failures: exact messages, the status, and never the token ---------------------------------
def test_backend_down(tmp_path):
    r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {}, f"http://127.0.0.1:{free_port()}")
    assert r["failed"] and r["status"] is None
    assert r["msg"].startswith("read safe mode status failed: no response: ") and "Connection refused" in r["msg"]


def test_wrong_token(shared_backend, tmp_path):
    r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {}, shared_backend.url(""), token="wrong-token-value")
    assert r["msg"] == "read safe mode status failed: HTTP 401: missing or invalid bearer token" and r["status"] == 401


def test_read_only_token_cannot_change(shared_backend, tmp_path):
    r = one_task(tmp_path, "brain.ops_assurance.safe_mode", {"state": "enabled", "reason": "x"}, shared_backend.url(""), token=READER)
    assert r["msg"] == "enable safe mode failed: HTTP 403: the reader token may not call this endpoint" and r["status"] == 403
    assert shared_backend.ok("GET", "/api/safe-mode/status")["enabled"] is False


@pytest.mark.parametrize(
    "fault,message,status",
    [
        ("status:503", "read safe mode status failed: HTTP 503: injected", 503),
        ("status:500", "read safe mode status failed: HTTP 500: injected", 500),
        ("body:not json", "read safe mode status failed: HTTP 200: the response is not JSON", 200),
        ("body:[1, 2]", "read safe mode status failed: HTTP 200: the response is not a JSON object", 200),
    ],
)
def test_server_faults(shared_backend, tmp_path, fault, message, status):
    proxy = FaultProxy(shared_backend.url(""))
    try:
        proxy.plan = [fault]
        r = one_task(tmp_path, "brain.ops_assurance.safe_mode", {"state": "enabled", "reason": "x"}, proxy.url)
    finally:
        proxy.close()
    assert r["msg"] == message and r["status"] == status


def test_a_bad_url_fails_before_any_request(tmp_path):
    r = one_task(tmp_path, "brain.ops_assurance.safe_mode_info", {}, "ftp://brain.example.org")
    assert r["msg"] == "api_url must start with http:// or https://, got 'ftp://brain.example.org'"


def test_modules_render_in_ansible_doc():
    for module in ("safe_mode", "safe_mode_info"):
        r = subprocess.run(["ansible-doc", f"brain.ops_assurance.{module}"], capture_output=True, text=True, check=False)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert "EXAMPLES" in r.stdout and "RETURN VALUES" in r.stdout and "api_token" in r.stdout
