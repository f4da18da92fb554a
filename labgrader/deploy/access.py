"""Who can reach a file: the kernel's rules (permission bits, POSIX ACLs, group membership, search
permission on every folder along the path), evaluated for an account from what ``stat`` and the
ACL show, or tried for real as that account in a child process (root only).

The evaluation needs no privilege, so the grading service (run as the instructor) can refuse to
start on it; ``python -m labgrader doctor`` run as root also tries each private path as each
student (``tried``), which covers what an evaluation cannot see (a file system's own rules).
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

READ, WRITE, SEARCH = 4, 2, 1  # the rwx bits, as in a mode's digit

_ACL_XATTR = "system.posix_acl_access"
KEPT_ENVIRONMENT = {"PATH", "LANG", "LC_ALL", "TZ", "JUPYTER_CONFIG_PATH", "LABGRADER_HUB_GROUP"}
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


@dataclass(frozen=True)
class Account:
    """A unix account as the kernel sees it: its uid and every group it is in. ``uid`` None is the
    probe for *any other account* (no named entry or group of a file matches it: the "other" bits)."""
    name: str
    uid: int | None
    gids: frozenset[int]

    @property
    def anyone(self) -> bool:
        return self.uid is None


ANYONE = Account("any other account", None, frozenset())


def account(name: str) -> Account:
    """The account of ``name`` with its primary and supplementary groups (KeyError: no such user)."""
    entry = pwd.getpwnam(name)
    return Account(name, entry.pw_uid, frozenset(os.getgrouplist(name, entry.pw_gid)))


def account_of_uid(uid: int) -> Account | None:
    try:
        return account(pwd.getpwuid(uid).pw_name)
    except KeyError:
        return None


def group_members(name: str) -> list[str]:
    """Every account in the group ``name``: its listed members and those whose primary group it is."""
    group = grp.getgrnam(name)
    members = set(group.gr_mem)
    members.update(p.pw_name for p in pwd.getpwall() if p.pw_gid == group.gr_gid)
    return sorted(members)


@dataclass(frozen=True)
class Acl:
    """The access ACL of a file (a plain mode is the ACL with no named entry and no mask)."""
    owner: int
    group: int
    user_obj: int
    group_obj: int
    other: int
    users: tuple[tuple[int, int], ...] = ()   # (uid, perms) of named users
    groups: tuple[tuple[int, int], ...] = ()  # (gid, perms) of named groups
    mask: int | None = None

    def allows(self, who: Account, want: int) -> bool:
        """The access check for ``who`` and the bits ``want``: POSIX.1e's (acl(5), "ACCESS CHECK
        ALGORITHM") as Linux runs it (fs/namei.c, ``acl_permission_check``): the ACL is read only
        when the mode's group bits (the mask) are not all clear; else named entries count for
        nothing and their accounts get the "other" bits."""
        if who.uid is not None and who.uid == self.owner:
            return self.user_obj & want == want
        if self.mask == 0:
            return (0 if self.group in who.gids else self.other) & want == want
        mask = 7 if self.mask is None else self.mask
        for uid, perms in self.users:
            if who.uid is not None and uid == who.uid:
                return perms & mask & want == want
        matched = [self.group_obj] if self.group in who.gids else []
        matched += [perms for gid, perms in self.groups if gid in who.gids]
        if matched:
            return any(perms & mask & want == want for perms in matched)
        return self.other & want == want

    def named(self) -> tuple[set[int], set[int]]:
        """The uids and gids this ACL gives access by name (its owner and group included)."""
        return {self.owner, *(u for u, _ in self.users)}, {self.group, *(g for g, _ in self.groups)}


def parse_acl(data: bytes, st: os.stat_result) -> Acl:
    """``system.posix_acl_access`` (version 2: entries of tag u16, perm u16, id u32) over ``st``."""
    users, groups, found = [], [], {}
    for offset in range(4, len(data) - 7, 8):
        tag, perms, ident = struct.unpack_from("<HHI", data, offset)
        if tag == _USER:
            users.append((ident, perms & 7))
        elif tag == _GROUP:
            groups.append((ident, perms & 7))
        else:
            found[tag] = perms & 7
    mode = stat.S_IMODE(st.st_mode)
    return Acl(st.st_uid, st.st_gid, found.get(_USER_OBJ, mode >> 6 & 7), found.get(_GROUP_OBJ, mode >> 3 & 7),
               found.get(_OTHER, mode & 7), tuple(users), tuple(groups), found.get(_MASK))


def acl_of(path: str, st: os.stat_result | None = None) -> Acl:
    """The ACL of ``path`` (not following a last link)."""
    st = os.lstat(path) if st is None else st
    try:
        return parse_acl(os.getxattr(path, _ACL_XATTR, follow_symlinks=False), st)
    except OSError:  # no ACL (ENODATA), or a file system without them: the mode is the ACL
        mode = stat.S_IMODE(st.st_mode)
        return Acl(st.st_uid, st.st_gid, mode >> 6 & 7, mode >> 3 & 7, mode & 7)


def has_named_entries(path: str) -> bool:
    """Whether ``path``'s ACL names users or groups (``chmod`` alone then leaves them in place)."""
    acl = acl_of(path)
    return bool(acl.users or acl.groups)


