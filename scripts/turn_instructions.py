#!/usr/bin/env python3
"""Instructions per turn inside the bot's turn (`Bot::turn`; `Bot::handle` before 2026-12-06), counted by callgrind: repeatable whatever else the machine
is doing (within a few instructions from run to run), where CPU time is not. Each binary replays the same conversations through `parcours chat` on a
fresh store (a greeting, where is my order, the number, a new one each time, thanks bye, two survey
answers; 150 times), with
collection on only inside the turn's future. The regexes compiled once at the first turn (lazy statics)
are left out, so the figure is what a warm server spends per turn in the bot, store calls included,
sled's background threads and HTTP not.

    cargo build --release --bin parcours
    python3 scripts/turn_instructions.py [--baseline-bin OLD_BUILD --baseline-intents OLD_INTENTS]

Needs valgrind (callgrind_annotate comes with it).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

LINES = ["hi", "where is my order?", None, "thanks, bye", "yes", "nine"]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def script(repeats):
    """The lines said, the order number (None in LINES) a new one in each conversation."""
    said = []
    for r in range(repeats):
        number = " ".join(DIGITS[int(d)] for d in f"{(r * 104729) % 10000:04d}")
        said += [line or number for line in LINES]
    return said
# The turn's future: `Bot::turn` since 2026-12-06, `Bot::handle` in the builds before (both are named, so
# that an older build counts the same code as a baseline).
INSIDE = ["parcours::bot::Bot::turn::{{closure}}::{{closure}}",
          "parcours::bot::Bot::handle::{{closure}}::{{closure}}"]


def count(binary, repeats, settings="", intents="intents"):
    with tempfile.TemporaryDirectory(prefix="parcours-cg-") as d:
        lines = os.path.join(d, "script.txt")
        with open(lines, "w") as f:
            f.write("\n".join(script(repeats)) + "\n")
        config = []
        if settings:
            config = ["--config", os.path.join(d, "parcours.toml")]
            with open(config[1], "w") as f:
                f.write(settings)
        out = os.path.join(d, "callgrind.out")
        with open(lines) as stdin:
            run = subprocess.run(
                ["valgrind", "--tool=callgrind", *[f"--toggle-collect={f}" for f in INSIDE],
                 f"--callgrind-out-file={out}",
                 binary, "chat", "--user", "alice", "--data-dir", os.path.join(d, "data"),
                 "--intents", intents] + config,
                stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if run.returncode != 0:
            sys.exit(f"{binary}: {run.stderr[-2000:]}")
        report = subprocess.run(["callgrind_annotate", "--inclusive=yes", out],
                                capture_output=True, text=True, check=True).stdout
    number = lambda line: int(line.split()[0].replace(",", ""))  # noqa: E731
    total = next(number(l) for l in report.splitlines() if "PROGRAM TOTALS" in l)
    compile_once = sum(number(l) for l in report.splitlines()
                       if re.search(r"regex::regex::string::Regex::new \[", l))
    return total, compile_once


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/parcours")
    ap.add_argument("--baseline-bin", default=None, help="an earlier build, counted alongside")
    ap.add_argument("--baseline-intents", default="intents",
                    help="the baseline's own intent pack (an older build does not read a newer messages.toml)")
    ap.add_argument("--repeats", type=int, default=150, help="conversations replayed")
    args = ap.parse_args()
    turns = len(LINES) * args.repeats
    # parcours-no-memo: the same build parsing every message (`nlu_memo = 0`).
    rows = [("parcours", args.bin, "", "intents"), ("parcours-no-memo", args.bin, "nlu_memo = 0\n", "intents")]
    rows += [("parcours-before", args.baseline_bin, "", args.baseline_intents)] if args.baseline_bin else []
    results = {}
    for name, binary, settings, intents in rows:
        total, once = count(binary, args.repeats, settings, intents)
        results[name] = (total - once) / turns
        print(f"{name}: {total:,} instructions in {turns} turns, {once:,} of them compiling regexes once",
              flush=True)
    print()
    print("| build | instructions per turn in Bot::handle | ratio |")
    print("|---|---|---|")
    base = results["parcours"]
    for name, per_turn in results.items():
        print(f"| {name} | {per_turn:,.0f} | {per_turn / base:.2f}× |")


if __name__ == "__main__":
    main()
