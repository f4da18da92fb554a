"""Kernels apart and capped, for real, on both launchers (cold: bubblewrap, as plain `nbgrader
autograde` starts them; warm: forked by the fork server, as the batch command does):

- memory: memfd, tmpfs and anonymous pages all count against the kernel's memory cgroup; a kernel
  filling a memfd past it dies alone (a concurrent victim keeps working); processes are capped by
  the cgroup's pids.max; the kernel is inside its cgroup from its very first process;
- the seccomp filter: a key stored by one kernel does not reach the next kernel with the same uid,
  ptrace, bpf, namespaces, io_uring... are refused, TensorFlow imports and predicts;
- one huge message from a kernel leaves the grader's memory bounded, and later cells run;
- a numpy.py, keras/ or labgrader/ beside the notebook is not imported in place of the real one;
- the fork server provisioner: real exit codes, kill/terminate end the kernel, errors raised, and
  the fork server's kernels get the configured environment.
"""
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from traitlets.config import Config

from labgrader.kernels import forkserver
from labgrader.kernels.manager import QUIET_TENSORFLOW, GradingKernelManager
from labgrader.sandbox import cgroups

from test_caps import Kernel  # the same sandboxed kernel under test

pytestmark = pytest.mark.slow
MiB = 1024 ** 2
CGROUPS = os.geteuid() == 0 and cgroups.find_place() is not None  # else the fallback: no cgroup, memfd refused


@pytest.fixture(scope="module")
def fork_server():
    with forkserver.Running() as server:
        yield server


@pytest.fixture(params=["cold", "warm"])
def kernels(request):
    """kernels(workdir, **traits) -> an async context manager giving a started Kernel on this launcher."""
    socket = request.getfixturevalue("fork_server").socket if request.param == "warm" else ""
    return lambda workdir, **traits: Kernel(workdir, socket, **traits)


def run(coro):
    return asyncio.run(coro)


def workdir(tmp_path, name="work"):
    path = tmp_path / name
    path.mkdir()
    return path


# --- memory and processes ----------------------------------------------------------------------

HOLD = """
import os, mmap
held = globals().setdefault("held", [])
kind, mib = {kind!r}, {mib}
if kind == "anon":
    block = mmap.mmap(-1, mib * 1024 * 1024)
    block.write(b"x" * len(block))
    held.append(block)
elif kind == "tmpfs":
    with open("/tmp/held-%d" % len(held), "wb") as f:
        f.write(b"x" * mib * 1024 * 1024)
    held.append(None)
else:
    fd = os.memfd_create("held")
    os.write(fd, b"x" * mib * 1024 * 1024)
    held.append(fd)
print("held", kind)
"""


@pytest.mark.skipif(not CGROUPS, reason="needs root and a writable memory cgroup (the fallback is tested below)")
def test_anonymous_tmpfs_and_memfd_pages_all_count_against_the_kernels_cgroup(kernels, tmp_path):
    async def go():
        async with kernels(workdir(tmp_path)) as k:
            group, charged = k.km._cgroup, {}
            for kind in ("anon", "tmpfs", "memfd"):
                before = group.usage_bytes()
                assert f"held {kind}" in await k.run(HOLD.format(kind=kind, mib=96))
                charged[kind] = (group.usage_bytes() - before) / MiB
            return charged

    for kind, mib in run(go()).items():
        assert mib >= 90, f"{kind}: only {mib:.0f} MiB of 96 charged to the kernel's cgroup"


FILL_MEMFD = """
import os
hoard, written = [], 0
try:
    while written < {total}:
        hoard.append(os.memfd_create("hoard"))  # 64 MiB each: under the file-size cap
        for _ in range(4):
            os.write(hoard[-1], b"x" * (16 * 1024 * 1024))
            written += 16
except OSError as e:
    print("refused", e.strerror)
print("held", written, "MiB")
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


def test_a_kernel_filling_a_memfd_past_its_cap_dies_alone(kernels, tmp_path):
    """1 GiB into memfds under a 256 MiB cap: as root the kernel is killed by its cgroup (the host
    and the victim kernel beside it are untouched); without a cgroup memfd_create is refused."""
    cap = 256 * MiB

    async def go():
        async with kernels(workdir(tmp_path, "a"), ram_limit=cap) as hog, kernels(workdir(tmp_path, "b")) as victim:
            group = hog.km._cgroup
            out = await _run_unless_it_dies(hog, FILL_MEMFD.format(total=1024))
            hog_alive = await hog.km.is_alive()
            peak = group.peak_bytes() if group else None
            victim_out = await victim.run(VICTIM)
            return out, hog_alive, peak, victim_out

    out, hog_alive, peak, victim_out = run(go())
    if CGROUPS:
        assert not hog_alive and "held 1024" not in out, out  # killed at its cap
        assert peak <= cap
    else:
        assert hog_alive and "refused Operation not permitted" in out, out
    assert victim_out.split() == ["(10,", "4)", "50"], victim_out  # TensorFlow under the filter, unbothered


async def _run_unless_it_dies(kernel, code, timeout=30):
    """The cell's output, or "died" as soon as the kernel is gone (no reply will come)."""
    cell = asyncio.ensure_future(kernel.run(code, timeout=timeout))
    while not cell.done():
        if not await kernel.km.is_alive():
            cell.cancel()
            return "died"
        await asyncio.sleep(0.1)
    return cell.result()


