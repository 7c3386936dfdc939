"""The site's first play against real servers: backend_info's table, and a backend lacking what the alerts need
stops the whole deploy before any monitoring host is touched."""

import json
import os
import subprocess
import sys

import pytest
from helpers.backend import READER, Backend, BrainMain

INVENTORY = """
all:
  vars:
    ansible_python_interpreter: {python}
    brain_read_token: {token}
  children:
    backends:
      hosts:
        backend-a: {{ansible_connection: local, brain_api_url: "{url}"}}
    monitoring:
      hosts:
        # Never reachable: any task that ran there would fail the run as UNREACHABLE.
        monitor-a: {{ansible_host: 127.0.0.1, ansible_port: 1, ansible_connection: ssh, ansible_ssh_common_args: "-o ConnectTimeout=2"}}
"""


def site(tmp_path, url, *args, token=READER):
    (tmp_path / "hosts.yml").write_text(INVENTORY.format(python=sys.executable, token=token, url=url))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_HOST_KEY_CHECKING": "0"}
    r = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), "brain.ops_assurance.site", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert token not in r.stdout + r.stderr
    return r, json.loads(r.stdout)


def host_results(out, host):
    return [(task["task"]["name"], task["hosts"][host]) for play in out["plays"] for task in play["tasks"] if host in task["hosts"]]


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    b = Backend(tmp_path_factory.mktemp("backend"), "--protect-metrics")
    yield b
    b.stop()


def test_a_backend_with_the_whole_contract_passes_and_prints_the_table(backend, tmp_path):
    r, out = site(tmp_path, backend.url(""), "--tags", "site_capabilities", "--limit", "backends")
    assert r.returncode == 0, r.stdout[-3000:]
    probe = dict(host_results(out, "backend-a"))["Probe the backend's governance API"]
    assert probe["missing"] == ["service_tokens"]  # the contract uses static tokens
    assert {name: c["dialect"] for name, c in probe["capabilities"].items()} == {
        "governance_metrics": "contract",
        "operations_metrics": "contract",
        "safe_mode": "contract",
        "audit_export": "contract",
        "evidence_packs": "contract",
        "service_tokens": None,  # static tokens only
    }
    table = dict(host_results(out, "backend-a"))["Print the capability table"]["msg"]
    assert table[0].startswith("governance_metrics  available  contract: ")


def test_a_backend_that_mounts_nothing_stops_the_deploy_before_monitoring(backend, tmp_path):
    # Every path under this prefix is a 404: a backend that answers but mounts none of the governance routes.
    r, out = site(tmp_path, backend.url("/not-mounted"))
    assert r.returncode != 0
    probe = dict(host_results(out, "backend-a"))["Probe the backend's governance API"]
    assert probe["failed"]
    assert probe["msg"] == (
        "the backend lacks required capabilities: "
        "governance_metrics: not served (HTTP 404): the backend does not mount /api/sovereign-mode/metrics; "
        "operations_metrics: not served (HTTP 404): the backend does not mount /metrics"
    )
    assert host_results(out, "monitor-a") == []
    table = dict(host_results(out, "backend-a"))["Print the capability table"]["msg"]
    assert any(line.startswith("governance_metrics  MISSING    not served (HTTP 404)") for line in table)


def test_an_accepted_gap_is_a_warning_not_a_failure(backend, tmp_path):
    r, out = site(
        tmp_path,
        backend.url("/not-mounted"),
        "--tags",
        "site_capabilities",
        "--limit",
        "backends",
        "-e",
        '{"site_backend_accept_missing": ["governance_metrics", "operations_metrics"]}',
    )
    assert r.returncode == 0, r.stdout[-3000:]
    probe = dict(host_results(out, "backend-a"))["Probe the backend's governance API"]
    assert any("governance_metrics is missing, accepted: not served (HTTP 404)" in w for w in probe["warnings"])


def test_a_refused_token_is_not_mistaken_for_a_missing_route(backend, tmp_path):
    (tmp_path / "x").mkdir()
    r, out = site(tmp_path / "x", backend.url(""), "--tags", "site_capabilities", "--limit", "backends", "-e", "brain_read_token=wrong-token")
    assert r.returncode != 0
    probe = dict(host_results(out, "backend-a"))["Probe the backend's governance API"]
    assert "governance_metrics: the token was refused (HTTP 401)" in probe["msg"]


@pytest.mark.parametrize(
    ("routers", "available"),
    [
        # backend/main.py as shipped mounts the sovereign-mode router (evidence packs) and auth only
        ("shipped", {"evidence_packs": "brain-main", "service_tokens": "brain-main"}),
        # with the Sprint 7 monitoring and safe-mode routers mounted
        ("sprint7", {"operations_metrics": "brain-main", "safe_mode": "brain-main", "evidence_packs": "brain-main", "service_tokens": "brain-main"}),
    ],
)
def test_real_brain_main_is_told_apart_and_refused_for_what_it_lacks(tmp_path, routers, available):
    (tmp_path / "backend").mkdir()
    backend = BrainMain(tmp_path / "backend", routers=routers)
    try:
        r, out = site(tmp_path, backend.url(""), "--limit", "backends", token=backend.token(roles=("operator",)))
    finally:
        backend.stop()
    assert r.returncode != 0
    probe = dict(host_results(out, "backend-a"))["Probe the backend's governance API"]
    assert {name: c["dialect"] for name, c in probe["capabilities"].items() if c["available"]} == available
    assert probe["msg"].startswith("the backend lacks required capabilities: governance_metrics: not served (HTTP 404)")
