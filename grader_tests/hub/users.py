"""Fixture (import it into a test module): the unix accounts of a small class, made by the test
set-up as root and removed afterwards with their homes and every process they own, even when a
test fails.

``class_users`` makes ``instructor``, ``alice``, ``bob``, ``carol`` and ``mallory``, each with a
random password (PAM checks it: Debian's ``/etc/pam.d/login``, pam_unix), a home of their own and a
group of their own, all members of one group ``labgrader-class`` (the hub lets its members log
in), made as ``useradd`` makes them here (homes 0755 on Debian: nothing is locked for the tests).
That group gets traverse access (an ACL entry, restored afterwards) to the interpreter wherever it
lives (on this machine under /root, 0700), so every user can run the machine-wide environment the
recipe makes (hub.py); never to this repository, which holds the solutions. An account of that
name that this fixture did not make is never touched: the tests skip.
"""
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

import acl


GROUP = "labgrader-class"
NAMES = ("instructor", "alice", "bob", "carol", "mallory")
MARK = "labgrader test user"  # GECOS of the accounts this fixture made (an interrupted run's are reused)


@dataclass
class User:
    name: str
    password: str
    uid: int
    gid: int
    home: Path
    bin_dir: Path | None = None  # whose python and nbgrader this user runs (hub.py: the recipe's environment)

    def env(self, **extra):
        bin_dir = str(self.bin_dir or Path(sys.executable).parent)
        return {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "USER": self.name,
                "LOGNAME": self.name, "LANG": "C.UTF-8", "TZ": "UTC", **extra}

    def run(self, cmd, cwd=None, timeout=900, check=False, input=None, **extra_env):
        """``cmd`` as this user (runuser: its uid, gid and groups), with the venv on PATH."""
        result = subprocess.run(["runuser", "-u", self.name, "--", "env", "-i",
                                 *(f"{k}={v}" for k, v in self.env(**extra_env).items()), *map(str, cmd)],
                                cwd=cwd or self.home, capture_output=True, text=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(map(str, cmd))} failed ({result.returncode}):\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def sh(self, script, **kw):
        return self.run(["sh", "-c", script], **kw)


class ClassUsers(dict):
    """name -> User, plus what the fixture must undo."""
    saved_acls: list
    base: Path

    def uids(self):
        return {u.uid for u in self.values()}


def _existing(name):
    import pwd
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _make_user(name, base):
    import pwd
    entry = _existing(name)
    if entry and entry.pw_gecos != MARK:
        pytest.skip(f"a unix user {name!r} exists and is not a test user: not touching it")
    if not entry:
        subprocess.run(["useradd", "--create-home", "--home-dir", str(base / name), "--shell", "/bin/bash",
                        "--user-group", "--comment", MARK, "--groups", GROUP, name], check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    else:
        subprocess.run(["usermod", "--append", "--groups", GROUP, name], check=True)
    password = secrets.token_urlsafe(12)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    return User(name, password, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def grant_traverse(saved, group, targets):
    """Traverse access for ``group`` on every folder above ``targets`` that lacks it for others,
    read+traverse on the targets; what was added goes to ``saved`` (``acl.revoke(saved)`` removes it)."""
    seen = set()
    for target in targets:
        for folder in [*reversed(Path(target).parents), Path(target)]:
            if folder in seen or not folder.is_dir():
                continue
            seen.add(folder)
            mode = folder.stat().st_mode
            need = "rx" if folder == Path(target) else "x"
            if mode & 0o001 and (need == "x" or mode & 0o004):
                continue
            acl.add(saved, f"g:{group}", folder, need)


def kill_processes_of(uids, grace=5.0):
    """End every process owned by ``uids`` (the test users: all of them were started by the tests),
    by pid: SIGTERM, then SIGKILL after ``grace`` seconds."""
    def owned():
        found = []
        for proc in psutil.process_iter(["uids"]):
            try:
                if proc.info["uids"] and proc.info["uids"].real in uids:
                    found.append(proc)
            except psutil.Error:
                pass
        return found
    procs = owned()
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=grace)
    for proc in owned():
        try:
            proc.kill()
        except psutil.Error:
            pass
    time.sleep(0.2)


POD_USER = "labgrader-pod"  # the one account of every student's server on the Kubernetes-style hub


@pytest.fixture(scope="session")
def pod_user(class_users):
    """The unix account every server runs as on the pod hub (hub.py ``pod_hub``), like uid 1000 of a
    Zero to JupyterHub image: no password, no home of its own, in ``labgrader-class`` for the traverse
    ACLs to the interpreter. Removed afterwards with every process it owns."""
    import pwd
    entry = _existing(POD_USER)
    if entry and entry.pw_gecos != MARK:
        pytest.skip(f"a unix user {POD_USER!r} exists and is not a test user: not touching it")
    if not entry:
        subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/bash",
                        "--user-group", "--comment", MARK, "--groups", GROUP, POD_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(POD_USER)
    try:
        yield User(POD_USER, "", entry.pw_uid, entry.pw_gid, Path("/nonexistent"))
    finally:
        kill_processes_of({entry.pw_uid})
        subprocess.run(["userdel", POD_USER], capture_output=True)


@pytest.fixture(scope="session")
def class_users():
    if os.geteuid() != 0:
        pytest.skip("unix accounts for a class need root (CI runs the suite as root)")
    for tool in ("useradd", "userdel", "groupadd", "chpasswd", "runuser", "setfacl"):
        assert shutil.which(tool), f"{tool} is needed (./course installs passwd and acl)"
    base = Path(tempfile.mkdtemp(prefix="labgrader-class-"))
    os.chmod(base, 0o755)
    if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", GROUP], check=True)
    users = ClassUsers()
    users.saved_acls, users.base = [], base
    try:
        for name in NAMES:
            users[name] = _make_user(name, base)
        grant_traverse(users.saved_acls, GROUP, [Path(sys.executable).resolve().parent.parent])
        yield users
    finally:
        uids = {u.uid for u in users.values()}
        kill_processes_of(uids)
        acl.revoke(users.saved_acls)
        for name in NAMES:
            entry = _existing(name)
            if entry and entry.pw_gecos == MARK:
                subprocess.run(["userdel", "--remove", name], capture_output=True)
        subprocess.run(["groupdel", GROUP], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
