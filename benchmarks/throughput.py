"""Throughput of the batch command against plain `nbgrader autograde`, on the same submissions.

    ./course bench                          (or: .venv/bin/python benchmarks/throughput.py)
    ./course bench -n 8 --scaling 8,16      (a quick run)

Grades N submissions (half solved, half blank) three times, in copies of the course:
  plain: `nbgrader autograde embeddings` from the course root with the course's own
         nbgrader_config.py plus `c.GradingKernelManager.warm_kernels = False` (the same
         preprocessors and judge, one cold sandboxed kernel per submission, one submission at a
         time: nbgrader's own way of running kernels); --stock: under a minimal config instead (stock preprocessors and kernels; its
         scores are not comparable since the hidden tests only hand answers over: the grader's
         judge is not run, so they are not compared);
  plain, warm: the same without that line (the course's default: the command forks its
         kernels from a fork server of its own; skipped with --stock);
  batch: `python -m labgrader autograde embeddings` (sandboxed, warm fork server, all cores).
Checks that every cell's score is identical, then prints for each: wall time, CPU seconds
(user+sys) per submission summed over every process of the run (this script's RUSAGE_CHILDREN,
or the processes' sampled CPU when larger), and the peak memory of the run's process tree as PSS (shared pages counted
once, sampled every 0.25 s); then the batch alone on classes of --scaling sizes (time, CPU and
memory per submission should stay flat), and one student's `nbgrader validate`.
"""
import argparse
import os
import platform
import resource
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


