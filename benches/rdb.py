#!/usr/bin/env python3
"""RDB benchmarks: ferrodis against redis-server, measured in the same run.

1. Snapshot under writes: KEYS keys x 1 KB values; a writer overwrites random keys at full
   speed (redis-benchmark SET -P 16) throughout. Each round: the p99 of a concurrent GET/SET
   load (and the longest PING round trip) without a save; the same during a BGSAVE; then
   the peak memory during a second BGSAVE against the memory before it (PSS summed over the
   server and its children, so Redis's fork child is counted without double-counting shared
   pages; sampled in its own save because reading PSS stalls the process being read).
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


def pss_kb(pid):
    """PSS of a process and its children (Redis's fork child), in KB."""
    total = 0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


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
        return pss_kb(self.proc.pid)

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
    # PSS comes from smaps_rollup, which walks the server's page tables under its mmap lock:
    # sampled every 100 ms so that the measurement does not stall the server it measures.
    last = 0.0
    while c.info("rdb_bgsave_in_progress") == "1":
        if sampler and time.time() - last >= 0.1:
            sampler()
            last = time.time()
        time.sleep(0.005)


def fill_benchmark_keys(port):
    """SET key:%012d (redis-benchmark's __rand_int__ key names) for every key of the
    writer's range, through redis-cli --pipe, so the writer overwrites existing keys and the
    dataset does not grow during the save."""
    value = b"x" * 1024
    pipe = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    batch = []
    for i in range(KEYS):
        k = b"key:%012d" % i
        batch.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1024\r\n%s\r\n" % (len(k), k, value))
        if len(batch) == 10000:
            pipe.stdin.write(b"".join(batch))
            batch = []
    pipe.stdin.write(b"".join(batch))
    pipe.stdin.close()
    pipe.wait()


def part1(kind):
    """Fills the server, starts the writer, then ROUNDS times: a latency load (with a PING
    probe) without a save, then the same load while a BGSAVE runs. Medians of the p99s,
    the worst of the memory peaks and of the probe gaps."""
    d = tempfile.mkdtemp(prefix=f"rdbbench-{kind}-")
    try:
        s = Server(kind, d)
        fill_benchmark_keys(s.port)
        assert s.c.cmd("DBSIZE") == KEYS
        time.sleep(1)
        # Writer at full speed on random existing keys, for the whole part.
        writer = subprocess.Popen(
            ["redis-benchmark", "-p", str(s.port), "-t", "set", "-n", "100000000", "-c", "4",
             "-P", "16", "-r", str(KEYS), "-d", "1024", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        n = max(2000, min(KEYS // 10, 60000))
        rounds = []
        for _ in range(ROUNDS):
            stop0 = threading.Event()
            gaps0 = []
            probe0 = threading.Thread(target=ping_probe, args=(s.port, stop0, gaps0))
            probe0.start()
            p99_idle = bench_p99(s.port, n)
            stop0.set()
            probe0.join()
            # A save measured for latency only: sampling PSS walks the server's page tables
            # under its mmap lock and would itself add latency.
            stop = threading.Event()
            gaps = []
            loads = []
            t0 = time.time()
            s.c.cmd("BGSAVE")
            probe = threading.Thread(target=ping_probe, args=(s.port, stop, gaps))
            probe.start()
            load = threading.Thread(
                target=lambda: loads.append((bench_p99(s.port, n), time.time())))
            load.start()
            wait_bgsave(s.c)
            save_secs = time.time() - t0
            stop.set()
            probe.join()
            load.join()
            p99_save, load_end = loads[0]
            # A second save, measured for memory only.
            base_w = s.pss_kb()
            peak = [base_w]

            def sample():
                peak[0] = max(peak[0], s.pss_kb())

            s.c.cmd("BGSAVE")
            wait_bgsave(s.c, sample)
            rounds.append({
                "base": base_w, "peak": peak[0], "p99_idle": p99_idle, "p99_save": p99_save,
                "ping_idle": gaps0[0], "ping_save": gaps[0], "secs": save_secs,
                "inside": load_end <= t0 + save_secs,
            })
            time.sleep(1)
        writer.kill()
        writer.wait()
        steps = re.findall(r"longest step (\d+) us \(cpu (\d+) us\)", s.log())
        s.stop()
        worst = max(rounds, key=lambda r: r["peak"] / r["base"])
        return {
            "pss_before_mb": worst["base"] / 1024, "pss_peak_mb": worst["peak"] / 1024,
            "ratio": worst["peak"] / worst["base"],
            "p99_idle": statistics.median(r["p99_idle"] for r in rounds),
            "p99_save": statistics.median(r["p99_save"] for r in rounds),
            "inside": "yes" if all(r["inside"] for r in rounds) else "no",
            "worst_ping_idle": max(r["ping_idle"] for r in rounds),
            "worst_ping_ms": max(r["ping_save"] for r in rounds),
            "step": (f"{max(int(w) for w, _ in steps) / 1000:.2f} ms "
                     f"(cpu {max(int(c) for _, c in steps) / 1000:.2f} ms)") if steps else "-",
            "save_secs": statistics.median(r["secs"] for r in rounds),
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
    print(f"## Snapshot under a full-speed writer (1 KB values; medians of {ROUNDS} saves, worst memory and gaps)\n")
    print("| server | PSS before | peak during BGSAVE | peak/before | p99 GET/SET no save | p99 during save | load inside save | worst PING no save | worst PING during save | longest snapshot step | save time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in ("redis", "ferrodis"):
        r = part1(kind)
        print(f"| {kind} | {r['pss_before_mb']:.0f} MB | {r['pss_peak_mb']:.0f} MB | {r['ratio']:.3f} | "
              f"{r['p99_idle']:.2f} ms | {r['p99_save']:.2f} ms | {r['inside']} | {r['worst_ping_idle']:.2f} ms | "
              f"{r['worst_ping_ms']:.2f} ms | {r['step']} | {r['save_secs']:.1f} s |")
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
