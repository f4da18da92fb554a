"""``python -m labgrader doctor``: audit a live deployment of a course, as root or as its instructor.

For every student account of the course (the hub's group, the gradebook's students, the owners of
the exchange's entries, any named with ``--student``) and for *any other account*, it answers
whether that account can read or write anything of the course (``source/``, ``release/``,
``gradebook.db``, ``submitted/``, ``autograded/``, ``feedback/``, the service's state under
``.labgrader/``, a lab's ``grading.py``, the configuration), or the solutions through the clone
labgrader runs from; whether the exchange's modes and owners are as set up; whether the grading
service runs and with which policy; whether due dates are set and ahead; and the limits (free disk,
the instructor's inotify watches, the cgroup controllers the sandbox needs).

Access is evaluated from the files' modes, ACLs and the accounts' groups along the whole path; as
root, each private path is also tried as each account in a child process that has become it.
Whatever reads the course's configuration (it is Python the instructor wrote) runs as the
instructor, never as root.

Each problem says what, why, and the command that fixes it. ``problems()`` is the library entry;
``private_problems()`` is the subset ``python -m labgrader serve`` refuses to start on.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import grp
import json
import logging
import os
import pwd
import shutil
import sqlite3
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from labgrader.text import one_line

from . import access
from .access import ANYONE, Account, Evaluator

UNSAFE, WARNING, OK = "unsafe", "warning", "ok"
HUB_GROUP_ENV = "LABGRADER_HUB_GROUP"  # the hub's group of those who may log in (jupyterhub_config.py)
DEFAULT_HUB_GROUP = "jupyterhub-users"
GiB = 1024 ** 3
MIN_FREE = GiB

# Why each part of a course must stay the instructor's (the first name under the course root).
WHY_PRIVATE = {
    "": "whoever can search the course folder reaches every file in it whose name they know",
    "source": "the instructor's notebooks: the solutions and the hidden tests",
    "release": "the student version, generated from source/ (part of the course: only the exchange publishes it)",
    "gradebook.db": "every grade and comment, and the source of every test cell, hidden tests included",
    "submitted": "every student's hand-in, with the secret that names their feedback page (submission_secret.txt)",
    "autograded": "every graded notebook",
    "feedback": "every student's feedback page, with their score",
    ".labgrader": "the grading service's journal and a kept copy of every hand-in, and the reference run "
                  "(the instructor's own answers, as the grader saw them)",
    "nbgrader_config.py": "the course's configuration: Python that runs as the instructor in every nbgrader command",
}
WHY_WRITE = "and can change it: grades, hand-ins, or code that runs as the instructor"
# What of a clone of this repository gives answers away.
CLONE_PRIVATE = ("source", "grader_tests", "gradebook.db", "submitted", "autograded", "feedback", ".labgrader")


@dataclass(frozen=True)
class Problem:
    """One finding: ``level`` is ``unsafe`` (a student can read or change what they must not),
    ``warning`` (something will not work as it should) or ``ok`` (a check that passed)."""
    level: str
    what: str
    why: str = ""
    fix: str = ""


@dataclass
class CourseFacts:
    """What the course's configuration and gradebook say (read as the instructor)."""
    course_id: str = ""
    exchange: str = "/srv/nbgrader/exchange"
    db_url: str = ""
    students: list[str] = field(default_factory=list)
    due: dict[str, str | None] = field(default_factory=dict)   # assignment -> ISO UTC due date
    policy: dict[str, Any] = field(default_factory=dict)
    factories: dict[str, str] = field(default_factory=dict)    # ExchangeFactory.<step> -> class
    service: dict[str, Any] = field(default_factory=dict)      # the service's status (its journal)
    cgroup: str | None = None   # why kernels get no cgroup, as this account (None: they do)
    watches_in_use: int = 0     # inotify watches held by this account's processes now
    errors: list[str] = field(default_factory=list)

    @property
    def gradebook(self) -> str | None:
        return self.db_url[len("sqlite:///"):].split("?")[0] if self.db_url.startswith("sqlite:///") else None


