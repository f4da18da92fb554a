"""``python -m labgrader setup``: one course on one machine, as root, right by construction.

    python -m labgrader setup --instructor instructor --course-dir /home/instructor/course \\
        --from /root/embeddings --exchange /srv/nbgrader/exchange --config-dir /etc/jupyter

It makes the exchange (``python -m labgrader.exchange setup``: root 1777, the course folder the
instructor's, inbound 3733, outbound 0755, feedback 0711), the course folder (owned by the
instructor, mode 0700: nothing in it is any student's business, and a folder nobody else can
search protects everything below it whatever nbgrader's umask makes there), copies ``source/``,
``release/`` and ``nbgrader_config.py`` into it (0700 folders, 0600 files), and writes the
machine-wide config only into ``--config-dir`` (never replacing a different file without keeping
it). It says what it made, kept and wrote; what exists already is kept, never overwritten.

Root works through file descriptors below folders whose owner it checked, never following a link,
so an instructor who swaps names in their home while it runs cannot make it write elsewhere.
"""
from __future__ import annotations

import argparse
import ast
import os
import pwd
import stat
from collections.abc import Callable

from labgrader.exchange.layout import SetupRefused, make_exchange, write_global_config

COURSE_ITEMS = ("source", "release", "nbgrader_config.py")
SKIPPED_NAMES = {"__pycache__", ".ipynb_checkpoints"}
Log = Callable[[str], None]


def course_id_of(config_file: str) -> str | None:
    """``c.CourseDirectory.course_id = "<id>"`` read from a config file without running it."""
    try:
        tree = ast.parse(open(config_file).read())
    except (OSError, SyntaxError):
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and ast.unparse(node.targets[0])
                == "c.CourseDirectory.course_id" and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            return node.value.value
    return None


def _open_dir(path: str, dir_fd: int | None = None) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def make_course_folder(course_dir: str, user: pwd.struct_passwd, log: Log = print) -> int:
    """The course folder, owned by ``user`` with mode 0700, made or tightened; returns an open fd."""
    parent_path, name = os.path.split(os.path.abspath(course_dir))
    parent = os.open(parent_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.fstat(parent)
        if st.st_uid not in (0, user.pw_uid) or (st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX):
            raise SetupRefused(f"{parent_path} belongs to uid {st.st_uid} or is writable by everyone: put the course "
                               f"in a folder of {user.pw_name}'s or root's")
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
            made = True
        except FileExistsError:
            made = False
        try:
            fd = _open_dir(name, parent)
        except OSError:
            raise SetupRefused(f"{course_dir} exists and is not a folder (a link or a file): move it away and run "
                               "again") from None
    finally:
        os.close(parent)
    st = os.fstat(fd)
    if made:
        os.fchown(fd, user.pw_uid, user.pw_gid)
        os.fchmod(fd, 0o700)
        log(f"made {course_dir} ({user.pw_name}, 0700)")
    elif st.st_uid != user.pw_uid:
        os.close(fd)
        raise SetupRefused(f"{course_dir} exists and belongs to uid {st.st_uid}, not {user.pw_name}: inspect it, "
                           "move it away and run again")
    elif stat.S_IMODE(st.st_mode) & 0o077:
        os.fchmod(fd, 0o700)
        log(f"made {course_dir} private: mode {stat.S_IMODE(st.st_mode):04o} -> 0700")
    else:
        log(f"kept {course_dir} ({user.pw_name}, {stat.S_IMODE(st.st_mode):04o})")
    return fd


def copy_item(source: str, dest_dir: int, name: str, uid: int, gid: int, log: Log) -> int:
    """Copy ``source`` (a file or a folder) to ``name`` below the open folder ``dest_dir``, owned by
    ``uid``:``gid``, 0700 folders and 0600 files (0700 when executable); links and special files
    are skipped, with a word. Returns the number of files copied."""
    st = os.lstat(source)
    if stat.S_ISREG(st.st_mode):
        mode = 0o700 if st.st_mode & 0o100 else 0o600
        with open(source, "rb") as src:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dest_dir)
            with os.fdopen(fd, "wb") as out:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
                while chunk := src.read(1 << 20):
                    out.write(chunk)
        return 1
    if not stat.S_ISDIR(st.st_mode):
        log(f"skipped {source} (not a regular file or folder)")
        return 0
    os.mkdir(name, 0o700, dir_fd=dest_dir)
    sub = _open_dir(name, dest_dir)
    try:
        os.fchown(sub, uid, gid)
        os.fchmod(sub, 0o700)
        return sum(copy_item(os.path.join(source, child), sub, child, uid, gid, log)
                   for child in sorted(os.listdir(source)) if child not in SKIPPED_NAMES)
    finally:
        os.close(sub)


