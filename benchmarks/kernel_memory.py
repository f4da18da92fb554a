"""Peak memory of one grading kernel of the lab, as its memory cgroup counts it (root only).

    python benchmarks/kernel_memory.py [-n RUNS]

Runs the instructor's notebook (source/embeddings/embeddings.ipynb, all cells, hidden tests
included: they error without the grader's probes, which costs nothing here) in a cold kernel
(bubblewrap, as plain `nbgrader autograde`) and in a warm one (forked from a fork server that
imported TensorFlow), and prints the kernel cgroup's peak (memory.max_usage_in_bytes, or
memory.peak on cgroup v2): every page the kernel's processes were charged, anonymous, tmpfs and
page cache. A forked kernel is charged only for the pages it writes (the rest it shares with the
fork server), so its peak is far below a cold kernel's. This is what
``c.GradingKernelManager.ram_limit`` (2 GiB by default) must stay above.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from labgrader.kernels import forkserver  # noqa: E402
from labgrader.kernels.manager import GradingKernelManager  # noqa: E402

MiB = 1024 ** 2


def peak_of_one_run(socket):
    notebook = nbformat.read(REPO / "source" / "embeddings" / "embeddings.ipynb", as_version=4)
    work = Path(tempfile.mkdtemp(prefix="kernel-memory-"))
    shutil.copy(REPO / "source" / "embeddings" / "observers.py", work)
    try:
        km = GradingKernelManager(kernel_name="python3", fork_server=socket)
        client = NotebookClient(notebook, km=km, timeout=60, allow_errors=True, resources={"metadata": {"path": str(work)}})
        client.owns_km = True  # shut the kernel down when done (nbclient leaves a kernel manager it was given running)
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            return km._cgroup.peak_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3, help="runs per launcher")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("kernel cgroups need root: nothing to measure")
    cold = [peak_of_one_run("") for _ in range(args.n)]
    with forkserver.Running(imports=["tensorflow", "keras"]) as server:
        warm = [peak_of_one_run(server.socket) for _ in range(args.n)]
    for name, peaks in (("cold (bubblewrap)", cold), ("warm (forked)", warm)):
        print(f"{name}: peak {statistics.median(peaks) / MiB:.0f} MiB median of {len(peaks)} "
              f"(max {max(peaks) / MiB:.0f} MiB)")
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
