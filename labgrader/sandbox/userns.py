"""The kernel's mounts without root: a per-kernel holder in a user namespace of its own.

Only root may mount on the host. An ordinary user may create a user namespace (with a mount
namespace owned by it) and mount tmpfs there. So when the grader is not root, each kernel gets a
*holder*: a tiny process that

    python -m labgrader.sandbox.userns BASE IPC_BYTES TMP_BYTES WORK_BYTES

enters a new user + mount namespace (the grader's uid mapped to itself), mounts the size-capped
tmpfs for ``BASE/ipc``, ``BASE/tmp`` and ``BASE/work`` there (see scratch.py), says "ready" and
waits until its stdin closes (the grader ends it, or dies). The grader reaches these mounts
through ``/proc/<holder>/root`` (its own uid, so no privilege is needed); the kernel is started
inside the holder's namespaces (bwrap through nsenter, or the fork server's child through
setns) and builds its sandbox from there. The holder never runs student code and is not visible
from the kernel (the kernel has its own PID namespace).
"""
from __future__ import annotations

import ctypes
import os
import sys

from .namespaces import MS_NODEV, MS_NOSUID, _check, _libc, die_with_parent, mount

CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x20000


def enter_own_user_namespace() -> None:
    """unshare a user + mount namespace in which the caller's uid and gid map to themselves."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(CLONE_NEWUSER)")
    # gid_map needs setgroups denied first (user_namespaces(7)); written before any other namespace
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def main() -> None:
    base = sys.argv[1]
    ipc_bytes, tmp_bytes, work_bytes = (int(arg) for arg in sys.argv[2:5])
    from .scratch import IPC_FILES, max_files
    die_with_parent()
    enter_own_user_namespace()
    uid, gid = os.getuid(), os.getgid()
    for name, size, files, mode in (("ipc", ipc_bytes, IPC_FILES, "0700"), ("tmp", tmp_bytes, max_files(tmp_bytes), "1777"),
                                    ("work", work_bytes, max_files(work_bytes), "0755")):
        mount("tmpfs", os.path.join(base, name), "tmpfs", MS_NOSUID | MS_NODEV,
              f"size={size},nr_inodes={files},mode={mode},uid={uid},gid={gid}")
    print("ready", flush=True)
    sys.stdin.read()  # until the grader closes it


if __name__ == "__main__":
    try:
        main()
    except OSError as exc:
        print(f"error: {exc}", flush=True)
        sys.exit(1)


def drop_capabilities() -> None:
    """Empty effective, permitted and inheritable sets (a process that joined a user namespace
    holds every capability in it until it execs; the fork server's kernel never execs)."""
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
