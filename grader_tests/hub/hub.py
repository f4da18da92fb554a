"""The course on a real JupyterHub, as the README's recipe sets it up: the exchange made by
``python -m labgrader.exchange setup``, a course in the instructor's home, and ``jupyterhub -f
labgrader/exchange/jupyterhub_config.py`` run as root on 127.0.0.1 with PAM, LocalProcessSpawner,
the project's configurable-http-proxy and the grading service (a managed service run as the
instructor, serving ``~instructor/graded-course``).

One hub per test session, shared by every module (these fixtures are a plugin of the root
conftest: a fixture imported into two modules would be two hubs). Each module takes a fresh
``classroom``: its own course folder, the exchange's course folder made anew, the students'
fetched assignments and nbgrader caches removed. The machine-wide config goes to a folder of the
test's (``JUPYTER_CONFIG_PATH``), not /etc/jupyter, so that nothing else on the machine sees this
course's exchange."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from conftest import ASSIGNMENT, COURSE_FILES, REPO
from users import GROUP, class_users, kill_processes_of  # noqa: F401 (fixture)

COURSE_ID = "categorical-embeddings"  # nbgrader_config.py's
HUB_CONFIG = REPO / "labgrader" / "exchange" / "jupyterhub_config.py"
CHP = REPO / ".venv" / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVICE_COURSE = "graded-course"  # the folder in the instructor's home the hub's grading service serves


@dataclass
class Site:
    """What the hub and every classroom share: users, the exchange's root, the machine-wide config."""
    users: dict
    base: Path
    exchange: Path           # the exchange root
    config_dir: Path         # machine-wide nbgrader / server config (JUPYTER_CONFIG_PATH)

    @property
    def service_course(self):
        return self.users["instructor"].home / SERVICE_COURSE


@dataclass
class Classroom:
    users: dict
    base: Path
    exchange: Path           # the exchange root
    config_dir: Path         # machine-wide nbgrader / server config (JUPYTER_CONFIG_PATH)
    course: Path             # the instructor's course root

    @property
    def course_exchange(self):
        return self.exchange / COURSE_ID

    def run(self, who, cmd, **kw):
        """``cmd`` as user ``who`` with the machine-wide config, from their home (students) or the
        course root (the instructor)."""
        user = self.users[who]
        kw.setdefault("cwd", self.course if who == "instructor" else user.home)
        return user.run(cmd, JUPYTER_CONFIG_PATH=str(self.config_dir), **kw)

    def nbgrader(self, who, *args, **kw):
        return self.run(who, [Path(sys.executable).parent / "nbgrader", *args], **kw)


def setup_exchange(site):
    """The README's exchange set-up, as root (again: it makes the course folder anew when missing)."""
    subprocess.run([sys.executable, "-m", "labgrader.exchange", "setup", "--root", str(site.exchange), "--course",
                    COURSE_ID, "--instructor", "instructor", "--config-dir", str(site.config_dir)],
                   check=True, capture_output=True)


def make_site(users, base) -> Site:
    base = Path(base)
    site = Site(users, base, base / "exchange", base / "jupyter-config")
    setup_exchange(site)
    return site


def make_classroom(site: Site, name="course") -> Classroom:
    """A fresh term on the shared exchange: the course folder in the exchange made anew (no entry,
    release or feedback of an earlier module), the students' fetched copies and nbgrader caches gone,
    and the course copied into ``~instructor/<name>``, owned by the instructor."""
    shutil.rmtree(site.exchange / COURSE_ID, ignore_errors=True)
    setup_exchange(site)
    for who, user in site.users.items():
        if who != "instructor":
            shutil.rmtree(user.home / ASSIGNMENT, ignore_errors=True)
            shutil.rmtree(user.home / ".local" / "share" / "jupyter" / "nbgrader_cache", ignore_errors=True)
    instructor = site.users["instructor"]
    course = instructor.home / name
    shutil.rmtree(course, ignore_errors=True)
    course.mkdir()
    for item in COURSE_FILES:
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, course / item)
    subprocess.run(["chown", "-R", f"{instructor.uid}:{instructor.gid}", str(course)], check=True)
    return Classroom(site.users, site.base, site.exchange, site.config_dir, course)


@contextlib.contextmanager
def running_hub(site: Site, log_path):
    """``jupyterhub`` with the project's config, on free ports of 127.0.0.1; yields its URL. The
    grading service serves ``site.service_course``. Stopping it stops every user's server
    (cleanup_servers), the service and its proxy; leftovers are ended by pid."""
    assert CHP.exists(), "configurable-http-proxy is missing: run ./course (it installs it into .venv/chp)"
    port = free_port()
    state = site.base / "hub-state"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               LABGRADER_HUB_URL=f"http://127.0.0.1:{port}", LABGRADER_HUB_STATE=str(state),
               LABGRADER_HUB_GROUP=GROUP, LABGRADER_HUB_PORTS=f"{free_port()},{free_port()}",
               LABGRADER_JUPYTER_CONFIG=str(site.config_dir), LABGRADER_COURSE=str(site.service_course),
               LABGRADER_INSTRUCTOR="instructor")
    with open(log_path, "w") as log:
        hub = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f", str(HUB_CONFIG)], cwd=site.base,
                               env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/hub/api/", timeout=3).read()
                break
            except (OSError, urllib.error.URLError):
                if hub.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("jupyterhub did not start:\n" + Path(log_path).read_text()[-4000:])
                time.sleep(0.5)
        yield url
    finally:
        children = []
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(hub.pid).children(recursive=True)
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(timeout=60)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
        for child in children:  # the proxy and servers, if the hub could not stop them
            with contextlib.suppress(psutil.Error):
                child.kill()
        kill_processes_of(site.users.uids())


def login(page, url, user, password):
    """The hub's login form (share/jupyterhub/templates/login.html); returns the page's URL after."""
    page.goto(f"{url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_load_state()
    return page.url


@pytest.fixture(scope="session")
def hub_site(class_users):
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="labgrader-site-", dir=class_users.base))
    os.chmod(base, 0o755)  # pytest's own temp is 0700: the users must reach the exchange
    try:
        yield make_site(class_users, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def hub(hub_site, tmp_path_factory):
    with running_hub(hub_site, tmp_path_factory.mktemp("hub") / "jupyterhub.log") as url:
        yield url


@pytest.fixture(scope="module")
def classroom(hub_site):
    room = make_classroom(hub_site, "course")
    try:
        yield room
    finally:
        shutil.rmtree(room.course, ignore_errors=True)


__all__ = ["ASSIGNMENT", "COURSE_ID", "SERVICE_COURSE", "Classroom", "Site", "classroom", "class_users", "hub",
           "hub_site", "login", "make_classroom", "running_hub"]
