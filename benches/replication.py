#!/usr/bin/env python3
"""Replication benchmarks: ferrodis -> ferrodis against redis-server -> redis-server, in the same run.

1. Full sync: a master with KEYS keys x 100 B; a fresh replica connects. Reports the time from
   the replica's start to master_link_status:up, and the master's peak memory during the sync
   against its memory before (PSS summed over the master and its children, so Redis's fork
   child counts; sampled every 100 ms).
2. Throughput: redis-benchmark SET -P 16 against the master alone, then with two replicas
   attached; and the replication lag under that load (bytes between the master's offset and
   each replica's, and the time for a marker write to appear on a replica). The CPU time
   each process used per million SETs (master, each replica, the benchmark client) shows
   how much of the machine the replicas take: when every process shares the same few cores
   and the run is CPU-bound, the throughput ratio cannot exceed (CPU per request alone) /
   (CPU per request of all processes with replicas), whatever the replication path costs.

Usage: python3 benches/replication.py            (1M keys)
       KEYS=20000 python3 benches/replication.py  (smoke test)
Environment: BIN (ferrodis binary), KEYS, ROUNDS (medians printed), N (SET requests).
"""

import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.environ.get("BIN", "target/release/ferrodis-server")
KEYS = int(os.environ.get("KEYS", "1000000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
N = int(os.environ.get("N", "2000000"))

sys.path.insert(0, os.path.dirname(__file__))
import rdb  # noqa: E402
from rdb import Conn  # noqa: E402


class Server(rdb.Server):
    """rdb.py's server, in a temp dir of its own, with full syncs starting at once."""

    def __init__(self, kind, extra=()):
        super().__init__(kind, tempfile.mkdtemp(prefix=f"replbench-{kind}-"),
                         ["--repl-diskless-sync-delay", "0"] + list(extra))

    def info(self, field, section="replication"):
        for line in self.c.cmd("INFO", section).splitlines():
            if line.startswith(field + ":"):
                return line.split(":", 1)[1]
        return None

    def stop(self):
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def full_sync(kind):
    m = Server(kind)
    try:
        m.c.cmd("DEBUG", "POPULATE", KEYS, "key", 100)
        time.sleep(1)
        before = m.pss_kb()
        t0 = time.time()
        r = Server(kind, ["--replicaof", "127.0.0.1", str(m.port)])
        peak = before
        last = 0.0
        while r.info("master_link_status") != "up":
            if time.time() - last >= 0.1:
                peak = max(peak, m.pss_kb())
                last = time.time()
            time.sleep(0.005)
        secs = time.time() - t0
        assert r.c.cmd("DBSIZE") == KEYS, "replica has every key"
        r.stop()
        return secs, before / 1024, peak / 1024
    finally:
        m.stop()


def cpu_secs(pid):
    """User + system CPU seconds a process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def set_rps(port, pids=()):
    """Requests/s, and the CPU seconds per million requests of each of `pids` and of the
    benchmark client."""
    before = [cpu_secs(p) for p in pids]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(N), "-c", "50", "-P", "16",
         "-r", "100000", "--csv"], capture_output=True, text=True, check=True).stdout
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    per_m = 1e6 / N
    cpu = [(cpu_secs(p) - b) * per_m for p, b in zip(pids, before)]
    client = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * per_m
    line = out.splitlines()[1]
    return float(line.split(",")[1].strip('"')), cpu, client


def throughput(kind):
    m = Server(kind)
    try:
        alone, cpu_alone, client_alone = set_rps(m.port, [m.proc.pid])
        replicas = [Server(kind, ["--replicaof", "127.0.0.1", str(m.port)]) for _ in range(2)]
        for r in replicas:
            while r.info("master_link_status") != "up":
                time.sleep(0.02)
        # Lag while the load runs: sampled offsets, and a marker write's arrival time.
        lags_bytes, lags_ms = [], []
        stop = threading.Event()

        def sample():
            mc, rc = Conn(m.port), Conn(replicas[0].port)
            i = 0
            while not stop.is_set():
                i += 1
                key = f"marker:{i}"
                t = time.perf_counter()
                mc.cmd("SET", key, "1")
                moff = int([l for l in mc.cmd("INFO", "replication").splitlines()
                            if l.startswith("master_repl_offset:")][0].split(":")[1])
                while rc.cmd("EXISTS", key) != 1:
                    if stop.is_set():
                        return
                lags_ms.append((time.perf_counter() - t) * 1000)
                roff = int([l for l in rc.cmd("INFO", "replication").splitlines()
                            if l.startswith("slave_repl_offset:")][0].split(":")[1])
                lags_bytes.append(max(0, moff - roff))
                time.sleep(0.05)

        th = threading.Thread(target=sample)
        th.start()
        with_two, cpu_two, client_two = set_rps(m.port, [m.proc.pid] + [r.proc.pid for r in replicas])
        stop.set()
        th.join()
        for r in replicas:
            r.stop()
        cpu = {"alone": cpu_alone + [client_alone], "two": cpu_two + [client_two]}
        return alone, with_two, lags_bytes, lags_ms, cpu
    finally:
        m.stop()


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: cargo build --release")
    print(f"# Replication benchmarks, {KEYS} keys, {time.strftime('%Y-%m-%d')}\n")
    print(f"## Full sync to a fresh replica, {KEYS} keys x 100 B (median of {ROUNDS})\n")
    print("| pair | time to link up | master memory before | master peak during sync | peak/before |")
    print("|---|---|---|---|---|")
    res = {"redis": [], "ferrodis": []}
    for _ in range(ROUNDS):
        for kind in ("redis", "ferrodis"):
            res[kind].append(full_sync(kind))
    med = {}
    for kind in ("redis", "ferrodis"):
        secs = statistics.median(x[0] for x in res[kind])
        before = statistics.median(x[1] for x in res[kind])
        peak = max(x[2] for x in res[kind])
        med[kind] = secs
        print(f"| {kind} -> {kind} | {secs:.2f} s | {before:.0f} MB | {peak:.0f} MB | {peak / before:.3f} |")
    print(f"\nferrodis/redis full-sync time: {med['ferrodis'] / med['redis']:.2f}\n")
    print(f"## SET -P 16 (-c 50, {N} requests) on a master alone and with two replicas\n")
    print("| pair | master alone | with two replicas | ratio | lag p50 / max (bytes) | marker lag p50 / max |")
    print("|---|---|---|---|---|---|")
    cpus = {}
    for kind in ("redis", "ferrodis"):
        alone, two, lb, lm, cpus[kind] = throughput(kind)
        lb = lb or [0]
        lm = lm or [0]
        print(f"| {kind} -> {kind} | {alone:.0f} | {two:.0f} | {two / alone:.2f} | "
              f"{statistics.median(lb):.0f} / {max(lb):.0f} | "
              f"{statistics.median(lm):.1f} ms / {max(lm):.1f} ms |")
    print("\n### CPU seconds per million SETs\n")
    print("| pair | alone: master + client | with two replicas: master + replica 1 + replica 2 + client | total with / total alone |")
    print("|---|---|---|---|")
    for kind in ("redis", "ferrodis"):
        a, t = cpus[kind]["alone"], cpus[kind]["two"]
        print(f"| {kind} -> {kind} | {a[0]:.2f} + {a[1]:.2f} = {sum(a):.2f} | "
              f"{' + '.join(f'{x:.2f}' for x in t)} = {sum(t):.2f} | {sum(t) / sum(a):.2f} |")


if __name__ == "__main__":
    main()
