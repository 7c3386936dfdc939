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
        ("shipped", {"evidence_packs": "brain_main", "service_tokens": "brain_main"}),
        # with the Sprint 7 monitoring and safe-mode routers mounted
        ("sprint7", {"operations_metrics": "brain_main", "safe_mode": "brain_main", "evidence_packs": "brain_main", "service_tokens": "brain_main"}),
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


# ---- the audit export is required only of a backend an evidence host exports over the API -------
EVIDENCE = """
all:
  vars:
    ansible_python_interpreter: {python}
    brain_read_token: {token}
  children:
    backends:
      hosts:
        backend-a: {{ansible_connection: local, brain_api_url: "{url}"}}
        backend-b: {{ansible_connection: local, brain_api_url: "http://127.0.0.1:1"}}  # not probed (--limit)
    evidence:
      hosts:
{evidence}
"""


def capabilities(tmp_path, url, token, evidence):
    """The site's capability play only, with an evidence group; the probe's result on backend-a."""
    (tmp_path / "hosts.yml").write_text(EVIDENCE.format(python=sys.executable, token=token, url=url, evidence=evidence))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    cmd = ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), "brain.ops_assurance.site", "--tags", "site_capabilities", "--limit", "backend-a"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert token not in r.stdout + r.stderr
    return r, dict(host_results(json.loads(r.stdout), "backend-a"))["Probe the backend's governance API"]


AUDIT_FILE_HOST = "        backend-a: {evidence_export_source: audit_file, evidence_export_audit_file: /srv/brain/storage/sovereign_mode_audit.jsonl}"


@pytest.mark.parametrize(
    "evidence",
    [
        AUDIT_FILE_HOST,  # the backend host exports its own audit file
        AUDIT_FILE_HOST + '\n        evidence-b: {evidence_export_api_url: "http://backend-b:8000"}',  # another backend's API
    ],
)
def test_a_backend_whose_evidence_comes_from_its_audit_file_needs_no_audit_export(tmp_path, evidence):
    (tmp_path / "backend").mkdir()
    backend = BrainMain(tmp_path / "backend", routers="sprint7")
    try:
        r, probe = capabilities(tmp_path, backend.url(""), backend.token(), evidence)
    finally:
        backend.stop()
    assert r.returncode == 0, r.stdout[-3000:]
    assert not probe["capabilities"]["audit_export"]["available"]  # real main has none, and nothing here needs it


@pytest.mark.parametrize(
    "evidence",
    [
        '        evidence-b: {evidence_export_api_url: "http://backend-a:8000"}',  # names this backend
        '        evidence-b: {evidence_export_source: api, evidence_export_api_url: "http://brain-lb.example:8000"}',  # names no backend: any
        AUDIT_FILE_HOST + '\n        evidence-b: {evidence_export_api_url: "http://backend-a:8000"}',  # the file, and the API too
    ],
)
def test_a_backend_exported_over_the_api_must_have_the_audit_export(tmp_path, evidence):
    (tmp_path / "backend").mkdir()
    backend = BrainMain(tmp_path / "backend", routers="sprint7")
    try:
        r, probe = capabilities(tmp_path, backend.url(""), backend.token(), evidence)
    finally:
        backend.stop()
    assert r.returncode != 0
    assert probe["msg"].startswith("the backend lacks required capabilities: audit_export: ")


# ---- the monitoring play scrapes each backend in the dialect backend_info found -------------------
MONITORED = INVENTORY.replace(
    'monitor-a: {{ansible_host: 127.0.0.1, ansible_port: 1, ansible_connection: ssh, ansible_ssh_common_args: "-o ConnectTimeout=2"}}',
    "monitor-a: {{ansible_connection: local{monitor_vars}}}",
)


def site_dialects(tmp_path, url, token, *args, monitor_vars=""):
    """The capability probe and the prometheus role's checks only (nothing is changed on the host); what it scrapes."""
    (tmp_path / "hosts.yml").write_text(MONITORED.format(python=sys.executable, token=token, url=url, monitor_vars=monitor_vars))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    cmd = ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), "brain.ops_assurance.site", "--tags", "site_capabilities,prometheus_preflight", *args]
    # the roles' argument checks run under any tag: what they require, though no role task runs
    cmd += ["-e", '{"runbooks_contacts": [], "site_alertmanager_enabled": false}']
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert token not in r.stdout + r.stderr
    return dict(host_results(json.loads(r.stdout), "monitor-a"))["brain.ops_assurance.prometheus : Show the dialect each BRAiN target is scraped in"]["msg"]


