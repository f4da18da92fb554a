"""What a grading kernel can and cannot do, for a kernel started cold (bubblewrap, what plain
`nbgrader autograde` uses) and one forked warm from the fork server (the batch command)."""
import os
import subprocess
import sys
import time

import psutil
import pytest

from conftest import REPO
from labgrader.kernels import forkserver
from labgrader.kernels.manager import GradingKernelManager

pytestmark = pytest.mark.slow  # sandboxed kernels


@pytest.fixture(scope="module")
def fork_server():
    with forkserver.Running() as server:
        yield server.socket


@pytest.fixture(params=["cold", "warm"])
def run_in_kernel(request, tmp_path):
    """run(code) -> stdout of ``code`` executed in a fresh grading kernel working in tmp_path."""
    socket = request.getfixturevalue("fork_server") if request.param == "warm" else ""
    workdir = tmp_path / "work"
    workdir.mkdir()
    managers = []

    async def run(code):
        km = GradingKernelManager(kernel_name="python3", fork_server=socket)
        managers.append(km)
        await km.start_kernel(cwd=str(workdir))
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        out = []
        reply = await kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(
            m["content"].get("text", "") + m["content"].get("evalue", "")))
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        return "".join(out), reply["content"]["status"]

    import asyncio
    yield lambda code: asyncio.run(run(code)), workdir


def test_runs_as_an_unprivileged_user(run_in_kernel):
    run, _ = run_in_kernel
    out, _ = run("import os\nprint(os.getuid(), os.getgid())\n"
                 "print([l.split()[1] for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm', 'NoNewPrivs'))])")
    ids, caps = out.strip().split("\n")
    uid, gid = map(int, ids.split())
    if os.geteuid() == 0:
        first, count = GradingKernelManager.sandbox_uid_first.default(), GradingKernelManager.sandbox_uid_count.default()
        assert first <= uid < first + count and gid == uid  # a uid of its own (test_caps.py: one per kernel)
    else:  # an ordinary grader: its own uid, in a user namespace of the kernel's own
        assert (uid, gid) == (os.getuid(), os.getgid())
    assert eval(caps) == ["0000000000000000", "0000000000000000", "1"]  # no capability, no way to gain one


def test_is_in_a_user_namespace_of_its_own_without_root(run_in_kernel):
    if os.geteuid() == 0:
        pytest.skip("as root the kernel switches uid instead (test_runs_as_an_unprivileged_user)")
    run, _ = run_in_kernel
    out, _ = run("import os, ctypes\nprint(os.readlink('/proc/self/ns/user'))\n"
                 "print('refused' if ctypes.CDLL(None).unshare(0x10000000) else 'made one')")  # CLONE_NEWUSER
    namespace, nested = out.split()
    assert namespace != os.readlink("/proc/self/ns/user")  # not the grader's
    assert nested == "refused"  # nor can it make one (in which it would hold capabilities again)


def test_sees_only_its_working_copy_and_the_python_environment(run_in_kernel):
    run, workdir = run_in_kernel
    out, _ = run(f"import os; print(sorted(os.listdir({str(REPO)!r})))")
    assert "source" not in out and "release" not in out and "nbgrader_config.py" not in out
    out, _ = run(f"print(open({str(REPO / 'source' / 'embeddings' / 'embeddings.ipynb')!r}).read()[:10])")
    assert "No such file" in out


def test_can_write_its_working_copy_but_not_the_environment(run_in_kernel):
    run, workdir = run_in_kernel
    out, _ = run("open('result.txt', 'w').write('ok'); print('written')")
    assert "written" in out and (workdir / "result.txt").read_text() == "ok"
    out, _ = run(f"open({os.path.join(sys.prefix, 'pwned')!r}, 'w')")
    assert "Read-only file system" in out or "Permission denied" in out


def test_has_no_network(run_in_kernel):
    run, _ = run_in_kernel
    out, _ = run("import socket\ntry:\n    socket.create_connection(('127.0.0.1', 22), timeout=2)\nexcept OSError as e:\n    print('blocked', e)")
    assert "blocked" in out


def test_memory_is_capped(run_in_kernel):
    run, _ = run_in_kernel
    out, _ = run("try:\n    x = bytearray(5 * 1024 ** 3)\nexcept MemoryError:\n    print('capped')")
    assert "capped" in out


def test_sees_no_host_process_and_leaves_none_behind(run_in_kernel):
    run, _ = run_in_kernel
    out, _ = run("import os, subprocess\nsubprocess.Popen(['sleep', '4244'], start_new_session=True)\n"
                 "print(len([p for p in os.listdir('/proc') if p.isdigit()]))")
    assert int(out.strip()) < 10
    deadline = time.monotonic() + 5  # the namespace is torn down as the kernel shuts down
    while leftover() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not leftover()


def leftover():
    return [p for p in psutil.process_iter(["cmdline"]) if "4244" in (p.info["cmdline"] or [])]


def test_a_missing_sandbox_stops_grading_with_a_clear_message(tmp_path):
    code = ("from labgrader.sandbox import Sandbox, SandboxUnavailable\n"
            "try:\n    Sandbox().check()\nexcept SandboxUnavailable as e:\n    print(e)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, PATH=str(tmp_path)))  # no bwrap on this PATH
    assert "bubblewrap (bwrap) is not installed" in result.stdout
    assert "c.GradingKernelManager.sandbox = False" in result.stdout


def test_the_batch_command_stops_before_touching_grades_without_a_sandbox(course, tmp_path):
    """No bwrap on PATH: a clear message, exit status 1, and no gradebook written."""
    result = subprocess.run([sys.executable, "-m", "labgrader", "autograde", "embeddings"], cwd=course,
                            capture_output=True, text=True, env=dict(os.environ, PATH=str(tmp_path)))
    assert result.returncode != 0
    assert "bubblewrap (bwrap) is not installed" in result.stderr + result.stdout
    assert not (course / "gradebook.db").exists()
