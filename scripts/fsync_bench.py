#!/usr/bin/env python3
"""What a group commit's `fdatasync` costs on this file system: appended to a file, or written over one
written ahead. Side by side in one run.

Each case writes `--bytes` (one frame of a group of turns) and syncs it with `fdatasync`, one after
another, for `--seconds`, in rounds alternating the cases:
  append        to a file that grows at each write, as the bare endpoint with fdatasync does, and as the
                journal did while the load grew (each sync writes the inode too: the file's size changed)
  written over  a file already written (zeros) and synced past where the writes go, as the journal's
                files are now (src/store/journal.rs: recycled, and written ahead)
It prints syncs per second, the latency of a write and its sync (p50, p99) and the process's CPU per
sync, medians of the rounds.

    python3 scripts/fsync_bench.py [--dir DIR] [--rounds 3] [--seconds 4] [--bytes 30000]

The standard library only; run it on the file system the data directory is on (`--dir`).
"""

import argparse
import os
import statistics
import tempfile
import time


def one(path, ahead, seconds, size):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        room = 0
        if ahead:
            # 64 MiB written and synced; the writes go round it, as the journal goes round its files.
            block = bytes(1 << 20)
            for _ in range(64):
                os.write(fd, block)
            os.fdatasync(fd)
            os.lseek(fd, 0, os.SEEK_SET)
            room = 64 * len(block)
        buf = b"x" * size
        latencies = []
        at = 0
        cpu = time.process_time()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            if room and at + size > room:
                os.lseek(fd, 0, os.SEEK_SET)
                at = 0
            os.write(fd, buf)
            at += size
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - t)
        cpu = time.process_time() - cpu
    finally:
        os.close(fd)
        os.unlink(path)
    latencies.sort()
    n = len(latencies)
    return {
        "syncs_per_s": n / seconds,
        "p50_us": latencies[n // 2] * 1e6,
        "p99_us": latencies[min(n - 1, int(n * 0.99))] * 1e6,
        "cpu_us": cpu / n * 1e6,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=None, help="where the files go (default: the temporary directory)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--bytes", type=int, default=30000)
    args = ap.parse_args()
    cases = {"append": False, "written over": True}
    results = {name: [] for name in cases}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="parcours-fsync-") as d:
        for r in range(args.rounds):
            for name, ahead in cases.items():
                row = one(os.path.join(d, "log"), ahead, args.seconds, args.bytes)
                results[name].append(row)
                print(f"round {r + 1} {name:13} {row['syncs_per_s']:7.0f} syncs/s  p50 {row['p50_us']:6.0f} µs  "
                      f"p99 {row['p99_us']:6.0f} µs  CPU {row['cpu_us']:5.0f} µs/sync", flush=True)
    print()
    print(f"medians of {args.rounds} rounds of {args.seconds:.0f} s, {args.bytes} bytes a sync")
    print("| file | syncs/s | p50 µs | p99 µs | CPU µs/sync |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        med = lambda k: statistics.median(x[k] for x in rows)  # noqa: E731
        print(f"| {name} | {med('syncs_per_s'):,.0f} | {med('p50_us'):.0f} | {med('p99_us'):.0f} | "
              f"{med('cpu_us'):.0f} |")


if __name__ == "__main__":
    main()
