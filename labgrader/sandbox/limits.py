"""Runs first inside the sandbox: drop to the unprivileged user, set resource limits, exec the kernel.

    python -m labgrader.sandbox.limits --uid 65534 --gid 65534 --memory BYTES --nproc N --fsize BYTES -- CMD...
"""
import argparse
import os
import resource


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--gid", type=int, required=True)
    parser.add_argument("--memory", type=int, required=True, help="address-space cap in bytes")
    parser.add_argument("--nproc", type=int, required=True, help="processes+threads of the sandbox user")
    parser.add_argument("--fsize", type=int, required=True, help="largest file the kernel may write")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    for limit, value in ((resource.RLIMIT_AS, args.memory), (resource.RLIMIT_NPROC, args.nproc),
                         (resource.RLIMIT_FSIZE, args.fsize), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))
    os.setgroups([])
    os.setgid(args.gid)
    os.setuid(args.uid)  # from here on, no way back to root
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
