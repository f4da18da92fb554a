"""What one submission costs the grader itself (not its kernel): CPU seconds and peak memory.

    .venv/bin/python benchmarks/grader_cost.py hostile/grader_cost_hint_long_line correct/list_and_flatten
    .venv/bin/python benchmarks/grader_cost.py --paths plain --corpus /tmp/extra hostile/x correct/y

Each submission (``kind/name`` of the corpus, grader_tests/submissions/ or --corpus) is graded alone, in
a course copy of its own, by the batch command (``python -m labgrader autograde``, one worker) and by
plain ``nbgrader autograde``. The command's process tree is polled (psutil, every --interval s); the
grader's processes are everything but the kernels' side (the fork server, bubblewrap and what they
start): the command, its workers, the judge processes. Reported per run: CPU seconds (user+sys)
summed over the grader's processes, the largest peak resident memory (VmHWM) of one of them, and
the sum of their peaks. Every run includes the instructor's reference run and TensorFlow's start,
so compare a hostile submission with its honest twin graded the same way: the difference is what
the attack costs the grader. The machine is shared: note ``uptime`` and run it more than once.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grader_tests"))
import snippets  # noqa: E402  (the corpus's notebook builder)

ASSIGNMENT = "embeddings"
KERNEL_SIDE = ("labgrader.kernels.forkserver", "bwrap", "ipykernel")


class GraderSampler(threading.Thread):
    """Last CPU times and peak memory of every grader process under ``root`` (kernels excluded)."""

    def __init__(self, root_pid: int, interval: float):
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(root_pid), interval
        self.kernel_side: set[int] = set()
        self.cpu: dict[int, float] = {}
        self.peak: dict[int, int] = {}
        self.stop = threading.Event()

    def sample(self) -> None:
        try:
            tree = [self.root] + self.root.children(recursive=True)
        except psutil.Error:
            return
        for proc in tree:
            try:
                if proc.pid in self.kernel_side:
                    continue
                if proc.ppid() in self.kernel_side or any(k in " ".join(proc.cmdline()) for k in KERNEL_SIDE):
                    self.kernel_side.add(proc.pid)
                    continue
                times = proc.cpu_times()
                self.cpu[proc.pid] = times.user + times.system
                with open(f"/proc/{proc.pid}/status") as status:
                    hwm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
                self.peak[proc.pid] = max(self.peak.get(proc.pid, 0), hwm)
            except (psutil.Error, OSError, StopIteration):
                pass

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(self.interval)


def template() -> Path:
    """The course with its assignment generated, once."""
    base = Path(tempfile.mkdtemp(prefix="grader-cost-"))
    course = base / "course"
    course.mkdir()
    for name in ("source", "release", "nbgrader_config.py"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, course / name)
    run_quiet([str(Path(sys.executable).parent / "nbgrader"), "generate_assignment", ASSIGNMENT, "--force"], course)
    return course


def run_quiet(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, env=venv_env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def venv_env() -> dict[str, str]:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def grade_alone(base: Path, snippet: snippets.Snippet, path: str, interval: float) -> dict:
    course = Path(tempfile.mkdtemp(prefix="grader-cost-run-")) / "course"
    shutil.copytree(base, course)
    release = course / "release" / ASSIGNMENT / snippets.NOTEBOOK
    snippets.write_submission(snippet, release, course / "submitted" / snippet.name / ASSIGNMENT)
    command = ([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT, "--workers", "1"] if path == "batch"
               else [str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT])
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=course, env=venv_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    sampler = GraderSampler(process.pid, interval)
    sampler.start()
    output, _ = process.communicate()
    sampler.stop.set()
    sampler.join()
    from labgrader.reports.gradebook import cell_scores
    scores = cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT).get(snippet.name, {})
    shutil.rmtree(course.parent, ignore_errors=True)
    return {"submission": snippet.name, "path": path, "returncode": process.returncode,
            "wall_s": round(time.monotonic() - started, 1), "grader_cpu_s": round(sum(sampler.cpu.values()), 1),
            "grader_peak_rss_mib": round(max(sampler.peak.values(), default=0) / 2 ** 20),
            "grader_peaks_sum_mib": round(sum(sampler.peak.values()) / 2 ** 20),
            "score": sum(scores.values()), "tail": output.strip().splitlines()[-1:] if process.returncode else []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", help="kind/name of the corpus, e.g. hostile/grader_cost_hint_long_line")
    parser.add_argument("--corpus", type=Path, default=REPO / "grader_tests" / "submissions")
    parser.add_argument("--paths", default="batch,plain")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    base = template()
    results = []
    try:
        for name in args.submissions:
            snippet = snippets.load(args.corpus / f"{name}.py")
            for path in args.paths.split(","):
                result = grade_alone(base, snippet, path, args.interval)
                results.append(result)
                print(json.dumps(result), flush=True)
    finally:
        shutil.rmtree(base.parent, ignore_errors=True)
    print("load average:", os.getloadavg())
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
