"""Caps that hold and nothing inherited, for a kernel started cold (bubblewrap, plain
`nbgrader autograde`) and one forked warm from the fork server (the batch command): /tmp and the
working copy are size-capped inside the kernel, each kernel has a uid (so a process cap) of its
own, a forked kernel holds no descriptor of the fork server or the grader, and a kernel's
environment holds only allow-listed names."""
import asyncio
import contextlib
import json
import os
import subprocess
import sys

import psutil
import pytest

from labgrader.kernels import forkserver
from labgrader.kernels.manager import PASSED_ENV, QUIET_TENSORFLOW, GradingKernelManager
from labgrader.sandbox import Sandbox
from labgrader.sandbox.uids import UidLease

pytestmark = pytest.mark.slow  # kernels, two gradings

SECRET = "LABGRADER_TEST_SECRET"
SECRET_VALUE = "hunter2-do-not-leak"
CAP = 32 * 1024 ** 2  # small caps keep the fill tests fast; the defaults are 256 MiB


@pytest.fixture(scope="module")
def fork_server():
    """A fork server started while the grader's environment holds a secret."""
    os.environ[SECRET] = SECRET_VALUE
    try:
        with forkserver.Running() as server:
            yield server
    finally:
        os.environ.pop(SECRET, None)


@pytest.fixture(params=["cold", "warm"])
def kernels(request, tmp_path):
    """kernels(workdir) -> an async context manager giving a started Kernel on this path."""
    socket = request.getfixturevalue("fork_server").socket if request.param == "warm" else ""
    os.environ[SECRET] = SECRET_VALUE  # the cold path reads the grader's environment at launch
    yield lambda workdir, **traits: Kernel(workdir, socket, **traits)
    os.environ.pop(SECRET, None)


class Kernel:
    def __init__(self, workdir, socket, **traits):
        self.km = GradingKernelManager(kernel_name="python3", fork_server=socket, **traits)
        self.workdir = workdir

    async def __aenter__(self):
        await self.km.start_kernel(cwd=str(self.workdir))
        self.kc = self.km.client()
        self.kc.start_channels()
        await self.kc.wait_for_ready(timeout=60)
        return self

    async def __aexit__(self, *exc):
        self.kc.stop_channels()
        await self.km.shutdown_kernel(now=True)

    async def run(self, code, timeout=60):
        out = []
        await self.kc.execute_interactive(code, timeout=timeout, output_hook=lambda m: out.append(
            m["content"].get("text", "") + m["content"].get("evalue", "")))
        return "".join(out)

    def process(self):
        """The kernel process (host view): the first process below the launched one (bwrap, or the
        fork server's child) in the kernel's own PID namespace that is not bwrap's init."""
        launched = psutil.Process(self.km.provisioner.pid)
        outer = os.readlink(f"/proc/{launched.pid}/ns/pid")
        return next(p for p in launched.children(recursive=True)
                    if os.readlink(f"/proc/{p.pid}/ns/pid") != outer and p.name() != "bwrap")


def run(coro):
    return asyncio.run(coro)


FILL = """
import errno
written = 0
try:
    with open({path!r}, "wb") as f:
        while written < 4 * {cap}:
            f.write(b"x" * 1024 * 1024)
            f.flush()
            written += 1024 * 1024
    print("no error")
except OSError as e:
    print(errno.errorcode[e.errno], written)
"""


@pytest.mark.parametrize("where", ["/tmp/fill", "fill"])
def test_writing_beyond_the_cap_fails_inside_the_kernel(kernels, tmp_path, where):
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "handed_in.txt").write_text("kept")

    async def go():
        async with kernels(workdir, tmp_size=CAP, working_copy_size=CAP) as k:
            out = await k.run(FILL.format(path=where, cap=CAP))
            scratch = k.km._scratch
            used = {name: os.statvfs(scratch.grader_view(path)) for name, path in (("tmp", scratch.tmp), ("work", scratch.work))}
            listing = await k.run("import os; print(sorted(os.listdir('.')))")
        return out, used, listing, scratch.base

    out, used, listing, base = run(go())
    name, written = out.split()
    assert name in ("ENOSPC", "EFBIG") and int(written) <= CAP, out
    for stats in used.values():  # what the kernel used on the host is the cap at most
        assert (stats.f_blocks - stats.f_bfree) * stats.f_frsize <= CAP
    assert "handed_in.txt" in listing  # the working copy was copied in
    # copied back as regular files owned by the grader, at most the cap in total
    left = {p.name: p for p in workdir.iterdir()}
    assert (workdir / "handed_in.txt").read_text() == "kept"
    assert sum(p.lstat().st_size for p in left.values()) <= CAP
    assert all(p.is_file() and not p.is_symlink() and p.lstat().st_uid == os.geteuid() for p in left.values())
    assert ("fill" in left) == (where == "fill")
    assert not any(p.startswith(base) for p in _mountpoints()) and not os.path.exists(base)  # mounts gone