def make_course(dest, n, minimal, cold=False):
    dest.mkdir(parents=True)
    shutil.copytree(REPO / "source", dest / "source")
    shutil.copytree(REPO / "release", dest / "release")
    if minimal:
        (dest / "nbgrader_config.py").write_text(MINIMAL_CONFIG.format(root=dest))
    else:
        shutil.copy(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
        if cold:  # in the file: the readiness check's kernel reads the course's file, not the command line
            with open(dest / "nbgrader_config.py", "a") as config:
                config.write("\nc.GradingKernelManager.warm_kernels = False\n")
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


def tree_sample(root, cpu):
    """PSS of ``root`` and its descendants (a page shared by n of them counts 1/n to each); also
    records each one's CPU seconds so far in ``cpu`` (pid -> seconds)."""
    total = 0
    for proc in [root] + root.children(recursive=True):
        try:
            times = proc.cpu_times()
            cpu[(proc.pid, proc.create_time())] = times.user + times.system
            total += proc.memory_full_info().pss
        except psutil.Error:
            pass  # ended meanwhile
    return total


def measured(cmd, cwd):
    """Seconds taken, CPU seconds of the whole process tree, and its peak PSS (sampled).

    CPU: this script's RUSAGE_CHILDREN counts every descendant that was waited for; a process
    killed before it waited for its own children (bwrap, when jupyter_client kills a cold
    kernel) loses theirs, so the sum of each process's last sampled CPU is taken when larger."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, sampled = [0], {}

    def sample():
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                peak[0] = max(peak[0], tree_sample(root, sampled))
            except psutil.Error:
                pass
            time.sleep(0.25)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    sampler.join()
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = max((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), sum(sampled.values()))
    if code:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {code}")
    return seconds, cpu, peak[0]


def timed(cmd, cwd):
    """Seconds taken and the peak PSS of the process tree (benchmarks/distributed.py uses it)."""
    seconds, _, peak = measured(cmd, cwd)
    return seconds, peak


def batch_command():
    return [sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=24, help="submissions graded by both (half solved, half blank)")
    parser.add_argument("--scaling", default="24,96,240",
                        help="class sizes the batch alone grades, comma-separated ('' to skip)")
    parser.add_argument("--stock", action="store_true", help="plain nbgrader under a minimal config (timing only)")
    parser.add_argument("--validate-runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.scaling.split(",") if size.strip()]

    work = Path(tempfile.mkdtemp(prefix="labgrader-bench-"))
    try:
        plain = make_course(work / "plain", args.n, minimal=args.stock, cold=True)
        warm = None if args.stock else make_course(work / "warm", args.n, minimal=False)
        batch = make_course(work / "batch", args.n, minimal=False)
        print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}; "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"Grading {args.n} submissions ({args.n // 2} solved, {args.n - args.n // 2} blank) ...", flush=True)
        plain_s, plain_cpu, plain_mem = measured(["nbgrader", "autograde", ASSIGNMENT], plain)
        warm_s, warm_cpu, warm_mem = measured(["nbgrader", "autograde", ASSIGNMENT], warm) if warm else (0.0, 0.0, 0)
        batch_s, batch_cpu, batch_mem = measured(batch_command(), batch)

        a = cell_scores(f"sqlite:///{plain}/gradebook.db", ASSIGNMENT)
        b = cell_scores(f"sqlite:///{batch}/gradebook.db", ASSIGNMENT)
        same = (a == b or args.stock) and len(a) == len(b) == args.n
        if warm:
            same = same and cell_scores(f"sqlite:///{warm}/gradebook.db", ASSIGNMENT) == b

        notebook = batch / "submitted" / "student000" / ASSIGNMENT / submissions.NOTEBOOK
        latencies = []
        for _ in range(args.validate_runs):
            seconds, _ = timed(["nbgrader", "validate", str(notebook)], batch)
            latencies.append(seconds)

        n = args.n
        print()
        print(f"{'':44}{'plain nbgrader':>16}{'plain, warm':>13}{'batch':>12}")
        print(f"{'wall-clock time (s)':44}{plain_s:>16.1f}{warm_s:>13.1f}{batch_s:>12.1f}")
        print(f"{'per submission (s)':44}{plain_s / n:>16.2f}{warm_s / n:>13.2f}{batch_s / n:>12.2f}")
        print(f"{'CPU per submission, all processes (s)':44}{plain_cpu / n:>16.2f}{warm_cpu / n:>13.2f}{batch_cpu / n:>12.2f}")
        print(f"{'peak memory of the run, PSS (MiB)':44}{plain_mem / 2**20:>16.0f}{warm_mem / 2**20:>13.0f}{batch_mem / 2**20:>12.0f}")
        print(f"\nthroughput ratio (plain / batch): {plain_s / batch_s:.1f}x"
              + (f"; plain, warm / batch: {warm_s / batch_s:.1f}x" if warm else ""))
        print(f"nbgrader validate, one notebook: median {statistics.median(latencies):.1f} s of {len(latencies)} runs")
        print(f"scores identical cell by cell: {'not compared (--stock)' if args.stock else 'yes' if same else 'NO'}")
        if not same:
            for student in sorted(set(a) | set(b)):
                if a.get(student) != b.get(student):
                    print(f"  {student}: plain {a.get(student)}  batch {b.get(student)}")
            raise SystemExit(1)
        shutil.rmtree(plain, ignore_errors=True)
        if warm:
            shutil.rmtree(warm, ignore_errors=True)

        if sizes:
            print(f"\nThe batch alone, by class size (load average before: {os.getloadavg()[0]:.1f}):")
            print(f"{'submissions':>12}{'wall (s)':>10}{'s each':>8}{'CPU s each':>12}{'peak PSS (MiB)':>16}")
            for size in sizes:
                course = make_course(work / f"batch{size}", size, minimal=False)
                seconds, cpu, mem = measured(batch_command(), course)
                graded = cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT)
                if len(graded) != size:
                    raise SystemExit(f"{size} submissions: only {len(graded)} graded")
                print(f"{size:>12}{seconds:>10.1f}{seconds / size:>8.2f}{cpu / size:>12.2f}{mem / 2**20:>16.0f}",
                      flush=True)
                shutil.rmtree(course, ignore_errors=True)
            print(f"(load average after: {os.getloadavg()[0]:.1f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