def test_the_kernel_is_in_its_cgroup_from_its_first_process_and_processes_are_capped(kernels, tmp_path):
    bomb = ("import threading\nstarted = 0\ntry:\n    for _ in range(300):\n        threading.Thread(target=threading.Event().wait, "
            "args=(20,), daemon=True).start()\n        started += 1\nexcept RuntimeError:\n    pass\nprint(started)")

    async def go():
        async with kernels(workdir(tmp_path), max_processes=64) as k:
            launched = Path(f"/proc/{k.km.provisioner.pid}/cgroup").read_text()  # sh -> bwrap, or the fork server's child
            kernel = Path(f"/proc/{k.process().pid}/cgroup").read_text()
            started = int((await k.run(bomb)).split()[-1])
            return (k.km._cgroup.procs_files if k.km._cgroup else []), launched, kernel, started

    procs_files, launched, kernel, started = run(go())
    assert started < 64
    if CGROUPS:
        name = os.path.basename(os.path.dirname(procs_files[0]))
        for view in (launched, kernel):  # the launcher joined before it ran the kernel: nothing ran outside
            assert sum(name in line for line in view.splitlines()) == len(procs_files) == 2, view  # memory, pids
        assert not any(os.path.exists(path) for path in procs_files)  # removed when the kernel ended


# --- the seccomp filter --------------------------------------------------------------------------

STORE_KEY = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
key = libc.syscall(248, b"user", b"labgrader-probe", b"student A", 9, ctypes.c_long(-4))  # add_key, user keyring
print(os.getuid(), key if key >= 0 else errno.errorcode[ctypes.get_errno()])
"""
READ_KEY = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def result(r):
    return r if r >= 0 else errno.errorcode[ctypes.get_errno()]
found = result(libc.syscall(249, b"user", b"labgrader-probe", None, ctypes.c_long(0)))   # request_key
searched = result(libc.syscall(250, 10, ctypes.c_long(-4), b"user", b"labgrader-probe", 0))  # keyctl(KEYCTL_SEARCH)
listed = [line for line in open("/proc/keys") if "labgrader-probe" in line]
print(os.getuid(), found, searched, len(listed))
"""


def test_a_key_stored_by_one_kernel_does_not_reach_the_next_kernel_with_the_same_uid(kernels, tmp_path):
    same_uid = dict(sandbox_uid_first=1_999_100_000, sandbox_uid_count=1)  # one uid: both kernels get it

    async def go():
        async with kernels(workdir(tmp_path, "a"), **same_uid) as first:
            stored = (await first.run(STORE_KEY)).split()
        async with kernels(workdir(tmp_path, "b"), **same_uid) as second:
            read = (await second.run(READ_KEY)).split()
        return stored, read

    stored, read = run(go())
    assert stored[0] == read[0]  # the same uid
    assert stored[1] == "EPERM"
    assert read[1:] == ["EPERM", "EPERM", "0"]


REFUSED = """
import ctypes, errno, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
def call(number, *args):
    r = libc.syscall(number, *[ctypes.c_long(a) for a in args])
    return "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()]
seen = {{
    "ptrace": call(101, 0, 0, 0, 0),            # PTRACE_TRACEME
    "bpf": call(321, 0, 0, 0),
    "perf_event_open": call(298, 0, 0, -1, -1, 0),
    "userfaultfd": call(323, 0),
    "io_uring_setup": call(425, 1, 0),
    "unshare": call(272, 0x10000000),           # CLONE_NEWUSER
    "keyctl": call(250, 0, -4, 0, 0, 0),
    "mount": call(165, 0, 0, 0, 0, 0),
    "shmget": call(29, 0, 1 << 20, 0o1600),     # IPC_PRIVATE, IPC_CREAT
}}
# i386 ABI (int 0x80), in a child: a machine without IA32 emulation would kill the process
seen["i386_getpid"] = subprocess.run([sys.executable, "-c", {i386!r}], capture_output=True, text=True).stdout.strip()
print(seen)
"""
I386 = ("import ctypes, mmap\npage = mmap.mmap(-1, mmap.PAGESIZE, prot=7)\npage.write(bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3]))\n"
        "print(ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))())")


