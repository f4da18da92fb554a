"""Throughput of the batch command on a Dask LocalCluster of 1, 2, 3 workers against the local pool.

    ./course bench --distributed     (or: .venv/bin/python benchmarks/distributed.py -n 24 --workers 1 2 3)

Grades the same N submissions (half solved, half blank) in one copy of the course per run:
  pool:    `python -m labgrader autograde embeddings` (local process pool, cores + 1 workers)
  dask N:  `python -m labgrader autograde embeddings --cluster local --workers N`
Prints, for each run, the command's wall-clock time (cluster and fork servers' start-up included),
the grading time the command reports (from its first submission to the last) and submissions per
minute, and checks that every cell's score is identical to the pool's.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import ASSIGNMENT, cell_scores, make_course, timed  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=24, help="submissions (half solved, half blank)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3], help="LocalCluster sizes to run")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="labgrader-bench-dask-"))
    try:
        print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}")
        runs = [("pool", [])] + [(f"dask, {n} worker(s)", ["--cluster", "local", "--workers", str(n)]) for n in args.workers]
        rows, baseline, same = [], None, True
        for i, (name, extra) in enumerate(runs):
            course = make_course(work / f"run{i}", args.n, minimal=False)
            print(f"{name}: grading {args.n} submissions ...", flush=True)
            seconds, memory = timed([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT, *extra], course)
            report = json.loads((course / f"grading_report_{ASSIGNMENT}.json").read_text())
            scores = cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT)
            if baseline is None:
                baseline = scores
            identical = scores == baseline and len(scores) == args.n
            same &= identical
            rows.append((name, seconds, report["seconds"], memory, identical))
        print()
        print(f"{'':22}{'wall-clock (s)':>16}{'grading (s)':>13}{'per minute':>12}{'peak MiB':>10}{'same scores':>13}")
        for name, seconds, grading, memory, identical in rows:
            print(f"{name:22}{seconds:>16.1f}{grading:>13.1f}{60 * args.n / seconds:>12.1f}"
                  f"{memory / 2**20:>10.0f}{'yes' if identical else 'NO':>13}")
        print("\nper minute: submissions graded per minute of wall-clock time (start-up included)")
        if not same:
            raise SystemExit("scores differ from the local pool's")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
