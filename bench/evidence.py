"""Benchmark of the evidence tools on one day of N audit events (default 1 000 000).

Against baselines measured in the same run, on the same data:
- brain-audit verify-log (all CPUs, and one process) against `sha256sum` of the same file;
- brain-evidence-export against `curl` fetching the same pages from the same server.
Then the budget the verify target leaves per line (CPU per event for verify-log to reach 0.6 x
`sha256sum`), beside what the steps of a line cost in this process: the fast-path expression alone,
one SHA-256, and the whole of verify_lines().
Each time is the best of --repeat runs (on a shared VM noise only ever adds time, to the baselines
as much as to the tools); peak RSS is the kernel's high-water mark (wait4) of the measured
process, the largest over the runs; for verify-log also the sampled peak of its process tree, as
the sum of RSS (which counts pages the forked workers share with their parent once per process)
and as the sum of PSS (each shared page divided among its sharers: the memory the tree takes).

Usage: python3 bench/evidence.py [--events N] [--repeat R] [--workdir DIR]
"""

import argparse
import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))
import evidence  # noqa: E402
from helpers.backend import Backend  # noqa: E402

EXPORT = ROOT / "scripts" / "brain-evidence-export"
AUDIT = ROOT / "scripts" / "brain-audit"
VERIFY_TARGET = 0.6  # verify-log's throughput as a fraction of sha256sum's (issue 16: 0.8 retired, at CPython's floor)


def tree_memory_kib(pid):
    """Sums of Rss and Pss over a process and its descendants, in KiB."""
    rss = pss = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = dict(line.split()[:2] for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()[1:])
            rss, pss = rss + int(fields["Rss:"]), pss + int(fields["Pss:"])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, KeyError):
            continue
    return rss, pss


def measure(cmd, env=None, stdout=subprocess.DEVNULL):
    """Run cmd; return (seconds, own peak RSS MiB, sampled peak RSS and PSS sums of its process
    tree MiB)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    peak, done = [0, 0], threading.Event()

    def sample():  # must not reap the child: wait4 below needs its rusage
        while not done.wait(0.01):
            peak[:] = map(max, peak, tree_memory_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    status, usage = os.wait4(proc.pid, 0)[1:]
    elapsed = time.perf_counter() - started
    done.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err}")
    return elapsed, usage.ru_maxrss / 1024, max(peak[0], usage.ru_maxrss) / 1024, peak[1] / 1024


def best_of(repeat, fn):
    """The shortest time of `repeat` runs, with the largest of each other figure."""
    runs = [fn() for _run in range(repeat)]
    return (min(r[0] for r in runs), *(max(r[i] for r in runs) for i in range(1, len(runs[0]))))


def curl_pages(url, day, limit, out):
    """Fetch the day's pages exactly as the exporter does, appending the bodies to `out`."""
    cursor = 0
    start, end = f"{day}T00:00:00Z", f"{day + timedelta(days=1)}T00:00:00Z"
    headers_file = Path(out).with_suffix(".headers")
    with open(out, "wb") as fh:
        while True:
            body = json.dumps({"start_time": start, "end_time": end, "cursor": cursor, "limit": limit})
            cmd = ["curl", "-sS", "--fail", "-D", str(headers_file), "-o", "-", "-H", "Accept: application/x-ndjson", "-H", "Content-Type: application/json"]
            subprocess.run([*cmd, "--data-binary", body, url + "/api/sovereign-mode/audit/export"], stdout=fh, check=True)
            headers = dict(line.split(": ", 1) for line in headers_file.read_text().splitlines()[1:] if ": " in line)
            if headers.get("X-Brain-Has-More") != "true":
                return
            cursor = int(headers["X-Brain-Next-Cursor"])


def cpu_seconds(fn):
    started = time.process_time()
    fn()
    return (time.process_time() - started,)


