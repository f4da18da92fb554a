"""The two launchers of a sandboxed kernel, as jupyter_client kernel provisioners.

``GradingKernelManager`` prepares what a kernel's sandbox needs (uid lease, size-capped mounts,
cgroup, the plan of what the kernel sees) and hands it to the provisioner through the
``pre_launch`` keyword arguments (``SANDBOX_KW``, a JSON-able dict: see
``GradingKernelManager._launch_spec``). Then:

- ``BubblewrapProvisioner`` (cold, plain ``nbgrader autograde``) starts the kernel under bwrap:
  it joins the cgroup, then bwrap builds the namespaces and mounts, loads the seccomp filter and
  runs ``labgrader.sandbox.limits``, which execs the kernel (``python -m labgrader.kernels.launch``:
  ipykernel_launcher's kernel, which leaves at once when it is shut down).
- ``ForkServerProvisioner`` (warm, the batch command) asks the fork server
  (``labgrader.kernels.forkserver``) for a forked kernel that builds the same sandbox in-process
  from the same plan.
"""
from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Unicode

from labgrader.kernels.forkclient import request, request_async
from labgrader.sandbox import Sandbox, seccomp
from labgrader.sandbox.cgroups import join_command

SANDBOX_KW = "labgrader_sandbox"
COLD_KERNEL = "labgrader.kernels.launch"  # ipykernel_launcher's kernel, then os._exit (launch.py)


def cold_kernel_command(cmd: list[str]) -> list[str]:
    """The kernel's command with ``-m ipykernel_launcher`` run as ``-m labgrader.kernels.launch``."""
    cmd = list(cmd)
    for i in range(len(cmd) - 1):
        if cmd[i:i + 2] == ["-m", "ipykernel_launcher"]:
            cmd[i + 1] = COLD_KERNEL
            break
    return cmd


def _take_spec(provisioner: LocalProvisioner, kwargs: dict[str, Any]) -> dict[str, Any]:
    spec = kwargs.pop(SANDBOX_KW, None)
    if spec is None:
        raise RuntimeError(f"{type(provisioner).__name__} starts sandboxed kernels only: its sandbox comes from "
                           "labgrader.kernels.manager.GradingKernelManager (c.*.kernel_manager_class)")
    return spec


class BubblewrapProvisioner(LocalProvisioner):
    """LocalProvisioner whose command runs in the sandbox: cgroup, then bwrap, seccomp, limits."""

    spec: dict[str, Any] | None = None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        self.spec = _take_spec(self, kwargs)
        return await super().pre_launch(**kwargs)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        spec = self.spec
        assert spec is not None  # pre_launch took it
        program = seccomp.bpf(refuse_memfd=not spec["cgroup"])
        fd = os.memfd_create("labgrader-seccomp")  # bwrap reads the filter from an inherited descriptor
        try:
            os.write(fd, program)
            os.lseek(fd, 0, os.SEEK_SET)
            box = Sandbox(**spec["sandbox"])
            cmd = box.wrap(cold_kernel_command(cmd), spec["workdir"], spec["plan"], spec["holder"], seccomp_fd=fd)
            if spec["cgroup"]:
                cmd = join_command(spec["cgroup"], cmd)
            kwargs["pass_fds"] = (*kwargs.get("pass_fds", ()), fd)
            return await super().launch_kernel(cmd, **kwargs)
        finally:
            os.close(fd)  # bwrap holds its own copy until it has read it


class ForkServerProvisioner(LocalProvisioner):
    """A kernel forked by the warm fork server. LocalProvisioner's ``pre_launch`` writes the
    connection file; everything about the process is the fork server's.

    ``pid`` is the fork server's child that watches the kernel (the kernel is PID 1 of the PID
    namespace below it); its exit code is the kernel's (negative: the signal that ended it)."""

    socket = Unicode(config=True, help="Unix socket of the fork server.")
    spec: dict[str, Any] | None = None
    pid: int | None = None        # the fork server's child, while it runs
    exit_code: int | None = None  # once it has ended

    @property
    def has_process(self) -> bool:
        return self.pid is not None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        self.spec = _take_spec(self, kwargs)
        return await super().pre_launch(**kwargs)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        # the kernel's own arguments (connection file, nbgrader's --HistoryManager.hist_file=:memory:, ...)
        assert self.spec is not None and self.parent is not None  # pre_launch took it; the manager owns this
        argv = cmd[cmd.index("ipykernel_launcher") + 1:] if "ipykernel_launcher" in cmd else ["-f", self.parent.connection_file]
        message = {"op": "launch", "argv": argv, "env": kwargs["env"], **self.spec}
        stderr = kwargs.get("stderr")
        if isinstance(stderr, int) and stderr >= 0:  # the kernel's own stderr (kernels/stderr_filter.py), sent along
            reply = await asyncio.to_thread(request, self.socket, message, (stderr,))
            if reply.get("error"):
                raise RuntimeError(f"fork server ({self.socket}): {reply['error']}")
        else:
            reply = await self._ask(message)
        self.pid, self.exit_code = reply["pid"], None
        return self.connection_info

    async def poll(self) -> int | None:
        """None while the kernel runs, else its exit code (0 when none was launched)."""
        if self.pid is None:
            return self.exit_code if self.exit_code is not None else 0
        code = (await self._ask({"op": "poll", "pid": self.pid}))["returncode"]
        if code is not None:
            self.pid, self.exit_code = None, code
        return code

    async def wait(self) -> int | None:
        while (code := await self.poll()) is None:
            await asyncio.sleep(0.05)
        return code

    async def send_signal(self, signum: int) -> None:
        """SIGINT reaches the kernel; any other signal ends the kernel's whole PID namespace."""
        if self.pid is not None:
            await self._ask({"op": "signal", "pid": self.pid, "signum": int(signum)})

    async def kill(self, restart: bool = False) -> None:
        """SIGKILL to the watcher: the kernel (its PR_SET_PDEATHSIG) and its namespace end with it."""
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        """SIGTERM to the watcher, which kills the kernel's namespace and exits once it is gone."""
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        self.spec = None
        await super().cleanup(restart=restart)

    async def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        reply = await request_async(self.socket, message)
        if reply.get("error"):
            raise RuntimeError(f"fork server ({self.socket}): {reply['error']}")
        return reply
