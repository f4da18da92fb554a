"""A warm parent for grading kernels: imports TensorFlow once, then forks one fresh, sandboxed
kernel per submission.

    python -m labgrader.kernels.forkserver SOCKET [MODULE ...]

MODULE: what the labs being graded declare as ``warm_imports`` in their grading.py (e.g. tensorflow).
The server is started (``Running``) with the environment its kernels get (the configured
``c.GradingKernelManager.kernel_env``, e.g. TensorFlow's variables, read at import) and with
PYTHONSAFEPATH, so that neither it nor a kernel forked from it has the working directory on sys.path.

Requests are JSON lines on a Unix socket only the grader can reach (its directory is 0700):
    {"op": "launch", "argv": [...], "env": {...}, + the manager's sandbox spec: "workdir", "plan",
     "root_dir", "sandbox", "holder" (null, or the pid of the kernel's mount holder when the grader
     is not root), "cgroup" (the kernel cgroup's cgroup.procs files, [] for none)}
        -> {"pid": N}   (the watcher: the kernel is PID 1 of a PID namespace below it)
        A descriptor sent with the launch request (SCM_RIGHTS) becomes the kernel's stderr, so that
        what it writes there is kept with its own student (kernels/stderr_filter.py); without one
        the kernel writes to the server's stderr.
    {"op": "poll", "pid": N}            -> {"returncode": null | int}  (negative: killed by that signal)
    {"op": "signal", "pid": N, "signum": S} -> {"ok": true}
    anything wrong -> {"error": "..."}

Each kernel is a new process forked from this pristine parent, in its own cgroup and namespaces,
as its own unprivileged uid, under the kernels' seccomp filter: no state passes between
submissions. It keeps no descriptor of the parent (only stderr, as a cold kernel does), and the
parent itself was started with an allow-listed environment (what /proc/self/environ of a forked
kernel shows). The parent never runs student code.
"""
from __future__ import annotations

import asyncio
import atexit
import importlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from types import FrameType
from typing import Any, NoReturn

from labgrader.kernels import forkclient
from labgrader.kernels.forkclient import request, request_async  # noqa: F401 (the client side, for callers)

# What every submission's kernel would otherwise spend time importing, whatever the lab
# (a lab adds its own: ``warm_imports`` in its grading.py).
WARM_IMPORTS = ["numpy", "ipykernel.kernelapp", "IPython", "labgrader.kernels.export"]


def warm_up(extra: Iterable[str] = ()) -> dict[bool, bytes]:
    for name in WARM_IMPORTS + list(extra):
        importlib.import_module(name)
    from labgrader.sandbox import seccomp
    return {refuse_memfd: seccomp.bpf(refuse_memfd) for refuse_memfd in (False, True)}  # built here, loaded by each child


SECCOMP: dict[bool, bytes] = {}  # the kernels' seccomp filters, by "refuse memfd_create" (filled by main)


def run_kernel(request: dict[str, Any], stderr: int | None = None, server: int | None = None) -> NoReturn:
    """In the forked child: enter the sandbox, then become an IPython kernel. Never returns.
    ``stderr``: the descriptor the grader sent for the kernel's stderr (None: the server's own);
    ``server``: the fork server's pid."""
    from labgrader.sandbox import Sandbox, cgroups, seccomp
    from labgrader.sandbox import namespaces as ns

    # With the fork server, first thing: a server that died between the fork and here (its grader
    # killed, a Dask worker lost) sends no signal, and the kernel would live on for ever.
    ns.die_with_parent(parent=server)
    cgroups.join(request["cgroup"])  # first: all this process and its children do is charged there
    # Nothing of the server's: not its listening socket, not the grader's connection, not its
    # stdout pipe to the grader, not whatever TensorFlow opened; stderr is the kernel's own pipe.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # also the kernel's banner (its output goes over the kernel protocol)
    if stderr is not None:
        os.dup2(stderr, 2)
    os.closerange(3, 2 ** 31 - 1)  # one close_range(2) call
    os.setsid()
    box = Sandbox(**request["sandbox"])
    if request.get("holder"):  # not root: the namespaces where this kernel's mounts are (sandbox/userns.py)
        ns.join(request["holder"])
        ns.forbid_user_namespaces()  # as bwrap --disable-userns does for a cold kernel
    ns.unshare_all()
    # The kernel's lifeline to this watcher: it reads end of file once the watcher is gone (PID 1 of
    # a new namespace cannot ask for its parent's pid).
    lifeline, held = os.pipe()
    pid = os.fork()  # the grandchild is PID 1 of the new PID namespace: when it ends, all its processes end
    if pid:
        os.close(lifeline)
        def forward(signum: int, frame: FrameType | None) -> None:
            # Ending PID 1 of the namespace ends every process in it; the kernel reaps them all
            # before this waitpid returns, so "exited" means "nothing left".
            os.kill(pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGKILL)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, forward)
        _, status = os.waitpid(pid, 0)
        _exit_like(os.waitstatus_to_exitcode(status))
    os.close(held)
    _die_with_watcher(lifeline)
    ns.enter_root([tuple(entry) for entry in request["plan"]], request["root_dir"], request["workdir"])
    socket.sethostname("sandbox")
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.update(box.environment())
    box.drop_privileges()
    _die_with_watcher(lifeline)  # again: the uid change cleared it
    os.close(lifeline)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    seccomp.load(SECCOMP[not request["cgroup"]])  # last: the same bytes bwrap loads for a cold kernel
    from ipykernel.kernelapp import IPKernelApp
    sys.argv = ["ipykernel_launcher"] + request["argv"]
    app = IPKernelApp.instance()
    app.initialize(request["argv"])
    app.start()
    os._exit(0)


