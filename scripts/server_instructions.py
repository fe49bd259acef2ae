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

With `--bare`, the example's bare axum endpoints (`serve_bench bare`, with and without its
group-commit `fdatasync`) answer the same load under callgrind too, so that parcours's count is given
against the floor's, as `serve_bench.py` gives their CPU side by side.

    cargo build --release --bin parcours --example serve_bench
    python3 scripts/server_instructions.py [--baseline-bin OLD_BUILD] [--bare]

Needs valgrind (callgrind_control and callgrind_annotate come with it).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CONNECTIONS = 32
CUSTOMERS_PER_CONNECTION = 40
ORDERS = 8


def wait_listening(port, proc, log, seconds=300, bare=False):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server under valgrind stopped (exit {proc.returncode}): {open(log).read()[-2000:]}")
        try:
            if bare:
                # The bare endpoint has one route: that it accepts a connection is enough.
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            else:
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


def count(binary, bench_bin, intents, port, warmup, seconds, keep=None, bare=None):
    """`bare`: None for parcours (`binary`), else the bare endpoint, with its `fdatasync` (True) or not."""
    with tempfile.TemporaryDirectory(prefix="parcours-server-cg-") as d:
        if bare is None:
            customers = os.path.join(d, "customers.json")
            with open(customers, "w") as f:
                subprocess.run([bench_bin, "customers", "--tag", "1", "--connections", str(CONNECTIONS),
                                "--customers-per-connection", str(CUSTOMERS_PER_CONNECTION), "--orders",
                                str(ORDERS)], stdout=f, check=True)
            data = os.path.join(d, "data")
            subprocess.run([binary, "customers", "import", "--data-dir", data, customers], check=True,
                           capture_output=True)
            settings = os.path.join(d, "settings.toml")
            with open(settings, "w") as f:
                f.write("survey_every_days = 0\n")
            command = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data,
                       "--intents", intents, "--config", settings]
        else:
            command = [bench_bin, "bare", "--listen", f"127.0.0.1:{port}"]
            if bare:
                command += ["--fdatasync", os.path.join(d, "log")]
        out = os.path.join(d, "callgrind.out")
        env = {k: v for k, v in os.environ.items() if k != "PARCOURS_WEBHOOK_TOKEN"}
        env["RUST_LOG"] = "warn"
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                                 *command],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "server.log"), "w"),
                                env=env)
        try:
            wait_listening(port, proc, os.path.join(d, "server.log"), bare=bare is not None)
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
    ap.add_argument("--bare", action="store_true",
                    help="count the example's bare endpoints (with and without fdatasync) alongside")
    ap.add_argument("--keep", default=None, metavar="PREFIX",
                    help="keep each build's callgrind dump as PREFIX.<name> (for callgrind_annotate --inclusive=yes)")
    args = ap.parse_args()
    for tool in ["valgrind", "callgrind_control", "callgrind_annotate"]:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed (it comes with valgrind)")
    builds = [("parcours", args.bin, None)]
    if args.baseline_bin:
        builds.append(("parcours-before", args.baseline_bin, None))
    if args.bare:
        builds += [("bare", None, False), ("bare+fdatasync", None, True)]
    rows = {}
    for i, (name, binary, bare) in enumerate(builds):
        total, turns = count(binary, args.bench_bin, args.intents, args.port + i, args.warmup, args.seconds,
                             keep=f"{args.keep}.{name}" if args.keep else None, bare=bare)
        rows[name] = total / turns
        print(f"{name:16} {turns:7,} turns  {total:15,} instructions  {total / turns:10,.0f} per turn",
              flush=True)
    print()
    for other in [n for n in rows if n != "parcours"]:
        print(f"parcours against {other}: {rows['parcours'] / rows[other]:.3f}× the instructions per turn")


if __name__ == "__main__":
    main()
