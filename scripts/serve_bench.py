#!/usr/bin/env python3
"""Serving cost: parcours against a bare axum endpoint of the same shape, side by side in one run.

Four servers (five with --baseline-bin), each pinned to core 0 with the load generator on core 1:
  parcours          `parcours serve` on an empty embedded store, durable turns (fdatasync, shared)
  parcours-no-memo  the same with `nlu_memo = 0`: every message parsed, none taken from the memo
  bare              an axum endpoint parsing the same JSON and answering the same shape
  bare+fdatasync    the same, answering once an fdatasync covers the request (group commit)
Each round starts every server afresh and measures it closed loop (as fast as it answers: turns/s and
CPU per turn from /proc) then open loop at each `--rate` (requests sent at their due time, latency
counted from it). In the closed loop the server is let settle after the warm-up and after the
measured window (`settle` in examples/serve_bench.rs): parcours's checkpoint, at the lowest priority,
falls behind while the loop keeps the core busy, so the CPU it spends after the window on the window's
turns is counted in their CPU per turn, and its time in their turns/s (the server had the core to
itself then); "after the window" in each round's line is that share. The load is customers' conversations on the voice webhook: a greeting, where is my
order, the number (each customer's own), thanks bye, and the two survey answers ("yes", "nine").
With `--mix found` (the default) each parcours server's store first imports the customers' profiles
(`serve_bench customers`, `parcours customers import`, not measured), each with the 8 orders its rounds
ask about in turn, so the order is found, the conversation solved, and the survey asked after every
one (`survey_every_days = 0`: a customer of the bench calls again and again within seconds, where a
real one would be asked once a week): one conversation of six turns. With `--mix unfound` (the only
mix before 2026-12-05's eighth run) no profile is imported and every round's number is new: the order
is never found, the bot asks its survey only after a conversation it solved, so "yes" and "nine" open a
second, short conversation (two conversations per six turns). The table gives the median of the rounds.

    cargo build --release --bin parcours --example serve_bench
    python3 scripts/serve_bench.py --rounds 3 [--baseline-bin OLD_BUILD]

Linux only (/proc, sched_setaffinity); the standard library only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import Server, free_port  # noqa: E402


class Bare(Server):
    """The floor: the example's `bare` endpoint, with or without its group-commit fdatasync."""

    def __init__(self, name, binary, fdatasync):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"parcours-bench-{name.replace('+', '-')}-")
        self.port = free_port()
        cmd = [binary, "bare", "--listen", f"127.0.0.1:{self.port}"]
        if fdatasync:
            cmd += ["--fdatasync", os.path.join(self.dir, "log")]
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)


def pinned(core, start):
    """Starts a server whose threads all run on one core (children inherit the affinity)."""
    everything = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        server = start()
    finally:
        os.sched_setaffinity(0, everything)
    server.wait_ready_port = server.port
    return server


def wait_listening(server):
    if isinstance(server, Bare):
        import socket
        import time
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        sys.exit(f"{server.name}: not listening after 30 s")
    server.wait_ready()


# The customers' tags (in their caller ids): one set of customers for the closed loop, one per rate.
CLOSED_TAG = "1"
CLOSED_CONNECTIONS = 32
RATE_CONNECTIONS = 256
CUSTOMERS_PER_CONNECTION = 40
ORDERS = 8


def rate_tag(i):
    return str(2 + i)