# ---------------------------------------------------------------------------------------------
# Facts (as the instructor)


def read_facts(course: str, limits: bool = True) -> dict[str, Any]:
    """The course's facts, read by the account running this (the instructor: the config is theirs);
    ``limits``: also whether kernels get a cgroup here, and the inotify watches in use."""
    facts = CourseFacts()
    if not os.path.isfile(os.path.join(course, "nbgrader_config.py")):
        facts.errors.append(f"no nbgrader_config.py in {course}")
        return asdict(facts)
    os.chdir(course)  # the course root's config wins over the current folder's, as in nbgrader
    try:
        from labgrader.config import load_course_config
        from labgrader.service.policy import GradingService
        config = load_course_config(course)
        facts.course_id = config.CourseDirectory.get("course_id", "")
        facts.exchange = config.Exchange.get("root", facts.exchange)
        facts.db_url = config.CourseDirectory.get("db_url", "") or f"sqlite:///{os.path.join(course, 'gradebook.db')}"
        policy = GradingService(config=config)
        facts.policy = {name: getattr(policy, name) for name in ("before_due", "after_due", "max_per_hour")}
        facts.factories = {name: str(value) for name, value in config.get("ExchangeFactory", {}).items()}
        cgroup_parent = config.get("GradingKernelManager", {}).get("cgroup_parent", "")
    except BaseException as exc:  # a broken config is itself a finding
        facts.errors.append(f"the course's configuration does not load: {type(exc).__name__}: {exc}")
        return asdict(facts)
    _read_gradebook(facts)
    if limits:
        from labgrader.sandbox.cgroups import unavailable_reason
        from labgrader.service.status import status
        try:  # (as the instructor: a reader of the journal never leaves a file of another owner beside it)
            state = status(course)
            facts.service = {key: state.get(key) for key in ("running", "pid", "policy")}
        except Exception as exc:  # an unreadable journal
            facts.service = {"error": f"{type(exc).__name__}: {exc}"}
        facts.cgroup = unavailable_reason(cgroup_parent)
        facts.watches_in_use = inotify_watches(os.getuid())
    return asdict(facts)


def _read_gradebook(facts: CourseFacts) -> None:
    path = facts.gradebook
    if path is None:
        facts.errors.append("the gradebook is a database server: its due dates and students are not checked here")
        return
    if not os.path.isfile(path):
        return
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            facts.students = [row[0] for row in db.execute("SELECT id FROM student ORDER BY id")]
            facts.due = {name: (due and _dt.datetime.fromisoformat(due).replace(tzinfo=_dt.timezone.utc).isoformat())
                         for name, due in db.execute("SELECT name, duedate FROM assignment ORDER BY name")}
        finally:
            db.close()
    except sqlite3.Error as exc:
        facts.errors.append(f"the gradebook {path} cannot be read: {exc}")


def course_facts(course: str, instructor: Account | None, limits: bool = True) -> CourseFacts:
    """``read_facts`` as the instructor: in a child process that became them when we are root."""
    if os.geteuid() == 0 and instructor is not None and instructor.uid not in (None, 0):
        try:
            data = access.run_as(instructor, read_facts, course, limits)
        except OSError as exc:
            return CourseFacts(errors=[f"could not read the course as {instructor.name}: {exc}"])
    else:
        here = os.getcwd()
        try:
            data = read_facts(course, limits)
        finally:
            os.chdir(here)
    return CourseFacts(**data)


