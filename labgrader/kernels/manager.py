"""The kernel manager nbgrader's executor uses for every submission."""
import os

from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict

# TensorFlow logs to stderr at import, and nbgrader scores a graded cell 0 for any stderr.
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "PYTHONWARNINGS": "ignore"}


class GradingKernelManager(AsyncKernelManager):
    """Starts the submission's kernel with a quiet TensorFlow."""

    kernel_env = Dict(QUIET_TENSORFLOW, config=True, help="Extra environment for grading kernels.")

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        kw["env"] = {**(kw.get("env") or os.environ), **self.kernel_env}
        return await super()._async_launch_kernel(kernel_cmd, **kw)
