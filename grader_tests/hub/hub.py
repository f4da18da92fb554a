"""The course on a real JupyterHub, set up by the recipe as written: ``deploy/hub-setup.sh`` run as
root on fresh accounts with the system's default modes (users.py; nothing locked by the test)
makes the machine-wide environment (labgrader installed there as a wheel: deployment.py), the
exchange, ``~instructor/graded-course`` and the machine-wide config; then ``jupyterhub -f
<installed>/labgrader/exchange/jupyterhub_config.py`` runs as root on 127.0.0.1 with PAM,
LocalProcessSpawner, the environment's configurable-http-proxy and the grading service (a managed
service run as the instructor, serving ``~instructor/graded-course``). Every user's command and
server runs that environment; no user can read this repository.

One hub per test session, shared by every module (these fixtures are a plugin of the root
conftest: a fixture imported into two modules would be two hubs). Each module takes a fresh
``classroom``: its own course folder made by ``python -m labgrader setup`` (the script's own
command), the exchange's course folder made anew, the students' fetched assignments and nbgrader
caches removed. The machine-wide config goes to a folder of the test's (``JUPYTER_CONFIG_PATH``),
not /etc/jupyter, so that nothing else on the machine sees this course's exchange."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

import deployment
from conftest import ASSIGNMENT, REPO
from users import GROUP, class_users, kill_processes_of  # noqa: F401 (fixture)

COURSE_ID = "categorical-embeddings"  # nbgrader_config.py's


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVICE_COURSE = "graded-course"  # the folder in the instructor's home the hub's grading service serves


@dataclass
class Site:
    """What the hub and every classroom share: users, the machine-wide environment, the exchange's
    root, the machine-wide config."""
    users: dict
    base: Path
    exchange: Path           # the exchange root
    config_dir: Path         # machine-wide nbgrader / server config (JUPYTER_CONFIG_PATH)
    venv: Path               # the machine-wide environment (labgrader installed as a wheel)
    setup_output: str = ""   # what deploy/hub-setup.sh said
    hub_log: Path | None = None  # the running hub's log (the grading service's too)

    @property
    def service_course(self):
        return self.users["instructor"].home / SERVICE_COURSE

    @property
    def bin(self):
        return self.venv / "bin"

    @property
    def python(self):
        return self.bin / "python"

    def recipe(self, course, release=""):
        """``deploy/hub-setup.sh`` for this site, with ``course`` as the course root."""
        return deployment.run_recipe(self.venv, instructor="instructor", course=course, exchange=self.exchange,
                                     config_dir=self.config_dir, group=GROUP, release=release)


@dataclass
class Classroom:
    site: Site
    course: Path             # the instructor's course root

    @property
    def users(self):
        return self.site.users

    @property
    def exchange(self):
        return self.site.exchange

    @property
    def config_dir(self):
        return self.site.config_dir

    @property
    def python(self):
        return self.site.python

    @property
    def course_exchange(self):
        return self.exchange / COURSE_ID

    def env(self, who, **extra):
        """``who``'s environment for the machine-wide environment and config."""
        return self.users[who].env(PATH=f"{self.site.bin}:/usr/local/bin:/usr/bin:/bin",
                                   JUPYTER_CONFIG_PATH=str(self.config_dir), **extra)

    def run(self, who, cmd, **kw):
        """``cmd`` as user ``who`` with the machine-wide environment and config, from their home
        (students) or the course root (the instructor)."""
        user = self.users[who]
        kw.setdefault("cwd", self.course if who == "instructor" else user.home)
        return user.run(cmd, PATH=f"{self.site.bin}:/usr/local/bin:/usr/bin:/bin",
                        JUPYTER_CONFIG_PATH=str(self.config_dir), **kw)

    def nbgrader(self, who, *args, **kw):
        return self.run(who, [self.site.bin / "nbgrader", *args], **kw)


def make_site(users, base, venv) -> Site:
    """The recipe, as root: the environment (``venv``, a clone of the project's: the script
    reinstalls labgrader there as a wheel), the exchange, the service's course and the machine-wide
    config."""
    base = Path(base)
    site = Site(users, base, base / "exchange", base / "jupyter-config", venv)
    site.setup_output = site.recipe(site.service_course).stdout
    return site


def reset_term(site: Site) -> None:
    """No entry, release or feedback of an earlier module in the exchange's course folder (made
    again by the next set-up), and no student's fetched copy or nbgrader cache."""
    shutil.rmtree(site.exchange / COURSE_ID, ignore_errors=True)
    for who, user in site.users.items():
        if who != "instructor":
            shutil.rmtree(user.home / ASSIGNMENT, ignore_errors=True)
            shutil.rmtree(user.home / ".local" / "share" / "jupyter" / "nbgrader_cache", ignore_errors=True)


def make_classroom(site: Site, name="course") -> Classroom:
    """A fresh term on the shared exchange, and the course made anew in ``~instructor/<name>`` by
    the recipe's own command (``python -m labgrader setup``: the instructor's, 0700)."""
    reset_term(site)
    course = site.users["instructor"].home / name
    shutil.rmtree(course, ignore_errors=True)
    subprocess.run([site.python, "-m", "labgrader", "setup", "--instructor", "instructor", "--course-dir", course,
                    "--from", REPO, "--exchange", site.exchange, "--config-dir", site.config_dir],
                   check=True, capture_output=True, cwd="/")
    return Classroom(site, course)


@contextlib.contextmanager
def running_hub(site: Site, log_path):
    """``jupyterhub`` with the project's config, on free ports of 127.0.0.1; yields its URL. The
    grading service serves ``site.service_course``. Stopping it stops every user's server
    (cleanup_servers), the service and its proxy; leftovers are ended by pid."""
    port = free_port()
    site.hub_log = Path(log_path)
    state = site.base / "hub-state"
    env = dict(os.environ, PATH=f"{site.bin}:{os.environ['PATH']}",
               LABGRADER_HUB_URL=f"http://127.0.0.1:{port}", LABGRADER_HUB_STATE=str(state),
               LABGRADER_HUB_GROUP=GROUP, LABGRADER_HUB_PORTS=f"{free_port()},{free_port()}",
               LABGRADER_JUPYTER_CONFIG=str(site.config_dir), LABGRADER_COURSE=str(site.service_course),
               LABGRADER_INSTRUCTOR="instructor")
    with open(log_path, "w") as log:
        hub = subprocess.Popen([str(site.bin / "jupyterhub"), "-f", str(deployment.hub_config(site.venv))], cwd="/",
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
    venv = deployment.clone_venv()
    try:
        yield make_site(class_users, base, venv)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        deployment.remove_venv(venv)


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
           "hub_site", "login", "make_classroom", "reset_term", "running_hub"]
