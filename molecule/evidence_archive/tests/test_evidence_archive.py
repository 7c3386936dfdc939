"""The off-host archive on real systemd, in the order of the issue: the archive pulls and verifies,
its own retention (2 days) removes the oldest day and what is left verifies from its anchor; the
origin's retention then removes that day too, which is no deletion. A root on the evidence host
then deletes the newest day, and rewrites an old day, re-chains and re-signs it with the host's
own key; each is detected on the next pull, the archive's copy still verifies with the key given
at deploy time, and the matching alert fires in Prometheus. The evidence host's key can neither
write nor read outside the evidence directory."""

import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

SERVICE = "brain-evidence-archive.service"
TIMER = "brain-evidence-archive.timer"
ARCHIVE = "/var/lib/brain/archive/arc-evidence"
EVIDENCE = "/var/lib/brain/evidence"
KEY = "/etc/brain-evidence-archive/keys/arc-evidence.pub"
ANCHOR = f"{ARCHIVE}/archive-anchor.json"
METRICS = "/var/lib/brain/archive-metrics/brain_evidence_archive_arc-evidence.prom"
EXPORTED = [str(datetime.now(UTC).date() - timedelta(days=n)) for n in (3, 2, 1)]
DAYS = EXPORTED[1:]  # what the archive keeps with its retention of 2 days
SSH = "ssh -F /dev/null -i /etc/brain-evidence-archive/id_ed25519 -o BatchMode=yes -o UserKnownHostsFile=/etc/brain-evidence-archive/known_hosts"
# As root on the evidence host: rewrite the oldest day's first event, recompute the chain through
# every later day, rebuild the sidecars and manifests and sign them with the host's own key.
REWRITE = r"""
import json, sys, datetime
sys.path.insert(0, "/usr/local/lib/brain-ops-assurance/plugins/module_utils")
import evidence
d = "/var/lib/brain/evidence/"
key = evidence.load_private_key("/etc/brain-evidence-export/signing-key.pem")
days = sys.argv[1:]
prev = None
for n, day in enumerate(days):
    path = d + evidence.data_name(day)
    events = [json.loads(line) for line in open(path, "rb").read().splitlines()]
    if n == 0:
        events[0]["details"] = {"note": "forged by root on the evidence host"}
    for e in events:
        e["prev_hash"] = prev or e["prev_hash"]
        body = {k: v for k, v in e.items() if k != "hash"}
        e["hash"] = prev = evidence.chain_hash(evidence.canonical_json(body), e["prev_hash"].encode())
    open(path, "wb").write(b"".join(evidence.canonical_json(e) + b"\n" for e in events))
    result = evidence.verify_data_file(path, day)
    open(d + evidence.sidecar_name(day), "w").write(evidence.sidecar_text(result["sha256"], evidence.data_name(day)))
    before = str(datetime.date.fromisoformat(day) - datetime.timedelta(days=1))
    try:
        raw = open(d + evidence.manifest_name(before), "rb").read()
        previous = (json.loads(raw), raw)
    except FileNotFoundError:  # removed by retention: keep the link the signed chain-anchor.json names
        previous = None
    manifest = evidence.build_manifest(day, result, previous)
    if previous is None:
        manifest["previous_manifest"] = json.loads(open(d + evidence.manifest_name(day), "rb").read())["previous_manifest"]
    manifest = evidence.record_bytes(manifest)
    open(d + evidence.manifest_name(day), "wb").write(manifest)
    open(d + evidence.signature_name(evidence.manifest_name(day)), "wb").write(evidence.sign(key, manifest))
"""


@pytest.fixture
def origin(host):
    return host.get_host("podman://arc-evidence")


def journal(host):
    return host.run(f"journalctl -u {SERVICE} --no-pager -n 40 -o cat").stdout


def pull(host):
    """One run of the oneshot service (returns when it has finished): its exit status."""
    host.run(f"systemctl reset-failed {SERVICE}")
    host.run(f"systemctl start {SERVICE}")
    return int(host.check_output(f"systemctl show -p ExecMainStatus --value {SERVICE}"))


def metric(host, name):
    text = host.file(METRICS).content_string
    return float(re.search(rf'^brain_evidence_archive_{name}{{origin="arc-evidence"}} (\S+)$', text, re.M).group(1))


