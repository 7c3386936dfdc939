"""The runbooks role: rendered from the same variables as the rules, and every name, link, query
and command in them real (the contract, the deployed rules, promtool, the reference backend)."""

import filecmp
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from ansible_collections.brain.ops_assurance.plugins.module_utils._capabilities import DIALECTS
from helpers.backend import ADMIN, Backend
from helpers.render import ROOT, playbook, render_rules, render_runbooks
from helpers.roles import PUBLIC_ROLES, SPECS

DOCS = ROOT / "docs/runbooks"
FILES = sorted(p.name for p in DOCS.glob("*.md"))
CONTRACT = (ROOT / "docs/governance-api.md").read_text()
# Metrics the backend serves (the contract's tables), the exporter and the archive write, and Prometheus's own.
METRICS = set(re.findall(r"^\| `([a-z_]+)(?:\{[a-z,]+\})?` \| (?:gauge|counter|histogram) \|", CONTRACT, re.M))
HISTOGRAMS = set(re.findall(r"^\| `([a-z_]+)(?:\{[a-z,]+\})?` \| histogram \|", CONTRACT, re.M))
METRICS |= {f"{h}_{s}" for h in HISTOGRAMS for s in ("bucket", "count", "sum")}
METRICS |= set(re.findall(r"`(brain_evidence_(?:export|archive)_[a-z_]+)`", (ROOT / "docs/evidence-export.md").read_text()))
# Prometheus's and Alertmanager's own metrics the meta alerts read: the self-monitoring table of docs/rule-pack.md.
PROMETHEUS_METRICS = set(re.findall(r"^\| `((?:prometheus|alertmanager)_[a-z_]+)` \| (?:gauge|counter) \|", (ROOT / "docs/rule-pack.md").read_text(), re.M))
EVENT_TYPES = set(re.findall(r"`([a-z]+\.[a-z_]+)`", CONTRACT.split("Event types written by the backend:")[1].split("###")[0]))
# Capitalised compound words in the runbooks that are not alert names.
NOT_ALERTS = {"PromQL"}
ALERT_LIKE = re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b")
METRIC_LIKE = re.compile(r"\b(?:sovereign|brain|prometheus)_[a-z0-9_]+\b")
EVENT_LIKE = re.compile(r"\b(?:system|sovereign|bundle|axe|preflight|executor|policy|decision|auth)\.(?!md\b)[a-z_]+\b")


def role_variables():
    names = set()
    for role in PUBLIC_ROLES:
        names |= set(SPECS[role]["main"]["options"])
    return names


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def prose(text):
    """The text outside fenced code blocks."""
    return re.sub(r"^ *```.*?^ *```$", "", text, flags=re.M | re.S)


def anchors(path):
    return {slug(line.lstrip("#")) for line in prose(path.read_text()).splitlines() if re.match(r"#{1,6} ", line)}


def links(path):
    return re.findall(r"\]\(([^)]+)\)", prose(path.read_text()))


def alerts_of(rules_dir):
    found = {}
    for path in rules_dir.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.update({r["alert"]: r for r in group["rules"] if "alert" in r})
    return found


def text_of(out):
    return "\n".join(p.read_text() for p in sorted(out.glob("*.md")))


def test_docs_examples_are_what_the_role_renders(default_runbooks):
    """docs/runbooks is the role's output for tests/runbooks/render.yml (regenerate with
    `ansible-playbook tests/runbooks/render.yml -e runbooks_dir=$PWD/docs/runbooks`)."""
    assert sorted(p.name for p in default_runbooks.glob("*.md")) == FILES
    _match, mismatch, errors = filecmp.cmpfiles(default_runbooks, DOCS, FILES, shallow=False)
    assert (mismatch, errors) == ([], [])


