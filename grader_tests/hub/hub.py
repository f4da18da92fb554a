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
from users import GROUP, User, class_users, kill_processes_of, pod_user  # noqa: F401 (fixtures)

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
    for user in users.values():  # every user's commands run the machine-wide environment
        user.bin_dir = site.bin
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
def running_hub(site: Site, log_path, config=None, extra_env=None, extra_uids=()):
    """``jupyterhub`` with the project's config as the recipe installed it (or ``config``), on free
    ports of 127.0.0.1; yields its URL. The grading service serves ``site.service_course``. Stopping
    it stops every user's server (cleanup_servers), the service and its proxy; leftovers (processes
    of the class's users and of ``extra_uids``) are ended by pid."""
    config = config or deployment.hub_config(site.venv)
    site.hub_log = Path(log_path)
    settings = {"LABGRADER_HUB_URL": f"http://127.0.0.1:{free_port()}", "LABGRADER_HUB_STATE": str(site.base / "hub-state"),
                "LABGRADER_HUB_GROUP": GROUP, "LABGRADER_HUB_PORTS": f"{free_port()},{free_port()}",
                "LABGRADER_JUPYTER_CONFIG": str(site.config_dir), "LABGRADER_COURSE": str(site.service_course),
                "LABGRADER_INSTRUCTOR": "instructor", **(extra_env or {})}  # (the pod hub names its own URL and course)
    env = dict(os.environ, PATH=f"{site.bin}:{os.environ['PATH']}", **settings)
    with open(log_path, "w") as log:
        hub = subprocess.Popen([str(site.bin / "jupyterhub"), "-f", str(config)], cwd="/",
                               env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = settings["LABGRADER_HUB_URL"]
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
        kill_processes_of(site.users.uids() | set(extra_uids))


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


# ---------------------------------------------------------------------------------------------
# The Kubernetes-style hub: every server as one uid in its own mount namespace (PodSpawner), the
# exchange as a service on the hub (labgrader/hubexchange/jupyterhub_config.py).

EXCHANGE_SERVICE = "labgrader-exchange"
POD_STUDENTS = ("alice", "bob", "carol", "mallory")
ADMIN_SERVICE = "labgrader-test-admin"


@dataclass
class PodHub:
    """A running pod hub: its URL, the course its exchange serves, a hub admin token for the tests."""
    url: str
    users: dict
    pod: User
    base: Path
    course: Path             # ~instructor/pod-course: the service's course (its store inside)
    config_dir: Path         # every server's machine-wide nbgrader config (read-only in the pods)
    homes: Path              # <homes>/<user>: each server's home on the host
    admin_token: str
    log: Path
    exchange_port: int       # where the service listens (127.0.0.1), behind the proxy
    bin: Path                # the machine-wide environment's bin/ (the recipe's: hub_site)

    @property
    def python(self):
        return self.bin / "python"

    @property
    def service_url(self):
        return f"{self.url}/services/{EXCHANGE_SERVICE}/"

    @property
    def store(self):
        return self.course / ".labgrader" / "exchange"

    def api_url(self, *parts):
        return f"{self.service_url}api/courses/{COURSE_ID}/" + "/".join(parts)

    def hub_api(self, method, path, **kw):
        import requests
        return requests.request(method, f"{self.url}/hub/api/{path}",
                                headers={"Authorization": f"token {self.admin_token}"}, timeout=60, **kw)

    def token(self, user, scopes=None, note="test"):
        """A new API token of ``user`` (what the user could make on the hub's token page), with
        ``scopes`` (default: all the user's own permissions)."""
        body = {"note": note, **({"scopes": scopes} if scopes is not None else {})}
        response = self.hub_api("POST", f"users/{user}/tokens", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()["token"]

    def server_process(self, who):
        """The single-user server of ``who`` (the Python inside its bubblewrap), or None."""
        for proc in psutil.process_iter(["uids", "exe"]):
            try:
                if proc.info["uids"].real == self.pod.uid and "python" in (proc.info["exe"] or "") and \
                        proc.environ().get("JUPYTERHUB_USER") == who:
                    return proc
            except psutil.Error:
                continue
        return None

    def in_pod(self, who, script):
        """``script`` (sh) run as the pod account inside ``who``'s server: its mount and PID namespaces."""
        proc = self.server_process(who)
        assert proc is not None, f"{who} has no running server"
        return subprocess.run(["nsenter", f"--target={proc.pid}", "--mount", "--pid", "-S", str(self.pod.uid),
                               "-G", str(self.pod.gid), "sh", "-c", script], capture_output=True, text=True, timeout=60)

    def nbgrader(self, who, *args, token, cwd=None, **kw):
        """An nbgrader command as unix user ``who`` with ``token`` as its JupyterHub token and the
        pods' machine-wide config (the instructor's commands run in the course root)."""
        user = self.users[who]
        cmd = [self.bin / "nbgrader", *args]
        return user.run(cmd, cwd=cwd or (self.course if who == "instructor" else user.home),
                        PATH=f"{self.bin}:/usr/local/bin:/usr/bin:/bin", JUPYTER_CONFIG_PATH=str(self.config_dir),
                        JUPYTERHUB_API_TOKEN=token, **kw)


POD_CLIENT_CONFIG = """\
# The pods' machine-wide nbgrader config (what a single-user image would hold in /etc/jupyter).
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course!r}
c.Exchange.timezone = "UTC"
from labgrader.hubexchange.client import configure  # noqa: E402
configure(c, {url!r})
"""


POD_UPLOAD_BYTES, POD_STUDENT_BYTES, POD_UPLOADS_PER_HOUR = 2 * 1024 ** 2, 6 * 1024 ** 2, 12
POD_COURSE_CONFIG = f"""
# ---- the pod hub's course: quotas small enough to test cheaply, every page in full ----
c.HubExchangeService.max_upload_bytes = {POD_UPLOAD_BYTES}
c.HubExchangeService.max_student_bytes = {POD_STUDENT_BYTES}
c.HubExchangeService.max_uploads_per_hour = {POD_UPLOADS_PER_HOUR}
c.GradingService.before_due = "full"
c.GradingService.rescan_seconds = 3
"""


def make_pod_course(site, url):
    """The instructor's course for the pod hub, made by the recipe's command (the instructor's,
    0700: the grading service refuses an open course), switched to the exchange service."""
    course = site.users["instructor"].home / "pod-course"
    shutil.rmtree(course, ignore_errors=True)
    subprocess.run([site.python, "-m", "labgrader", "setup", "--instructor", "instructor", "--course-dir", course,
                    "--from", REPO, "--exchange", site.exchange], check=True, capture_output=True, cwd="/")
    with open(course / "nbgrader_config.py", "a") as fh:
        fh.write(POD_COURSE_CONFIG)
        fh.write("\n# The exchange is the service on the hub (labgrader/hubexchange/)\n"
                 f"from labgrader.hubexchange.client import configure  # noqa: E402\n"
                 f"configure(c, {url!r}, course_root=c.CourseDirectory.root)\n")
    return course


@contextlib.contextmanager
def running_pod_hub(users, pod, base, log_path, venv):
    import secrets
    base = Path(base)
    port, exchange_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    site = Site(users, base, base / "exchange-unused", base / "pod-config", venv)
    site.config_dir.mkdir(mode=0o755)
    (site.config_dir / "nbgrader_config.py").write_text(
        POD_CLIENT_CONFIG.format(course=COURSE_ID, url=f"{url}/services/{EXCHANGE_SERVICE}/"))
    course = make_pod_course(site, f"{url}/services/{EXCHANGE_SERVICE}/")
    admin = secrets.token_hex(32)
    overlay = base / "pod_jupyterhub_config.py"
    overlay.write_text(f"load_subconfig({str(deployment.hub_config(venv, 'hubexchange'))!r})  # noqa: F821\n"
                       f"c.JupyterHub.services.append({{'name': {ADMIN_SERVICE!r}, 'api_token': {admin!r}}})\n"
                       f"c.JupyterHub.load_roles.append({{'name': {ADMIN_SERVICE!r}, 'services': [{ADMIN_SERVICE!r}], "
                       "'scopes': ['admin:users', 'tokens', 'admin:servers', 'admin:groups', 'read:services', 'list:services']})\n")
    env = {"LABGRADER_HUB_URL": url, "LABGRADER_COURSE": str(course), "LABGRADER_COURSE_ID": COURSE_ID,
           "LABGRADER_EXCHANGE_PORT": str(exchange_port), "LABGRADER_POD_USER": pod.name,
           "LABGRADER_POD_HOMES": str(base / "pods"), "LABGRADER_STUDENTS": ",".join(POD_STUDENTS),
           "LABGRADER_INSTRUCTORS": "instructor"}
    with running_hub(site, log_path, config=overlay, extra_env=env, extra_uids={pod.uid}) as hub_url:
        assert hub_url == url
        hub = PodHub(url, users, pod, base, course, site.config_dir, base / "pods", admin, Path(log_path), exchange_port,
                     site.bin)
        wait_for_exchange(hub)
        yield hub


def wait_for_exchange(hub, timeout=120):
    """Until the exchange service answers through the proxy (the hub starts it after itself)."""
    import requests
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(hub.api_url("whoami"), timeout=5).status_code == 403:  # up: it wants a token
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the exchange service did not start:\n" + hub.log.read_text()[-4000:])
        time.sleep(0.5)


@pytest.fixture(scope="session")
def pod_hub(hub_site, pod_user, tmp_path_factory):
    """One Kubernetes-style hub for the session: PodSpawner (every server as ``pod_user``), the exchange
    service (as the instructor) serving ``~instructor/pod-course``, from the recipe's environment."""
    import tempfile
    class_users = hub_site.users
    base = Path(tempfile.mkdtemp(prefix="labgrader-pods-", dir=class_users.base))
    os.chmod(base, 0o755)
    try:
        with running_pod_hub(class_users, pod_user, base, tmp_path_factory.mktemp("pod-hub") / "jupyterhub.log",
                             hub_site.venv) as hub:
            yield hub
    finally:
        shutil.rmtree(class_users["instructor"].home / "pod-course", ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


__all__ = ["ASSIGNMENT", "COURSE_ID", "SERVICE_COURSE", "Classroom", "Site", "classroom", "class_users", "hub",
           "hub_site", "login", "make_classroom", "reset_term", "running_hub", "PodHub", "pod_hub", "pod_user",
           "EXCHANGE_SERVICE"]