def inotify_watches(uid: int) -> int:
    """inotify watches held now by the processes of ``uid`` (the kernel's budget is per user)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                        total += sum(line.startswith("inotify wd:") for line in info)
        except OSError:
            continue
    return total


# ---------------------------------------------------------------------------------------------
# Who the students are


def class_accounts(facts: CourseFacts, instructor: Account | None, group: str | None = None,
                   names: Iterable[str] = ()) -> list[Account]:
    """The course's student accounts: the hub's group, the gradebook's students and the owners of
    inbound entries that are unix accounts, and ``names``; never root or the instructor."""
    wanted = set(names)
    if group:
        try:
            wanted.update(access.group_members(group))
        except KeyError:
            pass
    found = {a.uid: a for a in map(_account_or_none, sorted(wanted | set(facts.students))) if a}
    for uid in _entry_owners(facts):
        if uid not in found and (a := access.account_of_uid(uid)):
            found[uid] = a
    skip = {0, instructor.uid if instructor else None}
    return [a for uid, a in sorted(found.items()) if uid not in skip]


def _account_or_none(name: str) -> Account | None:
    try:
        return access.account(name)
    except KeyError:
        return None


def _entry_owners(facts: CourseFacts) -> set[int]:
    inbound = os.path.join(facts.exchange, facts.course_id, "inbound")
    try:
        with os.scandir(inbound) as entries:
            return {e.stat(follow_symlinks=False).st_uid for e in entries}
    except OSError:
        return set()


def hub_group() -> str | None:
    """The hub's group: ``$LABGRADER_HUB_GROUP``, else ``jupyterhub-users`` when it exists."""
    name = os.environ.get(HUB_GROUP_ENV) or DEFAULT_HUB_GROUP
    try:
        grp.getgrnam(name)
        return name
    except KeyError:
        return None


def owner_of(path: str) -> Account | None:
    try:
        return access.account_of_uid(os.stat(path).st_uid)
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# What a student can reach


def _names(accounts: list[Account]) -> str:
    names = [a.name for a in accounts]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def exposures(top: str, accounts: list[Account], evaluator: Evaluator, areas: Iterable[str] | None = None
              ) -> dict[str, dict[str, Any]]:
    """{area: {"accounts", "paths", "write"}}: what under ``top`` each account can read or write,
    grouped by the first name below ``top`` ("" for ``top`` itself); ``areas`` limits the walk."""
    found: dict[str, dict[str, Any]] = {}
    starts = [top] if areas is None else [os.path.join(top, a) for a in areas]
    for who in accounts:
        for start in starts:
            if not os.path.lexists(start):
                continue
            for reach in access.walk(start, who, evaluator):
                rel = os.path.relpath(reach.path, os.path.realpath(top))
                area = "" if rel == "." else rel.split(os.sep, 1)[0]
                seen = found.setdefault(area, {"accounts": [], "paths": set(), "write": False})
                if who not in seen["accounts"]:
                    seen["accounts"].append(who)
                seen["paths"].add(reach.path)
                seen["write"] |= reach.write
    return found


def course_problems(course: str, accounts: list[Account], evaluator: Evaluator, gradebook: str | None = None
                    ) -> list[Problem]:
    """Anything of the course (and its SQLite gradebook, wherever it is) a student can read or write."""
    course = os.path.realpath(course)
    found = exposures(course, accounts, evaluator)
    problems = []
    fix = _private_fix(course)
    for area, seen in sorted(found.items()):
        shown = sorted(seen["paths"])
        more = f" (and {len(shown) - 1} more)" if len(shown) > 1 else ""
        verb = "can read and write" if seen["write"] else "can read"
        problems.append(Problem(UNSAFE, f"{_names(seen['accounts'])} {verb} {area or 'the course folder'}: "
                                        f"{shown[0]}{more}",
                                WHY_PRIVATE.get(area, "part of the course: only the instructor may read it")
                                + (f", {WHY_WRITE}" if seen["write"] else ""), fix))
    if gradebook and not os.path.realpath(gradebook).startswith(course + os.sep):
        for who in accounts:
            if evaluator.may(who, os.path.realpath(gradebook), access.READ):
                problems.append(Problem(UNSAFE, f"{who.name} can read the gradebook {gradebook}",
                                        WHY_PRIVATE["gradebook.db"], f"chmod 600 {gradebook}"))
                break
    return problems


