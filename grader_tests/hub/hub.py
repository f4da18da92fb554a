"""The course on a real JupyterHub, as the README's recipe sets it up (import the fixtures into a
test module): the exchange made by ``python -m labgrader.exchange setup``, the course in the
instructor's home, and ``jupyterhub -f labgrader/exchange/jupyterhub_config.py`` run as root on
127.0.0.1 with PAM, LocalProcessSpawner and the project's configurable-http-proxy.

The machine-wide config goes to a folder of the test's (``JUPYTER_CONFIG_PATH``), not /etc/jupyter,
so that nothing else on the machine sees this course's exchange."""
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


def make_classroom(users, base) -> Classroom:
    """The README's set-up steps, done as root: exchange and machine-wide config, then the course
    copied into the instructor's home, owned by them."""
    base = Path(base)
    config_dir, exchange = base / "jupyter-config", base / "exchange"
    subprocess.run([sys.executable, "-m", "labgrader.exchange", "setup", "--root", str(exchange), "--course", COURSE_ID,
                    "--instructor", "instructor", "--config-dir", str(config_dir)], check=True, capture_output=True)
    instructor = users["instructor"]
    course = instructor.home / "course"
    course.mkdir()
    for name in COURSE_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, course / name)
    subprocess.run(["chown", "-R", f"{instructor.uid}:{instructor.gid}", str(course)], check=True)
    return Classroom(users, base, exchange, config_dir, course)


@contextlib.contextmanager
def running_hub(classroom: Classroom, log_path):
    """``jupyterhub`` with the project's config, on free ports of 127.0.0.1; yields its URL.
    Stopping it stops every user's server (cleanup_servers) and its proxy; leftovers are ended by pid."""
    assert CHP.exists(), "configurable-http-proxy is missing: run ./course (it installs it into .venv/chp)"
    port = free_port()
    state = classroom.base / "hub-state"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               LABGRADER_HUB_URL=f"http://127.0.0.1:{port}", LABGRADER_HUB_STATE=str(state),
               LABGRADER_HUB_GROUP=GROUP, LABGRADER_HUB_PORTS=f"{free_port()},{free_port()}",
               LABGRADER_JUPYTER_CONFIG=str(classroom.config_dir))
    with open(log_path, "w") as log:
        hub = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f", str(HUB_CONFIG)], cwd=classroom.base,
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
        kill_processes_of(classroom.users.uids())


def login(page, url, user, password):
    """The hub's login form (share/jupyterhub/templates/login.html); returns the page's URL after."""
    page.goto(f"{url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_load_state()
    return page.url


@pytest.fixture(scope="module")
def classroom(class_users, tmp_path_factory):
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="labgrader-classroom-", dir=class_users.base))
    os.chmod(base, 0o755)  # pytest's own temp is 0700: the users must reach the exchange
    room = make_classroom(class_users, base)
    try:
        yield room
    finally:
        kill_processes_of(class_users.uids())
        shutil.rmtree(room.course, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(classroom, tmp_path_factory):
    with running_hub(classroom, tmp_path_factory.mktemp("hub") / "jupyterhub.log") as url:
        yield url


__all__ = ["ASSIGNMENT", "COURSE_ID", "Classroom", "classroom", "class_users", "hub", "login", "make_classroom",
           "running_hub"]
