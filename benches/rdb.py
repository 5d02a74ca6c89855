#!/usr/bin/env python3
"""RDB benchmarks: ferrodis against redis-server, measured in the same run.

1. Snapshot under writes: KEYS keys x 1 KB values; a writer overwrites random keys at full
   speed (redis-benchmark SET -P 16) while BGSAVE runs. Reports the peak memory during the
   save against the memory before it (PSS summed over the server and its children, so Redis's
   fork child is counted without double-counting shared pages), the p99 of a concurrent
   GET/SET load during the save against its p99 without a save, and the longest gap seen by
   a PING probe (an executor stall).
2. BGSAVE time of KEYS keys x 100 B values.
3. Startup load time of that file (each server's "DB loaded from disk" log line).

Usage: python3 benches/rdb.py            (full run: 1M keys)
       KEYS=20000 python3 benches/rdb.py  (smoke test)
Environment: BIN (ferrodis binary), KEYS, ROUNDS (rounds of parts 2 and 3; medians printed).
"""

import os
import re
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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Conn:
    """A minimal RESP client."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t in (b"+", b"-"):
            return rest.decode()
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode(errors="replace")
        if t == b"*":
            return [self.read() for _ in range(int(rest))]
        raise RuntimeError("bad reply %r" % line)

    def info(self, field):
        text = self.cmd("INFO", "persistence")
        for l in text.splitlines():
            if l.startswith(field + ":"):
                return l.split(":", 1)[1]
        raise KeyError(field)


class Server:
    def __init__(self, kind, dirpath, extra=()):
        self.kind = kind
        self.port = free_port()
        self.dir = dirpath
        exe = BIN if kind == "ferrodis" else shutil.which("redis-server")
        args = [exe, "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--dir", dirpath, "--enable-debug-command", "yes",
                "--logfile", os.path.join(dirpath, "server.log")] + list(extra)
        self.started = time.time()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while True:
            try:
                c = Conn(self.port)
                r = c.cmd("PING")
                if r == "PONG":
                    self.c = c
                    return
            except OSError:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{kind} did not start")
            time.sleep(0.01)

    def pss_kb(self):
        """PSS of the server and its children (Redis's fork child), in KB."""
        total = 0
        pids = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
        for pid in pids:
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for l in f:
                        if l.startswith("Pss:"):
                            total += int(l.split()[1])
            except OSError:
                pass
        return total

    def log(self):
        with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        try:
            self.c.cmd("SHUTDOWN", "NOSAVE")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def bench_p99(port, n, test="get,set"):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", test, "-n", str(n), "-c", "20",
         "-r", str(KEYS), "-d", "1024", "--csv"],
        capture_output=True, text=True, check=True).stdout
    p99 = []
    for line in out.splitlines()[1:]:
        cols = [c.strip('"') for c in line.split(",")]
        p99.append(float(cols[6]))
    return max(p99)


def ping_probe(port, stop, result):
    c = Conn(port)
    worst = 0.0
    while not stop.is_set():
        t = time.perf_counter()
        c.cmd("PING")
        worst = max(worst, time.perf_counter() - t)
    result.append(worst * 1000)


def wait_bgsave(c, sampler=None):
    while c.info("rdb_bgsave_in_progress") == "1":
        if sampler:
            sampler()
        time.sleep(0.005)


def part1(kind):
    d = tempfile.mkdtemp(prefix=f"rdbbench-{kind}-")
    try:
        s = Server(kind, d)
        s.c.cmd("DEBUG", "POPULATE", KEYS, "key", 1024)
        time.sleep(1)
        base = s.pss_kb()
        # Writer at full speed on random existing keys, for the whole part.
        writer = subprocess.Popen(
            ["redis-benchmark", "-p", str(s.port), "-t", "set", "-n", "100000000", "-c", "4",
             "-P", "16", "-r", str(KEYS), "-d", "1024", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        n = max(2000, min(KEYS // 10, 60000))
        p99_idle = bench_p99(s.port, n)
        base_w = s.pss_kb()
        stop = threading.Event()
        gaps = []
        t0 = time.time()
        s.c.cmd("BGSAVE")
        probe = threading.Thread(target=ping_probe, args=(s.port, stop, gaps))
        probe.start()
        peak = [base_w]

        def sample():
            peak[0] = max(peak[0], s.pss_kb())

        load = threading.Thread(target=lambda: gaps.append(("p99", bench_p99(s.port, n))))
        load.start()
        wait_bgsave(s.c, sample)
        save_secs = time.time() - t0
        stop.set()
        probe.join()
        load.join()
        writer.kill()
        writer.wait()
        p99_save = [g[1] for g in gaps if isinstance(g, tuple)][0]
        worst_gap = [g for g in gaps if not isinstance(g, tuple)][0]
        s.stop()
        return {
            "pss_before_mb": base_w / 1024, "pss_peak_mb": peak[0] / 1024,
            "ratio": peak[0] / base_w, "p99_idle": p99_idle, "p99_save": p99_save,
            "worst_ping_ms": worst_gap, "save_secs": save_secs,
            "load_overlap": "yes" if save_secs > 0 else "no", "pss_idle_mb": base / 1024,
        }
    finally:
        shutil.rmtree(d, ignore_errors=True)


def part23(kind):
    d = tempfile.mkdtemp(prefix=f"rdbbench-{kind}-")
    try:
        s = Server(kind, d)
        s.c.cmd("DEBUG", "POPULATE", KEYS, "key", 100)
        t0 = time.perf_counter()
        s.c.cmd("BGSAVE")
        wait_bgsave(s.c)
        bgsave = time.perf_counter() - t0
        s.stop()
        s2 = Server(kind, d)
        m = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", s2.log())
        load = float(m[-1]) if m else float("nan")
        size = os.path.getsize(os.path.join(d, "dump.rdb"))
        s2.stop()
        return bgsave, load, size
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: cargo build --release")
    print(f"# RDB benchmarks, {KEYS} keys, {time.strftime('%Y-%m-%d')}\n")
    print("## Snapshot under a full-speed writer (1 KB values)\n")
    print("| server | PSS before | peak during BGSAVE | peak/before | p99 GET/SET no save | p99 during save | worst PING | save time |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in ("redis", "ferrodis"):
        r = part1(kind)
        print(f"| {kind} | {r['pss_before_mb']:.0f} MB | {r['pss_peak_mb']:.0f} MB | {r['ratio']:.3f} | "
              f"{r['p99_idle']:.2f} ms | {r['p99_save']:.2f} ms | {r['worst_ping_ms']:.2f} ms | {r['save_secs']:.1f} s |")
        sys.stdout.flush()
    print(f"\n## BGSAVE and startup load, 100 B values (median of {ROUNDS} rounds)\n")
    res = {"redis": [], "ferrodis": []}
    for _ in range(ROUNDS):
        for kind in ("redis", "ferrodis"):
            res[kind].append(part23(kind))
    print("| server | BGSAVE | load | file size |")
    print("|---|---|---|---|")
    med = {}
    for kind in ("redis", "ferrodis"):
        b = statistics.median(x[0] for x in res[kind])
        l = statistics.median(x[1] for x in res[kind])
        med[kind] = (b, l)
        print(f"| {kind} | {b:.3f} s | {l:.3f} s | {res[kind][0][2] / 1e6:.1f} MB |")
    print(f"\nferrodis/redis time ratio: BGSAVE {med['ferrodis'][0] / med['redis'][0]:.2f}, "
          f"load {med['ferrodis'][1] / med['redis'][1]:.2f} (lower is faster)")


if __name__ == "__main__":
    main()