def _private_fix(path: str) -> str:
    fix = f"chmod 700 {path}"
    try:
        if access.has_named_entries(path):
            fix += f" && setfacl -b {path}"
    except OSError:
        pass
    return fix


def package_problems(accounts: list[Account], evaluator: Evaluator, clones: Iterable[str] = ()) -> list[Problem]:
    """The engine students' servers import must carry nothing of a course, and must not be a clone
    whose solutions they can read (an editable install, or labgrader run from a checkout)."""
    package = package_dir()
    problems = []
    for folder, dirs, files in os.walk(package):
        notebooks = [name for name in files if name.endswith(".ipynb")]
        lab = notebooks + (["grading.py"] if notebooks and "grading.py" in files else [])  # a lab is a folder of both
        for name in lab:
            problems.append(Problem(UNSAFE, f"the installed labgrader carries a lab's file: {os.path.join(folder, name)}",
                                    "a lab's notebooks and grading.py hold answers; the engine needs none of them",
                                    "reinstall labgrader from a wheel of the repository (deploy/hub-setup.sh)"))
    for clone in sorted(set(clones) | checkouts(package)):
        found = exposures(clone, accounts, evaluator, CLONE_PRIVATE)
        if not found:
            continue
        readers = [a for a in accounts if any(a in seen["accounts"] for seen in found.values())]
        parts = ", ".join(f"{area}/ ({len(seen['paths'])})" for area, seen in sorted(found.items()))
        problems.append(Problem(UNSAFE, f"{_names(readers)} can read the clone {clone}: {parts}",
                                "a clone of this repository holds the solutions, the hidden tests and graded answers",
                                f"{_private_fix(clone)}  (and install labgrader as a package where students' servers "
                                "run: deploy/hub-setup.sh)"))
    return problems


def package_dir() -> str:
    """The folder of the labgrader package this process imported."""
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def checkouts(package: str) -> set[str]:
    """Source trees the installed labgrader comes from: an editable install's, or the folder
    holding the package when it is a checkout (a ``pyproject.toml`` or ``source/`` beside it)."""
    found = set()
    parent = os.path.dirname(package)
    if os.path.exists(os.path.join(parent, "pyproject.toml")) or os.path.isdir(os.path.join(parent, "source")):
        found.add(parent)
    try:
        from importlib.metadata import distribution
        text = distribution("labgrader").read_text("direct_url.json")
        data = json.loads(text) if text else {}
        if data.get("dir_info", {}).get("editable") and data.get("url", "").startswith("file://"):
            found.add(os.path.realpath(data["url"][len("file://"):]))
    except Exception:  # not installed as a distribution: the folder test above decides
        pass
    return found


def tried_problems(course: str, accounts: list[Account], facts: CourseFacts) -> list[Problem]:
    """As root: each private path tried as each account (the kernel's own answer)."""
    paths = private_paths(course, facts)
    problems = []
    for who in accounts:
        probe = who if not who.anyone else _nobody()
        if probe is None:
            continue
        for path, (read, write, _) in access.tried(probe, paths).items():
            if read or write:
                verb = "read and write" if read and write else "read" if read else "write"
                problems.append(Problem(UNSAFE, f"tried as {probe.name}: can {verb} {path}",
                                        "found by opening it as that account", _private_fix(course)))
    return problems


def _nobody() -> Account | None:
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return Account("nobody", entry.pw_uid, frozenset({entry.pw_gid}))


