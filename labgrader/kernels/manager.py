"""The kernel manager nbgrader's executor uses for every submission (a jupyter_client extension point)."""
import os
import shutil
import subprocess
import tempfile

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Dict, Integer, Unicode

from labgrader.sandbox import Sandbox, check_once

# TensorFlow logs to stderr at import, and nbgrader scores a graded cell 0 for any stderr.
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "PYTHONWARNINGS": "ignore",
                    "TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1"}
# The only variables of the grader's environment a kernel gets (no tokens, no instructor paths).
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


class GradingKernelManager(AsyncKernelManager):
    """Starts a submission's kernel quiet, in the sandbox, talking over Unix sockets (the
    sandbox has no network) that live with the connection file in a private directory."""

    sandbox = Bool(True, config=True, help="Run kernels in the bubblewrap sandbox. Turning this off "
                   "runs student code with the grader's permissions.")
    memory_limit = Integer(4 * 1024 ** 3, config=True, help="Address-space cap of a kernel, in bytes.")
    max_processes = Integer(512, config=True, help="Cap on processes+threads of the sandbox user.")
    kernel_env = Dict(QUIET_TENSORFLOW, config=True, help="Extra environment for grading kernels.")
    fork_server = Unicode(os.environ.get("LABGRADER_FORKSERVER", ""), config=True,
                          help="Socket of a warm fork server (labgrader.kernels.forkserver) to fork "
                               "kernels from, instead of starting each one cold under bwrap.")
    sandbox_uid = Integer(65534, config=True, help="Unprivileged user the kernel runs as (nobody).")
    sandbox_gid = Integer(65534, config=True, help="Its group (nogroup).")

    _private_dir = None  # the kernel's connection file and sockets, shared with the sandbox

    def make_sandbox(self):
        return Sandbox(uid=self.sandbox_uid, gid=self.sandbox_gid, memory_bytes=self.memory_limit,
                       max_processes=self.max_processes)

    async def _async_pre_start_kernel(self, **kw):
        if self.sandbox:
            check_once()
            self._private_dir = tempfile.mkdtemp(prefix="labgrader-kernel-")
            self.transport, self.ip = "ipc", os.path.join(self._private_dir, "socket")
            self.connection_file = os.path.join(self._private_dir, "connection.json")
            # A signal would reach bwrap, not the kernel: interrupt through the control channel.
            self.kernel_spec.interrupt_mode = "message"
            if self.fork_server:
                self.kernel_spec.metadata["kernel_provisioner"] = {
                    "provisioner_name": "labgrader-forkserver", "config": {"socket": self.fork_server}}
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        env = kw.get("env") or os.environ
        kw["env"] = {**{k: v for k, v in env.items() if k in PASSED_ENV}, **self.kernel_env}
        kw.setdefault("stdout", subprocess.DEVNULL)  # the kernel's banner; its stderr stays visible
        if self.sandbox:
            box = self.make_sandbox()
            kw["cwd"] = workdir = os.path.realpath(kw.get("cwd") or os.getcwd())
            box.hand_over(workdir, [self._private_dir])
            if not self.fork_server:  # the fork server builds the same sandbox itself
                kernel_cmd = box.wrap(kernel_cmd, workdir, [self._private_dir])
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if self._private_dir and not restart:
            shutil.rmtree(self._private_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources
