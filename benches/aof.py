#!/usr/bin/env python3
"""AOF benchmarks: ferrodis against redis-server, measured in the same run.

1. SET throughput with appendonly yes, for appendfsync everysec and always, at -P 16 and
   -P 1 (redis-benchmark -t set -c 50 -d 100 -r 100000). Servers alternate within each
   round; medians of ROUNDS rounds; the ratio is ferrodis / redis (higher is faster).
2. BGREWRITEAOF of KEYS keys x 100 B (DEBUG POPULATE, then appendonly yes from the start):
   wall time from the command to aof_rewrite_in_progress:0, and memory: the server's own
   peak RSS during the rewrite (VmHWM after resetting it through /proc/<pid>/clear_refs)
   against its RSS before, plus the PSS of the server and its children (Redis's fork child)
   sampled every 100 ms in a separate rewrite (reading PSS stalls the process being read).

Usage: python3 benches/aof.py             (full run)
       KEYS=20000 N=20000 ROUNDS=1 python3 benches/aof.py  (smoke test)
Environment: BIN (ferrodis binary), KEYS, N (requests per throughput run), ROUNDS.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdb import Conn, Server, pss_kb  # noqa: E402

BIN = os.environ.get("BIN", "target/release/ferrodis-server")
KEYS = int(os.environ.get("KEYS", "1000000"))
N = int(os.environ.get("N", "1000000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))


def set_rps(port, pipeline):
    n = N if pipeline > 1 else max(N // 5, 10000)
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(n), "-c", "50",
         "-P", str(pipeline), "-d", "100", "-r", "100000", "--csv"],
        capture_output=True, text=True, check=True).stdout
    line = out.splitlines()[1]
    return float(line.split(",")[1].strip('"'))


def throughput(kind, fsync, pipeline):
    d = tempfile.mkdtemp(prefix=f"aofbench-{kind}-")
    try:
        s = Server(kind, d, ["--appendonly", "yes", "--appendfsync", fsync])
        rps = set_rps(s.port, pipeline)
        s.stop()
        return rps
    finally:
        shutil.rmtree(d, ignore_errors=True)


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def wait_rewrite(c, sampler=None):
    last = 0.0
    while c.info("aof_rewrite_in_progress") == "1" or c.info("aof_rewrite_scheduled") == "1":
        if sampler and time.time() - last >= 0.1:
            sampler()
            last = time.time()
        time.sleep(0.005)


def rewrite(kind):
    d = tempfile.mkdtemp(prefix=f"aofbench-{kind}-")
    try:
        s = Server(kind, d, ["--appendonly", "yes", "--aof-use-rdb-preamble", "yes"])
        s.c.cmd("DEBUG", "POPULATE", KEYS, "key", 100)
        time.sleep(0.5)
        pid = s.proc.pid
        # Time and the server's own peak RSS.
        rss_before = status_kb(pid, "VmRSS")
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        t0 = time.perf_counter()
        assert s.c.cmd("BGREWRITEAOF").startswith("Background")
        wait_rewrite(s.c)
        secs = time.perf_counter() - t0
        rss_peak = status_kb(pid, "VmHWM")
        # A second rewrite for PSS (server + fork child).
        time.sleep(0.5)
        pss_before = pss_kb(pid)
        peak = [pss_before]

        def sample():
            peak[0] = max(peak[0], pss_kb(pid))

        s.c.cmd("BGREWRITEAOF")
        wait_rewrite(s.c, sample)
        assert s.c.info("aof_last_bgrewrite_status") == "ok"
        s.stop()
        return {"secs": secs, "rss_before": rss_before, "rss_peak": rss_peak,
                "pss_before": pss_before, "pss_peak": peak[0]}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: cargo build --release")
    print(f"# AOF benchmarks, {time.strftime('%Y-%m-%d')}\n")
    print(f"## SET throughput, appendonly yes (requests/s, median of {ROUNDS} rounds; -c 50, 100 B values)\n")
    print("| appendfsync | pipeline | redis | ferrodis | ferrodis/redis |")
    print("|---|---|---|---|---|")
    for fsync in ("everysec", "always"):
        for pipeline in (16, 1):
            res = {"redis": [], "ferrodis": []}
            for _ in range(ROUNDS):
                for kind in ("redis", "ferrodis"):
                    res[kind].append(throughput(kind, fsync, pipeline))
            r = statistics.median(res["redis"])
            f = statistics.median(res["ferrodis"])
            print(f"| {fsync} | {pipeline} | {r:.0f} | {f:.0f} | {f / r:.2f} |")
            sys.stdout.flush()
    print(f"\n## BGREWRITEAOF, {KEYS} keys x 100 B (median time of {ROUNDS} rounds, worst memory)\n")
    print("| server | rewrite time | RSS before | own peak RSS | peak/before | PSS before (incl. children) | peak PSS | peak/before |")
    print("|---|---|---|---|---|---|---|---|")
    times = {}
    for kind in ("redis", "ferrodis"):
        rs = [rewrite(kind) for _ in range(ROUNDS)]
        times[kind] = statistics.median(r["secs"] for r in rs)
        w = max(rs, key=lambda r: r["rss_peak"] / r["rss_before"])
        p = max(rs, key=lambda r: r["pss_peak"] / r["pss_before"])
        print(f"| {kind} | {times[kind]:.3f} s | {w['rss_before'] / 1024:.0f} MB | {w['rss_peak'] / 1024:.0f} MB | "
              f"{w['rss_peak'] / w['rss_before']:.3f} | {p['pss_before'] / 1024:.0f} MB | "
              f"{p['pss_peak'] / 1024:.0f} MB | {p['pss_peak'] / p['pss_before']:.3f} |")
        sys.stdout.flush()
    print(f"\nferrodis/redis rewrite time: {times['ferrodis'] / times['redis']:.2f} (lower is faster)")


if __name__ == "__main__":
    main()
