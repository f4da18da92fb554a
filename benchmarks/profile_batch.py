"""Where each submission's CPU goes, across every process of one batch run.

    .venv/bin/python benchmarks/profile_batch.py -n 8          (a quick look)
    .venv/bin/python benchmarks/profile_batch.py -n 24 --profiled 4
    .venv/bin/python benchmarks/profile_batch.py -n 12 --then 96 --empty 0 --profiled 0   (steady state)

1. Runs `python -m labgrader autograde embeddings` on N submissions (half solved, half blank)
   and polls its process tree (psutil, every --interval s): CPU seconds (user+sys) of the
   grader's main process, its workers, the fork server and the kernels the fork server forked.
   Kernels are counted exactly from the fork server's reaped-children times (each kernel is
   waited for by its fork-server child, which the server reaps); the whole tree's total comes
   from this script's own RUSAGE_CHILDREN, so nothing that exited between samples is lost.
2. Starts and stops --empty kernels (no cell) from a fork server: what a kernel costs before
   the notebook's first cell (start-up, the protocol's handshake, shutdown).
3. Grades --profiled submissions again in this process, like one worker does (init_worker,
   the same fork server): each nbgrader step's CPU and wall time; then the same submissions
   under cProfile with a CPU clock: the top functions of the worker.
4. With --then M: a second batch, of M submissions, right after the first (a fresh course): the
   difference between the two, divided by the M - N extra submissions, is the steady-state
   cost of one submission (start-up, the readiness check and the last stragglers cancel out).
All figures are divided per submission. The machine is shared: run it more than once.
"""
import argparse
import asyncio
import cProfile
import io
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import ASSIGNMENT, make_course  # noqa: E402


def cpu(times):
    return times.user + times.system


def children_cpu(times):
    return times.children_user + times.children_system


class TreeSampler(threading.Thread):
    """Last seen CPU times of every process under ``root``, with each one's role."""

    def __init__(self, root_pid, interval):
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(root_pid), interval
        self.role = {}        # pid -> main | worker | fork server | kernel | kernel (fork child) | other
        self.last = {}        # pid -> cpu_times
        self.stop = threading.Event()

    def classify(self, proc, parent_role):
        if proc.pid == self.root.pid:
            return "main"
        cmd = " ".join(proc.cmdline())
        if parent_role == "main":
            return "fork server" if "labgrader.kernels.forkserver" in cmd else "worker"
        if parent_role == "fork server":
            return "kernel (fork child)"
        if parent_role == "kernel (fork child)":
            return "kernel"
        return "other"

    def sample(self):
        try:
            tree = [self.root] + self.root.children(recursive=True)
        except psutil.Error:
            return
        for proc in tree:
            try:
                if proc.pid not in self.role:
                    parent = proc.ppid()
                    self.role[proc.pid] = self.classify(proc, self.role.get(parent))
                self.last[proc.pid] = proc.cpu_times()
            except psutil.Error:
                pass

    def run(self):
        while not self.stop.is_set():
            self.sample()
            time.sleep(self.interval)


