#!/usr/bin/env python3
"""Replicas bench: parcours on PostgreSQL with one and two replicas against the embedded sled store, in
one run, and the staff list of conversations with filters on a million conversations.

Part 1, serving. Each setup gets a fresh store (a data directory, or a schema of its own) and the same
closed-loop load: `--customers` callers at once, each sending the voice script (a greeting, where is
my order, the number, thanks bye, "yes" and "nine": no survey follows an order not found, so
those two open a second conversation) and waiting for each answer before the next
turn, for `--seconds`. With two replicas a caller's turns alternate between them, so every turn's
conversation was last written by the other replica. Prints turns per second and p50/p99 latency.

Part 2, the staff list. `--rows` conversations (default 1,000,000) are seeded with COPY into a schema
of their own (migrated by `parcours migrate`), then `GET /api/conversations` with each filter is timed
(median and worst of `--repeat` calls, and the second page through the cursor).

    cargo build --release
    python3 scripts/replicas_bench.py --database postgres://postgres@127.0.0.1:5432/test

The load generator runs on the same machine as the servers and PostgreSQL: on 2 cores the figures are a
comparison between the setups of one run, not a capacity. Needs `psql` for COPY; the standard library
otherwise.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SCRIPT = ["hi", "where is my order?", "four five six seven", "thanks, bye", "yes", "nine"]
STAFF_TOKEN = "bench-staff-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(database, sql, stdin=None):
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", database, "-c", sql],
                          input=stdin, capture_output=True, check=True, text=True).stdout


def with_schema(database, schema):
    sep = "&" if "?" in database else "?"
    return f"{database}{sep}options=-c%20search_path%3D{schema}"


class Server:
    def __init__(self, binary, intents, store_url=None):
        self.dir = tempfile.mkdtemp(prefix="parcours-bench-")
        self.port = free_port()
        env = dict(os.environ, RUST_LOG="warn", PARCOURS_STAFF_TOKEN=STAFF_TOKEN)
        for k in ("PARCOURS_WEBHOOK_TOKEN", "TELOXIDE_TOKEN", "PARCOURS_DATABASE_URL"):
            env.pop(k, None)
        if store_url:
            env["PARCOURS_DATABASE_URL"] = store_url
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", os.path.join(self.dir, "data"), "--intents", intents],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self):
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit(f"the server exited; see {self.log.name}")
            time.sleep(0.2)
        sys.exit("a server was not ready after 60 s")

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

    async def request(self, method, path, body=None, headers=""):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode() if body is not None else b""
        kind = "Content-Type: application/json\r\n" if body is not None else ""
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\n{kind}{headers}"
            f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        payload = await self.reader.readexactly(length)
        return status, payload

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


async def load(ports, customers, seconds, tag):
    """Closed loop: each caller waits for the answer before the next turn; turns alternate replicas."""
    latencies, errors = [], 0
    stop_at = time.monotonic() + seconds

    async def caller(c):
        nonlocal errors
        conns = [Connection(p) for p in ports]
        step = 0
        while time.monotonic() < stop_at:
            conversation, turn = divmod(step, len(SCRIPT))
            conn = conns[step % len(conns)]
            body = {"session_id": f"{tag}-{c}-{conversation}", "user_id": f"{tag}caller{c}",
                    "transcript": SCRIPT[turn]}
            t0 = time.monotonic()
            try:
                status, _ = await conn.request("POST", "/webhook/voice", body)
                if status == 200:
                    latencies.append(time.monotonic() - t0)
                else:
                    errors += 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                conn.close()
            step += 1
        for conn in conns:
            conn.close()

    started = time.monotonic()
    await asyncio.gather(*(caller(c) for c in range(customers)))
    elapsed = time.monotonic() - started
    return len(latencies) / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99), errors


async def serving(args):
    rows = []
    setups = [("sled (embedded)", None, 1), ("postgres, 1 replica", "pg1", 1), ("postgres, 2 replicas", "pg2", 2)]
    for name, schema, replicas in setups:
        url = None
        if schema:
            schema = f"bench_{schema}_{os.getpid()}"
            psql(args.database, f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
            url = with_schema(args.database, schema)
            subprocess.run([args.bin, "migrate", "--store", url], check=True, capture_output=True)
        servers = [Server(args.bin, args.intents, url) for _ in range(replicas)]
        try:
            for s in servers:
                s.wait_ready()
            await load([s.port for s in servers], args.customers, 3, f"warm{len(rows)}")
            tps, p50, p99, errors = await load([s.port for s in servers], args.customers, args.seconds,
                                               f"run{len(rows)}")
            rows.append((name, tps, p50, p99, errors))
            print(f"  {name}: {tps:.0f} turns/s", flush=True)
        finally:
            for s in servers:
                s.stop()
            if schema:
                psql(args.database, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    print()
    print(f"| store | turns/s | p50 ms | p99 ms | errors |")
    print(f"|---|---|---|---|---|")
    for name, tps, p50, p99, errors in rows:
        print(f"| {name} | {tps:.0f} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {errors} |")


def seed(database, schema, rows):
    """COPY `rows` conversations (two turns each, spread over a year, four channels) into `schema`."""
    channels = ["telegram", "voice", "twilio", "alexa"]
    intents = ["order_status", "refund_status", "delivery_problem", "cancel_order", "greeting"]
    start = 1_735_689_600_000  # 2025-01-01
    rng = random.Random(7)
    conv_lines, turn_lines = [], []
    for i in range(rows):
        cid = f"tp_{i:x}"
        channel = channels[i % 4]
        at = start + i * 31_536_000_000 // rows
        intent = intents[rng.randrange(5)]
        rating = rng.randrange(11) if i % 3 == 0 else None
        irritant = i % 7 == 0
        header = {"id": cid, "customer_id": f"cus_{i % 50000:x}", "channel": channel, "user": f"u{i % 50000}",
                  "lang": "en", "started_at": at, "last_at": at + 60_000, "ended_at": at + 60_000,
                  "intents": [intent], "outcome": "resolved",
                  "survey": {"rating": str(rating)} if rating is not None else {}, "state": None}
        conv_lines.append("\t".join([
            cid, header["customer_id"], channel, header["user"], str(at), str(at + 60_000), str(at + 60_000),
            "resolved", "{" + intent + "}", "\\N" if rating is None else str(rating),
            "t" if irritant else "f", "f", "f", "2", json.dumps(header).replace("\\", "\\\\")]))
        for seq, (speaker, text) in enumerate([("customer", "where is my order?"), ("bot", "Which order?")]):
            turn = {"at": at + seq, "speaker": speaker, "text": text}
            turn_lines.append(f"{cid}\t{seq}\t{json.dumps(turn)}")
    psql(with_schema(database, schema), "\\copy conversations FROM STDIN", "\n".join(conv_lines) + "\n")
    psql(with_schema(database, schema), "\\copy turns FROM STDIN", "\n".join(turn_lines) + "\n")
    psql(with_schema(database, schema), "ANALYZE conversations; ANALYZE turns")


async def listing(args):
    schema = f"bench_list_{os.getpid()}"
    psql(args.database, f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    url = with_schema(args.database, schema)
    server = None
    try:
        subprocess.run([args.bin, "migrate", "--store", url], check=True, capture_output=True)
        t0 = time.monotonic()
        seed(args.database, schema, args.rows)
        print(f"seeded {args.rows:,} conversations with COPY in {time.monotonic() - t0:.0f} s", flush=True)
        server = Server(args.bin, args.intents, url)
        server.wait_ready()
        conn = Connection(server.port)
        auth = f"Authorization: Bearer {STAFF_TOKEN}\r\n"
        queries = [
            ("newest 50", "limit=50"),
            ("channel", "channel=telegram&limit=50"),
            ("intent", "intent=refund_status&limit=50"),
            ("max_rating=3", "max_rating=3&limit=50"),
            ("irritant", "irritant=true&limit=50"),
            ("channel+intent+rating", "channel=voice&intent=cancel_order&max_rating=6&limit=50"),
            ("a customer", "customer=cus_1a2b&limit=50"),
            ("since a month", "since=2025-06-01T00:00:00Z&until=2025-07-01T00:00:00Z&limit=50"),
        ]
        print()
        print(f"| GET /api/conversations?… ({args.rows:,} conversations) | median ms | worst ms | next page ms | items |")
        print("|---|---|---|---|---|")
        for name, q in queries:
            times, items, cursor = [], 0, None
            for _ in range(args.repeat):
                t = time.monotonic()
                status, body = await conn.request("GET", f"/api/conversations?{q}", headers=auth)
                times.append((time.monotonic() - t) * 1000)
                if status != 200:
                    sys.exit(f"{q}: {status} {body[:200]}")
                page = json.loads(body)
                items, cursor = len(page["items"]), page.get("next_cursor")
            nxt = float("nan")
            if cursor:
                t = time.monotonic()
                status, _ = await conn.request("GET", f"/api/conversations?{q}&cursor={cursor}", headers=auth)
                nxt = (time.monotonic() - t) * 1000
            print(f"| {name} | {percentile(times, 0.5):.1f} | {max(times):.1f} | {nxt:.1f} | {items} |")
        conn.close()
    finally:
        if server:
            server.stop()
        psql(args.database, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/parcours")
    ap.add_argument("--intents", default="intents")
    ap.add_argument("--database", default=os.environ.get("PARCOURS_TEST_DATABASE_URL",
                                                         "postgres://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--customers", type=int, default=32, help="callers at once")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--skip-serving", action="store_true")
    ap.add_argument("--skip-listing", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} is missing: cargo build --release")
    if not args.skip_serving:
        print(f"serving: {args.customers} callers at once, closed loop, {args.seconds:.0f} s each", flush=True)
        await serving(args)
    if not args.skip_listing:
        await listing(args)


if __name__ == "__main__":
    asyncio.run(main())
