"""A warm parent for grading kernels: imports TensorFlow once, then forks one fresh, sandboxed
kernel per submission.

    python -m labgrader.kernels.forkserver SOCKET [MODULE ...]

MODULE: what the labs being graded declare as ``warm_imports`` in their grading.py (e.g. tensorflow).

Requests are JSON lines on a Unix socket only the grader can reach (its directory is 0700):
    {"op": "launch", "argv": [...], "workdir": ..., "plan": [...], "root_dir": ..., "sandbox": {...},
     "env": {...}, "holder": null | pid of the kernel's mount holder (grader not root)}
        -> {"pid": N}
    {"op": "poll", "pid": N}            -> {"returncode": null | int}
    {"op": "signal", "pid": N, "signum": S} -> {"ok": true}

Each kernel is a new process forked from this pristine parent, in its own namespaces, as its own
unprivileged uid: no state passes between submissions. It keeps no descriptor of the parent
(only stderr, as a cold kernel does), and the parent itself was started with an allow-listed
environment (what /proc/self/environ of a forked kernel shows). The parent never runs student code.
"""
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

# What every submission's kernel would otherwise spend time importing, whatever the lab
# (a lab adds its own: ``warm_imports`` in its grading.py).
WARM_IMPORTS = ["numpy", "ipykernel.kernelapp", "IPython", "labgrader.kernels.export"]


def warm_up(env, extra=()):
    os.environ.update(env)
    for name in WARM_IMPORTS + list(extra):
        importlib.import_module(name)


def run_kernel(request):
    """In the forked child: enter the sandbox, then become an IPython kernel. Never returns."""
    from labgrader.sandbox import Sandbox
    from labgrader.sandbox import namespaces as ns

    # Nothing of the server's but stderr: not its listening socket, not the grader's
    # connection, not its stdout pipe to the grader, not whatever TensorFlow opened.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # also the kernel's banner (its output goes over the kernel protocol)
    os.closerange(3, 2 ** 31 - 1)  # one close_range(2) call
    os.setsid()
    box = Sandbox(**request["sandbox"])
    ns.die_with_parent()  # with the fork server
    if request.get("holder"):  # not root: the namespaces where this kernel's mounts are (sandbox/userns.py)
        ns.join(request["holder"])
        ns.forbid_user_namespaces()  # as bwrap --disable-userns does for a cold kernel
    ns.unshare_all()
    pid = os.fork()  # the grandchild is PID 1 of the new PID namespace: when it ends, all its processes end
    if pid:
        def forward(signum, frame):
            # Ending PID 1 of the namespace ends every process in it; the kernel reaps them all
            # before this waitpid returns, so "exited" means "nothing left".
            os.kill(pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGKILL)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, forward)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
            except InterruptedError:
                continue
    ns.enter_root([tuple(entry) for entry in request["plan"]], request["root_dir"], request["workdir"])
    socket.sethostname("sandbox")
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.update(box.environment())
    box.drop_privileges()
    ns.die_with_parent()  # again: the uid change cleared it
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    from ipykernel.kernelapp import IPKernelApp
    sys.argv = ["ipykernel_launcher"] + request["argv"]
    app = IPKernelApp.instance()
    app.initialize(request["argv"])
    app.start()
    os._exit(0)


class ForkServer:
    def __init__(self, path):
        self.path = path
        self.children = {}  # pid -> exit code once reaped

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children[pid] = os.waitstatus_to_exitcode(status)

    def handle(self, request):
        self.reap()
        op = request["op"]
        if op == "launch":
            pid = os.fork()
            if pid == 0:
                try:
                    run_kernel(request)
                except BaseException as exc:  # report, never fall back into the server loop
                    print(f"forkserver: kernel start failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                finally:
                    os._exit(70)
            self.children[pid] = None
            return {"pid": pid}
        if op == "poll":
            return {"returncode": self.children.get(request["pid"], -1)}
        if op == "signal":
            if self.children.get(request["pid"], -1) is None:
                os.kill(request["pid"], request["signum"])
            return {"ok": True}
        return {"error": f"unknown op {op!r}"}

    def serve(self):
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.path)
        os.chmod(self.path, 0o600)
        server.listen(16)
        print("ready", flush=True)
        while True:
            conn, _ = server.accept()
            with conn, conn.makefile("rwb") as stream:
                for line in stream:
                    reply = self.handle(json.loads(line))
                    stream.write(json.dumps(reply).encode() + b"\n")
                    stream.flush()


class Running:
    """Start a fork server for the duration of a ``with`` block; its socket path is ``.socket``."""

    def __init__(self, wait=True, imports=()):
        self.wait = wait
        self.imports = [str(name) for name in imports]  # the labs' warm_imports

    def __enter__(self):
        from labgrader.kernels.manager import kernel_environment
        self._dir = tempfile.mkdtemp(prefix="labgrader-forkserver-")  # 0700: only the grader connects
        self.socket = os.path.join(self._dir, "socket")
        # Started with the kernels' allow-listed environment: a forked kernel's /proc/self/environ
        # is this process's, whatever the kernel later puts in os.environ.
        # Forked kernels share its stderr: filtered (printable text only) before it reaches ours.
        from labgrader.kernels import stderr_filter
        stderr = stderr_filter.pipe(prefix="[kernel stderr] ", limit=1024 * 1024)
        self.process = subprocess.Popen([sys.executable, "-m", "labgrader.kernels.forkserver", self.socket, *self.imports],
                                        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                        env=kernel_environment(os.environ), stderr=stderr)
        os.close(stderr)
        if self.wait:
            self.ready()
        return self

    def ready(self):
        """Block until the server has imported TensorFlow and listens (a few seconds)."""
        if self.process.stdout.readline().strip() != "ready":
            self.__exit__()
            raise RuntimeError("the fork server did not start (see the messages above)")

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
        shutil.rmtree(self._dir, ignore_errors=True)


def request(path, message):
    """Client side: one request, one reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        with sock.makefile("rwb") as stream:
            stream.write(json.dumps(message).encode() + b"\n")
            stream.flush()
            return json.loads(stream.readline())


def main():
    from labgrader.kernels.manager import QUIET_TENSORFLOW
    from labgrader.sandbox.namespaces import die_with_parent
    die_with_parent()  # with the grader; its kernels follow (each one dies with its parent)
    warm_up(QUIET_TENSORFLOW, sys.argv[2:])
    server = ForkServer(sys.argv[1])

    def stop(signum, frame):
        for pid, code in server.children.items():
            if code is None:
                os.kill(pid, signal.SIGTERM)  # each child ends its kernel's whole PID namespace
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    server.serve()


if __name__ == "__main__":
    main()
