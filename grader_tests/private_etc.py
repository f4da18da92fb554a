"""Each xdist worker gets its own user database: a private copy of /etc, in a mount namespace of its
own, inherited by everything the worker starts (useradd, runuser, JupyterHub and its PAM login,
the single-user servers).

The class's accounts (``instructor``, ``alice``...) and the ordinary user (``labgrader-t13``) have
fixed names that the hub tests use as they are; two workers making them in the one /etc would
share (and remove) each other's accounts. With a private /etc each worker makes its own, with uids
and gids from a range of its own (``login.defs``), so it can run any hub test while another worker
runs another: processes and files found by uid are never the other worker's. Accounts a crashed
run left in the machine's /etc are dropped from the copy, never from the machine's.

Needs root (CAP_SYS_ADMIN), as the tests that make accounts do; as an ordinary user the worker
keeps the machine's /etc (those tests skip). Root that cannot unshare its mounts (a container
without CAP_SYS_ADMIN) stops the run: run it with ``-n 0``.
"""
import ctypes
import os
import subprocess

CLONE_NEWNS = 0x20000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 1 << 18
RANGE = 1000  # uids and gids per worker
FIRST = 40000  # worker gwN: FIRST + N * RANGE ... + RANGE - 1


def worker_index(name):
    """0 for gw0, 1 for gw1..."""
    return int(name.removeprefix("gw"))


def make_private(folder, index, stale_users=(), stale_groups=()):
    """Copy /etc into ``folder`` and mount it over /etc for this thread and what it starts (False:
    not root, nothing changed)."""
    if os.geteuid() != 0:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.unshare(CLONE_NEWNS), "unsharing this worker's mounts (run the suite with -n 0 here)")
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making the mounts private")
    os.makedirs(folder, exist_ok=True)
    subprocess.run(["cp", "-a", "/etc/.", str(folder)], check=True)
    first = FIRST + index * RANGE
    with open(os.path.join(folder, "login.defs"), "a") as defs:
        defs.write(f"\n# this test worker's range (grader_tests/private_etc.py)\nUID_MIN {first}\nUID_MAX {first + RANGE - 1}\n"
                   f"GID_MIN {first}\nGID_MAX {first + RANGE - 1}\n")
    _check(libc.mount(str(folder).encode(), b"/etc", None, MS_BIND, None), "mounting the private /etc")
    for name in stale_users:  # from the copy only: their homes and processes are not this worker's
        subprocess.run(["userdel", name], capture_output=True)
    for name in stale_groups:
        subprocess.run(["groupdel", name], capture_output=True)
    return True


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
