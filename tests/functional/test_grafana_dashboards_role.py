"""The grafana_dashboards role on this machine (ansible-playbook, local connection, into a temporary
directory): it places the dashboard and its provider, is idempotent, predicts in check mode, removes
stale dashboards and refuses an owner that does not exist with a message that says what to do."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path, *extra, check=False):
    play = [{"name": "Dashboards", "hosts": "localhost", "connection": "local", "gather_facts": False, "roles": ["brain.ops_assurance.grafana_dashboards"]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    values = {
        "ansible_python_interpreter": sys.executable,
        "grafana_dashboards_provisioning_dir": str(tmp_path / "provisioning/dashboards"),
        "grafana_dashboards_dir": str(tmp_path / "dashboards"),
        **dict(extra),
    }
    cmd = ["ansible-playbook", "-i", "localhost,", str(tmp_path / "play.yml"), "-e", json.dumps(values)] + (["--check"] if check else [])
    return subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})


def recap(r):
    line = [x for x in r.stdout.splitlines() if x.startswith("localhost ")][-1]
    return {k: int(v) for k, v in (f.split("=") for f in line.split()[2:])}


def test_places_the_dashboard_and_provider_idempotently(tmp_path):
    predicted = run(tmp_path, check=True)
    assert predicted.returncode == 0, predicted.stdout
    assert not (tmp_path / "dashboards").exists()
    first = run(tmp_path)
    assert first.returncode == 0, first.stdout
    assert recap(first)["changed"] == recap(predicted)["changed"] > 0
    shipped = (ROOT / "roles/grafana_dashboards/files/brain-governance.json").read_text()
    assert (tmp_path / "dashboards/brain-governance.json").read_text() == shipped
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/brain-ops-assurance.yml").read_text())
    assert provider == {
        "apiVersion": 1,
        "providers": [
            {
                "name": "brain-ops-assurance",
                "orgId": 1,
                "folder": "BRAiN",
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": str(tmp_path / "dashboards"), "foldersFromFilesStructure": False},
            }
        ],
    }
    again = run(tmp_path)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout
    assert recap(run(tmp_path, check=True))["changed"] == 0


def test_removes_a_stale_dashboard_and_keeps_other_files(tmp_path):
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards/old-governance.json").write_text("{}")
    (tmp_path / "dashboards/notes.txt").write_text("kept")
    r = run(tmp_path)
    assert r.returncode == 0, r.stdout
    assert sorted(p.name for p in (tmp_path / "dashboards").iterdir()) == ["brain-governance.json", "notes.txt"]


def test_refuses_an_owner_or_group_that_does_not_exist(tmp_path):
    r = run(tmp_path, ("grafana_dashboards_group", "no-such-grafana-group"))
    assert r.returncode != 0
    assert "must exist on localhost: install Grafana first, or keep the default root" in r.stdout
    assert not (tmp_path / "dashboards").exists()


def test_refuses_a_relative_directory(tmp_path):
    r = run(tmp_path, ("grafana_dashboards_dir", "dashboards"))
    assert r.returncode != 0 and "must be absolute paths" in r.stdout
