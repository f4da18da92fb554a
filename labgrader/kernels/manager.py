"""The kernel manager nbgrader's executor uses for every submission (a jupyter_client extension point).

It prepares each kernel's sandbox (a uid of its own, size-capped mounts, a memory + pids cgroup,
the plan of what the kernel sees) and hands it to one of the two launchers, the provisioners of
``labgrader.kernels.provisioner``: bubblewrap for a cold kernel, the fork server for a warm one.
The grader reaches the kernel's sockets through a relay that drops any message over
``max_message_bytes`` before the grader holds it (relay.py); its sockets also refuse any larger
part (ZMQ_MAXMSGSIZE), should one ever get past the relay. A message it cannot read (nested too
deeply, replayed, malformed) is counted and dropped (session.py).
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
from collections.abc import Mapping
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Dict, Integer, Type, Unicode, default

from labgrader.kernels import forkclient, stderr_filter
from labgrader.kernels.provisioner import SANDBOX_KW
from labgrader.kernels.relay import Relay
from labgrader.kernels.session import GradingSession
from labgrader.quiet import QUIET_TENSORFLOW
from labgrader.sandbox import Sandbox, check_once, cgroups
from labgrader.sandbox.scratch import Scratch
from labgrader.sandbox.uids import Lease, lease_kernel_uid

# The only variables of the grader's environment a kernel gets (no tokens, no instructor paths).
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# Neither the working directory nor '' on the kernel's sys.path: a numpy.py or keras/ handed in
# beside the notebook is not imported in place of the real one (IPython >= 9.7 honours -P too).
SAFE_PATH_ARGS = ["--InteractiveShellApp.ignore_cwd=True"]
MiB = 1024 ** 2
QUEUED_BYTES = 256 * MiB  # received kernel messages the grader's ZeroMQ may queue, roughly
DEFAULT_MAX_MESSAGE_BYTES = 32 * MiB


def kernel_environment(env: Mapping[str, str], extra: Mapping[str, str] = QUIET_TENSORFLOW) -> dict[str, str]:
    """A kernel's environment: the allow-listed variables of ``env``, then ``extra``."""
    return {**{k: v for k, v in env.items() if k in PASSED_ENV}, **extra}


