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