class Evaluator:
    """Answers "may ``who`` do ``want`` on ``path``" from metadata, caching each folder's ACL, so a
    walk over a course costs one ``stat`` and one ``getxattr`` per file."""

    def __init__(self) -> None:
        self._acls: dict[str, Acl | None] = {}

    def _acl(self, path: str) -> Acl | None:
        if path not in self._acls:
            try:
                self._acls[path] = acl_of(path)
            except OSError:
                self._acls[path] = None
        return self._acls[path]

    def remember(self, path: str, acl: Acl) -> None:
        self._acls[path] = acl

    def reaches(self, who: Account, path: str) -> bool:
        """Whether ``who`` can search every folder above ``path`` (``path`` absolute, no links above it)."""
        parent = os.path.dirname(path)
        folders = []
        while True:
            folders.append(parent)
            if parent == os.path.dirname(parent):
                break
            parent = os.path.dirname(parent)
        for folder in reversed(folders):
            acl = self._acl(folder)
            if acl is None or not acl.allows(who, SEARCH):
                return False
        return True

    def may(self, who: Account, path: str, want: int, acl: Acl | None = None) -> bool:
        """``want`` (READ, WRITE, SEARCH, or'ed) on ``path`` itself, having reached it."""
        acl = acl or self._acl(path)
        return acl is not None and self.reaches(who, path) and acl.allows(who, want)


@dataclass(frozen=True)
class Reach:
    """What one account can do to one path."""
    path: str
    is_dir: bool
    read: bool
    write: bool


def walk(root: str, who: Account, evaluator: Evaluator, limit: int = 200_000) -> Iterator[Reach]:
    """Every path at or under ``root`` that ``who`` can read (list) or write, found by walking as the
    caller (who must be able to list the tree: root or its owner) and descending only into folders
    ``who`` can search. Links are reported, never followed."""
    root = os.path.realpath(root)
    try:
        st = os.lstat(root)
    except OSError:
        return
    if not evaluator.reaches(who, root):
        return
    stack = [(root, st)]
    seen = 0
    while stack and seen < limit:
        path, st = stack.pop()
        seen += 1
        acl = acl_of(path, st)
        is_dir = stat.S_ISDIR(st.st_mode)
        read, write = acl.allows(who, READ), acl.allows(who, WRITE)
        if read or write:
            yield Reach(path, is_dir, read, write)
        if not is_dir or not acl.allows(who, SEARCH):
            continue
        evaluator.remember(path, acl)
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    try:
                        stack.append((entry.path, entry.stat(follow_symlinks=False)))
                    except OSError:
                        pass
        except OSError:
            pass


def run_as(who: Account, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in a child process that has taken on ``who``'s uid, groups and home (root
    only; ``who`` must have a uid: an account, or a bare uid with its groups); its result comes
    back as JSON. Nothing of the child runs as root after the switch, so ``func`` may read what
    ``who`` controls (their config)."""
    if who.uid is None:
        raise ValueError("running as an account needs a uid")
    try:
        entry: pwd.struct_passwd | None = pwd.getpwuid(who.uid)
    except KeyError:
        entry = None
    primary = entry.pw_gid if entry else min(who.gids, default=who.uid)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the account, answer, leave without running any cleanup
        status = 1
        try:
            os.close(read_end)
            os.setgroups(sorted(who.gids))
            os.setresgid(primary, primary, primary)
            os.setresuid(who.uid, who.uid, who.uid)
            kept = {k: v for k, v in os.environ.items() if k in KEPT_ENVIRONMENT}  # nothing else of root's
            os.environ.clear()
            os.environ.update(kept)
            if entry:
                os.environ.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
            view = memoryview(json.dumps(func(*args)).encode())
            while view:
                view = view[os.write(write_end, view):]
            status = 0
        except BaseException as exc:  # said by the parent
            os.write(2, f"[labgrader] as {who.name}: {type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError(f"could not run as {who.name} (uid {who.uid})")
    return json.loads(data)


class Tried(NamedTuple):
    read: bool
    write: bool
    search: bool  # execute, for a file


def _access(paths: list[str]) -> dict[str, tuple[bool, bool, bool]]:
    return {p: (os.access(p, os.R_OK), os.access(p, os.W_OK), os.access(p, os.X_OK)) for p in paths}


def tried(who: Account, paths: Iterable[str]) -> dict[str, Tried]:
    """{path: what ``who`` may do}, asked of the kernel by a child process that has taken on
    ``who``'s uid and groups (root only). ``os.access`` with the real ids then is exactly what
    ``who``'s own ``open`` would be allowed."""
    return {p: Tried(*map(bool, answer)) for p, answer in run_as(who, _access, list(paths)).items()}