class GradingKernelClient(AsyncKernelClient):
    """A client whose sockets refuse any message part larger than the manager's
    ``max_message_bytes`` as it arrives (ZMQ_MAXMSGSIZE). The relay drops oversized messages
    first; this is the backstop (libzmq would never reconnect a channel it trips on)."""

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        self._created_context = True  # destroyed with the client's channels, as jupyter_client's own
        return capped_context(getattr(self.parent, "max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES))


def capped_context(max_bytes: int) -> zmq.asyncio.Context:
    """A ZeroMQ context whose sockets refuse parts over ``max_bytes`` and queue at most about
    QUEUED_BYTES of received messages (ZeroMQ counts its queue in messages, not bytes): a kernel
    thread sending message after message just under the cap while the grader is between cells
    makes ZeroMQ stop reading (the kernel then queues or drops them) instead of filling the grader."""
    context = zmq.asyncio.Context()
    context.setsockopt(zmq.MAXMSGSIZE, max_bytes)  # defaults for every socket made from it
    context.setsockopt(zmq.RCVHWM, max(16, min(1000, QUEUED_BYTES // max_bytes)))
    return context


class GradingKernelManager(AsyncKernelManager):
    """Starts a submission's kernel quiet, in the sandbox, talking over Unix sockets (the
    sandbox has no network) that live with the connection file in a private directory."""

    sandbox = Bool(True, config=True, help="Run kernels in the bubblewrap sandbox. Turning this off "
                   "runs student code with the grader's permissions.")
    memory_limit = Integer(4 * 1024 ** 3, config=True, help="Address-space cap of a kernel (RLIMIT_AS), in bytes: "
                           "virtual memory, which TensorFlow reserves generously; see ram_limit for memory used.")
    ram_limit = Integer(2 * 1024 ** 3, config=True, help="Memory a kernel and all its processes may use, in bytes: "
                        "anonymous memory, memfd and tmpfs pages (its /tmp and working copy), page cache, all "
                        "counted by a memory cgroup of its own. Beyond it the kernel is killed (a dead kernel: its "
                        "remaining cells are not run). This lab's TensorFlow kernel peaks at about 0.5 GiB cold. "
                        "Without a writable cgroup (grader not root) it is not enforced (docs/security.md, Without root).")
    max_processes = Integer(512, config=True, help="Cap on the processes+threads of a kernel: its cgroup's pids.max, "
                            "and RLIMIT_NPROC of its uid.")
    cgroup_parent = Unicode("", config=True, help="cgroup (a path as /proc/self/cgroup shows it) below which each kernel "
                            "gets its memory and pids cgroup; empty: the grader's own cgroup.")
    max_message_bytes = Integer(DEFAULT_MAX_MESSAGE_BYTES, config=True, help="Largest message (all its parts) the grader accepts from a "
                                "kernel; a larger one is dropped whole as it streams in, before the grader holds it "
                                "(the kernel's other messages arrive as usual). Outputs are cut to 1 MB per cell "
                                "anyway (GuardedExecute.max_output_bytes).")
    kernel_env = Dict(QUIET_TENSORFLOW, config=True, help="Extra environment for grading kernels (cold ones, and the "
                      "fork server's warm ones: the fork server starts with it).")
    fork_server = Unicode(config=True, help="Socket of a warm fork server (labgrader.kernels.forkserver) to "
                          "fork kernels from, instead of starting each one cold under bwrap (the batch command and "
                          "the service set it for their workers).")
    warm_kernels = Bool(True, config=True, help="Plain `nbgrader autograde` of a lab: fork every kernel of the command "
                        "(the readiness check's and each submission's) from one fork server that the command starts "
                        "at its first kernel and that imported the lab's warm_imports once, instead of starting each "
                        "kernel cold under bwrap. The sandbox is the same either way; a kernel costs about 1 CPU-s "
                        "instead of 4 for the embeddings lab. `nbgrader validate` (one notebook) always starts its "
                        "kernel cold. Set it in nbgrader_config.py: the readiness check reads the course's file, not "
                        "the command line.")
    client_factory = Type(GradingKernelClient, klass=AsyncKernelClient, config=True)

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        self._created_context = True
        return capped_context(self.max_message_bytes)  # the manager's own control socket

    @default("session")
    def _session_default(self) -> GradingSession:
        return GradingSession(parent=self)  # a message it cannot read is counted, never raised (session.py)

    sandbox_uid_first = Integer(1_900_000_000, config=True, help="First uid of the range kernels run as: "
                                "each running kernel gets a uid of its own (so RLIMIT_NPROC is its own), "
                                "and the same number as its gid. No /etc/passwd entry is needed; pick "
                                "a range no user, service or container on the machine uses.")
    sandbox_uid_count = Integer(1000, config=True, help="Number of uids in the range: the most kernels "
                                "that may run at once on this machine, all graders together.")
    tmp_size = Integer(256 * MiB, config=True, help="Size cap of a kernel's private /tmp (a tmpfs), in bytes.")
    working_copy_size = Integer(256 * MiB, config=True, help="Size cap of a kernel's working copy "
                                "(autograded/<student>/<assignment>/, a tmpfs copied back when the kernel "
                                "ends), in bytes.")

    _private_dir: str | None = None  # the kernel's connection file and sockets, shared with the sandbox
    _scratch: Scratch | None = None
    _lease: Lease | None = None
    _cgroup: cgroups.KernelCgroup | None = None
    _workdir: str | None = None
    _relay: Relay | None = None

    def make_sandbox(self, uid: int, gid: int | None = None) -> Sandbox:
        return Sandbox(uid=uid, gid=uid if gid is None else gid, memory_bytes=self.memory_limit, max_processes=self.max_processes,
                       tmp_bytes=self.tmp_size, workdir_bytes=self.working_copy_size)

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        if self.sandbox:
            check_once()
            if self.warm_kernels and not self.fork_server:
                starter = forkclient.process_server  # plain autograde's own fork server (None: stay cold)
                server = starter(self.config) if starter is not None else None
                if server is not None:
                    await asyncio.to_thread(server.ready)
                    self.fork_server = server.socket
            kw["cwd"] = workdir = os.path.realpath(kw.get("cwd") or os.getcwd())
            try:
                kw[SANDBOX_KW] = self._prepare_sandbox(workdir)
            except BaseException:
                self._release()
                raise
        return await super()._async_pre_start_kernel(**kw)

    def _prepare_sandbox(self, workdir: str) -> dict[str, Any]:
        """Lease the kernel's uid, mount its scratch, make its cgroup; the launch spec for the provisioner."""
        self._lease = lease = lease_kernel_uid(self.sandbox_uid_first, self.sandbox_uid_count)
        box = self.make_sandbox(lease.uid, lease.gid)
        self._scratch = scratch = Scratch(lease.uid, lease.gid, self.tmp_size, self.working_copy_size)
        place = cgroups.find_place(self.cgroup_parent)
        if place:
            self._cgroup = cgroups.KernelCgroup(place, self.ram_limit, self.max_processes)
        self._private_dir = scratch.ipc
        self.transport, self.ip = "ipc", os.path.join(self._private_dir, "socket")
        self.connection_file = os.path.join(self._private_dir, "connection.json")
        # A signal would reach bwrap, not the kernel: interrupt through the control channel.
        spec = self.kernel_spec
        assert spec is not None  # jupyter_client loaded it before pre-start
        spec.interrupt_mode = "message"
        spec.metadata["kernel_provisioner"] = (
            {"provisioner_name": "labgrader-forkserver", "config": {"socket": self.fork_server}} if self.fork_server
            else {"provisioner_name": "labgrader-bubblewrap"})
        return {"workdir": workdir, "plan": box.plan(workdir, scratch), "sandbox": dataclasses.asdict(box),
                "root_dir": scratch.root, "holder": scratch.holder_pid,
                "cgroup": self._cgroup.procs_files if self._cgroup else []}

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if self.sandbox and cmd[1:3] == ["-m", "ipykernel_launcher"]:
            cmd = [cmd[0], "-P"] + cmd[1:] + SAFE_PATH_ARGS  # -P: python's PYTHONSAFEPATH (the env has it too)
        return cmd

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if "stderr" in kw:
            return await self._launch_sandboxed(kernel_cmd, **kw)
        # The kernel's stderr is kept as printable text for its student's record (kernel_stderr),
        # never printed on the grader's terminal as it comes (on both launchers).
        kw["stderr"], self._stderr = stderr_filter.capture()
        try:
            return await self._launch_sandboxed(kernel_cmd, **kw)
        finally:
            os.close(kw["stderr"])  # the kernel holds its copy; the capture ends when the kernel does

    _stderr: stderr_filter.Captured | None = None

    def kernel_stderr(self) -> str:
        """What the last kernel wrote to its stderr, printable text only (call once it has ended)."""
        return self._stderr.text() if self._stderr is not None else ""

    async def _launch_sandboxed(self, kernel_cmd: list[str], **kw: Any) -> None:
        kw["env"] = kernel_environment(kw.get("env") or os.environ, self.kernel_env)
        kw.setdefault("stdout", subprocess.DEVNULL)  # the kernel's banner; its stderr stays visible
        if not self.sandbox:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        try:
            assert self._scratch is not None and self._lease is not None  # made by _prepare_sandbox
            self._scratch.stage_in(kw["cwd"])
            if os.geteuid() == 0:  # jupyter_client wrote it 0600 as root; the kernel (not started yet) must read it
                os.lchown(self.connection_file, self._lease.uid, self._lease.uid)
            self._workdir = kw["cwd"]  # copied back from here on
            # jupyter_client passes the connection file's realpath; without root that is the
            # grader's view of the mount (/proc/<holder>/root/...), which the kernel cannot see
            real = os.path.realpath(self.connection_file)
            kernel_cmd = [self.connection_file if arg == real else arg for arg in kernel_cmd]
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        except BaseException:
            self._release()
            raise

    @property
    def dropped_messages(self) -> int:
        """Messages of the running kernel dropped so far for going over ``max_message_bytes``."""
        return self._relay.dropped if self._relay else 0

    async def _async_post_start_kernel(self, **kw: Any) -> None:
        if self.sandbox:
            # from here on the grader (this manager's control socket, its clients) reaches the
            # kernel's sockets only through the relay, which drops oversized messages
            # the relay stops reading a channel well after the session stopped reading the kernel's outputs
            self._relay = Relay(self.ip, self.ports, self.max_message_bytes,
                                max_messages=2 * getattr(self.session, "max_messages", 10_000))
            self.ip = self._relay.prefix
        return await super()._async_post_start_kernel(**kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            self._release()

    cleanup_resources = _async_cleanup_resources

    def _release(self) -> None:
        """Once the kernel has ended: its working copy back to the grader, its mounts, cgroup and uid freed."""
        scratch, lease, cgroup, workdir, relay = self._scratch, self._lease, self._cgroup, self._workdir, self._relay
        self._scratch = self._lease = self._cgroup = self._workdir = self._relay = None
        if relay:
            relay.close()
            if relay.dropped:
                self.log.warning("[labgrader] dropped %d message(s) of the kernel over %d MiB "
                                 "(c.GradingKernelManager.max_message_bytes)", relay.dropped, self.max_message_bytes // MiB)
        try:
            if scratch and workdir:
                scratch.copy_back(workdir)
                if scratch.skipped:
                    self.log.warning("[labgrader] not copied back from the working copy (not a regular file, "
                                     "or over the size cap): %s", ", ".join(scratch.skipped[:20]))
        finally:
            if scratch:
                scratch.close()  # before the cgroup goes: the tmpfs pages are charged to it
            if cgroup:
                if cgroup.oom_kills():
                    self.log.warning("[labgrader] the kernel used more than its %d MiB of memory and was killed "
                                     "(c.GradingKernelManager.ram_limit)", self.ram_limit // MiB)
                cgroup.remove()
            if lease:
                lease.release()