def install_course(source_root: str, course_dir: str, instructor: str, log: Log = print) -> None:
    """The course folder with ``source/``, ``release/`` and ``nbgrader_config.py`` from ``source_root``;
    an item already in the course is kept as it is (the instructor's, maybe edited), and said."""
    user = pwd.getpwnam(instructor)
    fd = make_course_folder(course_dir, user, log)
    try:
        for item in COURSE_ITEMS:
            source = os.path.join(source_root, item)
            if not os.path.lexists(source):
                raise SetupRefused(f"{source} does not exist: --from names a clone of the course's repository")
            try:
                os.lstat(item, dir_fd=fd)
                log(f"kept {os.path.join(course_dir, item)} (already there; move it away to copy it again)")
                continue
            except FileNotFoundError:
                pass
            count = copy_item(source, fd, item, user.pw_uid, user.pw_gid, log)
            log(f"copied {source} -> {os.path.join(course_dir, item)} ({count} file(s), private to {instructor})")
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labgrader setup", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instructor", required=True, help="the unix account that owns and runs the course")
    parser.add_argument("--course-dir", required=True,
                        help="the course root to make, e.g. /home/instructor/course (mode 0700, the instructor's)")
    parser.add_argument("--from", dest="source", default=os.getcwd(),
                        help="the clone of the course's repository to copy source/, release/ and nbgrader_config.py "
                             "from (default: here)")
    parser.add_argument("--exchange", default="/srv/nbgrader/exchange", help="the exchange's root")
    parser.add_argument("--course-id", help="the course id (default: c.CourseDirectory.course_id of the copied "
                                            "nbgrader_config.py)")
    parser.add_argument("--config-dir", help="write the machine-wide nbgrader, Jupyter server and JupyterLab config "
                                             "here (e.g. /etc/jupyter); without it, nothing machine-wide is written")


def run(args: argparse.Namespace) -> int:
    try:
        if os.geteuid() != 0:
            raise SetupRefused("python -m labgrader setup needs root (it makes folders for the instructor)")
        pwd.getpwnam(args.instructor)
        course_id = args.course_id or course_id_of(os.path.join(args.source, "nbgrader_config.py"))
        if not course_id:
            raise SetupRefused("no course id: give --course-id (or set c.CourseDirectory.course_id in nbgrader_config.py)")
        make_exchange(args.exchange, course_id, args.instructor)
        install_course(args.source, args.course_dir, args.instructor)
    except KeyError:
        print(f"no unix account {args.instructor!r}: make it first (useradd -m -U {args.instructor})")
        return 1
    except SetupRefused as exc:
        print(f"refused: {exc}")
        return 1
    if args.config_dir:
        write_global_config(args.config_dir, args.exchange, course_id)
    else:
        print("no machine-wide config written (no --config-dir): students' nbgrader needs the exchange's root and "
              "the course id (python -m labgrader setup ... --config-dir /etc/jupyter)")
    print(f"next: as {args.instructor}, in {args.course_dir}: nbgrader generate_assignment <name>, release it, set its "
          "due date; then python -m labgrader doctor --course " + args.course_dir)
    return 0
