"""The exchange's folders, their owners and modes, made by root once per course and checked by the
instructor's commands before they trust what is in them.

| path | owner | mode | why |
| --- | --- | --- | --- |
| ``<root>`` | root | 1777 | nbgrader's student commands demand a writable root; the sticky bit stops a student from renaming or replacing a course folder (#1225) |
| ``<root>/<course>`` | instructor | 0755 | made before any student can squat the name |
| ``.../inbound`` | instructor, the instructor's group | 3733 | students create entries but cannot list them (setgid: entries get the instructor's group); sticky: nobody renames or deletes another's entry |
| ``.../outbound`` | instructor | 0755 | released assignments, read-only for students |
| ``.../feedback`` | instructor | 0711 | not listable; each released file is readable only by its student (``release_feedback``) |
"""
import grp
import os
import pwd
import stat

from labgrader.errors import LabgraderError

ROOT_MODE = 0o1777
COURSE_MODE = 0o755
INBOUND_MODE = 0o3733
OUTBOUND_MODE = 0o755
FEEDBACK_MODE = 0o711



class SetupRefused(LabgraderError, RuntimeError):
    """The exchange cannot be set up as asked; the message says what to do."""

def _ensure_dir(path, uid, gid, mode, log):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, 0o700)
        log(f"created {path}")
        st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise SetupRefused(f"{path} exists and is not a folder (it is {'a link' if stat.S_ISLNK(st.st_mode) else 'a file'}): "
                         "remove it and run again")
    if st.st_uid not in (0, uid):  # squatted before the set-up: its contents cannot be trusted
        raise SetupRefused(f"{path} belongs to uid {st.st_uid}, neither root nor its owner-to-be: someone made it "
                         "first; inspect it, remove it and run again")
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(path, uid, gid, follow_symlinks=False)
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)


def make_exchange(root: str, course: str, instructor: str, log=print) -> None:
    """Create or repair the exchange root and one course's folders (as root)."""
    if os.geteuid() != 0:
        raise SetupRefused("setting up the exchange needs root (the root folder is root's, the course folder the instructor's)")
    user = pwd.getpwnam(instructor)
    os.makedirs(os.path.dirname(os.path.abspath(root)), exist_ok=True)
    _ensure_dir(root, 0, 0, ROOT_MODE, log)
    course_path = os.path.join(root, course)
    _ensure_dir(course_path, user.pw_uid, user.pw_gid, COURSE_MODE, log)
    for name, mode in (("inbound", INBOUND_MODE), ("outbound", OUTBOUND_MODE), ("feedback", FEEDBACK_MODE)):
        _ensure_dir(os.path.join(course_path, name), user.pw_uid, user.pw_gid, mode, log)
    members = [m for m in grp.getgrgid(user.pw_gid).gr_mem if m != instructor]
    if members:
        log(f"warning: the instructor's group {grp.getgrgid(user.pw_gid).gr_name} has other members ({', '.join(members)}): "
            "they can read every submission in inbound; give the instructor a group of their own")
    log(f"exchange ready: {root} (root, 1777), {course_path} ({instructor}, 0755), inbound 3733, outbound 0755, feedback 0711")


def inbound_problems(root: str, course: str, uid: int | None = None) -> list[str]:
    """Why the instructor (``uid``, default: us) should not trust this course's folders."""
    uid = os.geteuid() if uid is None else uid
    problems = []
    checks = [(root, {0, uid}, "the exchange root"), (os.path.join(root, course), {uid}, "the course folder"),
              (os.path.join(root, course, "inbound"), {uid}, "inbound")]
    for path, owners, what in checks:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            problems.append(f"{what} {path} does not exist (run: python -m labgrader.exchange setup)")
            break
        if not stat.S_ISDIR(st.st_mode):
            problems.append(f"{what} {path} is not a folder (a link or a file put there by someone)")
            break
        if st.st_uid not in owners:
            problems.append(f"{what} {path} belongs to uid {st.st_uid}, not to you or root: someone may have renamed "
                            "or squatted it")
        elif st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
            problems.append(f"{what} {path} is writable by everyone without the sticky bit: anyone can rename what is in it "
                            "(python -m labgrader.exchange setup fixes it)")
    return problems