def private_paths(course: str, facts: CourseFacts, per_area: int = 20) -> list[str]:
    """The course root, what is in it, and a sample of what is below each of its folders."""
    course = os.path.realpath(course)
    paths = [course]
    try:
        top = sorted(os.scandir(course), key=lambda e: e.name)
    except OSError:
        top = []
    for entry in top:
        paths.append(entry.path)
        if entry.is_dir(follow_symlinks=False):
            count = 0
            for folder, dirs, files in os.walk(entry.path):
                for name in dirs + files:
                    paths.append(os.path.join(folder, name))
                    count += 1
                if count >= per_area:
                    break
    if facts.gradebook:
        paths.append(facts.gradebook)
    return sorted(set(paths))


# ---------------------------------------------------------------------------------------------
# The exchange, the service, due dates, limits


def exchange_problems(facts: CourseFacts, instructor: Account | None, accounts: list[Account],
                      evaluator: Evaluator) -> list[Problem]:
    from labgrader.exchange import layout
    if not facts.course_id:
        return []
    root, course_id = facts.exchange, facts.course_id
    course_path = os.path.join(root, course_id)
    fix = (f"python -m labgrader.exchange setup --root {root} --course {course_id} "
           f"--instructor {instructor.name if instructor else 'INSTRUCTOR'}")
    uid = instructor.uid if instructor and instructor.uid is not None else os.geteuid()
    problems = [Problem(UNSAFE, text, "the exchange is what students write to and fetch from", fix)
                for text in layout.inbound_problems(root, course_id, uid)]
    if problems:
        return problems
    expected = [(root, 0, layout.ROOT_MODE), (course_path, uid, layout.COURSE_MODE),
                (os.path.join(course_path, "inbound"), uid, layout.INBOUND_MODE),
                (os.path.join(course_path, "outbound"), uid, layout.OUTBOUND_MODE),
                (os.path.join(course_path, "feedback"), uid, layout.FEEDBACK_MODE)]
    for path, owner, mode in expected:
        st = os.lstat(path) if os.path.lexists(path) else None
        if st is None:
            problems.append(Problem(WARNING, f"{path} does not exist", "students cannot fetch or submit", fix))
        elif st.st_uid != owner or stat.S_IMODE(st.st_mode) != mode:
            looser = stat.S_IMODE(st.st_mode) & ~mode & 0o7777
            problems.append(Problem(UNSAFE if looser or st.st_uid != owner else WARNING,
                                    f"{path} is {oct(stat.S_IMODE(st.st_mode))} owned by uid {st.st_uid}, "
                                    f"not {oct(mode)} owned by uid {owner}",
                                    "its modes are what keeps one student's entries and pages from another", fix))
    if instructor:
        own_group = pwd.getpwuid(uid).pw_gid
        in_group = [a for a in accounts if own_group in a.gids]
        if in_group:
            problems.append(Problem(UNSAFE, f"{_names(in_group)} are in the instructor's group",
                                    "inbound's entries are readable by that group: they read every hand-in",
                                    f"gpasswd -d {in_group[0].name} <the instructor's group>  (each of them)"))
    problems += _open_entries(course_path, evaluator)
    if facts.factories.get("release_feedback", "") != "labgrader.exchange.release_feedback.PrivateReleaseFeedback":
        problems.append(Problem(UNSAFE, "the course does not release feedback with PrivateReleaseFeedback",
                                "stock nbgrader releases pages 0644: anyone who learns a page's name reads it (#1202)",
                                'c.ExchangeFactory.release_feedback = "labgrader.exchange.release_feedback.'
                                'PrivateReleaseFeedback" in the course\'s nbgrader_config.py'))
    return problems