def _die_with_watcher(lifeline: int) -> None:
    """Die with the watcher from now on, or at once if it died before (the signal only follows a
    death that comes after the request)."""
    from labgrader.sandbox import namespaces as ns
    ns.die_with_parent()
    if select.select([lifeline], [], [], 0)[0]:  # readable: end of file, nobody holds the other end
        os._exit(0)


def _exit_like(code: int) -> NoReturn:
    """End the watcher as the kernel ended: with its exit status, or killed by the same signal."""
    if code < 0:
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # the only two whose handler cannot be set
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code  # a signal whose default is not to end the process
    os._exit(code & 0xFF)


class ForkServer:
    def __init__(self, path: str) -> None:
        self.path = path
        self.children: dict[int, int | None] = {}  # pid -> exit code once reaped

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children[pid] = os.waitstatus_to_exitcode(status)

    def handle(self, request: dict[str, Any], fds: list[int] | tuple[int, ...] = ()) -> dict[str, Any]:
        """One request; ``fds``: descriptors sent with it (a launch's first is the kernel's stderr)."""
        self.reap()
        op = request["op"]
        if op == "launch":
            server = os.getpid()
            pid = os.fork()
            if pid == 0:
                try:
                    run_kernel(request, fds[0] if fds else None, server)
                except BaseException as exc:  # report, never fall back into the server loop
                    print(f"forkserver: kernel start failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                finally:
                    os._exit(70)
            self.children[pid] = None
            return {"pid": pid}
        if request.get("pid") not in self.children:
            return {"error": f"no kernel with pid {request.get('pid')!r}"}
        if op == "poll":  # once reported, an exit code is forgotten
            code = self.children[request["pid"]]
            if code is not None:
                del self.children[request["pid"]]
            return {"returncode": code}
        if op == "signal":
            if self.children[request["pid"]] is None:  # not reaped yet, so the pid is still this child's
                os.kill(request["pid"], request["signum"])
            return {"ok": True}
        return {"error": f"unknown op {op!r}"}

    def serve(self) -> NoReturn:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.path)
        os.chmod(self.path, 0o600)
        server.listen(16)
        print("ready", flush=True)
        while True:
            conn, _ = server.accept()
            try:
                self._serve_connection(conn)
            except OSError:  # a client that went away before its reply (a cancelled start): never the server's end
                pass
            finally:
                conn.close()

    def _serve_connection(self, conn: socket.socket) -> None:
        pending, fds = b"", []  # type: tuple[bytes, list[int]]
        try:
            while True:
                data, received, _, _ = socket.recv_fds(conn, 1 << 20, 4)
                fds += received
                if not data:
                    return
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    try:
                        reply = self.handle(json.loads(line), fds)
                    except Exception as exc:  # a bad request is answered, never the end of the server
                        reply = {"error": f"{type(exc).__name__}: {exc}"}
                    for fd in fds:  # the child has its copies
                        os.close(fd)
                    fds = []
                    conn.sendall(json.dumps(reply).encode() + b"\n")
        finally:
            for fd in fds:
                os.close(fd)