def test_the_filter_refuses_what_reaches_other_processes_or_the_host_kernel(kernels, tmp_path):
    async def go():
        async with kernels(workdir(tmp_path)) as k:
            return eval((await k.run(REFUSED.format(i386=I386))).strip())

    seen = run(go())
    i386 = seen.pop("i386_getpid")
    assert seen == {name: "EPERM" for name in seen}, seen
    assert i386 in ("-1", ""), i386  # -EPERM (empty: no IA32 emulation, the child died)


# --- messages --------------------------------------------------------------------------------------

EXECUTOR = """
import json, resource, sys
import nbformat
from nbclient import NotebookClient
from labgrader.kernels import forkserver
from labgrader.kernels.manager import GradingKernelManager

sender, launcher, path = sys.argv[1], sys.argv[2], sys.argv[3]
cells = ["print('before')", sender, "print('after')", "print('after again')"]
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}

def execute(socket):
    km = GradingKernelManager(kernel_name="python3", fork_server=socket, ram_limit=5 * 2 ** 30, memory_limit=8 * 2 ** 30)
    client = NotebookClient(nb, km=km, timeout=60, allow_errors=True, resources={"metadata": {"path": path}})
    client.owns_km = True  # shut the kernel down at the end (nbclient leaves a kernel manager it was given running)
    client.execute()

if launcher == "warm":
    with forkserver.Running() as server:
        execute(server.socket)
else:
    execute("")
outputs = [[o.get("text", "") or str(o.get("data", ""))[:40] for o in cell.outputs] for cell in nb.cells]
print(json.dumps({"maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "outputs": outputs}))
"""
SMALL = "print('small')"
ONE_HUGE = """
kernel = get_ipython().kernel
body = b'{"data": {"text/plain": "' + b"x" * 1_200_000_000 + b'"}, "metadata": {}}'  # packed already: one copy
kernel.session.send(kernel.iopub_socket, "display_data", body, parent=kernel.get_parent())
del body
"""
MANY_PARTS = """
kernel = get_ipython().kernel
kernel.session.send(kernel.iopub_socket, "display_data", {"data": {"text/plain": "parts"}, "metadata": {}},
                    parent=kernel.get_parent(), buffers=[b"x" * (4 * 1024 * 1024)] * 300)
"""