def lint(out):
    r = subprocess.run(["pymarkdown", "--config", str(ROOT / ".pymarkdown.json"), "scan", str(out)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_markdown_passes_the_linter(default_runbooks):
    lint(default_runbooks)


def check_links(out):
    """Every relative link names a runbook that exists, and a section of it."""
    for path in out.glob("*.md"):
        for target in links(path):
            if re.match(r"[a-z]+://", target):
                continue
            parts = target.partition("#")
            name, fragment = parts[0], parts[2]
            dest = out / name if name else path
            assert dest.exists(), f"{path.name}: link to a missing file: {target}"
            assert not fragment or fragment in anchors(dest), f"{path.name}: link to a missing section: {target}"


def test_every_link_resolves(default_runbooks):
    check_links(default_runbooks)


def test_every_deployed_alert_has_its_section_and_its_runbook_url_resolves(default_runbooks, tmp_path):
    out = default_runbooks
    base = f"prometheus_runbook_base_url=file://{out}"
    rules = alerts_of(render_rules(tmp_path, base))
    policy = (out / "alerting-policy.md").read_text()
    assert sorted(re.findall(r"^### (\S+)$", policy, re.M)) == sorted(rules)
    for name, rule in rules.items():
        url = urlsplit(rule["annotations"]["runbook_url"])
        assert url.scheme == "file" and Path(url.path).exists(), rule["annotations"]["runbook_url"]
        assert url.fragment in anchors(Path(url.path)), name
        # The section shows the expression Prometheus evaluates.
        section = policy.split(f"### {name}\n")[1].split("\n### ")[0]
        assert f"```promql\n{rule['expr'].strip()}\n```" in section


def check_names(out, enabled):
    text = text_of(out)
    assert set(ALERT_LIKE.findall(text)) - NOT_ALERTS <= set(enabled)
    metrics = set(METRIC_LIKE.findall(text))
    # brain_main is a metric dialect: the value of the `dialect` label, not a metric
    unknown = {m for m in metrics if m not in METRICS and m not in PROMETHEUS_METRICS and m not in role_variables() and m not in DIALECTS}
    assert unknown == set()
    assert set(EVENT_LIKE.findall(text)) <= EVENT_TYPES


def test_every_alert_metric_and_event_named_is_defined(default_runbooks, default_rules):
    assert len(METRICS) > 20 and len(EVENT_TYPES) > 15  # the contract was parsed
    enabled = alerts_of(default_rules)
    check_names(default_runbooks, enabled)
    # Every deployed alert is named in the runbooks.
    assert [name for name in enabled if not re.search(rf"\b{name}\b", text_of(default_runbooks))] == []


def test_a_disabled_alert_is_referenced_nowhere(tmp_path):
    disabled = ["GovernanceOverrideActive", "BrainEvidenceExportStale", "BrainEvidenceExportFailed"]
    extra = json.dumps({"prometheus_alerts_disabled": disabled})
    out = render_runbooks(tmp_path / "runbooks", extra)
    text = text_of(out)
    for name in disabled:
        assert not re.search(rf"\b{name}\b", text), name
        assert not re.search(rf"#{name.lower()}\b", text)
    assert "GovernanceOverrideActiveTooLong" in text
    section = (out / "traceability-audit.md").read_text().split("## Evidence export failures")[1]
    assert section.split("\n\n")[1] == "No deployed alert leads here; the checks below are run by hand."
    check_names(out, alerts_of(render_rules(tmp_path, extra)))
    check_links(out)
    lint(out)


def test_a_threshold_and_the_prometheus_url_change_rules_and_runbooks_together(tmp_path, default_runbooks):
    extra = ["prometheus_brain_override_max_age=600", "prometheus_web_external_url=https://prometheus.corp.example"]
    out = render_runbooks(tmp_path / "runbooks", *extra)
    rule = alerts_of(render_rules(tmp_path, *extra))["GovernanceOverrideActiveTooLong"]
    assert "> 600" in rule["expr"]
    policy = (out / "alerting-policy.md").read_text()
    assert rule["expr"].strip() in policy
    tabletop = (out / "tabletop-001-owner-override.md").read_text()
    assert "cleared within 600 seconds" in tabletop and "14400" not in text_of(out)
    assert "https://prometheus.corp.example/api/v1/query" in tabletop
    assert "127.0.0.1:9090" not in text_of(out)
    assert "127.0.0.1:9090" in text_of(default_runbooks) and "14400" in text_of(default_runbooks)


@pytest.mark.parametrize(
    "contacts,message",
    [
        (
            [{"kind": "Security", "primary": "sec@corp.example", "secondary": "TODO", "escalation": "CISO"}],
            "runbooks_contacts holds placeholders (sec@corp.example, TODO): a responder would call nobody.",
        ),
        (
            [{"kind": "Outage", "primary": "sre@company.com", "secondary": "<name>", "escalation": ""}],
            "runbooks_contacts holds placeholders (sre@company.com, <name>, ): a responder would call nobody.",
        ),
        ([], "runbooks_contacts must list who to call"),
    ],
)
def test_placeholder_or_missing_contacts_are_refused(tmp_path, contacts, message):
    extra = json.dumps({"runbooks_contacts": contacts, "runbooks_contacts_are_placeholders": False})
    r = playbook("tests/runbooks/render.yml", f"runbooks_dir={tmp_path}/rb", '{"runbooks_packages": []}', extra)
    assert r.returncode == 2 and message in " ".join(r.stdout.split()), r.stdout[-2000:]
    assert not (tmp_path / "rb").exists()


def test_real_contacts_are_rendered(tmp_path):
    contacts = [{"kind": "Security", "primary": "Dana Ng +49 30 1234567", "secondary": "soc@brain.eu", "escalation": "CISO"}]
    out = render_runbooks(tmp_path / "rb", json.dumps({"runbooks_contacts": contacts, "runbooks_contacts_are_placeholders": False}))
    assert "| Security | Dana Ng +49 30 1234567 | soc@brain.eu | CISO |" in (out / "operations.md").read_text()


def test_the_directory_follows_a_file_runbook_url_and_a_web_url_needs_one(tmp_path):
    r = playbook("tests/runbooks/render.yml", '{"runbooks_packages": []}', f"prometheus_runbook_base_url=file://{tmp_path}/docs/")
    assert r.returncode == 0, r.stdout[-2000:]
    assert sorted(p.name for p in (tmp_path / "docs").glob("*.md")) == FILES
    r = playbook("tests/runbooks/render.yml", '{"runbooks_packages": []}', "prometheus_runbook_base_url=https://wiki.corp.example/runbooks")
    assert r.returncode == 2
    assert "set runbooks_dir when that is not a file:// URL" in " ".join(r.stdout.split())


def test_stale_runbooks_are_removed_and_others_kept(tmp_path):
    out = tmp_path / "rb"
    out.mkdir()
    (out / "old-runbook.md").write_text("# Old\n")
    (out / "notes.txt").write_text("kept\n")
    render_runbooks(out)
    assert not (out / "old-runbook.md").exists() and (out / "notes.txt").exists()


def test_every_query_is_valid_promql(default_runbooks, tmp_path):
    queries = sorted(set(re.findall(r"--data-urlencode 'query=([^']+)'", text_of(default_runbooks))))
    assert len(queries) > 40
    rules = {"groups": [{"name": "runbook-queries", "rules": [{"record": f"runbook:query:{i}", "expr": q} for i, q in enumerate(queries)]}]}
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules))
    r = subprocess.run([shutil.which("promtool"), "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def commands(text, start):
    """Shell commands in fenced blocks that begin with `start`, continuation lines joined."""
    found = []
    for block in re.findall(r"^ *```sh\n(.*?)^ *```$", text, flags=re.M | re.S):
        lines = [line.strip() for line in block.splitlines()]
        i = 0
        while i < len(lines):
            cmd = lines[i]
            while cmd.endswith("\\"):
                i += 1
                cmd = cmd[:-1] + " " + lines[i]
            if cmd.startswith(start):
                found.append(cmd)
            i += 1
    return found


def test_every_audit_query_works_against_the_backend(tmp_path):
    backend = Backend(tmp_path, "--seed-events", "300", "--seed-days", "2", "--enable-drills")
    try:
        backend.ok("POST", "/api/drill/override/activate", {"reason": "runbook test"})
        out = render_runbooks(tmp_path / "rb", f"runbooks_backend_url={backend.url('')}")
        audits = commands(text_of(out), "curl -fsS -H @<(printf 'Authorization: Bearer %s\\n' \"$BRAIN_TOKEN\")")
        assert len(audits) >= 12
        work = tmp_path / "work"
        work.mkdir()
        for cmd in audits:
            r = subprocess.run(["bash", "-c", cmd], cwd=work, env={**os.environ, "BRAIN_TOKEN": ADMIN}, capture_output=True, text=True, check=False)
            assert r.returncode == 0, cmd + r.stderr
            name = re.search(r"-o (\S+)", cmd).group(1)
            events = [json.loads(line) for line in (work / name).read_text().splitlines()]
            wanted = re.search(r'"event_types": (\[[^]]*\])', cmd)
            assert not wanted or {e["event_type"] for e in events} <= set(json.loads(wanted.group(1)))
        override = [json.loads(line) for line in (work / "override-events.jsonl").read_text().splitlines()]
        assert [e["details"]["reason"] for e in override] == ["runbook test"]
        assert len((work / "audit-last-24h.jsonl").read_text().splitlines()) > 1
    finally:
        backend.stop()


def test_every_playbook_command_parses(tmp_path, default_runbooks):
    """Each ansible-playbook command names a playbook of the collection and valid options."""
    found = commands(text_of(default_runbooks), "ansible-playbook ")
    assert {re.search(r"brain\.ops_assurance\.(\w+)", c).group(1) for c in found} == {"safe_mode", "verify_evidence", "evidence_pack", "check_timers"}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    backends: {hosts: {b1: {}}}\n    evidence: {hosts: {e1: {}}}\n")
    for cmd in set(found):
        cmd = cmd.replace("-i inventory/hosts.yml", f"-i {inventory}").replace(" --ask-vault-pass", "")
        r = subprocess.run(["bash", "-c", cmd + " --syntax-check"], capture_output=True, text=True, check=False)
        assert r.returncode == 0, cmd + r.stdout + r.stderr