def verifies(host):
    """The archive's copy verifies with the deploy-time key, from the archive's own anchor."""
    r = host.run(f"brain-audit verify-log {ARCHIVE} --public-key {KEY} --max-age 0 --anchor {ANCHOR}")
    return r.rc == 0 and r.stdout.splitlines()[-1] == "PASS: 7 checked, 0 failed", r.stdout


def firing(host, alert, timeout=90):
    """Poll Prometheus until the alert fires for this origin; its labels, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = host.run("curl -sf http://127.0.0.1:9090/api/v1/alerts").stdout
        for a in json.loads(out or '{"data": {"alerts": []}}')["data"]["alerts"]:
            if a["labels"]["alertname"] == alert and a["state"] == "firing" and a["labels"].get("origin") == "arc-evidence":
                return a["labels"]
        time.sleep(2)
    return None


def test_the_timer_runs_after_the_export(host):
    timer = host.service(TIMER)
    assert timer.is_enabled and timer.is_running
    assert "03:00:00 UTC" in host.check_output(f"systemctl show -p TimersCalendar --value {TIMER}")
    assert host.check_output(f"systemctl show -p Persistent --value {TIMER}") == "yes"


def test_the_unit_is_hardened(host):
    out = host.run(f"systemd-analyze security --no-pager {SERVICE}").stdout
    exposure = float(re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out).group(1))
    print(f"exposure {exposure}")
    assert exposure <= 1.5, out


def test_the_archive_pulls_and_verifies_with_the_deploy_time_key(host):
    assert pull(host) == 0, journal(host)
    names = sorted(f"{k}-{d}{e}" for d in DAYS for k, e in (("audit", ".jsonl"), ("audit", ".jsonl.sha256"), ("manifest", ".json"), ("manifest", ".json.sig")))
    assert sorted(host.check_output(f"ls {ARCHIVE}").split()) == sorted([*names, "archive-anchor.json"])
    # Its own retention removed the oldest of the three days it pulled, after verifying all three.
    assert f"arc-evidence: archived {EXPORTED[0]}" in journal(host)
    assert f"arc-evidence: retention: removed {EXPORTED[0]} to {EXPORTED[0]} (older than 2 days)" in journal(host)
    assert json.loads(host.file(ANCHOR).content_string)["removed"] == EXPORTED[:1]
    assert verifies(host)
    timing = re.search(r"pulled in (\S+) s, verified 2 days in (\S+) s", journal(host))
    print(f"pull {timing.group(1)} s, verify {timing.group(2)} s (3 days pulled and verified, 1 removed by retention and 2 verified again)")
    assert metric(host, "last_run_success") == 1 and metric(host, "copy_verified") == 1
    # The key the archive verifies with is the one fetched when the evidence host was deployed.
    assert host.file(KEY).content_string == host.get_host("podman://arc-evidence").file("/etc/brain-evidence-export/signing-key.pub").content_string


def test_the_origin_removing_a_day_by_its_own_retention_is_no_deletion(host, origin):
    """The origin's unit now runs with the retention the inventory states: it removes the oldest
    day, which the archive already removed too; the next pull finds nothing."""
    unit = "/etc/systemd/system/brain-evidence-export.service"
    drop_in = "/run/systemd/system/brain-evidence-export.service.d"
    origin.check_output(
        f"mkdir -p {drop_in} && {{ printf '[Service]\\nExecStart=\\n'; awk '/^ExecStart=/{{p=1}} p{{print}} p&&!/\\\\$/{{exit}}' {unit}"
        f" | sed 's/--retention-days 0/--retention-days 2/'; }} > {drop_in}/retention.conf && systemctl daemon-reload"
    )
    origin.check_output("systemctl start brain-evidence-export.service")
    assert not origin.file(f"{EVIDENCE}/manifest-{EXPORTED[0]}.json").exists
    assert pull(host) == 0, journal(host)
    assert metric(host, "origin_deleted_days") == 0 and verifies(host)


def test_node_exporter_serves_the_archive_metrics(host):
    out = host.check_output("curl -sf http://127.0.0.1:9100/metrics")
    assert 'brain_evidence_archive_origin_deleted_days{origin="arc-evidence"} 0' in out


def scratch(host):
    """A directory the archive's user may write to, as that user."""
    return host.check_output("runuser -u brain-archive -- mktemp -d")


