"""The last step into the sandbox: resource limits, then the unprivileged user, for good.

As root, the kernel switches to its own uid (which drops every capability). As an ordinary user
it keeps its uid (the only one its user namespace maps) and drops the capabilities it holds in
that namespace.

As a command (what bwrap runs before the kernel):
    python -m labgrader.sandbox.limits --uid 65534 --gid 65534 --memory BYTES --nproc N --fsize BYTES -- CMD...
"""
from __future__ import annotations

import argparse
import ctypes
import os
import resource

PR_SET_NO_NEW_PRIVS = 38


def drop_privileges(uid: int, gid: int, memory: int, nproc: int, fsize: int) -> None:
    for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_NPROC, nproc),
                         (resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))
    if (uid, gid) != (os.getuid(), os.getgid()):
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)  # from here on, no way back to root
    else:  # rootless: same uid, so setuid would not drop what joining a user namespace gave
        from .userns import drop_capabilities
        drop_capabilities()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--gid", type=int, required=True)
    parser.add_argument("--memory", type=int, required=True, help="address-space cap in bytes")
    parser.add_argument("--nproc", type=int, required=True, help="processes+threads of the sandbox user")
    parser.add_argument("--fsize", type=int, required=True, help="largest file the kernel may write")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    drop_privileges(args.uid, args.gid, args.memory, args.nproc, args.fsize)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
