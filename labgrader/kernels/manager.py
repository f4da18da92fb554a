"""The kernel manager nbgrader's executor uses for every submission (a jupyter_client extension point)."""
import os
import subprocess

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Dict, Integer, Unicode, default

from labgrader.kernels import stderr_filter
from labgrader.sandbox import Sandbox, check_once
from labgrader.sandbox.scratch import Scratch
from labgrader.sandbox.uids import lease_kernel_uid

# TensorFlow logs to stderr at import, and nbgrader scores a graded cell 0 for any stderr.
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "PYTHONWARNINGS": "ignore",
                    "TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1"}
# The only variables of the grader's environment a kernel gets (no tokens, no instructor paths).
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MiB = 1024 ** 2


def kernel_environment(env, extra=QUIET_TENSORFLOW):
    """A kernel's environment: the allow-listed variables of ``env``, then ``extra``."""
    return {**{k: v for k, v in env.items() if k in PASSED_ENV}, **extra}


class GradingKernelManager(AsyncKernelManager):
    """Starts a submission's kernel quiet, in the sandbox, talking over Unix sockets (the
    sandbox has no network) that live with the connection file in a private directory."""

    sandbox = Bool(True, config=True, help="Run kernels in the bubblewrap sandbox. Turning this off "
                   "runs student code with the grader's permissions.")
    memory_limit = Integer(4 * 1024 ** 3, config=True, help="Address-space cap of a kernel, in bytes.")
    max_processes = Integer(512, config=True, help="Cap on processes+threads of the sandbox user.")
    kernel_env = Dict(QUIET_TENSORFLOW, config=True, help="Extra environment for grading kernels.")
    fork_server = Unicode(config=True, help="Socket of a warm fork server (labgrader.kernels.forkserver) to "
                          "fork kernels from, instead of starting each one cold under bwrap.")

    @default("fork_server")
    def _fork_server_default(self):
        # Read when a kernel starts, not at import: the batch sets the variable after this module
        # was imported (forkserver.Running imports it), and its forked workers inherit that import.
        return os.environ.get("LABGRADER_FORKSERVER", "")

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

    _private_dir = None  # the kernel's connection file and sockets, shared with the sandbox
    _scratch = _lease = _box = _plan = _workdir = None

    def make_sandbox(self, uid, gid=None):
        return Sandbox(uid=uid, gid=uid if gid is None else gid, memory_bytes=self.memory_limit, max_processes=self.max_processes,
                       tmp_bytes=self.tmp_size, workdir_bytes=self.working_copy_size)

    async def _async_pre_start_kernel(self, **kw):
        if self.sandbox:
            check_once()
            self._lease = lease_kernel_uid(self.sandbox_uid_first, self.sandbox_uid_count)
            self._box = self.make_sandbox(self._lease.uid, self._lease.gid)
            try:
                self._scratch = Scratch(self._lease.uid, self._lease.gid, self.tmp_size, self.working_copy_size)
            except BaseException:
                self._release()
                raise
            self._private_dir = self._scratch.ipc
            self.transport, self.ip = "ipc", os.path.join(self._private_dir, "socket")
            self.connection_file = os.path.join(self._private_dir, "connection.json")
            # A signal would reach bwrap, not the kernel: interrupt through the control channel.
            self.kernel_spec.interrupt_mode = "message"
            if self.fork_server:
                self.kernel_spec.metadata["kernel_provisioner"] = {
                    "provisioner_name": "labgrader-forkserver", "config": {"socket": self.fork_server}}
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if "stderr" in kw:
            return await self._launch_sandboxed(kernel_cmd, **kw)
        # The kernel's stderr reaches the grader's terminal only as printable text (no escape sequences).
        kw["stderr"] = stderr_filter.pipe()
        try:
            return await self._launch_sandboxed(kernel_cmd, **kw)
        finally:
            os.close(kw["stderr"])  # the kernel holds its copy; the filter ends when the kernel does

    async def _launch_sandboxed(self, kernel_cmd, **kw):
        kw["env"] = kernel_environment(kw.get("env") or os.environ, self.kernel_env)
        kw.setdefault("stdout", subprocess.DEVNULL)  # the kernel's banner; its stderr stays visible
        if self.sandbox:
            kw["cwd"] = workdir = os.path.realpath(kw.get("cwd") or os.getcwd())
            try:
                self._scratch.stage_in(workdir)
                if os.geteuid() == 0:  # jupyter_client wrote it 0600 as root; the kernel (not started yet) must read it
                    os.lchown(self.connection_file, self._lease.uid, self._lease.uid)
                self._workdir = workdir  # copied back from here on
                self._plan = self._box.plan(workdir, self._scratch)
                # jupyter_client passes the connection file's realpath; without root that is the
                # grader's view of the mount (/proc/<holder>/root/...), which the kernel cannot see
                real = os.path.realpath(self.connection_file)
                kernel_cmd = [self.connection_file if arg == real else arg for arg in kernel_cmd]
                if not self.fork_server:  # the fork server builds the same sandbox itself
                    kernel_cmd = self._box.wrap(kernel_cmd, workdir, self._plan, self._scratch.holder_pid)
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            except BaseException:
                self._release()
                raise
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            self._release()

    cleanup_resources = _async_cleanup_resources

    def _release(self):
        """Once the kernel has ended: its working copy back to the grader, its mounts and uid freed."""
        scratch, lease, workdir = self._scratch, self._lease, self._workdir
        self._scratch = self._lease = self._workdir = None
        try:
            if scratch and workdir:
                scratch.copy_back(workdir)
                if scratch.skipped:
                    self.log.warning("[labgrader] not copied back from the working copy (not a regular file, "
                                     "or over the size cap): %s", ", ".join(scratch.skipped[:20]))
        finally:
            if scratch:
                scratch.close()
            if lease:
                lease.release()
