"""ACL entries the tests' throw-away accounts need on shared folders (on this machine the
interpreter is under /root, 0700), each added and removed by itself.

A fixture used to save a folder's whole ACL and restore it afterwards; two such fixtures on two
xdist workers (the class's group, the ordinary user) then undid each other's entries mid-run. Here
each fixture adds its own entry (``u:name`` or ``g:name``) and removes exactly that one, under a
machine-wide lock (setfacl reads, changes and writes the ACL: two at once lose one); a folder left
with no named entry loses its extended ACL, so it is as it was.
"""
import contextlib
import fcntl
import subprocess

LOCK = "/tmp/labgrader-acl.lock"


@contextlib.contextmanager
def _locked():
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def add(saved, entry, folder, perms):
    """``entry`` (``u:name``/``g:name``) gets ``perms`` on ``folder``; remembered in ``saved``."""
    with _locked():
        subprocess.run(["setfacl", "-m", f"{entry}:{perms}", str(folder)], check=True)
    saved.append((str(folder), entry))


def revoke(saved):
    """Remove the entries ``add`` made (and only those), the last first."""
    with _locked():
        while saved:
            folder, entry = saved.pop()
            subprocess.run(["setfacl", "-x", entry, folder], capture_output=True)
            if not _named_entries(folder):
                subprocess.run(["setfacl", "-b", folder], capture_output=True)


def _named_entries(folder):
    listed = subprocess.run(["getfacl", "--omit-header", "--absolute-names", "-p", folder], capture_output=True,
                            text=True).stdout
    return [line for line in listed.splitlines()
            if line.startswith(("user:", "group:")) and line.split(":")[1]]