def test_check_timers_checks_the_archive_timer_too(host):
    inventory = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory")
    cmd = ["ansible-playbook", "-i", inventory, "brain.ops_assurance.check_timers"]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert r.returncode == 0 and "evidence archive timer OK" in r.stdout and "evidence export timer OK" in r.stdout, r.stdout
    host.check_output(f"systemctl disable --now {TIMER}")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)
        out = r.stdout + r.stderr  # a failed assert's message is on stderr
        assert r.returncode != 0 and "evidence archive timer: the timer is not enabled (UnitFileState=disabled)" in out, out
    finally:
        host.check_output(f"systemctl enable --now {TIMER}")


def test_the_key_cannot_write_to_the_evidence_host(host, origin):
    d = scratch(host)
    host.check_output(f"runuser -u brain-archive -- sh -c 'echo planted > {d}/planted'")
    r = host.run(f"runuser -u brain-archive -- rsync -e '{SSH}' {d}/planted brain-archive-pull@arc-evidence:")
    assert r.rc != 0 and "read-only" in r.stderr, r.stderr
    assert not origin.file(f"{EVIDENCE}/planted").exists


def test_the_key_cannot_read_outside_the_evidence_directory(host):
    for source in ("brain-archive-pull@arc-evidence:../", "brain-archive-pull@arc-evidence:/etc/shadow"):
        d = scratch(host)
        r = host.run(f"runuser -u brain-archive -- rsync -e '{SSH}' -r {source} {d}/")
        assert r.rc != 0 and host.check_output(f"ls -A {d}") == "", r.stderr
    r = host.run(f"runuser -u brain-archive -- {SSH} brain-archive-pull@arc-evidence cat /etc/passwd")
    assert r.rc != 0 and "root:" not in r.stdout, r.stdout + r.stderr


def test_the_evidence_host_cannot_reach_into_the_archive(host, origin):
    """The archive pulls: it holds no key or login for the evidence host, and listens for none."""
    assert origin.run("ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o ConnectTimeout=5 arc-archive true").rc != 0
    assert host.run("ls /home/*/.ssh/authorized_keys /root/.ssh/authorized_keys").rc != 0


def test_a_deleted_newest_day_is_detected_and_fires_the_alert(host, origin):
    origin.check_output(f"rm {EVIDENCE}/audit-{DAYS[-1]}.jsonl* {EVIDENCE}/manifest-{DAYS[-1]}.json*")
    assert pull(host) == 8, journal(host)
    assert f"DELETED ON ORIGIN: {DAYS[-1]} is in the archive but gone from the origin" in journal(host)
    assert metric(host, "origin_deleted_days") == 1
    assert verifies(host)
    labels = firing(host, "BrainEvidenceOriginDeleted")
    assert labels and labels["severity"] == "critical", host.run("curl -sf http://127.0.0.1:9090/api/v1/alerts").stdout
    # The exporter exports the day again, byte for byte: the finding clears on the next pull.
    origin.check_output("systemctl start brain-evidence-export.service")
    assert pull(host) == 0, journal(host)
    assert metric(host, "origin_deleted_days") == 0


def test_a_rewritten_and_re_signed_old_day_is_detected_and_fires_the_alert(host, origin):
    origin.check_output(f"python3 - {' '.join(DAYS)} <<'EOF'\n{REWRITE}\nEOF")
    # On the evidence host the forged history verifies with the host's own key: only the archive can tell.
    r = origin.run(f"brain-audit verify-log {EVIDENCE} --public-key /etc/brain-evidence-export/signing-key.pub")
    assert r.rc == 0, r.stdout
    before = host.check_output(f"sha256sum {ARCHIVE}/*")
    assert pull(host) == 8, journal(host)
    for d in DAYS:
        assert f"REWRITTEN ON ORIGIN: the origin's files of {d} differ from the archived copy" in journal(host)
    assert metric(host, "origin_rewritten_days") == 2
    assert host.check_output(f"sha256sum {ARCHIVE}/*") == before
    assert verifies(host)
    labels = firing(host, "BrainEvidenceOriginRewritten")
    assert labels and labels["severity"] == "critical", host.run("curl -sf http://127.0.0.1:9090/api/v1/alerts").stdout