def _execute(sender, launcher, tmp_path):
    result = subprocess.run([sys.executable, "-c", EXECUTOR, sender, launcher, str(workdir(tmp_path, f"w{len(os.listdir(tmp_path))}"))],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("launcher,sender", [("cold", ONE_HUGE), ("warm", MANY_PARTS)], ids=["one_1.2GB_part", "300_parts_of_4MiB"])
def test_one_huge_message_leaves_the_graders_memory_bounded_and_later_cells_run(tmp_path, launcher, sender):
    """The executor (nbclient with our kernel manager, in a process of its own): its peak RSS with a
    1.2 GB message from the kernel against the same run with a small one."""
    baseline = _execute(SMALL, launcher, tmp_path)
    flooded = _execute(sender, launcher, tmp_path)
    assert baseline["outputs"][1] == ["small\n"]
    assert flooded["maxrss_mib"] - baseline["maxrss_mib"] < 300, (baseline["maxrss_mib"], flooded["maxrss_mib"])
    assert flooded["outputs"][2:] == [["after\n"], ["after again\n"]], flooded["outputs"]  # the channel came back


STALLED_READER = """
import asyncio, json, resource, sys
from labgrader.kernels.manager import GradingKernelManager

FLOOD = '''
import threading
def flood():
    kernel = get_ipython().kernel
    part = b"x" * (7 * 1024 * 1024)  # each message under the 8 MiB cap
    for _ in range(COUNT):
        kernel.session.send(kernel.iopub_socket, "display_data", {"data": {"text/plain": "m"}, "metadata": {}},
                            parent=kernel.get_parent(), buffers=[part])
threading.Thread(target=flood, daemon=True).start()
'''.replace("COUNT", sys.argv[1])

async def main():
    km = GradingKernelManager(kernel_name="python3", ram_limit=4 * 2 ** 30, memory_limit=8 * 2 ** 30)
    await km.start_kernel(cwd=sys.argv[2])
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        kc.execute(FLOOD)
        await kc.get_shell_msg(timeout=60)  # the reply; IOPub is not read
        await asyncio.sleep(8)  # the grader reads nothing meanwhile (as between cells)
        received = 0
        while True:
            try:
                await kc.get_iopub_msg(timeout=2)
                received += 1
            except Exception:
                break
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    print(json.dumps({"maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "received": received}))

asyncio.run(main())
"""


def test_a_kernel_flooding_messages_under_the_cap_while_the_grader_reads_nothing_stays_bounded(tmp_path):
    """200 messages of 7 MiB from a kernel thread (1.4 GB) while the grader does not read: the
    grader's ZeroMQ queues about 256 MiB of them, then stops reading (the rest waits in the kernel,
    charged to its memory, or is dropped there). Without the queue cap: +1.4 GB in the grader."""
    runs = {}
    for count in (0, 200):
        result = subprocess.run([sys.executable, "-c", STALLED_READER, str(count), str(workdir(tmp_path, f"w{count}"))],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[count] = json.loads(result.stdout.strip().splitlines()[-1])
    assert runs[200]["maxrss_mib"] - runs[0]["maxrss_mib"] < 400, runs


# --- sys.path ------------------------------------------------------------------------------------------

def test_modules_handed_in_beside_the_notebook_do_not_shadow_the_real_ones(kernels, tmp_path):
    work = workdir(tmp_path)
    (work / "numpy.py").write_text("raise ImportError('the handed-in numpy.py was imported')\n")
    for package in ("keras", "labgrader"):  # labgrader: also what the cold launcher's limits step imports, as root
        (work / package).mkdir()
        (work / package / "__init__.py").write_text(f"raise ImportError('the handed-in {package}/ was imported')\n")

    async def go():
        async with kernels(work) as k:
            return await k.run("import sys, os, numpy, keras, labgrader\n"
                               "print([m.__file__ for m in (numpy, keras, labgrader)])\n"
                               "print(os.getcwd() in sys.path, '' in sys.path, sys.flags.safe_path)")

    out = run(go())
    files, flags = out.strip().splitlines()
    assert str(work) not in files and "was imported" not in out, out
    assert "site-packages" in files and f"{Path(forkserver.__file__).parents[2]}" in files  # the grader's labgrader
    assert flags == "False False True", flags


# --- the fork server provisioner ------------------------------------------------------------------

def test_the_fork_server_provisioner_reports_real_exit_codes_and_errors(fork_server, tmp_path):
    async def go():
        async with Kernel(workdir(tmp_path, "a"), fork_server.socket) as k:
            provisioner = k.km.provisioner
            running = await provisioner.poll()
            k.kc.execute("import os; os._exit(3)")
            code = await asyncio.wait_for(provisioner.wait(), 30)
            after = await provisioner.poll()
            with pytest.raises(RuntimeError, match="no kernel with pid"):
                await provisioner._ask({"op": "poll", "pid": -1})
        ends = {}
        for how in ("kill", "terminate"):
            async with Kernel(workdir(tmp_path, how), fork_server.socket) as k:
                await k.run("import subprocess; subprocess.Popen(['sleep', '4245'])")
                await getattr(k.km.provisioner, how)()
                ends[how] = await asyncio.wait_for(k.km.provisioner.wait(), 30)
        return running, code, after, ends

    running, code, after, ends = run(go())
    assert (running, code, after) == (None, 3, 3)
    assert ends == {"kill": -9, "terminate": -9}  # the kernel's namespace is killed either way
    deadline = time.monotonic() + 5  # kill: the kernel follows its watcher (PR_SET_PDEATHSIG) a moment later
    while _sleepers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _sleepers()


def _sleepers():
    return [p for p in psutil.process_iter(["cmdline"]) if "4245" in (p.info["cmdline"] or [])]


def test_the_fork_servers_kernels_get_the_configured_environment(tmp_path):
    config = Config()
    config.GradingKernelManager.kernel_env = {**QUIET_TENSORFLOW, "TF_CPP_MIN_LOG_LEVEL": "2", "LABGRADER_FROM_CONFIG": "yes"}

    async def go(socket):
        k = Kernel(workdir(tmp_path), socket)
        k.km = GradingKernelManager(kernel_name="python3", fork_server=socket, config=config)
        async with k:
            inside = await k.run("import os; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))")
            with open(f"/proc/{k.process().pid}/environ") as f:  # read from outside: the kernel's uid may not
                raw = dict(item.split("=", 1) for item in f.read().split("\0") if item)
            return inside.strip(), raw

    with forkserver.Running(config=config) as server:
        inside, raw = run(go(server.socket))
    # what the fork server started with (TensorFlow read it at its import) is the configured environment
    assert (raw.get("TF_CPP_MIN_LOG_LEVEL"), raw.get("LABGRADER_FROM_CONFIG"), raw.get("PYTHONSAFEPATH")) == ("2", "yes", "1")
    assert inside == "2"
