"""Tabletop 001 detection time over N drills against the local site (bring it up with `make site`).

Each drill overrides the owner on backend-1 and times how long Prometheus takes to fire
GovernanceOverrideActive; that time depends on where the override falls in the scrape and
evaluation cycles, so one drill says little. This runs the drill N times, in the order a user
would (each waits for the alert to resolve before the next starts), and prints every detection
time, the median, and the median against the baseline the rules cannot beat: one scrape plus one
evaluation at the deployed intervals, read from the running Prometheus by the drill itself.

Usage: python3 bench/drill.py [--runs N]   (after `make site`; `make bench-drill` does both)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def drill(report_dir):
    """Run Tabletop 001 once over the site's inventory; return its JSON report."""
    site = Path(os.environ["BRAIN_OA_WORK"]) / "site"
    argv = [
        "ansible-playbook", "brain.ops_assurance.tabletop_drill",
        "-i", str(ROOT / "docs/examples/site"), "-i", str(site / "podman.yml"),
        "-e", f"@{site / 'vault.yml'}", "--vault-password-file", str(site / "vault-password"),
        "-e", f"drill_report_dir={report_dir}",
    ]  # fmt: skip
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    reports = [p for p in Path(report_dir).glob("tabletop-001-*.json") if not p.name.endswith("-pack.json")]
    if run.returncode or len(reports) != 1:
        sys.exit(f"the drill failed (rc={run.returncode}):\n{run.stdout[-3000:]}{run.stderr[-2000:]}")
    return json.loads(reports[0].read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = []
    for n in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as report_dir:
            report = drill(report_dir)
        detection = report["detection"]
        deployed = detection["deployed"]
        times.append(float(detection["seconds"]))
        print(f"drill {n}: detected after {times[-1]:5.1f} s (pending after {detection['pending_after_seconds']} s)", flush=True)
    scrape, evaluation = int(deployed["scrape_interval_seconds"]), int(deployed["evaluation_interval_seconds"])
    baseline = scrape + evaluation
    median = statistics.median(times)
    print(
        f"\nTabletop 001, {args.runs} drills: median {median:.1f} s, min {min(times):.1f} s, max {max(times):.1f} s\n"
        f"baseline, one scrape ({scrape} s) plus one evaluation ({evaluation} s): {baseline} s; "
        f"median {median / baseline:.2f} x baseline\n"
        f"worst case with the deployed settings (for: {deployed['for_seconds']} s): {deployed['expected_worst_case_seconds']} s"
    )


if __name__ == "__main__":
    main()