def _open_entries(course_path: str, evaluator: Evaluator) -> list[Problem]:
    problems = []
    for folder, level, why in (("inbound", WARNING, "made by stock nbgrader submit (0777): another student who learns "
                                                    "its name can read or delete it until it is collected"),
                               ("feedback", UNSAFE, "a released page anyone can read: whoever learns its name "
                                                    "reads another student's feedback")):
        path = os.path.join(course_path, folder)
        try:
            names = os.listdir(path)
        except OSError:
            continue
        readable = [n for n in names if evaluator.may(ANYONE, os.path.join(path, n), access.READ)]
        if readable:
            problems.append(Problem(level, f"{len(readable)} of {len(names)} in {path} are readable by any account "
                                           f"(e.g. {readable[0]})", why,
                                    f"chmod go-rwx {os.path.join(path, readable[0])} (each); students submit with the "
                                    "machine-wide config of python -m labgrader setup (PrivateSubmit)"))
    return problems


def service_problems(course: str, facts: CourseFacts) -> list[Problem]:
    state = facts.service
    if state.get("error"):
        return [Problem(WARNING, f"the grading service's journal cannot be read: {state['error']}")]
    policy = facts.policy or state.get("policy") or {}
    said = (f"policy: before the due date {policy.get('before_due')}, after it {policy.get('after_due')}, at most "
            f"{policy.get('max_per_hour') or 'any number of'} graded per student per hour") if policy else "no policy read"
    if state.get("running"):
        return [Problem(OK, f"the grading service runs (pid {state.get('pid')}); {said}")]
    return [Problem(WARNING, f"the grading service is not running; {said}",
                    "students get no feedback on Submit until it runs",
                    f"start the hub with LABGRADER_COURSE={course} (it runs python -m labgrader serve as the instructor)")]


def due_problems(facts: CourseFacts, now: _dt.datetime | None = None) -> list[Problem]:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    ahead = (now + _dt.timedelta(days=14)).strftime("%Y-%m-%d 17:00:00 UTC")
    problems = []
    for name, due in sorted(facts.due.items()):
        fix = f'nbgrader db assignment add {name} --duedate="{ahead}"  (in the course root, as the instructor)'
        if due is None:
            problems.append(Problem(WARNING, f"{name} has no due date",
                                    "every hand-in counts as on time, and the service never shows the after-due level", fix))
        elif _dt.datetime.fromisoformat(due) <= now:
            problems.append(Problem(WARNING, f"{name} was due {due}", "every new hand-in is late (and scores 0)", fix))
        else:
            problems.append(Problem(OK, f"{name} is due {due}"))
    return problems


def limit_problems(course: str, facts: CourseFacts, instructor: Account | None) -> list[Problem]:
    problems = []
    kept = os.path.join(course, ".labgrader", "service", "kept")
    for where, path in (("the course's", course), ("the exchange's", facts.exchange)):
        try:
            free = shutil.disk_usage(path).free
        except OSError:
            continue
        if free < MIN_FREE:
            problems.append(Problem(WARNING, f"{free / GiB:.2f} GiB free on {where} file system ({path})",
                                    f"the service keeps every submission ({kept}); a full disk stops collecting and "
                                    "grading", "free space, or move the course to a larger file system"))
    needed = _folders(os.path.join(facts.exchange, facts.course_id, "inbound")) if facts.course_id else 0
    budget = _read_int("/proc/sys/fs/inotify/max_user_watches")
    if budget and needed + facts.watches_in_use > budget // 2:
        problems.append(Problem(WARNING, f"inotify: the service needs about {needed} watches (inbound's folders), the "
                                         f"instructor's processes hold {facts.watches_in_use}, of {budget} per user",
                                "past the budget the service notices submissions only at its rescan (30 s) instead "
                                "of within a second", f"sysctl -w fs.inotify.max_user_watches={max(4 * budget, 524288)}"
                                                      " (and in /etc/sysctl.d/ to keep it)"))
    if facts.cgroup:
        who = instructor.name if instructor else "the instructor"
        problems.append(Problem(WARNING, f"as {who}, kernels get no memory and pids cgroup: {facts.cgroup}",
                                "without it a kernel's memory is bounded only by its address-space cap (4 GiB per "
                                "process) and tmpfs caps, memfd_create is refused in kernels, and a kernel that "
                                "exhausts the machine meets the machine's own OOM killer",
                                f"make a cgroup {who} may write and name it: c.GradingKernelManager.cgroup_parent "
                                "(cgroup v1: mkdir /sys/fs/cgroup/{memory,pids}/labgrader, chown -R it to the "
                                "instructor, cgroup_parent = \"/labgrader\"; v2: a delegated empty subtree)"))
    return problems