class Running:
    """Start a fork server for the duration of a ``with`` block; its socket path is ``.socket``."""

    def __init__(self, wait: bool = True, imports: Iterable[str] = (), config: Any = None) -> None:
        self.wait = wait
        self.imports = [str(name) for name in imports]  # the labs' warm_imports
        self.config = config  # the course's (traitlets) config: the kernels' environment is read from it
        self._ready = False
        self._ready_lock = threading.Lock()

    def __enter__(self) -> Running:
        from labgrader.kernels import stderr_filter
        self._dir = tempfile.mkdtemp(prefix="labgrader-forkserver-")  # 0700: only the grader connects
        self.socket = os.path.join(self._dir, "socket")
        # Its own messages (a kernel that failed to start), as printable text; each kernel gets a
        # stderr of its own from the grader (kept with its student).
        stderr = stderr_filter.pipe(prefix="[fork server] ", limit=1024 * 1024)
        self.process = subprocess.Popen([sys.executable, "-m", "labgrader.kernels.forkserver", self.socket,
                                         f"--parent={os.getpid()}", *self.imports],
                                        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                        env=self.environment(), stderr=stderr)
        os.close(stderr)
        if self.wait:
            self.ready()
        return self

    def environment(self) -> dict[str, str]:
        """The server's environment: what its kernels get (a forked kernel's /proc/self/environ is
        this, whatever it later puts in os.environ; TensorFlow reads its variables at import, here),
        with labgrader importable and the working directory off sys.path (PYTHONSAFEPATH)."""
        from labgrader.kernels.manager import GradingKernelManager, kernel_environment
        from labgrader.sandbox import Sandbox
        kernel_env = GradingKernelManager(config=self.config).kernel_env if self.config else GradingKernelManager().kernel_env
        inside = Sandbox().environment()
        return {**kernel_environment(os.environ, kernel_env),
                **{name: inside[name] for name in ("PYTHONPATH", "PYTHONSAFEPATH")}}

    def ready(self) -> None:
        """Block until the server has imported TensorFlow and listens (a few seconds; at once after
        the first call)."""
        with self._ready_lock:
            if self._ready:
                return
            assert self.process.stdout is not None  # Popen(stdout=PIPE)
            if self.process.stdout.readline().strip() != "ready":
                self.__exit__()
                raise RuntimeError("the fork server did not start (see the messages above)")
            self._ready = True

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
        shutil.rmtree(self._dir, ignore_errors=True)


# Plain `nbgrader autograde` grades one submission after another in one process. Its pre-convert
# hook (labgrader.reference_run.PreAutograde) names the lab's warm imports here; the first kernel
# a GradingKernelManager (warm_kernels) then starts in this process starts a server for them, which
# every later kernel of the process is forked from. It ends with the process (at exit, and in any
# case with its parent: die_with_parent).
_process_imports: tuple[str, ...] | None = None
_process_servers: dict[tuple[str, ...], Running] = {}
_process_lock = threading.Lock()


def warm_this_process(imports: Iterable[str]) -> None:
    """Fork this process's next kernels from a server that imported ``imports`` (a lab's warm_imports)."""
    global _process_imports
    _process_imports = tuple(str(name) for name in imports)
    forkclient.process_server = process_server  # what the kernel manager asks (it never imports this module)


def process_server(config: Any = None) -> Running | None:
    """This process's fork server for the imports ``warm_this_process`` last named, started at the
    first call (not waited for: call ``ready``); None when nothing named any (one notebook validated)."""
    with _process_lock:
        imports = _process_imports
        if imports is None:
            return None
        server = _process_servers.get(imports)
        if server is None or server.process.poll() is not None:
            if not _process_servers:
                atexit.register(_stop_process_servers)
            server = _process_servers[imports] = _started_by_a_lasting_thread(imports, config)
            from traitlets.log import get_logger
            get_logger().info("[labgrader] kernels are forked warm from a fork server (imports: %s)",
                              ", ".join(WARM_IMPORTS + list(imports)))
        return server


def _started_by_a_lasting_thread(imports: tuple[str, ...], config: Any) -> Running:
    """A server started by a thread that lives as long as this process: the server dies with the
    thread that started it (PR_SET_PDEATHSIG), and a kernel may start in a short-lived thread (the
    formgrader runs each notebook's event loop in a thread of its own)."""
    started: list[Running | BaseException] = []
    done = threading.Event()

    def keeper() -> None:
        try:
            started.append(Running(wait=False, imports=imports, config=config).__enter__())
        except BaseException as exc:
            started.append(exc)
        done.set()
        _process_exit.wait()

    threading.Thread(target=keeper, name="labgrader-forkserver", daemon=True).start()
    done.wait()
    if isinstance(started[0], BaseException):
        raise started[0]
    return started[0]


_process_exit = threading.Event()


def _stop_process_servers() -> None:
    for server in _process_servers.values():
        server.__exit__()
    _process_servers.clear()
    _process_exit.set()


def main() -> None:
    from labgrader.sandbox.namespaces import die_with_parent
    imports = sys.argv[2:]
    parent = int(imports.pop(0).split("=", 1)[1]) if imports and imports[0].startswith("--parent=") else None
    die_with_parent(parent=parent)  # with the grader; its kernels follow (each one dies with its parent)
    SECCOMP.update(warm_up(imports))
    server = ForkServer(sys.argv[1])

    def stop(signum: int, frame: FrameType | None) -> NoReturn:
        for pid, code in server.children.items():
            if code is None:
                os.kill(pid, signal.SIGTERM)  # each child ends its kernel's whole PID namespace
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    server.serve()


if __name__ == "__main__":
    main()
