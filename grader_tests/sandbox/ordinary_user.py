"""Fixture (import it into a test module): an ordinary (non-root) user to grade as: created by the test set-up, given read and traverse
access to the interpreter, the venv and the repo wherever they live (on this machine the
interpreter is under /root, 0700), removed at the end."""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import acl
from conftest import REPO

USER = "labgrader-t13"


class OrdinaryUser:
    def __init__(self, name, home):
        self.name, self.home = name, home
        entry = pwd.getpwnam(name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid

    def env(self, **extra):
        bin_dir = str(Path(sys.executable).parent)
        return {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "USER": self.name,
                "LANG": "C.UTF-8", **extra}

    def run(self, cmd, cwd, timeout=900, **extra_env):
        """``cmd`` run as this user (runuser: its uid, gid and groups only), with the venv on PATH."""
        return subprocess.run(["runuser", "-u", self.name, "--", "env", "-i", *(f"{k}={v}" for k, v in self.env(**extra_env).items()),
                               *cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)

    def can(self, test, path):
        return subprocess.run(["runuser", "-u", self.name, "--", "test", test, str(path)]).returncode == 0

    def workspace(self):
        """A fresh directory of this user's, outside pytest's base temp (root's pytest runs chmod
        that one to 0700, which masks an ACL), removed with the user."""
        path = Path(tempfile.mkdtemp(prefix="work-", dir=self.home))
        os.chown(path, self.uid, self.gid)
        return path

    def give(self, path):
        """Make ``path`` (and everything below) this user's, and its parents traversable: a course
        copy it grades (pytest's base temp of root is 0700)."""
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(path)], check=True)
        _grant(self, [Path(path)])


@pytest.fixture(scope="session")
def ordinary_user():
    if os.geteuid() != 0:
        pytest.skip("creating a throw-away user needs root (the suite is then already run by an ordinary user)")
    for tool in ("useradd", "userdel", "runuser", "setfacl"):
        assert shutil.which(tool), f"{tool} is needed to test grading as an ordinary user (./course installs acl)"
    home = Path(tempfile.mkdtemp(prefix="labgrader-t13-home-"))
    created = subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/usr/sbin/nologin",
                              "--user-group", USER], capture_output=True, text=True)
    assert created.returncode in (0, 9), created.stderr  # 9: left by an interrupted run; reused
    user = OrdinaryUser(USER, home)
    os.chown(home, user.uid, user.gid)
    user.saved = []
    try:
        _grant(user, [Path(sys.executable).resolve(), Path(sys.prefix), Path(sys.base_prefix).resolve(), REPO])
        yield user
    finally:
        acl.revoke(user.saved)  # this user's entries only (the class's, on another worker, stay)
        subprocess.run(["userdel", USER], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _grant(user, needed):
    """Traverse access (an ACL entry for this user alone) on every directory above ``needed`` it
    lacks; read access on those themselves. What was added goes to ``user.saved``."""
    seen = set()
    for target in needed:
        for directory in [*reversed(target.parents), target]:
            if directory in seen or not directory.is_dir():
                continue
            seen.add(directory)
            mode = "rx" if directory == target else "x"
            if all(user.can(t, directory) for t in (["-x", "-r"] if mode == "rx" else ["-x"])):
                continue
            acl.add(user.saved, f"u:{user.name}", directory, mode)
