"""The evidence_export role's choice of source and credentials, through its own preflight and unit and
env file templates (ansible-playbook on localhost): the audit file needs no API settings, the API needs
a token or client credentials but not both, the rendered unit runs the exporter accordingly, and the
env file hands any secret over unchanged."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.evidence import exporter_module

ROOT = Path(__file__).resolve().parents[2]
PLAY = """
- name: Check the settings and render the export unit
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Check the settings with the role's preflight
      ansible.builtin.include_role:
        name: brain.ops_assurance.evidence_export
        tasks_from: preflight.yml
        public: true  # the role's defaults and vars for the template below
    - name: Render the unit with the role's template
      ansible.builtin.template:
        src: {template}
        dest: {unit}
        mode: "0644"
    - name: Render the credentials with the role's template
      ansible.builtin.template:
        src: {env_template}
        dest: {env}
        mode: "0600"
      no_log: true
      when: evidence_export_source == 'api'
"""


def render(tmp_path, **variables):
    """The rendered service unit (None when the run failed) and the run's output."""
    unit = tmp_path / "unit.service"
    templates = ROOT / "roles" / "evidence_export" / "templates"
    (tmp_path / "play.yml").write_text(
        PLAY.format(template=templates / "brain-evidence-export.service.j2", unit=unit, env_template=templates / "env.j2", env=tmp_path / "env")
    )
    (tmp_path / "vars.json").write_text(json.dumps({"ansible_python_interpreter": sys.executable, **variables}))
    r = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-e", f"@{tmp_path / 'vars.json'}", str(tmp_path / "play.yml")],
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return (unit.read_text() if r.returncode == 0 else None), r.stdout + r.stderr


def test_the_audit_file_source_needs_no_api_settings_and_runs_the_exporter_on_the_file(tmp_path):
    unit, out = render(
        tmp_path,
        evidence_export_source="audit_file",
        evidence_export_audit_file="/home/brain/backend/storage/sovereign_mode_audit.jsonl",
        evidence_export_supplementary_groups=["brain"],
    )
    assert unit is not None, out
    assert "--audit-file /home/brain/backend/storage/sovereign_mode_audit.jsonl \\" in unit and "--api-url" not in unit
    assert "EnvironmentFile=" not in unit  # no credentials on the host
    assert "SupplementaryGroups=brain" in unit and "ProtectHome=read-only" in unit


def test_client_credentials_go_to_the_env_file_and_the_token_url_to_the_unit(tmp_path):
    unit, out = render(
        tmp_path,
        evidence_export_api_url="http://backend:8000",
        evidence_export_client_id="ops-assurance",
        evidence_export_client_secret="role-secret-0123",
        evidence_export_token_url="https://idp.example.org/token",
    )
    assert unit is not None, out
    assert "--api-url http://backend:8000 \\" in unit and "--service-token-url https://idp.example.org/token \\" in unit
    assert "EnvironmentFile=/etc/brain-evidence-export/env" in unit and "ProtectHome=true" in unit
    assert "role-secret-0123" not in unit + out


@pytest.mark.parametrize(
    "variables",
    [
        {"evidence_export_api_url": "http://backend:8000"},  # no credentials
        {
            "evidence_export_api_url": "http://backend:8000",
            "evidence_export_api_token": "t",
            "evidence_export_client_id": "c",
            "evidence_export_client_secret": "s",
        },
        {"evidence_export_api_url": "http://backend:8000", "evidence_export_client_id": "c"},  # no secret
        {"evidence_export_source": "audit_file"},  # no file
        {"evidence_export_source": "audit_file", "evidence_export_audit_file": "storage/sovereign_mode_audit.jsonl"},  # relative
    ],
)
def test_incomplete_or_conflicting_settings_fail_the_preflight(tmp_path, variables):
    unit, out = render(tmp_path, **variables)
    assert unit is None and "With evidence_export_source" in out, out  # the preflight's fail_msg


# Printable ASCII and more: what systemd's EnvironmentFile= treats specially (quotes, backslash, $, `,
# #, ;, blanks at either end) must reach the exporter as it was given.
HOSTILE = [' lead"q\\x\\', "a'b$c`d#e;f\\\\g", '$HOME ${X} `id` \\"', "tail\\", "é ü \\n"]


@pytest.mark.parametrize("secret", HOSTILE)
def test_the_env_file_hands_any_secret_over_unchanged(tmp_path, secret):
    exporter = exporter_module()
    unit, out = render(tmp_path, evidence_export_api_url="http://backend:8000", evidence_export_api_token=secret)
    assert unit is not None, out
    assert exporter.read_env_file(tmp_path / "env") == {"BRAIN_API_TOKEN": secret}
    (tmp_path / "creds").mkdir()
    unit, out = render(
        tmp_path / "creds", evidence_export_api_url="http://backend:8000", evidence_export_client_id=secret[::-1], evidence_export_client_secret=secret
    )
    assert unit is not None, out
    assert exporter.read_env_file(tmp_path / "creds" / "env") == {"BRAIN_CLIENT_ID": secret[::-1], "BRAIN_CLIENT_SECRET": secret}
    assert secret not in out


def test_the_env_file_is_one_quoted_variable_per_line(tmp_path):
    unit, out = render(tmp_path, evidence_export_api_url="http://backend:8000", evidence_export_client_id="ops", evidence_export_client_secret='s"\\$`')
    assert unit is not None, out
    lines = [line for line in (tmp_path / "env").read_text().splitlines() if not line.startswith("#")]
    assert lines == ['BRAIN_CLIENT_ID="ops"', 'BRAIN_CLIENT_SECRET="s\\"\\\\\\$\\`"']