def _folders(path: str, cap: int = 1_000_000) -> int:
    count = 0
    for _, dirs, _ in os.walk(path):
        count += 1
        if count >= cap:
            break
    return count


def _read_int(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def environment_problems(accounts: list[Account], evaluator: Evaluator) -> list[Problem]:
    """Students' servers run this environment's Python: they must be able to."""
    interpreter = os.path.realpath(sys.executable)
    site = os.path.dirname(package_dir())
    blocked = [a for a in accounts if not a.anyone and not (evaluator.may(a, interpreter, access.READ | access.SEARCH)
                                                            and evaluator.may(a, site, access.READ | access.SEARCH))]
    if not blocked:
        return []
    return [Problem(WARNING, f"{_names(blocked)} cannot run {interpreter} or read {site}",
                    "students' servers and commands run this environment",
                    f"chmod -R a+rX {sys.prefix} (and the interpreter's folder)")]


# ---------------------------------------------------------------------------------------------
# Entry points


@dataclass
class Audit:
    course: str
    instructor: Account | None
    accounts: list[Account]
    facts: CourseFacts
    findings: list[Problem]

    @property
    def problems(self) -> list[Problem]:
        return [p for p in self.findings if p.level != OK]


def audit(course: str, group: str | None = None, students: Iterable[str] = (), clones: Iterable[str] = (),
          try_as_root: bool = True) -> Audit:
    """Every check, as ``python -m labgrader doctor`` runs them."""
    course = os.path.realpath(course)
    instructor = owner_of(course)
    facts = course_facts(course, instructor)
    accounts = [*class_accounts(facts, instructor, group, students), ANYONE]
    evaluator = Evaluator()
    findings = [Problem(WARNING, error) for error in facts.errors]
    private = course_problems(course, accounts, evaluator, facts.gradebook)
    if try_as_root and os.geteuid() == 0 and not private:
        private = tried_problems(course, accounts, facts)
    findings += private or [Problem(OK, f"nothing of {course} is readable by {_names(accounts)}"
                                        + (" (tried as each)" if try_as_root and os.geteuid() == 0 else ""))]
    package = package_problems(accounts, evaluator, clones)
    findings += package or [Problem(OK, "the installed labgrader is the engine alone, and no clone it comes from is readable")]
    findings += environment_problems(accounts, evaluator)
    findings += exchange_problems(facts, instructor, accounts, evaluator)
    findings += service_problems(course, facts)
    findings += due_problems(facts)
    findings += limit_problems(course, facts, instructor)
    return Audit(course, instructor, accounts, facts, findings)


def problems(course: str, group: str | None = None, students: Iterable[str] = (), clones: Iterable[str] = ()
             ) -> list[Problem]:
    """What is wrong with the deployment of ``course`` (see ``audit``)."""
    return audit(course, group, students, clones).problems


def private_problems(course: str, group: str | None = None) -> list[Problem]:
    """What ``serve`` refuses to start on: any account but the instructor (and root) can read or
    write the course, or a student account can read the solutions through the clone labgrader
    runs from. Evaluated from metadata (no privilege needed); the course's config is read as the
    instructor."""
    course = os.path.realpath(course)
    instructor = owner_of(course)
    facts = course_facts(course, instructor, limits=False)
    students = class_accounts(facts, instructor, group if group is not None else hub_group())
    evaluator = Evaluator()
    return (course_problems(course, [*students, ANYONE], evaluator, facts.gradebook)
            + package_problems(students, evaluator))


REFUSED = 3  # serve's exit status when it refuses to start


def refuse_unless_private(course: str, log: logging.Logger, wait_seconds: float = 5.0) -> None:
    """Fail closed, for ``python -m labgrader serve``: exit with status 3, saying why and what to run,
    while ``private_problems`` finds anything. A course folder not made yet is waited for (the hub
    may start the service first); it is checked once it exists."""
    said = False
    while not os.path.isdir(course):
        if not said:
            log.warning("not serving yet: no course folder %s (checking again every %g s)", course, wait_seconds)
            said = True
        time.sleep(wait_seconds)
    found = private_problems(course)
    if not found:
        log.info("the course %s is private to its instructor (no other account can read it)", os.path.realpath(course))
        return
    for problem in found:
        log.error("%s", format_problem(problem))
    log.error("refusing to serve: students can read what this course must keep from them (above, each with the "
              "command that fixes it); python -m labgrader doctor --course %s checks everything", course)
    raise SystemExit(REFUSED)


def warn_unless_private(course: str) -> None:
    """For the batch command: the same findings as ``serve`` refuses on, as a warning."""
    try:
        found = private_problems(course)
    except Exception as exc:  # a warning must never stop grading
        print(f"[labgrader] warning: could not check who can read {course}: {exc}", file=sys.stderr)
        return
    for problem in found:
        print("[labgrader] warning: " + format_problem(problem), file=sys.stderr)
    if found:
        print(f"[labgrader] warning: students can read parts of {course} (above); grading goes on. "
              f"python -m labgrader doctor --course {course} checks everything.", file=sys.stderr)


def format_problem(problem: Problem) -> str:
    """Three lines at most; names students chose (entries, folders) made printable."""
    lines = [f"{problem.level.upper():8}{one_line(problem.what, 2000)}"]
    if problem.why:
        lines.append(f"{'':8}why: {one_line(problem.why, 2000)}")
    if problem.fix:
        lines.append(f"{'':8}fix: {one_line(problem.fix, 2000)}")
    return "\n".join(lines)


def exit_status(found: list[Problem]) -> int:
    """0: nothing to fix; 1: warnings only; 2: something unsafe."""
    return 2 if any(p.level == UNSAFE for p in found) else 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labgrader doctor", description=__doc__.split("\n\n")[0],
                                     epilog="Exit status: 0 nothing to fix, 1 warnings only, 2 something unsafe.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", default=os.getcwd(), help="the course root (default: here)")
    parser.add_argument("--group", help=f"the hub's group of those who may log in (default: ${HUB_GROUP_ENV}, else "
                                        f"{DEFAULT_HUB_GROUP} when it exists); its members but the instructor are students")
    parser.add_argument("--student", action="append", default=[], metavar="USER",
                        help="also check this account (repeatable): a probe account, or a student not yet in the group")
    parser.add_argument("--clone", action="append", default=[], metavar="PATH",
                        help="also check that students cannot read the solutions in this clone of the repository")
    parser.add_argument("--json", action="store_true", help="the findings as JSON")


def run(args: argparse.Namespace) -> int:
    result = audit(args.course, args.group or hub_group(), args.student, args.clone)
    if args.json:
        print(json.dumps({"course": result.course, "students": [a.name for a in result.accounts],
                          "findings": [{k: one_line(v, 2000) for k, v in asdict(p).items()} for p in result.findings],
                          "exit_status": exit_status(result.problems)}, indent=1))
        return exit_status(result.problems)
    who = result.instructor.name if result.instructor else "?"
    print(f"labgrader doctor: {result.course} (instructor {who}; checked as {_names(result.accounts)})")
    for finding in result.findings:
        print(format_problem(finding))
    found = result.problems
    unsafe = sum(p.level == UNSAFE for p in found)
    print(f"{len(found)} problem(s), {unsafe} unsafe: exit status {exit_status(found)}" if found else "No problem found.")
    return exit_status(found)
