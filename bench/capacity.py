"""Capacity of the monitoring: series per backend, samples per second for N backends, and
VictoriaMetrics disk per day, measured from the reference backend and the real victoria-metrics.

1. Series per backend, per dialect profile (contract, brain_main): the reference backend is started
   in that profile, driven through its usual calls, then every scrape job of the dialect
   (prometheus_brain_dialects in the prometheus role) is fetched and its samples counted; Prometheus
   adds 5 series per scraped target (up, scrape_duration_seconds, scrape_samples_scraped,
   scrape_samples_post_metric_relabeling, scrape_series_added).
2. Samples per second for 1, 10 and 100 backends at the role's default scrape intervals.
3. Bytes per sample in VictoriaMetrics: a real Prometheus scrapes the contract backend as --copies
   targets every second for --seconds and writes to a real VictoriaMetrics started from the
   victoriametrics role's unit; after a forced merge, the data size over the rows stored.
   Two biases, opposite: an idle backend's values barely change (they compress better than a busy
   one's), while a run of minutes gives each series few samples (a day at 30 s gives 2880, which
   compress better); the samples per series are printed so the run can be judged.

Usage: python3 bench/capacity.py [--seconds 120] [--copies 50]   (make bench-capacity)
"""

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.backend import ADMIN, Backend, BrainMain  # noqa: E402
from helpers.victoriametrics import Prometheus, VictoriaMetrics  # noqa: E402

PACK = yaml.safe_load((ROOT / "roles/prometheus/defaults/main/rule_pack.yml").read_text())
DEFAULTS = yaml.safe_load((ROOT / "roles/prometheus/defaults/main/main.yml").read_text())
PER_TARGET = 5  # the series Prometheus adds to every scraped target


def seconds(duration):
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def intervals():
    return {
        "brain-governance": seconds(DEFAULTS["prometheus_brain_governance_scrape_interval"]),
        "brain-operations": seconds(DEFAULTS["prometheus_brain_operations_scrape_interval"]),
    }


def samples_of(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def drive(backend):
    """The calls a monitored backend sees: status reads, a scrape of each endpoint, a call without a token."""
    for path in ("/api/sovereign-mode/status", "/api/safe-mode/status", "/api/sovereign-mode/metrics", "/metrics", "/api/health"):
        backend.call("GET", path)
    backend.call("GET", "/api/sovereign-mode/status", token=None)


def series_per_backend(tmp, profile):
    """{job: series} for one backend of the profile, scraped as the prometheus role's dialect does."""
    (tmp / profile).mkdir()
    backend = BrainMain(tmp / profile) if profile == "brain_main" else Backend(tmp / profile)
    try:
        drive(backend)
        counts = {}
        for job, spec in PACK["prometheus_brain_dialects"][profile].items():
            r = requests.get(backend.url(spec["metrics_path"]), headers={"Authorization": f"Bearer {ADMIN}"} if profile == "contract" else {}, timeout=10)
            r.raise_for_status()
            counts[job] = len(samples_of(r.text)) + PER_TARGET
        return counts
    finally:
        backend.stop()


def bytes_per_sample(tmp, duration, copies):
    """Rows stored and bytes on disk after one Prometheus wrote `copies` targets for `duration` s."""
    (tmp / "disk").mkdir()
    backend = Backend(tmp / "disk")
    vm = VictoriaMetrics(tmp / "vm", victoriametrics_dedup_min_scrape_interval="1s")  # the interval of this run
    # One backend as `copies` targets (a label tells them apart): as many series as that many backends.
    jobs = [{"job_name": "brain-governance", "metrics_path": "/api/sovereign-mode/metrics",
             "static_configs": [{"targets": [f"127.0.0.1:{backend.port}"], "labels": {"copy": str(i)}} for i in range(copies)]},
            {"job_name": "brain-operations",
             "static_configs": [{"targets": [f"127.0.0.1:{backend.port}"], "labels": {"copy": str(i)}} for i in range(copies)]}]  # fmt: skip
    write = [{"url": vm.url + "/api/v1/write"}]
    prom = Prometheus(tmp / "prom", external_labels={"site": "bench", "replica": "a"}, jobs=jobs, remote_write=write, interval="1s")
    try:
        time.sleep(duration)
        prom.stop()
        time.sleep(3)  # the last batches
        vm.flush()
        month = datetime.datetime.now(datetime.UTC).strftime("%Y_%m")
        assert vm.get("/internal/force_merge", params={"partition_prefix": month}).status_code == 200
        time.sleep(5)
        metrics = vm.metrics()
        rows = sum(float(m.split()[-1]) for m in metrics if m.startswith('vm_rows{type="storage/'))
        data = sum(float(m.split()[-1]) for m in metrics if m.startswith('vm_data_size_bytes{type="storage/'))
        index = sum(float(m.split()[-1]) for m in metrics if m.startswith('vm_data_size_bytes{type="indexdb'))
        series = vm.get("/api/v1/series/count").json()["data"][0]
        disk = sum(p.stat().st_size for p in (tmp / "vm" / "data").rglob("*") if p.is_file())
        return {"rows": rows, "data": data, "index": index, "series": series, "disk": disk}
    finally:
        for p in (prom, vm, backend):
            p.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--seconds", type=int, default=120, help="how long Prometheus writes to VictoriaMetrics (default 120)")
    p.add_argument("--copies", type=int, default=20, help="targets (copies of one backend) per job, scraped every second (default 20)")
    args = p.parse_args()
    every = intervals()
    with tempfile.TemporaryDirectory(prefix="brain-capacity-") as tmp:
        tmp = Path(tmp)
        print(f"scrape intervals (prometheus role defaults): {every}")
        rates, totals = {}, {}
        for profile in ("contract", "brain_main"):
            counts = series_per_backend(tmp, profile)
            rates[profile] = sum(n / every[job] for job, n in counts.items())
            totals[profile] = sum(counts.values())
            print(f"{profile}: series per backend {sum(counts.values())} ({', '.join(f'{j} {n}' for j, n in counts.items())}), "
                  f"{rates[profile]:.2f} samples/s per backend")  # fmt: skip
        print("samples per second (one Prometheus; an HA pair writes twice, VictoriaMetrics keeps one):")
        for n in (1, 10, 100):
            print(f"  {n:>3} backends: " + ", ".join(f"{profile} {rate * n:.1f}" for profile, rate in rates.items()))
        found = bytes_per_sample(tmp, args.seconds, args.copies)
        # Samples cost data bytes each; a series costs index bytes once per day (VictoriaMetrics
        # indexes each series per day), which a short run spreads over few samples.
        per_sample = found["data"] / found["rows"]
        per_series = found["index"] / found["series"]
        print(f"VictoriaMetrics: {found['rows']:.0f} samples of {found['series']} series in {args.seconds} s "
              f"({found['rows'] / found['series']:.0f} per series): "
              f"data {found['data']:.0f} B = {per_sample:.3f} B/sample, index {found['index']:.0f} B = {per_series:.0f} B/series; "
              f"files on disk {found['disk']} B")  # fmt: skip
        print(f"disk per day = samples/day x {per_sample:.3f} B + series x {per_series:.0f} B:")
        for n in (1, 10, 100):
            day = {profile: rates[profile] * n * 86400 * per_sample + totals[profile] * n * per_series for profile in rates}
            print(f"  {n:>3} backends: " + ", ".join(f"{profile} {b / 1e6:.2f} MB" for profile, b in day.items()))


if __name__ == "__main__":
    main()
