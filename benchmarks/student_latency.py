"""What a student waits for: the released notebook, answered correctly, in a folder of its own
(the released files only, no course config), each step cold, median of N runs.

    .venv/bin/python benchmarks/student_latency.py [--runs 3] [--snippet correct/add_method]

  run all       a cold kernel runs the whole notebook (JupyterLab's Restart Kernel and Run All Cells;
                nbclient): from asking for the kernel to the last cell's end. CPU: the kernel's.
  first output  the same runs: from asking for the kernel to the first cell's output (what a student
                waits for after opening the notebook and running its first cell).
  validate      `nbgrader validate embeddings.ipynb` typed in that folder: the whole command. CPU: the
                command and its kernel.
  JupyterLab    `jupyter lab` started in that folder until it answers (/api/status): what a student's
                server costs before anything is opened, on a laptop or spawned by the hub. CPU: the
                server and what it ran (until it answered).
  Validate      JupyterLab's Validate button: POST /assignments/validate to a `jupyter lab` already
                running in that folder (nbgrader's server extension runs the same Validator in the
                server, with a cold kernel). CPU: the server and its kernel, during the request.
Every run also checks the verdict (the notebook passes), so a broken environment is not timed.
"""
import argparse
import json
import os
import platform
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grader_tests"))
import snippets  # noqa: E402  (the corpus's notebook builder)

RELEASE = REPO / "release" / "embeddings"
BIN = Path(sys.executable).parent
SUCCESS = "Success! Your notebook passes all the tests."


def student_folder(dest, snippet_name):
    dest.mkdir(parents=True)
    for path in RELEASE.iterdir():
        if path.is_file():
            shutil.copy(path, dest)
    snippets.write_submission(snippets.load(REPO / "grader_tests" / "submissions" / f"{snippet_name}.py"),
                              RELEASE / snippets.NOTEBOOK, dest)
    return dest


def env_for(folder):
    # a student's environment: this venv on PATH, no Jupyter config of ours
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
                JUPYTER_CONFIG_DIR=str(folder.parent / "jupyter-config"))


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_of(process):
    t = process.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def run_all_child(folder):
    """In a fresh process: a cold kernel runs the notebook; prints the timings as JSON."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(folder / snippets.NOTEBOOK, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    marks = {}
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}})

    def on_executed(cell, cell_index, execute_reply):
        if cell_index == first:  # its output has arrived (nbclient waits for the kernel's idle)
            marks["first"] = time.perf_counter() - start
            marks["first_cpu"] = cpu_of(psutil.Process(client.km.provisioner.process.pid))

    client.on_cell_executed = on_executed
    start = time.perf_counter()
    with client.setup_kernel():
        kernel = psutil.Process(client.km.provisioner.process.pid)
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        wall, cpu = time.perf_counter() - start, cpu_of(kernel)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    print(json.dumps({"wall": wall, "cpu": cpu, "first": marks["first"], "first_cpu": marks["first_cpu"],
                      "errors": len(errors)}))


def measure_run_all(folder):
    out = subprocess.run([sys.executable, __file__, "--child-run-all", str(folder)], env=env_for(folder),
                         capture_output=True, text=True, check=True, timeout=600).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == 0, f"the notebook raised {result['errors']} error(s): not a correct answer"
    return result


def measure_validate_command(folder):
    before, start = children_cpu(), time.perf_counter()
    result = subprocess.run([str(BIN / "nbgrader"), "validate", snippets.NOTEBOOK], cwd=folder, env=env_for(folder),
                            capture_output=True, text=True, timeout=600)
    wall, cpu = time.perf_counter() - start, children_cpu() - before
    assert SUCCESS in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    return wall, cpu


class LabServer:
    """`jupyter lab` started in the student's folder, as a student would."""

    def __init__(self, folder):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = secrets.token_hex(16)
        cmd = [str(BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               f"--IdentityProvider.token={self.token}"] + (["--allow-root"] if os.geteuid() == 0 else [])
        self.log = open(folder.parent / "server.log", "w")
        self.process = subprocess.Popen(cmd, cwd=folder, env=env_for(folder), stdout=self.log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.ps = psutil.Process(self.process.pid)
        started, deadline = time.perf_counter(), time.monotonic() + 120
        while True:
            try:
                self.request("GET", "/api/status")
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("jupyter lab did not start: see " + self.log.name)
                time.sleep(0.1)
        self.started = (time.perf_counter() - started, cpu_of(self.ps))

    def request(self, method, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, data=body,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as response:
            return json.loads(response.read())

    def validate(self):
        # what the button sends after saving the notebook
        before, start = cpu_of(self.ps), time.perf_counter()
        result = self.request("POST", "/assignments/validate", json.dumps({"path": snippets.NOTEBOOK}).encode())
        wall, cpu = time.perf_counter() - start, cpu_of(self.ps) - before
        value = json.loads(result["value"]) if isinstance(result.get("value"), str) else result.get("value")
        # the button shows Success when the result holds no failed, changed or type-changed cell
        assert result.get("success") and not (set(value) & {"failed", "changed", "type_changed"}), result
        return wall, cpu

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each step (the median is shown)")
    parser.add_argument("--snippet", default="correct/add_method", help="answers from grader_tests/submissions/")
    parser.add_argument("--child-run-all", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run_all:
        return run_all_child(args.child_run_all)

    work = Path(tempfile.mkdtemp(prefix="labgrader-bench-student-"))
    try:
        folder = student_folder(work / "student", args.snippet)
        load = os.getloadavg()
        print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}; "
              f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the start", flush=True)
        rows = {"run all (cold kernel)": [], "first cell's output": [], "nbgrader validate": [],
                "JupyterLab started": [], "Validate button": []}
        for i in range(args.runs):
            r = measure_run_all(folder)
            rows["run all (cold kernel)"].append((r["wall"], r["cpu"]))
            rows["first cell's output"].append((r["first"], r["first_cpu"]))
            rows["nbgrader validate"].append(measure_validate_command(folder))
            started = LabServer(folder)
            started.close()
            rows["JupyterLab started"].append(started.started)
            print(f"  run {i + 1}/{args.runs} done", flush=True)
        server = LabServer(folder)
        try:
            for _ in range(args.runs):
                rows["Validate button"].append(server.validate())
        finally:
            server.close()
        load = os.getloadavg()
        print(f"\n{'':24}{'wall (s)':>10}{'CPU (s)':>10}   (median of {args.runs}; all runs: wall)")
        for name, runs in rows.items():
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(f"{name:24}{statistics.median(walls):>10.2f}{statistics.median(cpus):>10.2f}   "
                  + " ".join(f"{w:.2f}" for w in walls))
        print(f"\nload average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
