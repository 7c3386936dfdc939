"""The evidence_export role's choice of source and credentials, through its own preflight and unit
template (ansible-playbook on localhost): the audit file needs no API settings, the API needs a token
or client credentials but not both, and the rendered unit runs the exporter accordingly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
"""


def render(tmp_path, **variables):
    """The rendered service unit (None when the run failed) and the run's output."""
    unit = tmp_path / "unit.service"
    template = ROOT / "roles" / "evidence_export" / "templates" / "brain-evidence-export.service.j2"
    (tmp_path / "play.yml").write_text(PLAY.format(template=template, unit=unit))
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