def run_batch(course, interval):
    """CPU seconds by role, the exact total of the tree, and the wall time."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT], cwd=course, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid, interval)
    sampler.start()
    _, err = proc.communicate()
    sampler.stop.set()
    sampler.join()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    by_role = defaultdict(float)
    kernels = []
    for pid, times in sampler.last.items():
        role = sampler.role[pid]
        by_role[role] += cpu(times)
        if role == "fork server":
            # every kernel (and its fork child) was reaped by the server: exact, even between samples
            by_role["kernels (exact, reaped)"] += children_cpu(times)
        if role == "kernel":
            kernels.append(cpu(times))
    return {"wall": wall, "total": total, "by_role": dict(by_role), "kernels": kernels,
            "returncode": proc.returncode, "stderr": err}


def empty_kernels(course, count):
    """Start a kernel from a fork server and shut it down, ``count`` times: its CPU each time."""
    from labgrader.batch import task
    from labgrader.config import load_course_config
    from labgrader.kernels import forkserver
    from labgrader.kernels.manager import GradingKernelManager
    from labgrader.lab import load_lab
    config = load_course_config(course)
    lab = load_lab(task.course_directory(config), ASSIGNMENT)
    costs, walls = [], []

    async def one(socket):
        km = GradingKernelManager(config=config, fork_server=socket)
        await km.start_kernel(cwd=tempfile.mkdtemp(prefix="empty-kernel-", dir=course.parent))  # never the course
        client = km.client()
        client.start_channels()
        await client.wait_for_ready(timeout=60)
        client.stop_channels()
        await km.shutdown_kernel(now=False)

    with forkserver.Running(imports=lab.warm_imports) as server:
        fs = psutil.Process(server.process.pid)
        for _ in range(count):
            before = children_cpu(fs.cpu_times())
            started = time.monotonic()
            asyncio.run(one(server.socket))
            walls.append(time.monotonic() - started)
            deadline = time.monotonic() + 10
            while children_cpu(fs.cpu_times()) == before and time.monotonic() < deadline:
                forkserver.request(server.socket, {"op": "poll", "pid": -1})  # makes the server reap
                time.sleep(0.05)
            costs.append(children_cpu(fs.cpu_times()) - before)
    return costs, walls


class StepTimer:
    """CPU and wall seconds of each nbconvert/nbgrader preprocessor (by class), and of each
    Autograde converter stage, summed over the profiled submissions."""

    def __init__(self):
        self.cpu, self.wall = defaultdict(float), defaultdict(float)

    def wrap(self, owner, name, label):
        original = getattr(owner, name)
        timer = self

        def timed(self_, *args, **kwargs):
            key = label(self_)
            c, w = time.process_time(), time.perf_counter()
            try:
                return original(self_, *args, **kwargs)
            finally:
                timer.cpu[key] += time.process_time() - c
                timer.wall[key] += time.perf_counter() - w
        setattr(owner, name, timed)


def profile_worker(course, count, top):
    """Grade ``count`` submissions in this process as a batch worker does, under cProfile."""
    from nbconvert.preprocessors import Preprocessor
    from labgrader.batch import runner, task
    from labgrader.config import load_course_config
    from labgrader.course import Course
    from labgrader.kernels import forkserver
    from labgrader.lab import load_lab

    steps = StepTimer()
    steps.wrap(Preprocessor, "__call__", lambda p: f"step {type(p).__name__}")
    config = load_course_config(course)
    db_url = runner.sqlite_with_busy_timeout(config.CourseDirectory.db_url)
    lab = load_lab(task.course_directory(config), ASSIGNMENT)
    students = runner.submissions(course, ASSIGNMENT)
    Course(course, config, db_url).prepare_rows(ASSIGNMENT, students)  # as grade_class does before its workers
    with forkserver.Running(imports=lab.warm_imports) as server:
        task.init_worker(course, db_url, {"GradingKernelManager": {"fork_server": server.socket}})
        task.grade_submission(ASSIGNMENT, students[-1])  # first one pays this process's imports
        steps.cpu.clear()
        steps.wall.clear()
        # step times without cProfile (its own overhead about doubles the worker's CPU)
        c, w = time.process_time(), time.perf_counter()
        for student in students[:count]:
            record = task.grade_submission(ASSIGNMENT, student)
            assert record.ok, (student, record.error, sorted(os.listdir(Path(course) / "submitted")))
        total_cpu, total_wall = time.process_time() - c, time.perf_counter() - w
        measured = StepTimer()
        measured.cpu, measured.wall = dict(steps.cpu), dict(steps.wall)
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for student in students[:count]:
            task.grade_submission(ASSIGNMENT, student)
        profiler.disable()

    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return total_cpu, total_wall, measured, out.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=8, help="submissions in the batch run (half solved, half blank)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between samples of the process tree")
    parser.add_argument("--empty", type=int, default=4, help="empty kernels started and stopped (0: skip)")
    parser.add_argument("--profiled", type=int, default=3, help="submissions graded under cProfile (0: skip)")
    parser.add_argument("--top", type=int, default=25, help="functions listed from the profile")
    parser.add_argument("--then", type=int, default=0, metavar="M",
                        help="then a batch of M submissions: the steady-state cost per submission (M > N)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="labgrader-profile-"))
    try:
        course = make_course(work / "batch", args.n, minimal=False)
        print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        result = run_batch(course, args.interval)
        if result["returncode"] not in (0,):
            print(result["stderr"][-3000:])
            raise SystemExit(f"the batch failed (exit code {result['returncode']})")
        n, roles = args.n, result["by_role"]
        kernels = roles.get("kernels (exact, reaped)", 0.0)
        rows = [("grader main process", roles.get("main", 0.0)),
                ("grader workers (all)", roles.get("worker", 0.0)),
                ("fork server (imports, forks)", roles.get("fork server", 0.0)),
                ("kernels (all, incl. readiness check)", kernels)]
        attributed = sum(v for _, v in rows)
        rows.append(("other / exited between samples", max(0.0, result["total"] - attributed)))
        print(f"\nBatch of {n} submissions: {result['wall']:.1f} s wall, {result['total']:.1f} s CPU in all "
              f"(load average after: {os.getloadavg()[0]:.1f})")
        print(f"{'process':40}{'CPU s':>9}{'per submission':>16}{'share':>8}")
        for name, value in rows:
            print(f"{name:40}{value:>9.2f}{value / n:>16.3f}{value / result['total']:>8.0%}")
        print(f"{'total (RUSAGE_CHILDREN)':40}{result['total']:>9.2f}{result['total'] / n:>16.3f}")
        if result["kernels"]:
            k = sorted(result["kernels"])
            print(f"one kernel (sampled, {len(k)}): median {statistics.median(k):.2f} s CPU, "
                  f"min {k[0]:.2f}, max {k[-1]:.2f}")

        if args.then:
            more = run_batch(make_course(work / "then", args.then, minimal=False), args.interval)
            if more["returncode"] != 0:
                print(more["stderr"][-3000:])
                raise SystemExit(f"the second batch failed (exit code {more['returncode']})")
            extra = args.then - n
            print(f"\nBatch of {args.then} submissions: {more['wall']:.1f} s wall, {more['total']:.1f} s CPU in all "
                  f"(load average after: {os.getloadavg()[0]:.1f})")
            print(f"Steady state ({args.then} - {n} submissions): {(more['total'] - result['total']) / extra:.3f} s CPU "
                  f"and {(more['wall'] - result['wall']) / extra:.3f} s wall per submission")

        if args.empty:
            costs, walls = empty_kernels(course, args.empty)
            print(f"\nEmpty kernel (start, wait_for_ready, shutdown; no cell), {len(costs)} runs: "
                  f"median {statistics.median(costs):.2f} s CPU in the kernel, {statistics.median(walls):.2f} s wall")

        if args.profiled:
            total_cpu, total_wall, steps, text = profile_worker(course, args.profiled, args.top)
            k = args.profiled
            print(f"\nOne worker alone, {k} submissions: {total_cpu / k:.3f} s CPU and "
                  f"{total_wall / k:.3f} s wall per submission (the rest of the wall time: waiting on the kernel)")
            print(f"{'nbgrader step (preprocessor)':40}{'CPU s':>9}{'wall s':>9}   per submission")
            for key in sorted(steps.cpu, key=steps.cpu.get, reverse=True):
                print(f"{key[5:]:40}{steps.cpu[key] / k:>9.3f}{steps.wall[key] / k:>9.3f}")
            rest_cpu = total_cpu - sum(steps.cpu.values())
            rest_wall = total_wall - sum(steps.wall.values())
            print(f"{'(converter: files, notebook I/O, gradebook)':40}{rest_cpu / k:>9.3f}{rest_wall / k:>9.3f}")
            print("\nTop functions of the worker by own CPU time (cProfile, CPU clock; its overhead inflates them):")
            print(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
