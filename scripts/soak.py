#!/usr/bin/env python3
"""Soak: parcours under a steady conversation load for a while, its memory sampled as it goes.

Runs two servers side by side in one run, each with its own empty data directory and the same load:
parcours with its default settings, and the baseline, the same binary with sled's cache at its own
default of 1 GiB (what parcours used before `store_cache_mb`). Each gets `--rate` turns per second on
the voice webhook, open loop (requests are sent at their due time whether or not the previous ones were
answered), from conversations of many customers: a greeting, where is my order, the number, thanks
bye, "yes" and "nine" (written as the survey answers; the order is never found, so no survey is asked
and those two open a second conversation, as with serve_bench.py --mix unfound); each customer starts at a different turn of it (`--in-step`: all at the
first), so that the load is steady rather than a wave moving through the script. Every `--sample` seconds
it prints each server's resident memory (VmRSS) and the turns answered. The warm-up lasts (by default)
until every customer has spoken as many times as the script has turns: before that the conversations held
open, and the caches of them, are still filling. Then
`--minutes` are measured, and it prints the growth from the first sample after warm-up to the last, the
mean of the last third of the samples against the first third's, and the least-squares slope.

    cargo build --release
    python3 scripts/soak.py --minutes 10 --rate 500

Only the standard library; Linux (/proc) only.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ORDER_NUMBER = None  # each customer's own: see order_number
SCRIPT = [
    "hi",
    "where is my order?",
    ORDER_NUMBER,
    "thanks, bye",
    "yes",
    "nine",
]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def order_number(customer, conversation):
    """The order number a customer gives in a conversation, digit by digit: each their own (as
    examples/serve_bench.rs does)."""
    n = (customer * 7919 + conversation * 104729) % 10000
    return " ".join(DIGITS[int(d)] for d in f"{n:04d}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, name, binary, intents, cache_mb, extra_env=None, settings="", imports=()):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"parcours-soak-{name}-")
        self.port = free_port()
        config = os.path.join(self.dir, "parcours.toml")
        with open(config, "w") as f:
            if cache_mb:
                f.write(f"store_cache_mb = {cache_mb}\n")
            f.write(settings)
        env = dict(os.environ, RUST_LOG="warn")
        env.update(extra_env or {})
        env.pop("PARCOURS_WEBHOOK_TOKEN", None)
        env.pop("TELOXIDE_TOKEN", None)
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        # Profiles the store holds before it serves (`parcours customers import`), not measured.
        for path in imports:
            subprocess.run([binary, "customers", "import", path, "--data-dir", os.path.join(self.dir, "data"),
                            "--intents", intents, "--config", config],
                           stdout=self.log, stderr=subprocess.STDOUT, env=env, check=True)
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", os.path.join(self.dir, "data"), "--intents", intents, "--config", config],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.answered = 0
        self.errors = 0
        self.latencies = []

    def wait_ready(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if b" 200 " in s.recv(100):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit(f"{self.name}: the server exited; see {self.log.name}")
            time.sleep(0.2)
        sys.exit(f"{self.name}: not ready after 30 s")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def post(self, path, body):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await self.reader.readexactly(length)
        return status

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def drive(server, rate, seconds, customers, connections, in_step=False):
    """Open loop: turn k is due at start + k / rate; a pool of connections takes the due turns."""
    queue = asyncio.Queue()
    start = time.monotonic()

    async def worker():
        conn = Connection(server.port)
        while True:
            item = await queue.get()
            if item is None:
                conn.close()
                return
            due, body = item
            try:
                status = await conn.post("/webhook/voice", body)
                if status == 200:
                    server.answered += 1
                else:
                    server.errors += 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                server.errors += 1
                conn.close()
            server.latencies.append(time.monotonic() - due)

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    # Each customer runs the script in order; a new conversation (session) each time it starts again.
    # Customers start at different places in it (the first conversation cut short), as callers do not all
    # ring at once: started together, every customer would be at the same turn at the same time, and
    # memory would swing with the script (every conversation new, then every one at its survey).
    progress = [0 if in_step else c % len(SCRIPT) for c in range(customers)]
    k = 0
    while True:
        due = start + k / rate
        if due - start >= seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        c = k % customers
        step = progress[c]
        progress[c] += 1
        conversation, turn = divmod(step, len(SCRIPT))
        queue.put_nowait((due, {
            "session_id": f"s{c}-{conversation}",
            "user_id": f"caller{c}",
            "transcript": SCRIPT[turn] or order_number(c, conversation),
        }))
        k += 1
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)


async def sample(servers, every, seconds):
    rows = []
    start = time.monotonic()
    header = "  t(s)  " + "  ".join(f"{s.name + ' RSS MiB':>18} {s.name + ' turns':>16}" for s in servers)
    print(header, flush=True)
    while True:
        t = time.monotonic() - start
        row = [(rss_kib(s.proc.pid) / 1024, s.answered) for s in servers]
        rows.append((t, row))
        print(f"{t:6.0f}  " + "  ".join(f"{r:18.1f} {n:16d}" for r, n in row), flush=True)
        if t >= seconds:
            return rows
        await asyncio.sleep(every)


def slope(points):
    """The least-squares slope of (t, y) points, per unit of t (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / var if var else 0.0


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/parcours")
    ap.add_argument("--intents", default="intents")
    ap.add_argument("--minutes", type=float, default=10, help="minutes measured, after the warm-up")
    ap.add_argument("--rate", type=float, default=500, help="turns per second, per server")
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--sample", type=float, default=30, help="seconds between memory samples")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before the growth is counted (default: until every customer has spoken as many "
                         "times as the script has turns, and at least 60)")
    ap.add_argument("--in-step", action="store_true",
                    help="every customer starts the script at its first turn (as this script did before "
                         "2026-12-05's seventh run): the whole load moves through it in step")
    ap.add_argument("--baseline-cache-mb", type=int, default=1024,
                    help="sled cache of the baseline server (0: no baseline)")
    ap.add_argument("--baseline-bin", default=None,
                    help="another parcours binary for the baseline (an earlier build, say); default --bin")
    ap.add_argument("--baseline-env", action="append", default=[], metavar="KEY=VALUE",
                    help="an environment variable for the baseline server only (MALLOC_ARENA_MAX=2)")
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} is missing: cargo build --release")
    servers = [Server("parcours", args.bin, args.intents, 0)]
    if args.baseline_cache_mb:
        extra = dict(kv.split("=", 1) for kv in args.baseline_env)
        name = f"cache{args.baseline_cache_mb}" + "".join(f"+{k}" for k in extra)
        if args.baseline_bin:
            name = "baseline-bin"
        servers.append(Server(name[:14], args.baseline_bin or args.bin, args.intents,
                              args.baseline_cache_mb, extra))
    try:
        for s in servers:
            s.wait_ready()
        if args.warmup is None:
            args.warmup = max(60.0, args.customers * len(SCRIPT) / args.rate)
        seconds = args.warmup + args.minutes * 60
        print(f"{args.rate:.0f} turns/s per server for {seconds:.0f} s ({args.warmup:.0f} s of warm-up, then "
              f"{args.minutes:g} min measured), {args.customers} customers; "
              f"servers: {', '.join(s.name for s in servers)}", flush=True)
        rows, *_ = await asyncio.gather(
            sample(servers, args.sample, seconds),
            *(drive(s, args.rate, seconds, args.customers, args.connections, args.in_step) for s in servers))
        print()
        measured = [(t, r) for t, r in rows if t >= args.warmup] or rows[-1:]
        base = measured[0][1]
        last = rows[-1][1]
        peak = [max(r[i][0] for _, r in measured) for i in range(len(servers))]
        third = max(1, len(measured) // 3)
        print(f"{'server':>14} {'turns':>9} {'errors':>7} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'RSS@warmup':>11} {'RSS end':>8} {'peak':>7} {'growth':>7} {'thirds':>7} {'slope':>11}")
        for i, s in enumerate(servers):
            growth = last[i][0] - base[i][0]
            # Less sensitive to one sample than the ends: the last third's mean against the first third's,
            # and the least-squares slope over every sample measured.
            mean = lambda part: sum(r[i][0] for _, r in part) / len(part)  # noqa: E731
            thirds = mean(measured[-third:]) - mean(measured[:third])
            print(f"{s.name:>14} {s.answered:9d} {s.errors:7d} "
                  f"{percentile(s.latencies, 0.5) * 1000:7.1f} {percentile(s.latencies, 0.99) * 1000:7.1f} "
                  f"{base[i][0]:10.1f}M {last[i][0]:7.1f}M {peak[i]:6.1f}M {growth:+6.1f}M {thirds:+6.1f}M "
                  f"{slope([(t, r[i][0]) for t, r in measured]) * 60:+6.2f}M/min")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    asyncio.run(main())
