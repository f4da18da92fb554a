"""The parts of kernel isolation that need no kernel (fast): the seccomp filter applied to a forked
process, the relay's ZMTP meter and a real ZeroMQ connection through the relay, and (as root,
where cgroups are writable) a memory + pids cgroup around a plain process."""
import ctypes
import errno
import mmap
import os
import struct
import subprocess
import sys
import time

import pytest
import zmq

from labgrader.kernels.relay import MessageFilter, NotZmtp3, Relay
from labgrader.sandbox import cgroups, seccomp

libc = ctypes.CDLL(None, use_errno=True)
SYS = {"keyctl": 250, "add_key": 248, "request_key": 249, "ptrace": 101, "bpf": 321, "perf_event_open": 298,
       "userfaultfd": 323, "io_uring_setup": 425, "unshare": 272, "setns": 308, "process_vm_readv": 310,
       "mount": 165, "pivot_root": 155, "init_module": 175, "kexec_load": 246, "swapon": 167, "open_by_handle_at": 304,
       "shmget": 29, "clone3": 435, "memfd_create": 319}
CLONE_NEWUSER, SIGCHLD = 0x10000000, 17


def _errno_of(number, *args):
    result = libc.syscall(number, *args)
    return "ok" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno())


def _i386_getpid():
    """getpid through int 0x80 (the i386 ABI): the pid, or -errno."""
    code = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])  # mov eax, 20; int 0x80; ret
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    return ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()