def test_the_working_copy_comes_back_without_links_or_special_files(kernels, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    secret = tmp_path / "outside.txt"
    secret.write_text("root's file")

    async def go():
        async with kernels(workdir) as k:
            return await k.run(
                "import os\nos.mkdir('sub'); open('sub/result.txt', 'w').write('ok')\n"
                f"os.symlink({str(secret)!r}, 'link'); os.symlink('/etc/passwd', 'embeddings.ipynb')\n"
                "os.mkfifo('fifo'); print('made')")

    assert "made" in run(go())
    assert sorted(p.name for p in workdir.iterdir()) == ["sub"]
    assert (workdir / "sub" / "result.txt").read_text() == "ok"
    assert secret.read_text() == "root's file" and secret.stat().st_uid == os.geteuid()


BOMB = """
import threading
threading.stack_size(64 * 1024)  # so that the process cap, not the address space, is what runs out
hold = threading.Event()
started = 0
try:
    for _ in range(1000):
        threading.Thread(target=hold.wait, args=(120,), daemon=True).start()
        started += 1
except RuntimeError:
    pass
print(started)
"""

VICTIM = """
import threading, numpy as np, keras
layer = keras.layers.Embedding(10, 4)
model = keras.Sequential([keras.Input((1,)), layer, keras.layers.Flatten()])
print(model.predict(np.arange(10).reshape(10, 1), verbose=0).shape)
results = []
threads = [threading.Thread(target=results.append, args=(i,)) for i in range(50)]
for t in threads: t.start()
for t in threads: t.join()
print(len(results))
"""


def test_a_thread_bomb_does_not_starve_a_concurrent_kernel(kernels, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    async def go():
        async with kernels(tmp_path / "a") as bomber, kernels(tmp_path / "b") as victim:
            if os.geteuid() == 0:  # a uid, so a process count, of its own
                assert bomber.km._lease.uid != victim.km._lease.uid
            else:  # the same uid: a user namespace (where the count is kept, Linux >= 5.14) of its own
                assert _user_ns(bomber.process().pid) != _user_ns(victim.process().pid)
            started = int((await bomber.run(BOMB)).split()[-1])
            victim_out = await victim.run(VICTIM)  # while the bomber holds its threads
            await bomber.run("hold.set()")
            return started, victim_out

    started, victim_out = run(go())
    assert started < 1000  # the bomber hit its own process cap...
    assert victim_out.split() == ["(10,", "4)", "50"], victim_out  # ...and the victim did not notice


INSPECT_FDS = """
import json, os, socket
fds = {{}}
for fd in sorted(os.listdir('/proc/self/fd'), key=int):
    try:
        target = os.readlink('/proc/self/fd/' + fd)
    except OSError:
        continue
    name = None
    if target.startswith('socket:'):
        try:
            with socket.socket(fileno=os.dup(int(fd))) as s:
                name = s.getsockname()
                name = name if isinstance(name, str) else repr(name)
        except OSError as e:
            name = repr(e)
    fds[fd] = [target, name]
try:
    socket.socket(socket.AF_UNIX).connect({server!r})
    reached = True
except OSError:
    reached = False
print(json.dumps({{'fds': fds, 'reached': reached}}))
"""


def test_a_kernel_holds_no_descriptor_of_the_fork_server_or_the_grader(kernels, tmp_path, fork_server):
    workdir = tmp_path / "work"
    workdir.mkdir()

    async def go():
        async with kernels(workdir) as k:
            seen = json.loads((await k.run(INSPECT_FDS.format(server=fork_server.socket))).strip())
            proc = k.process()
            outside = _fd_targets(proc.pid)
            handed_stderr = os.readlink(f"/proc/{proc.ppid()}/fd/2")  # what it was given as stderr
            return seen, outside, handed_stderr, k.km._private_dir

    seen, outside, handed_stderr, private_dir = run(go())
    assert not seen["reached"]
    for target, name in seen["fds"].values():  # Unix sockets: its own, bound in its socket directory
        if name and name.startswith("/"):           # (inet ones live in its own empty network namespace)
            assert name.startswith(private_dir), (target, name)
    grader = _fd_targets(os.getpid()) | _fd_targets(fork_server.process.pid)
    shared = {t for t in outside & grader if t.startswith(("socket:", "pipe:", "/"))} - {handed_stderr, "/dev/null"}
    assert not shared, shared


def _user_ns(pid):
    return os.readlink(f"/proc/{pid}/ns/user")


def _fd_targets(pid):
    targets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            targets.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return targets


def test_a_kernel_sees_only_allow_listed_environment(kernels, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    allowed = set(PASSED_ENV) | set(QUIET_TENSORFLOW) | set(Sandbox().environment()) | {"PWD"}  # PWD: bwrap --chdir

    async def go():
        async with kernels(workdir) as k:
            out = await k.run("import os, json\ntry:\n    raw = open('/proc/self/environ', 'rb').read().decode()\n"
                              "except OSError:\n    raw = ''\nprint(json.dumps([sorted(os.environ), raw]))")
            with open(f"/proc/{k.process().pid}/environ", "rb") as f:  # read as root, from outside
                exec_env = f.read().decode()
            return json.loads(out), exec_env

    (names, raw), exec_env = run(go())
    # constants ipykernel itself sets as the kernel starts (zmqshell.init_environment, kernelapp)
    by_ipykernel = {"TERM", "CLICOLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "PAGER", "GIT_PAGER", "MPLBACKEND",
                    "PYDEVD_USE_FRAME_EVAL"}  # (ipykernel.debugger)
    assert set(names) <= allowed | by_ipykernel, set(names) - allowed - by_ipykernel
    for env in (raw, exec_env):
        env_names = {item.split("=", 1)[0] for item in env.split("\0") if item}
        assert env_names <= allowed, env_names - allowed
        assert SECRET_VALUE not in env
    assert SECRET not in names


def test_uid_leases_are_exclusive_across_processes():
    """Pure part: a leased uid is not leased again (in another process) until released."""
    code = ("import sys; from labgrader.sandbox.uids import UidLease\n"
            "print(UidLease(int(sys.argv[1]), 2).uid)")
    first = 1_999_000_000  # a range of its own: no running kernel holds these
    held = UidLease(first, 2)
    other = subprocess.run([sys.executable, "-c", code, str(first)], capture_output=True, text=True, check=True)
    assert (held.uid, int(other.stdout)) == (first, first + 1)
    both = UidLease(first, 2)
    with pytest.raises(RuntimeError, match="in use"):
        UidLease(first, 2)
    held.release()
    both.release()
    again = UidLease(first, 2)
    assert again.uid == first
    again.release()


def _mountpoints():
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f]



HOSTILE = ["fills_tmp", "fills_working_copy", "thread_bomb", "uses_inherited_fds", "reads_environment_secrets",
           "allocates_memfd", "stores_kernel_key", "reads_kernel_key", "floods_one_message"]


@pytest.mark.parametrize("path", ["plain", "batch"])
def test_hostile_submissions_gain_nothing_and_victims_keep_their_grades(tmp_path, path):
    """The hostile snippets of this part, graded by plain `nbgrader autograde` with cold kernels
    (one at a time) and by the batch command (warm kernels, concurrently), beside honest victims."""
    from conftest import ASSIGNMENT, CORPUS, class_course, nbgrader
    import snippets as submissions
    from labgrader.reports.gradebook import cell_scores

    snippets = [submissions.load(CORPUS / "hostile" / f"{name}.py") for name in HOSTILE]
    victims = [submissions.load(p) for p in sorted((CORPUS / "correct").glob("*.py"))[:2]]
    # plain nbgrader forks its kernels warm by default; this part keeps the cold launcher (bwrap) covered end to end
    course = class_course(tmp_path / "course", snippets + victims,
                          extra_config="\nc.GradingKernelManager.warm_kernels = False\n" if path == "plain" else "")
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
               **{SECRET: SECRET_VALUE})
    if path == "plain":
        os.environ[SECRET] = SECRET_VALUE
        try:
            result = nbgrader(course, "autograde", ASSIGNMENT, timeout=600)
            assert "forked warm" not in result.stderr  # cold, as configured
        finally:
            os.environ.pop(SECRET, None)
    else:
        result = subprocess.run([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT, "--workers", "3"],
                                cwd=course, env=env, capture_output=True, text=True, timeout=600)
        from conftest import batch_exit_status
        assert result.returncode == batch_exit_status(course, ASSIGNMENT), result.stdout[-3000:] + result.stderr[-3000:]
    scores = cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT)
    for snippet in snippets + victims:
        assert scores[snippet.name] == snippet.expected, snippet.name
    autograded = course / "autograded"
    for student in autograded.iterdir():
        notebook = (student / ASSIGNMENT / "embeddings.ipynb").read_text()
        assert SECRET not in notebook and SECRET_VALUE not in notebook, student.name
        size = sum(p.lstat().st_size for p in (student / ASSIGNMENT).rglob("*"))
        assert size <= GradingKernelManager.working_copy_size.default() + 1024 ** 2, student.name
    outputs = (autograded / "fills_tmp" / ASSIGNMENT / "embeddings.ipynb").read_text()
    assert "No space left on device" in outputs or "File too large" in outputs
    outputs = (autograded / "uses_inherited_fds" / ASSIGNMENT / "embeddings.ipynb").read_text()
    assert "inherited or reachable: []" in outputs
    from labgrader.sandbox import cgroups
    assert_isolation_outputs(autograded, with_cgroups=os.geteuid() == 0 and cgroups.find_place() is not None)


def assert_isolation_outputs(autograded, with_cgroups):
    """What the memory, keyring and message attacks of the corpus met (test_rootless.py too):
    with a memory cgroup the memfd filler dies there, without one memfd_create is refused."""
    from conftest import ASSIGNMENT

    def text(student):
        return (autograded / student / ASSIGNMENT / "embeddings.ipynb").read_text()
    memfd = text("allocates_memfd")
    assert "held 3072 MiB" not in memfd
    assert ("The kernel died while running this cell" if with_cgroups else "Operation not permitted") in memfd
    assert "add_key: EPERM" in text("stores_kernel_key")
    assert "request_key: EPERM" in text("reads_kernel_key") and "keys seen: []" in text("reads_kernel_key")
    assert "x" * 1000 not in text("floods_one_message")  # neither message reached the notebook
