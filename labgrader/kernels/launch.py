"""A cold grading kernel's entry point (what bwrap runs, after ``labgrader.sandbox.limits``):
IPython's kernel, as ``ipykernel_launcher`` starts it, then ``os._exit``.

Once the kernel has answered the grader's ``shutdown_request``, ``ipykernel_launcher`` returns to
the interpreter's ordinary exit, which with TensorFlow imported takes seconds (its threads, its
atexit handlers): jupyter_client waits ``shutdown_wait_time`` for the process, then terminates it,
so every plain-nbgrader submission waited seconds for a kernel that had nothing left to do. The
reply and every output were sent before the event loop stopped, so the kernel leaves at once, as
the fork server's warm kernels always did (``forkserver.run_kernel``).

    python -P -m labgrader.kernels.launch -f CONNECTION_FILE [IPKernelApp options]
"""
from __future__ import annotations

import os
import sys


def main() -> None:
    from ipykernel.kernelapp import IPKernelApp
    app = IPKernelApp.instance()
    app.initialize(sys.argv[1:])
    app.start()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # closed, or the grader is gone
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
