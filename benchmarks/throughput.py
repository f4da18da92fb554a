"""Throughput of the batch command against plain `nbgrader autograde`, on the same submissions.

    ./course bench              (or: .venv/bin/python benchmarks/throughput.py -n 24)

Grades N submissions (half solved, half blank) twice, in two copies of the course:
  plain: `nbgrader autograde embeddings` under a minimal nbgrader config (stock preprocessors,
         stock kernels: what nbgrader does out of the box);
  batch: `python -m labgrader autograde embeddings` (sandboxed, warm fork server, all cores).
Checks that every cell's score is identical, then prints both times, the ratio, the peak
memory of each run's process tree, and the latency of one student's `nbgrader validate`.
"""
import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "grader_tests"))
import snippets as submissions  # noqa: E402  (the corpus's notebook builder)
from labgrader.reports.gradebook import cell_scores  # noqa: E402

ASSIGNMENT = "embeddings"
MINIMAL_CONFIG = """c = get_config()
c.CourseDirectory.course_id = "bench"
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
c.Autograde.create_student = True
"""


def make_course(dest, n, minimal):
    dest.mkdir(parents=True)
    shutil.copytree(REPO / "source", dest / "source")
    shutil.copytree(REPO / "release", dest / "release")
    if minimal:
        (dest / "nbgrader_config.py").write_text(MINIMAL_CONFIG.format(root=dest))
    else:
        shutil.copy(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
    release = dest / "release" / ASSIGNMENT / submissions.NOTEBOOK
    solved = submissions.load(REPO / "grader_tests" / "submissions" / "correct" / "list_and_flatten.py")
    blank = submissions.load(REPO / "grader_tests" / "submissions" / "wrong" / "untouched.py")
    for i in range(n):
        submissions.write_submission(solved if i % 2 == 0 else blank, release,
                                     dest / "submitted" / f"student{i:03d}" / ASSIGNMENT)
    run(["nbgrader", "generate_assignment", ASSIGNMENT, "--force"], dest)
    return dest


def run(cmd, cwd):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed(cmd, cwd):
    """Seconds taken, and the peak resident memory of the whole process tree (sampled)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0]

    def sample():
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root] + root.children(recursive=True)
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    sampler.join()
    if code:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {code}")
    return time.monotonic() - started, peak[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=24, help="submissions (half solved, half blank)")
    parser.add_argument("--validate-runs", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="labgrader-bench-"))
    try:
        plain = make_course(work / "plain", args.n, minimal=True)
        batch = make_course(work / "batch", args.n, minimal=False)
        print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}")
        print(f"Grading {args.n} submissions ({args.n // 2} solved, {args.n - args.n // 2} blank) ...", flush=True)
        plain_s, plain_mem = timed(["nbgrader", "autograde", ASSIGNMENT], plain)
        batch_s, batch_mem = timed([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT], batch)

        a = cell_scores(f"sqlite:///{plain}/gradebook.db", ASSIGNMENT)
        b = cell_scores(f"sqlite:///{batch}/gradebook.db", ASSIGNMENT)
        same = a == b and len(a) == args.n

        notebook = batch / "submitted" / "student000" / ASSIGNMENT / submissions.NOTEBOOK
        latencies = []
        for _ in range(args.validate_runs):
            seconds, _ = timed(["nbgrader", "validate", str(notebook)], batch)
            latencies.append(seconds)

        print()
        print(f"{'':34}{'plain nbgrader':>16}{'batch':>12}")
        print(f"{'wall-clock time (s)':34}{plain_s:>16.1f}{batch_s:>12.1f}")
        print(f"{'per submission (s)':34}{plain_s / args.n:>16.2f}{batch_s / args.n:>12.2f}")
        print(f"{'peak memory of the run (MiB)':34}{plain_mem / 2**20:>16.0f}{batch_mem / 2**20:>12.0f}")
        print(f"\nthroughput ratio (plain / batch): {plain_s / batch_s:.1f}x")
        print(f"nbgrader validate, one notebook: median {statistics.median(latencies):.1f} s of {len(latencies)} runs")
        print(f"scores identical cell by cell: {'yes' if same else 'NO'}")
        if not same:
            raise SystemExit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