GLOBAL_NBGRADER_CONFIG = '''\
# Written by `python -m labgrader.exchange setup`: read by every nbgrader command and Jupyter server
# on this machine (students' and the instructor's). Students can override it in their own config:
# nothing the instructor trusts depends on it (see labgrader/exchange/).
c = get_config()  # noqa: F821
c.Exchange.root = {root!r}
c.CourseDirectory.course_id = {course!r}
c.Exchange.timezone = "UTC"        # timestamps written in UTC (other zones are misread by nbgrader)
c.NbGraderAPI.timezone = "UTC"
# entries private to the student and the instructor (stock nbgrader makes them 0777)
c.ExchangeFactory.submit = "labgrader.exchange.submit.PrivateSubmit"
'''

GLOBAL_SERVER_CONFIG = '''\
# Written by `python -m labgrader.exchange setup`. JupyterHub >= 4.1 forbids framing single-user
# servers; the formgrader is a frame of the instructor's own JupyterLab, so allow the same origin only.
c = get_config()  # noqa: F821
c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
'''


# A student's JupyterLab shows a student's tools: nbgrader's instructor panels (Formgrader, Courses,
# Create Assignment) and JupyterLab's prompt about news are switched off for them (their server
# reads <config dir>/students first: the hub's jupyterhub_config.py). The instructor's is stock.
STUDENTS_DIR = "students"
STUDENTS_PAGE_CONFIG = {"disabledExtensions": {"@jupyter/nbgrader:formgrader": True, "@jupyter/nbgrader:course-list": True,
                                               "@jupyter/nbgrader:create-assignment": True,
                                               "@jupyterlab/apputils-extension:announcements": True}}
STUDENTS_SERVER_CONFIG = {"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": False,
                                                                "nbgrader.server_extensions.course_list": False}}}


def global_config_files(root: str, course: str) -> dict[str, str]:
    """{path relative to the config dir: text} of the machine-wide config for one course."""
    import json

    def as_json(data: dict) -> str:
        return json.dumps(data, indent=2) + "\n"
    return {
        "nbgrader_config.py": GLOBAL_NBGRADER_CONFIG.format(root=root, course=course),
        "jupyter_server_config.py": GLOBAL_SERVER_CONFIG,
        os.path.join(STUDENTS_DIR, "labconfig", "page_config.json"): as_json(STUDENTS_PAGE_CONFIG),
        os.path.join(STUDENTS_DIR, "jupyter_server_config.d", "labgrader-students.json"): as_json(STUDENTS_SERVER_CONFIG),
    }


def write_kept(path: str, text: str, log=print) -> str:
    """Write ``text`` to ``path`` (0644), never silently replacing other text: a file that already
    says it is left alone; one that says something else is first kept as ``<path>.bak-<UTC time>``.
    Returns what was done ("unchanged", "wrote", "replaced"), and says it."""
    import time
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    try:
        with open(path) as fh:
            if fh.read() == text:
                log(f"unchanged {path}")
                return "unchanged"
        backup = f"{path}.bak-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        os.rename(path, backup)
        done = "replaced"
        log(f"replaced {path} (the previous one is kept as {backup})")
    except FileNotFoundError:
        done = "wrote"
        log(f"wrote {path}")
    with open(path, "x") as fh:
        fh.write(text)
    os.chmod(path, 0o644)
    return done


def write_global_config(config_dir: str, root: str, course: str, log=print) -> list[str]:
    """The machine-wide config in ``config_dir`` (e.g. /etc/jupyter), file by file as ``write_kept``
    does: nbgrader's (the exchange, the course id, UTC, private entries), the Jupyter server's
    (framing), and, in ``students/``, what students' servers read first (a student's tools only).
    Returns the paths."""
    os.makedirs(config_dir, mode=0o755, exist_ok=True)
    written = []
    for name, text in global_config_files(root, course).items():
        path = os.path.join(config_dir, name)
        write_kept(path, text, log)
        written.append(path)
    return written
