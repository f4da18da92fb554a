"""The fork server ends itself when the grader that started it died before its parent-death
signal was set (a window of Python's start-up): no fork server outlives its grader."""
import subprocess
import sys


def test_a_fork_server_whose_grader_is_already_gone_exits_at_once(tmp_path):
    socket = tmp_path / "socket"
    # its parent is this process, not the pid it is told: as if the grader had died and the
    # server had been re-parented before prctl(PR_SET_PDEATHSIG) took effect
    done = subprocess.run([sys.executable, "-m", "labgrader.kernels.forkserver", str(socket), "--parent=1", "json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "ready" not in done.stdout
    assert not socket.exists()


# A fork server killed with its grader (a Dask worker lost, the command killed) while it forks a
# kernel: the child, and in it the kernel's PID 1, must not start a kernel with nobody to end it.
# (CI found one: a sandboxed kernel and its watcher still running half an hour after the test.)
ORPHAN = r"""
import ctypes, os, sys, time
from labgrader.kernels import forkserver
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come to us
server = os.fork()
if server == 0:  # stands for the fork server
    me = os.getpid()
    if os.fork() == 0:  # the child it forks for a kernel, slower than its parent's death
        while os.getppid() == me:
            time.sleep(0.01)
        forkserver.run_kernel({}, None, me)  # an empty request: anything past the guard raises
        os._exit(3)
    os._exit(0)
os.waitpid(server, 0)
_, status = os.wait()  # the orphan, re-parented here
print(os.waitstatus_to_exitcode(status))
"""

LIFELINE = r"""
import os
from labgrader.kernels import forkserver
lifeline, held = os.pipe()
forkserver._die_with_watcher(lifeline)  # the watcher (the other end's holder) is alive: returns
print("alive", flush=True)
os.close(held)
forkserver._die_with_watcher(lifeline)  # gone: ends this process
print("not reached", flush=True)
"""


def test_a_kernel_whose_fork_server_died_as_it_forked_starts_nothing():
    done = subprocess.run([sys.executable, "-c", ORPHAN], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "0", done.stdout + done.stderr


def test_a_kernel_ends_when_its_watcher_ended_before_the_signal_was_set():
    done = subprocess.run([sys.executable, "-c", LIFELINE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "alive\n", done.stdout + done.stderr
