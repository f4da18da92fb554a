"""A kernel's scratch directory outlives its grader only until the next grader looks: a pool's
worker ends with os._exit (no atexit), and a grader may be killed (SIGKILL)."""
import os
import subprocess
import sys
import tempfile

from labgrader.sandbox import scratch


def _dir_of(pid: int) -> str:
    return tempfile.mkdtemp(prefix=f"{scratch.PREFIX}{pid}.{scratch._start_time(pid)}-")


def test_a_dead_graders_scratch_goes_and_a_running_ones_stays():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid now names no process (or, recycled, one with another start time)
    dead = _dir_of(child.pid)
    os.mkdir(os.path.join(dead, "work"))
    open(os.path.join(dead, "work", "left.txt"), "w").close()
    mine = _dir_of(os.getpid())
    other = tempfile.mkdtemp(prefix="labgrader-kernel-")  # an old-style name: nobody's to judge
    try:
        removed = scratch.remove_stale()
        assert dead in removed and not os.path.exists(dead)
        assert os.path.isdir(mine) and os.path.isdir(other)
    finally:
        for path in (dead, mine, other):
            subprocess.run(["rm", "-rf", path])


def test_a_running_process_is_told_apart_from_a_recycled_pid():
    started = scratch._start_time(os.getpid())
    assert started > 0
    path = _dir_of(os.getpid())
    try:
        assert scratch._OWNED.match(os.path.basename(path))
    finally:
        os.rmdir(path)
