"""The evidence exporter on a real systemd host, in the order an operator meets it: the timer is
scheduled, a run with the API down fails loudly and writes nothing, a run with the API up writes
verifiable evidence, a second run changes nothing."""

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from helpers import on_host

SERVICE = "brain-evidence-export.service"
TIMER = "brain-evidence-export.timer"
EVIDENCE = "/var/lib/brain/evidence"
PUBLIC_KEY = "/etc/brain-evidence-export/signing-key.pub"
DAYS = [str(datetime.now(UTC).date() - timedelta(days=n)) for n in (3, 2, 1)]


def journal(host, unit=SERVICE):
    return on_host.journal(host, unit)


def start(host):
    """systemctl start of the oneshot service: returns once the run has finished."""
    return host.run(f"systemctl start {SERVICE}")


def listing(host):
    """name -> inode:mtime of every file in the evidence directory."""
    out = host.check_output(f"find {EVIDENCE} -maxdepth 1 -type f -printf '%f %i:%T@\\n'")
    return dict(line.split(" ", 1) for line in out.splitlines())


def published(host):
    return sorted(name for name in listing(host) if not name.startswith("."))


def test_the_timer_is_enabled_with_a_next_elapse(host):
    on_host.assert_active(host, TIMER)
    assert on_host.unit_property(host, TIMER, "NextElapseUSecRealtime") != ""
    assert "02:00:00 UTC" in on_host.unit_property(host, TIMER, "TimersCalendar")
    assert TIMER in host.check_output("systemctl list-timers --all --no-pager")


def test_with_the_api_stopped_the_run_fails_clearly_and_writes_nothing(host, backend):
    backend.check_output("systemctl stop brain-backend.service")
    try:
        r = start(host)
        assert r.rc != 0
        assert on_host.unit_property(host, SERVICE, "Result") == "exit-code"
        assert on_host.unit_property(host, SERVICE, "ExecMainStatus") == "4"
        assert re.search(r"brain-evidence-export: error: cannot connect to http://ev-backend:8000/\S+ \(after 2 attempts\)", journal(host)), journal(host)
        assert published(host) == []
        metrics = host.file("/var/lib/brain/evidence-metrics/brain_evidence_export.prom").content_string
        assert "brain_evidence_export_last_run_success 0" in metrics
    finally:
        backend.check_output("systemctl start brain-backend.service")
        host.run(f"systemctl reset-failed {SERVICE}")


def test_a_run_writes_data_sidecar_and_signed_manifest_for_each_day(host):
    on_host.answers(host, "http://ev-backend:8000/metrics/health")
    r = start(host)
    assert r.rc == 0, journal(host)
    names = [
        f"{kind}-{day}{ext}"
        for day in DAYS
        for kind, ext in (("audit", ".jsonl"), ("audit", ".jsonl.sha256"), ("manifest", ".json"), ("manifest", ".json.sig"))
    ]
    assert published(host) == sorted(names)
    sums = host.run(f"cd {EVIDENCE} && sha256sum -c audit-*.jsonl.sha256")
    assert sums.rc == 0 and sums.stdout.count(": OK") == 3, sums.stdout
    for day in DAYS:
        assert on_host.ownership(host, f"{EVIDENCE}/audit-{day}.jsonl") == ("brain-evidence", "brain-evidence", 0o640)
    assert f"exported audit-{DAYS[-1]}.jsonl" in journal(host)


def test_brain_audit_verifies_it_with_the_public_key(host):
    r = host.run(f"brain-audit verify-log {EVIDENCE} --public-key {PUBLIC_KEY}")
    assert r.rc == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "PASS: 9 checked, 0 failed"  # 3 days: data, sidecar, signed manifest


def test_the_public_key_was_fetched_for_auditors(host):
    fetched = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "keys", "ev-host.pub")
    with open(fetched) as fh:
        assert fh.read() == host.file(PUBLIC_KEY).content_string
    assert on_host.ownership(host, "/etc/brain-evidence-export/signing-key.pem") == ("root", "brain-evidence", 0o440)


def test_a_second_run_changes_nothing(host):
    before = listing(host)
    assert start(host).rc == 0, journal(host)
    assert listing(host) == before  # same inodes and mtimes
    assert f"already exported audit-{DAYS[-1]}.jsonl" in journal(host)


def test_node_exporter_serves_the_export_metrics(host):
    out = host.check_output("curl -sf http://127.0.0.1:9100/metrics")
    assert "brain_evidence_export_last_run_success 1" in out
    stamp = float(re.search(r"^brain_evidence_export_last_success_timestamp_seconds (\S+)$", out, re.M).group(1))
    assert abs(stamp - float(host.check_output("date +%s"))) < 600


def test_the_token_stays_secret(host):
    assert on_host.ownership(host, "/etc/brain-evidence-export/env") == ("root", "root", 0o600)
    token = re.search(r"BRAIN_API_TOKEN=\"([0-9a-f]{64})", host.file("/etc/brain-evidence-export/env").content_string).group(1)
    unit = host.file(f"/etc/systemd/system/{SERVICE}").content_string
    assert token not in unit and token not in journal(host) and token not in on_host.command_lines(host)
    assert "EnvironmentFile=/etc/brain-evidence-export/env" in unit


@pytest.mark.parametrize("unit", [SERVICE])
def test_the_unit_is_hardened(host, unit):
    exposure, out = on_host.exposure(host, unit)
    assert exposure <= 1.5, out
