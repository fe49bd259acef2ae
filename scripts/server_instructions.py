#!/usr/bin/env python3
"""Instructions per turn of the whole server, counted by callgrind: `parcours serve` under valgrind
answers the serving benchmark's closed loop (`serve_bench load`, the found mix of `serve_bench.py`:
greeting, where is my order, the number, the order's status, thanks bye, the two survey answers, over
1,280 customers with their orders imported), and every thread's instructions are counted: HTTP, the
bot, the store, the journal's checkpoints and sled's threads. The kernel's share (sockets, the
`fdatasync`) is not in it. Unlike CPU time on this shared VM, the count hardly moves from run to run,
so it tells which of two builds does less work; `serve_bench.py` tells what that is worth in time.

Counting starts after a warm-up load (the lazy regexes compiled, the caches filled) and covers the
measured window; the figure is the instructions counted divided by the turns answered in it. Under
valgrind the server answers a few hundred turns a second, so its checkpoints (every 2 s) write fewer
turns each than at full speed, and the NLU's memo has seen fewer of the order numbers: both weigh
more here than in `serve_bench.py`.

    cargo build --release --bin parcours --example serve_bench
    python3 scripts/server_instructions.py [--baseline-bin OLD_BUILD]

Needs valgrind (callgrind_control and callgrind_annotate come with it).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

CONNECTIONS = 32
CUSTOMERS_PER_CONNECTION = 40
ORDERS = 8


def wait_listening(port, proc, log, seconds=300):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server under valgrind stopped (exit {proc.returncode}): {open(log).read()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    sys.exit(f"the server under valgrind did not start listening: {open(log).read()[-2000:]}")


def load(bench_bin, port, pid, seconds):
    out = subprocess.run([bench_bin, "load", "--port", str(port), "--pid", str(pid), "--seconds", str(seconds),
                          "--warmup", "0", "--connections", str(CONNECTIONS), "--customers-per-connection",
                          str(CUSTOMERS_PER_CONNECTION), "--tag", "1", "--orders", str(ORDERS)],
                         capture_output=True, text=True, timeout=seconds + 120)
    if out.returncode != 0:
        sys.exit(f"the load generator failed: {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def count(binary, bench_bin, intents, port, warmup, seconds, keep=None):
    with tempfile.TemporaryDirectory(prefix="parcours-server-cg-") as d:
        customers = os.path.join(d, "customers.json")
        with open(customers, "w") as f:
            subprocess.run([bench_bin, "customers", "--tag", "1", "--connections", str(CONNECTIONS),
                            "--customers-per-connection", str(CUSTOMERS_PER_CONNECTION), "--orders", str(ORDERS)],
                           stdout=f, check=True)
        data = os.path.join(d, "data")
        subprocess.run([binary, "customers", "import", "--data-dir", data, customers], check=True,
                       capture_output=True)
        settings = os.path.join(d, "settings.toml")
        with open(settings, "w") as f:
            f.write("survey_every_days = 0\n")
        out = os.path.join(d, "callgrind.out")
        env = {k: v for k, v in os.environ.items() if k != "PARCOURS_WEBHOOK_TOKEN"}
        env["RUST_LOG"] = "warn"
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                                 binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data,
                                 "--intents", intents, "--config", settings],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "server.log"), "w"),
                                env=env)
        try:
            wait_listening(port, proc, os.path.join(d, "server.log"))
            control = lambda *a: subprocess.run(["callgrind_control", *a, str(proc.pid)], check=True,
                                                capture_output=True)
            control("-i", "on")
            load(bench_bin, port, proc.pid, warmup)
            control("-z")
            measured = load(bench_bin, port, proc.pid, seconds)
            control("-d")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        dump = f"{out}.1"
        if keep:
            shutil.copy(dump, keep)
        report = subprocess.run(["callgrind_annotate", dump], capture_output=True, text=True, check=True).stdout
        total = int(re.search(r"([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", report).group(1).replace(",", ""))
        return total, measured["turns"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/parcours")
    ap.add_argument("--bench-bin", default="target/release/examples/serve_bench")
    ap.add_argument("--baseline-bin", default=None, help="another parcours binary counted alongside")
    ap.add_argument("--intents", default="intents")
    ap.add_argument("--warmup", type=float, default=6, help="seconds of load before counting")
    ap.add_argument("--seconds", type=float, default=25, help="seconds of load counted")
    ap.add_argument("--port", type=int, default=9390)
    ap.add_argument("--keep", default=None, metavar="PREFIX",
                    help="keep each build's callgrind dump as PREFIX.<name> (for callgrind_annotate --inclusive=yes)")
    args = ap.parse_args()
    for tool in ["valgrind", "callgrind_control", "callgrind_annotate"]:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed (it comes with valgrind)")
    builds = [("parcours", args.bin)] + ([("parcours-before", args.baseline_bin)] if args.baseline_bin else [])
    rows = []
    for i, (name, binary) in enumerate(builds):
        total, turns = count(binary, args.bench_bin, args.intents, args.port + i, args.warmup, args.seconds,
                             keep=f"{args.keep}.{name}" if args.keep else None)
        rows.append((name, total, turns))
        print(f"{name:16} {turns:7,} turns  {total:15,} instructions  {total / turns:10,.0f} per turn",
              flush=True)
    if len(rows) == 2:
        print(f"\nparcours against parcours-before: {rows[0][1] / rows[0][2] / (rows[1][1] / rows[1][2]):.3f}×"
              " the instructions per turn")


if __name__ == "__main__":
    main()