def _in_filtered_child(check, refuse_memfd=False, filtered=True):
    """Run ``check()`` in a forked child under the kernels' filter; its result (a repr) comes back
    (None if the child died)."""
    read_end, write_end = os.pipe()
    program = seccomp.bpf(refuse_memfd)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, as limits.py sets it
            if filtered:
                seccomp.load(program)
            os.write(write_end, repr(check()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        result = f.read().decode()
    os.waitpid(pid, 0)
    return eval(result) if result else None


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers of x86_64")
def test_the_filter_refuses_what_a_kernel_never_needs_with_eperm():
    refused = {name: number for name, number in SYS.items() if name not in ("clone3", "memfd_create")}
    seen = _in_filtered_child(lambda: {name: _errno_of(number, 0, 0, 0, 0, 0) for name, number in refused.items()})
    assert seen == {name: "EPERM" for name in refused}, seen
    # clone with a namespace flag is refused, clone3 says ENOSYS (glibc falls back to clone)
    assert _in_filtered_child(lambda: (_errno_of(56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), _errno_of(435, 0, 0))) == ("EPERM", "ENOSYS")


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="i386 and x32 ABIs of x86_64")
def test_the_filter_refuses_every_syscall_of_another_abi():
    assert _in_filtered_child(lambda: _errno_of(0x40000000 + 39)) == "EPERM"  # x32 getpid
    unfiltered = _in_filtered_child(lambda: (_i386_getpid(), os.getpid()), filtered=False)
    if unfiltered is None or unfiltered[0] != unfiltered[1]:
        pytest.skip("this kernel runs no i386 syscalls (no IA32 emulation): nothing to refuse")
    assert _in_filtered_child(_i386_getpid) == -errno.EPERM  # int 0x80 getpid works unfiltered (above)


def test_threads_processes_and_memfd_still_work_under_the_filter():
    def work():
        import threading
        results = []
        threads = [threading.Thread(target=results.append, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        child = os.fork()
        if child == 0:
            os._exit(7)
        _, status = os.waitpid(child, 0)
        out = subprocess.run(["/bin/echo", "exec ok"], capture_output=True, text=True).stdout.strip()
        fd = os.memfd_create("ok")
        os.close(fd)
        return len(results), os.waitstatus_to_exitcode(status), out
    assert _in_filtered_child(work) == (20, 7, "exec ok")


def test_without_a_memory_cgroup_memfd_create_is_refused_too():
    assert _in_filtered_child(lambda: _errno_of(SYS["memfd_create"], b"x", 0), refuse_memfd=True) == "EPERM"
    assert _in_filtered_child(lambda: _errno_of(SYS["memfd_create"], b"x", 0)) == "ok"


# --- the relay's filter: ZMTP 3 framing of what a kernel sends --------------------------------

GREETING = b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x01" + b"NULL".ljust(20, b"\0") + b"\0" + b"\0" * 31
READY = bytes([0x04, 10]) + b"\x05READY" + b"\0" * 4  # a command frame


def frame(body, more=False):
    size = len(body)
    header = bytes([(1 if more else 0) | 2]) + struct.pack(">Q", size) if size > 255 else bytes([1 if more else 0, size])
    return header + body


def through(message_filter, data, chunk):
    return b"".join(message_filter.feed(data[start:start + chunk]) for start in range(0, len(data), chunk))


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_the_filter_passes_messages_under_the_cap_unchanged_in_any_chunking(chunk):
    stream = GREETING + READY + frame(b"a" * 300, more=True) + frame(b"b" * 600) + frame(b"") + frame(b"c" * 900)
    message_filter = MessageFilter(1000)
    assert through(message_filter, stream, chunk) == stream and message_filter.dropped == 0


@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_the_filter_drops_a_message_over_the_cap_whole_and_nothing_else(chunk):
    before = GREETING + READY + frame(b"x" * 900)
    oversized = frame(b"a" * 400, more=True) + frame(b"b" * 400, more=True) + frame(b"c" * 400) # 1200 > 1000
    after = frame(b"d" * 10, more=True) + frame(b"e" * 990)
    message_filter = MessageFilter(1000)
    assert through(message_filter, before + oversized + after, chunk) == before + after
    assert message_filter.dropped == 1


def test_the_filter_holds_a_message_until_its_last_part():
    message_filter = MessageFilter(1000)
    assert message_filter.feed(GREETING) == GREETING
    assert message_filter.feed(frame(b"a" * 10, more=True)) == b""
    assert message_filter.feed(frame(b"b" * 10)) == frame(b"a" * 10, more=True) + frame(b"b" * 10)


def test_the_filter_refuses_a_framing_it_cannot_follow():
    with pytest.raises(NotZmtp3):
        MessageFilter(1000).feed(b"\x01\x00hello")  # ZMTP 1.0: a length byte, no signature
    with pytest.raises(NotZmtp3):
        MessageFilter(1000).feed(GREETING[:10] + b"\x02")  # version 2 framing


def test_a_pub_sub_channel_through_the_relay_drops_an_oversized_message_and_nothing_else(tmp_path):
    """A real ZeroMQ PUB (the kernel's side) and SUB (the grader's) through the relay: a multipart
    message of 16 parts of 1 MiB (each part under the per-part cap) is dropped, the next message
    arrives on the same connection."""
    context = zmq.Context()
    context.setsockopt(zmq.LINGER, 0)  # nothing left to send when the test ends (a term() once hung on the flood)
    pub = context.socket(zmq.PUB)
    pub.bind(f"ipc://{tmp_path}/kernel-5555")
    relay = Relay(f"{tmp_path}/kernel", [5555], limit=4 * 1024 ** 2)
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.MAXMSGSIZE, 4 * 1024 ** 2)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 200)
    sub.connect(f"ipc://{relay.prefix}-5555")
    try:
        assert _publish_until_received(pub, sub, [b"hello"]) == [b"hello"]
        pub.send_multipart([b"x" * 1024 ** 2] * 16)  # 16 MiB in all
        pub.send_multipart([b"right", b"after"])
        sub.setsockopt(zmq.RCVTIMEO, 5000)
        assert sub.recv_multipart() == [b"right", b"after"]  # no reconnection: nothing published meanwhile was lost
        assert relay.dropped == 1
    finally:
        relay.close()
        context.destroy(linger=0)


def test_past_its_messages_a_channel_is_no_longer_read(tmp_path):
    """A kernel publishing message after message: past max_messages on the channel the relay reads
    no more of it (the kernel's own buffers fill and its ZeroMQ drops the rest), whatever it sends."""
    context = zmq.Context()
    context.setsockopt(zmq.LINGER, 0)  # nothing left to send when the test ends (a term() once hung on the flood)
    pub = context.socket(zmq.PUB)
    pub.bind(f"ipc://{tmp_path}/kernel-5555")
    relay = Relay(f"{tmp_path}/kernel", [5555], limit=1024 ** 2, max_messages=50)
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 200)
    sub.connect(f"ipc://{relay.prefix}-5555")
    try:
        _publish_until_received(pub, sub, [b"hello"])
        for n in range(2000):
            pub.send_multipart([b"flood", b"%d" % n])
        drain(sub)  # read as the grader reads: no back-pressure on the relay
        read = relay.messages[5555]
        assert read > 50  # past the cap (checked after each chunk the relay reads: a few thousand small messages)
        for n in range(20000):
            pub.send_multipart([b"more", b"%d" % n])
        assert drain(sub) == 0 and relay.messages[5555] == read  # not read at all any more
    finally:
        relay.close()
        context.destroy(linger=0)


def drain(sub, quiet=1.0):
    """Messages received until none came for ``quiet`` seconds."""
    sub.setsockopt(zmq.RCVTIMEO, int(quiet * 1000))
    received = 0
    try:
        while True:
            sub.recv_multipart()
            received += 1
    except zmq.Again:
        return received