@pytest.mark.parametrize(
    ("routers", "accept"),
    [
        ("sprint7", ["governance_metrics"]),  # the monitoring router: /metrics in main's names
        ("shipped", ["governance_metrics", "operations_metrics"]),  # no metrics at all: its API tells main apart
    ],
)
def test_real_brain_main_is_scraped_as_brain_main_without_settings(tmp_path, routers, accept):
    (tmp_path / "backend").mkdir()
    backend = BrainMain(tmp_path / "backend", routers=routers)
    try:
        scraped = site_dialects(tmp_path, backend.url(""), backend.token(roles=("operator",)), "-e", json.dumps({"site_backend_accept_missing": accept}))
    finally:
        backend.stop()
    assert scraped == "backend-a:8000: brain_main"


def test_a_contract_backend_is_scraped_as_contract(backend, tmp_path):
    assert site_dialects(tmp_path, backend.url(""), READER) == "backend-a:8000: contract"


@pytest.mark.parametrize(
    ("args", "monitor_vars"),
    [
        (["-e", "prometheus_brain_dialect=contract"], ""),  # on the command line
        ([], ", prometheus_brain_dialect: contract"),  # in the inventory
        ([], ', prometheus_brain_target_dialects: {"backend-a:8000": governance_branch}'),  # per target
    ],
)
def test_a_dialect_set_by_hand_wins_over_the_one_found(tmp_path, args, monitor_vars):
    (tmp_path / "backend").mkdir()
    backend = BrainMain(tmp_path / "backend", routers="sprint7")
    try:
        accept = ["-e", '{"site_backend_accept_missing": ["governance_metrics"]}']
        scraped = site_dialects(tmp_path, backend.url(""), backend.token(roles=("operator",)), *accept, *args, monitor_vars=monitor_vars)
    finally:
        backend.stop()
    assert scraped == ("backend-a:8000: governance_branch" if "target" in monitor_vars else "backend-a:8000: contract")


def test_a_found_dialect_of_a_backend_the_role_does_not_scrape_is_ignored(tmp_path):
    (tmp_path / "backend").mkdir()
    backend = BrainMain(tmp_path / "backend", routers="sprint7")
    try:
        accept = ["-e", '{"site_backend_accept_missing": ["governance_metrics"]}']
        scraped = site_dialects(tmp_path, backend.url(""), backend.token(roles=("operator",)), *accept, monitor_vars=", prometheus_brain_targets: [other:9000]")
    finally:
        backend.stop()
    assert scraped == "other:9000: contract"


def test_a_backend_left_out_of_the_run_is_not_scraped_in_a_guessed_dialect(backend, tmp_path):
    """--limit without a backend: its dialect is unknown in this run, so the deploy stops before changing
    anything (it crashed on the missing probe before); set by hand, the run goes on."""
    two = MONITORED.replace(
        'backend-a: {{ansible_connection: local, brain_api_url: "{url}"}}',
        'backend-a: {{ansible_connection: local, brain_api_url: "{url}"}}\n        backend-b: {{ansible_connection: local, brain_api_url: "{url}"}}',
    )
    (tmp_path / "hosts.yml").write_text(two.format(python=sys.executable, token=READER, url=backend.url(""), monitor_vars=""))
    cmd = ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), "brain.ops_assurance.site", "--tags", "site_capabilities,prometheus_preflight"]
    cmd += ["--limit", "all:!backend-b", "-e", '{"runbooks_contacts": [], "site_alertmanager_enabled": false}']
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode != 0, refused.stdout[-3000:]
    assert "The dialect of backend-b:8000 is not known in this run" in refused.stdout and "Nothing was changed" in refused.stdout
    assert "Show the dialect each BRAiN target is scraped in" not in refused.stdout
    by_hand_vars = ["-e", '{"prometheus_brain_target_dialects": {"backend-b:8000": "brain_main"}}']
    by_hand = subprocess.run([*cmd, *by_hand_vars], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert by_hand.returncode == 0, by_hand.stdout[-3000:]
    assert "backend-a:8000: contract, backend-b:8000: brain_main" in by_hand.stdout
