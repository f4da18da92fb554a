"""A jupyter_client kernel provisioner whose kernels are forked by the warm fork server."""
import asyncio
import dataclasses
import signal

from jupyter_client.provisioning import LocalProvisioner
from traitlets import Unicode

from labgrader.kernels.forkserver import request


class ForkServerProvisioner(LocalProvisioner):
    """Like LocalProvisioner (it writes the connection file the same way), but instead of
    starting ``python -m ipykernel_launcher`` it asks the fork server for a forked, sandboxed kernel."""

    socket = Unicode(config=True, help="Unix socket of the fork server.")
    kernel_pid = None

    @property
    def has_process(self):
        return self.kernel_pid is not None

    async def launch_kernel(self, cmd, **kwargs):
        manager = self.parent
        # the kernel's own arguments (connection file, nbgrader's --HistoryManager.hist_file=:memory:)
        argv = cmd[cmd.index("ipykernel_launcher") + 1:] if "ipykernel_launcher" in cmd else ["-f", manager.connection_file]
        # the same sandbox plan a cold kernel gets from bwrap, built by the manager
        reply = request(self.socket, {
            "op": "launch", "argv": argv, "workdir": kwargs["cwd"], "env": kwargs["env"],
            "plan": manager._plan, "root_dir": manager._scratch.root, "holder": manager._scratch.holder_pid,
            "sandbox": dataclasses.asdict(manager._box)})
        self.kernel_pid = self.pid = reply["pid"]
        return self.connection_info

    async def poll(self):
        if self.kernel_pid is None:
            return 0
        return request(self.socket, {"op": "poll", "pid": self.kernel_pid})["returncode"]

    async def wait(self):
        while self.kernel_pid is not None and await self.poll() is None:
            await asyncio.sleep(0.05)
        self.kernel_pid = None
        return 0

    async def send_signal(self, signum):
        if self.kernel_pid is not None:
            request(self.socket, {"op": "signal", "pid": self.kernel_pid, "signum": int(signum)})

    async def kill(self, restart=False):
        # SIGTERM to the fork server's child makes it SIGKILL the kernel's PID namespace and wait for it.
        await self.send_signal(signal.SIGTERM)

    async def terminate(self, restart=False):
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart=False):
        self.kernel_pid = None