def _publish_until_received(pub, sub, message, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pub.send_multipart(message)
        try:
            while True:
                got = sub.recv_multipart()
                if got == message:
                    return got
        except zmq.Again:
            continue
    raise AssertionError(f"{message} never arrived through the relay")


# --- cgroups (root, writable cgroupfs) -------------------------------------------------------

needs_cgroups = pytest.mark.skipif(os.geteuid() != 0 or cgroups.find_place() is None,
                                   reason="kernel cgroups need root and a writable memory + pids cgroup")

FILL_MEMFD = """
import os
fd = os.memfd_create("fill")
for mib in range(1024):
    os.write(fd, b"x" * 1024 ** 2)
print("filled 1 GiB", flush=True)
"""


@needs_cgroups
def test_memfd_pages_count_against_the_cgroup_and_the_filler_is_killed():
    group = cgroups.KernelCgroup(cgroups.find_place(), memory_bytes=64 * 1024 ** 2, max_pids=16)
    try:
        result = subprocess.run(cgroups.join_command(group.procs_files, [sys.executable, "-c", FILL_MEMFD]),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == -9 and "filled" not in result.stdout  # killed by the OOM killer
        assert group.oom_kills() >= 1 and group.peak_bytes() <= 64 * 1024 ** 2
    finally:
        group.remove()
    assert not any(os.path.exists(path) for path in group.procs_files)


@needs_cgroups
def test_the_pids_cap_holds_in_the_cgroup():
    group = cgroups.KernelCgroup(cgroups.find_place(), memory_bytes=256 * 1024 ** 2, max_pids=8)
    code = ("import threading\nn = 0\ntry:\n    for n in range(50):\n        threading.Thread(target=threading.Event().wait, "
            "args=(5,), daemon=True).start()\nexcept RuntimeError:\n    pass\nprint(n)")
    try:
        result = subprocess.run(cgroups.join_command(group.procs_files, [sys.executable, "-c", code]),
                                capture_output=True, text=True, timeout=60)
    finally:
        group.remove()
    assert int(result.stdout) < 8  # the main thread counts too


@needs_cgroups
def test_cgroups_left_by_a_dead_grader_are_removed():
    place = cgroups.find_place()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [os.path.join(parent, f"{cgroups.PREFIX}{dead.pid}-0123abcd") for _, parent in place.parents]
    for path in stale:
        os.mkdir(path)
    cgroups._sweep_once.cache_clear()
    cgroups.KernelCgroup(place, memory_bytes=64 * 1024 ** 2, max_pids=16).remove()
    assert not any(os.path.exists(path) for path in stale)


def test_kernel_cgroups_go_below_the_graders_own_cgroup_on_v1_hybrid_and_v2(tmp_path):
    for path in ("memory/grader", "pids", "unified/user.slice/grader.scope", "unified/elsewhere"):
        (tmp_path / path).mkdir(parents=True)
    v1 = {"memory": str(tmp_path / "memory"), "pids": str(tmp_path / "pids")}
    own = {"memory": "/grader", "pids": "/", "": "/user.slice/grader.scope"}
    assert cgroups._locate("", v1, own) == cgroups.Place(1, (("memory", str(tmp_path / "memory/grader")),
                                                             ("pids", str(tmp_path / "pids"))))
    hybrid = {**v1, "": str(tmp_path / "unified")}  # memory on v1: v1
    assert cgroups._locate("", hybrid, own).version == 1
    v2 = {"": str(tmp_path / "unified")}
    assert cgroups._locate("", v2, own) == cgroups.Place(2, (("unified", str(tmp_path / "unified/user.slice/grader.scope")),))
    assert cgroups._locate("/elsewhere", v2, own).parents[0][1] == str(tmp_path / "unified/elsewhere")  # cgroup_parent
    with pytest.raises(cgroups.CgroupUnavailable, match="does not exist"):
        cgroups._locate("/missing", v2, own)
    with pytest.raises(cgroups.CgroupUnavailable, match="pids"):
        cgroups._locate("", {"memory": v1["memory"]}, own)


def test_join_command_refuses_paths_outside_the_cgroup_filesystem():
    with pytest.raises(ValueError):
        cgroups.join_command(["/etc/passwd"], ["true"])
    with pytest.raises(ValueError):
        cgroups.join_command(["/sys/fs/cgroup/../../etc/cgroup.procs"], ["true"])


def test_without_pyseccomp_the_sandbox_check_stops_grading_and_says_why():
    code = ("import sys; sys.modules['pyseccomp'] = None  # as if it were not installed\n"
            "from labgrader.sandbox import Sandbox, SandboxUnavailable\n"
            "try:\n    Sandbox().check()\nexcept SandboxUnavailable as e:\n    print(e)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "seccomp filter for kernels cannot be built" in result.stdout and "pyseccomp" in result.stdout, result
    assert "c.GradingKernelManager.sandbox = False" in result.stdout