def load(args, server, rate=None, tag=None):
    cmd = ["taskset", "-c", str(args.load_core), args.bench_bin, "load", "--port", str(server.port),
           "--pid", str(server.proc.pid), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
           "--connections", str(RATE_CONNECTIONS if rate else CLOSED_CONNECTIONS),
           "--customers-per-connection", str(CUSTOMERS_PER_CONNECTION)]
    if rate:
        cmd += ["--rate", str(rate)]
    if args.mix == "found" and tag is not None:
        cmd += ["--tag", tag, "--orders", str(ORDERS)]
    # The closed loop's settling (before and after its window) takes up to 90 s each.
    out = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=args.seconds + args.warmup + 60 + (0 if rate else 200))
    if out.returncode != 0:
        sys.exit(f"the load generator failed: {out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for when, settled in zip(("before", "after"), result.get("settled") or ()):
        if settled and not settled[1]:
            print(f"warning: {server.name} did not settle {when} the window ({settled[0]} rounds): "
                  "the CPU per turn may leave some of its work out", file=sys.stderr)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/parcours")
    ap.add_argument("--bench-bin", default="target/release/examples/serve_bench")
    ap.add_argument("--intents", default="intents")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--rate", type=float, action="append", default=None,
                    help="open-loop rates, turns per second (default: 1000)")
    ap.add_argument("--server-core", type=int, default=0)
    ap.add_argument("--load-core", type=int, default=1)
    ap.add_argument("--only", default=None, help="comma-separated server names to run")
    ap.add_argument("--baseline-bin", default=None,
                    help="another parcours binary (an earlier build) measured alongside, as 'parcours-before'")
    ap.add_argument("--baseline-intents", default=None,
                    help="the intents folder the baseline build reads (default: --intents); an older build may not "
                         "read a newer messages.toml")
    ap.add_argument("--baseline-bench-bin", default=None,
                    help="another build of the example (other compiler settings, say): its bare endpoints measured "
                         "alongside, as 'bare-before' and 'bare+fdatasync-before'")
    ap.add_argument("--mix", choices=["found", "unfound"], default="found",
                    help="found: the customers' orders are in their profiles, the survey follows (default); "
                         "unfound: no profile, no order found, no survey (the mix before 2026-12-05's eighth run)")
    args = ap.parse_args()
    rates = args.rate or [1000]
    imports, settings = (), ""
    if args.mix == "found":
        profiles = tempfile.mkdtemp(prefix="parcours-bench-profiles-")
        imports = []
        for tag, connections in [(CLOSED_TAG, CLOSED_CONNECTIONS)] + [
                (rate_tag(i), RATE_CONNECTIONS) for i in range(len(rates))]:
            path = os.path.join(profiles, f"customers-{tag}.json")
            with open(path, "w") as f:
                subprocess.run([args.bench_bin, "customers", "--tag", tag, "--connections", str(connections),
                                "--customers-per-connection", str(CUSTOMERS_PER_CONNECTION),
                                "--orders", str(ORDERS)],
                               stdout=f, check=True)
            imports.append(path)
        settings = "survey_every_days = 0\n"

    def parcours(name, binary, extra="", intents=None):
        # The default log level of `serve`, as a deployment has it.
        return Server(name, binary, intents or args.intents, 0, {"RUST_LOG": "warn,parcours=info"},
                      settings=settings + extra, imports=imports)

    makers = {
        "parcours": lambda: parcours("parcours", args.bin),
        # The same build parsing every message: what the memo of short messages saves.
        "parcours-no-memo": lambda: parcours("no-memo", args.bin, "nlu_memo = 0\n"),
        **({"parcours-before": lambda: parcours("before", args.baseline_bin, intents=args.baseline_intents)}
           if args.baseline_bin else {}),
        "bare": lambda: Bare("bare", args.bench_bin, False),
        "bare+fdatasync": lambda: Bare("bare+fdatasync", args.bench_bin, True),
        **({"bare-before": lambda: Bare("bare-before", args.baseline_bench_bin, False),
            "bare+fdatasync-before": lambda: Bare("bare+fdatasync-before", args.baseline_bench_bin, True)}
           if args.baseline_bench_bin else {}),
    }
    if args.only:
        makers = {k: v for k, v in makers.items() if k in args.only.split(",")}
    results = {name: [] for name in makers}
    for r in range(args.rounds):
        for name, make in makers.items():
            server = pinned(args.server_core, make)
            try:
                wait_listening(server)
                row = {"closed": load(args, server, tag=CLOSED_TAG)}
                for i, rate in enumerate(rates):
                    row[rate] = load(args, server, rate, tag=rate_tag(i))
                row["rss_mib"] = row[rates[-1]]["rss_mib"]
            finally:
                server.stop()
            results[name].append(row)
            c = row["closed"]
            print(f"round {r + 1} {name:15} {c['turns_per_s']:9.0f} turns/s {c['cpu_us_per_turn']:7.1f} µs/turn "
                  f"(of which {c['settling_cpu_us_per_turn']:.1f} after the window) "
                  + " ".join(f"@{rate:.0f}/s p99 {row[rate]['p99_ms']:.2f} ms" for rate in rates)
                  + f" errors {c['errors'] + sum(row[rate]['errors'] for rate in rates)}", flush=True)

    med = lambda rows, f: statistics.median(f(x) for x in rows)  # noqa: E731
    print()
    print(f"medians of {args.rounds} rounds, {args.seconds:.0f} s each; server on core {args.server_core}, "
          f"load on core {args.load_core}; mix: {args.mix}")
    header = "| server | turns/s (closed loop) | CPU µs/turn | CPU ratio to parcours |"
    for rate in rates:
        header += f" p50 / p99 / p99.9 ms at {rate:.0f}/s |"
    print(header + " RSS MiB |")
    print("|" + "---|" * (4 + len(rates) + 1))
    base = med(results["parcours"], lambda x: x["closed"]["cpu_us_per_turn"]) if "parcours" in results else None
    for name, rows in results.items():
        cpu = med(rows, lambda x: x["closed"]["cpu_us_per_turn"])
        line = (f"| {name} | {med(rows, lambda x: x['closed']['turns_per_s']):,.0f} | {cpu:.1f} | "
                + (f"{cpu / base:.2f}× |" if base else "- |"))
        for rate in rates:
            line += (f" {med(rows, lambda x: x[rate]['p50_ms']):.2f} / {med(rows, lambda x: x[rate]['p99_ms']):.2f}"
                     f" / {med(rows, lambda x: x[rate]['p999_ms']):.2f} |")
        print(line + f" {med(rows, lambda x: x['rss_mib']):.0f} |")

    # The ratios the targets are stated in, round by round (each round's servers ran one after another).
    if "parcours" in results:
        mine = results["parcours"]
        print()
        for other in (n for n in results if n.startswith("bare")):
            tps = [a["closed"]["turns_per_s"] / b["closed"]["turns_per_s"] for a, b in zip(mine, results[other])]
            line = (f"parcours's turns/s against {other}: {statistics.median(tps):.2f}× "
                    f"(rounds: {', '.join(f'{x:.2f}×' for x in tps)})")
            if "fdatasync" in other:
                for rate in rates:
                    p99 = [a[rate]["p99_ms"] / b[rate]["p99_ms"] for a, b in zip(mine, results[other])]
                    line += (f"; p99 at {rate:.0f}/s {statistics.median(p99):.2f}× "
                             f"(rounds: {', '.join(f'{x:.2f}×' for x in p99)})")
            print(line)


if __name__ == "__main__":
    main()
