"""Kubernetes pods, modelled on one machine: every user's server runs as the SAME unix account,
each under bubblewrap in mount, PID, IPC and UTS namespaces of its own, seeing only

- the system and the Python environment, read-only (what a single-user image holds);
- its own home (``<homes>/<user>`` on the host) at ``/home/jovyan``, read-write;
- a private ``/tmp``, its own ``/proc`` (no other server's process, so no other server's
  ``JUPYTERHUB_API_TOKEN`` in ``/proc/<pid>/environ``) and ``/dev``;
- the folders named in ``extra_ro`` (the machine-wide Jupyter config), read-only.

No other home, no course, no exchange store is mounted. The network is the machine's (the hub's
proxy must reach the server on 127.0.0.1), as pods reach each other and the hub's services by
default on Kubernetes. ``SimpleLocalProcessSpawner`` alone runs everyone as one uid with nothing
between them; this is that spawner with the isolation a pod has. The hub runs as root (it starts
each server as ``pod_user``); bubblewrap runs unprivileged, in a user namespace of its own.

Used by the tests (``grader_tests/hub/``) to check the exchange service the Kubernetes way; it
also serves a one-machine course that gives students no unix accounts.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner, set_user_setuid
from traitlets import List, Unicode, default

from labgrader.sandbox.bubblewrap import SYSTEM_DIRS, SYSTEM_FILES, Sandbox

_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class PodSpawner(SimpleLocalProcessSpawner):

    pod_user = Unicode("jovyan", config=True, help="The one unix account every server runs as (uid 1000 on Kubernetes).")
    homes = Unicode("/srv/pods", config=True, help="Host folder holding each user's home (<homes>/<user>, mode 0700).")
    pod_home = Unicode("/home/jovyan", config=True, help="Where a server sees its home.")
    extra_ro = List(Unicode(), config=True, help="Host folders every server sees read-only at the same path.")

    @default("home_dir")
    def _default_home_dir(self) -> str:
        if not _SAFE_NAME.match(self.user.name):
            raise ValueError(f"user name {self.user.name!r} is not a safe folder name")
        return os.path.join(self.homes, self.user.name)

    def make_preexec_fn(self, name: str) -> Any:
        return set_user_setuid(self.pod_user, chdir=False)

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env.update(USER=self.pod_user, HOME=self.pod_home, SHELL="/bin/bash")
        return env

    def make_home(self) -> None:
        """The user's home on the host: a folder of the pod account, private to it."""
        account = pwd.getpwnam(self.pod_user)
        os.makedirs(self.homes, mode=0o755, exist_ok=True)
        if not os.path.isdir(self.home_dir) or os.path.islink(self.home_dir):
            os.mkdir(self.home_dir, 0o700)
        os.chown(self.home_dir, account.pw_uid, account.pw_gid, follow_symlinks=False)
        os.chmod(self.home_dir, 0o700)

    def bwrap_prefix(self) -> list[str]:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise RuntimeError("bubblewrap (bwrap) is not installed: ./course installs it")
        account = pwd.getpwnam(self.pod_user)
        args = [bwrap, "--unshare-user", "--uid", str(account.pw_uid), "--gid", str(account.pw_gid),
                "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", f"pod-{self.user.name}"[:63],
                "--die-with-parent", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for path in filter(os.path.lexists, SYSTEM_DIRS):
            args += ["--symlink", os.readlink(path), path] if os.path.islink(path) else ["--ro-bind", path, path]
        shown = SYSTEM_FILES + Sandbox().python_dirs() + list(self.extra_ro)
        for path in filter(os.path.exists, shown):
            args += ["--ro-bind", path, path]
        return args + ["--bind", self.home_dir, self.pod_home, "--chdir", self.pod_home, "--"]

    async def start(self) -> Any:
        self.make_home()
        plain: list[str] = list(self.cmd)  # type: ignore[has-type]
        self.cmd = self.bwrap_prefix() + plain
        try:
            return await super().start()
        finally:
            self.cmd = plain
