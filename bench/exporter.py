#!/usr/bin/env python3
"""The exporter's figures for BENCHMARKS.md ("clouddc exporter").

Starts `clouddc simulate` with N instances, then `clouddc exporter` for all
of their ids, and reads, at each completed poll cycle (when
`clouddc_last_cycle_completed_timestamp_seconds` changes): the exporter's
resident memory (VmRSS), the time a `GET /metrics` takes and its size, and
the exporter's CPU time (user + system) per poll. Prints a Markdown table.

    cargo build --release -p clouddc-cli
    bench/exporter.py [--ids 10000] [--cycles 20] [--interval 5]
    bench/exporter.py --ids 100000 --cycles 3 --interval 20

The simulator and the exporter run on the same machine; on two CPUs they
are pinned to one CPU each when `taskset` is there. Not run by CI.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pinned(cpu, argv):
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)] + argv
    return argv


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def scrape(addr):
    start = time.perf_counter()
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=60) as r:
        body = r.read()
    return time.perf_counter() - start, body


def gauge(body, name):
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ids", type=int, default=10000)
    p.add_argument("--cycles", type=int, default=20)
    p.add_argument("--interval", type=int, default=5)
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "clouddc"))
    a = p.parse_args()

    tmp = tempfile.mkdtemp()
    sim = subprocess.Popen(
        pinned(0, [a.bin, "simulate", "--listen", "127.0.0.1:0", "--instances", str(a.ids),
                   "--output", "json"]),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    start = json.loads(sim.stdout.readline())
    ids_file = os.path.join(tmp, "ids")
    with open(ids_file, "w") as f:
        for i in start["instances"]:
            f.write(i["id"] + "\n")
    listen = "127.0.0.1:19810"
    env = dict(os.environ, CLOUDDC_AUTH_TOKEN=start["token"], CLOUDDC_METADATA_ENDPOINT="off",
               HOME=tmp)
    exporter = subprocess.Popen(
        pinned(1, [a.bin, "--endpoint", start["url"], "--project-id", start["project_id"],
                   "exporter", "--ids-file", ids_file, "--interval", f"{a.interval}s",
                   "--listen", listen, "--concurrency", "64"]),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        last = None
        cycle = 0
        deadline = time.time() + (a.cycles + 3) * max(a.interval, 1) * 4 + 120
        while cycle < a.cycles and time.time() < deadline:
            time.sleep(0.2)
            try:
                took, body = scrape(listen)
            except OSError:
                continue
            done = gauge(body, "clouddc_last_cycle_completed_timestamp_seconds")
            if done is None or done == last:
                continue
            last = done
            cycle += 1
            took, body = scrape(listen)
            requests = sum(float(l.rsplit(" ", 1)[1]) for l in body.decode().splitlines()
                           if l.startswith("clouddc_api_requests_total{"))
            rows.append((cycle, rss_kib(exporter.pid), took, len(body),
                         cpu_seconds(exporter.pid), requests,
                         gauge(body, "clouddc_poll_cycle_duration_seconds")))
    finally:
        exporter.terminate()
        exporter.wait()
        sim.terminate()
        sim.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"clouddc exporter, {a.ids} ids, --interval {a.interval}s, {len(rows)} cycles")
    print()
    print("| cycle | RSS | GET /metrics | body | CPU per poll | cycle duration |")
    print("|---|---|---|---|---|---|")
    for (c, rss, took, size, cpu, requests, duration) in rows:
        per_poll = cpu / requests * 1e6 if requests else float("nan")
        print(f"| {c} | {rss / 1024:.1f} MiB | {took * 1000:.0f} ms | {size / 1024:.0f} KiB | "
              f"{per_poll:.0f} µs | {duration:.2f} s |")
    if len(rows) >= 20:
        ratio = rows[19][1] / rows[2][1]
        print()
        print(f"RSS after cycle 20 / after cycle 3: {ratio:.3f} (goal ≤ 1.1)")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