def cpu_per_line(data, day, repeat, sample=64 << 20):
    """CPU seconds per line, in this process, of the steps of verifying the first `sample` bytes of
    `data`: the fast-path expression over every line, one SHA-256 per line, all of verify_lines()."""
    with open(data, "rb") as fh:
        head = fh.read(sample)
    blocks, pos = [], 0
    while (cut := head.rfind(b"\n", pos, pos + evidence._BLOCK_SIZE) + 1) > pos:
        blocks.append(head[pos:cut])
        pos = cut
    lines = head.count(b"\n", 0, pos)

    def cpu(step, parts):
        return best_of(repeat, lambda: cpu_seconds(lambda: [step(part) for part in parts]))[0] / lines

    fast_path = evidence._line_re(str(day).encode())

    def expression(block):  # how many lines the fast path matches, one after the other
        return sum(1 for _m in iter(fast_path.scanner(block).match, None))

    if sum(map(expression, blocks)) != lines:
        raise SystemExit("the fast path does not match every line: not the data this measures")
    return {
        "expression": cpu(expression, blocks),
        "sha256": cpu(lambda part: [hashlib.sha256(line).hexdigest() for line in part], [b.splitlines() for b in blocks]),
        "verify_lines": cpu(lambda block: evidence.verify_lines(block, str(day)), blocks),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--page-size", type=int, default=10000)
    p.add_argument("--workdir", type=Path, default=None, help="keep the seeded backend here between runs")
    args = p.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="brain-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).date()
    day = today - timedelta(days=1)
    state = work / f"backend-{args.events}-{day}"
    state.mkdir(exist_ok=True)
    print(f"seeding {args.events} events on {day} (once per work dir) ...", file=sys.stderr)
    backend = Backend(state, "--seed-events", str(args.events), "--seed-days", "1", "--seed-end", f"{today}T00:00:00Z", "--seed", "1", tokens=False)
    env = {**os.environ, "BRAIN_API_TOKEN": "unused-by-a-tokenless-backend"}
    try:
        url = backend.url("")
        evdir = work / "evidence"

        def export():
            shutil.rmtree(evdir, ignore_errors=True)
            evdir.mkdir()
            cmd = [sys.executable, str(EXPORT), "--api-url", url, "--dir", str(evdir), "--date", str(day), "--page-size", str(args.page_size)]
            return measure(cmd, env)

        def curl():
            started = time.perf_counter()
            curl_pages(url, day, args.page_size, work / "curl.jsonl")
            return (time.perf_counter() - started,)

        t_export, rss_export = best_of(args.repeat, export)[:2]
        (t_curl,) = best_of(args.repeat, curl)
        data = evdir / f"audit-{day}.jsonl"
        size = data.stat().st_size
        if not filecmp.cmp(work / "curl.jsonl", data, shallow=False):  # in chunks: this process stays small
            raise SystemExit("curl fetched different bytes than the exporter wrote")
        t_sha = best_of(args.repeat, lambda: measure(["sha256sum", str(data)]))[0]
        t_verify, rss_verify, rss_verify_tree, pss_verify_tree = best_of(args.repeat, lambda: measure([sys.executable, str(AUDIT), "verify-log", str(data)]))
        t_verify1, rss_verify1 = best_of(args.repeat, lambda: measure([sys.executable, str(AUDIT), "verify-log", "--jobs", "1", str(data)]))[:2]
        t_start = best_of(args.repeat, lambda: measure([sys.executable, str(AUDIT), "--help"]))[0]
        t_digest = best_of(args.repeat, lambda: cpu_seconds(lambda: evidence.file_sha256(data)))[0]
        costs = cpu_per_line(data, day, args.repeat)
    finally:
        backend.stop()
    n, cpus = args.events, os.cpu_count()
    print(f"\nbrain-evidence-export / brain-audit verify-log, {n} events ({size / 1e6:.0f} MB), {cpus} CPUs, best of {args.repeat}")
    print(f"{'what':<34}{'seconds':>9}{'events/s':>12}{'MB/s':>8}{'peak RSS MiB':>26}{'ratio':>28}")
    rows = [
        ("sha256sum (baseline)", t_sha, "", ""),
        (
            "verify-log, all CPUs",
            t_verify,
            f"{rss_verify:.0f} (tree {rss_verify_tree:.0f}, PSS {pss_verify_tree:.0f})",
            f"{t_sha / t_verify:.2f} x sha256sum throughput",
        ),
        ("verify-log --jobs 1", t_verify1, f"{rss_verify1:.0f}", f"{t_sha / t_verify1:.2f} x sha256sum throughput"),
        ("curl, same pages (baseline)", t_curl, "", ""),
        ("brain-evidence-export", t_export, f"{rss_export:.0f}", f"{t_export / t_curl:.2f} x curl wall time"),
    ]
    for name, seconds, rss, ratio in rows:
        print(f"{name:<34}{seconds:>9.2f}{n / seconds:>12,.0f}{size / seconds / 1e6:>8.0f}{rss:>26}{ratio:>28}")
    allowed = t_sha / VERIFY_TARGET  # wall seconds
    budget = ((allowed - t_start) * cpus - t_digest) / n
    us = {k: v * 1e6 for k, v in costs.items()}
    print(f"\nCPU per event for verify-log to reach {VERIFY_TARGET} x sha256sum on {cpus} CPUs: {budget * 1e6:.2f} us")
    print(f"  ({allowed:.2f} s - {t_start:.2f} s start-up) x {cpus} CPUs - {t_digest:.2f} s file SHA-256, over {n} events")
    print(f"CPU per event in this process (first 64 MB): fast-path expression {us['expression']:.2f} us + one SHA-256 {us['sha256']:.2f} us")
    print(f"  = {us['expression'] + us['sha256']:.2f} us before any check; all of verify_lines() {us['verify_lines']:.2f} us")
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
