"""JupyterHub for one course on one machine: PAM login with each student's unix account,
``LocalProcessSpawner`` (each server runs as its user), the project's own configurable-http-proxy.

Run as root, with the machine-wide environment ``deploy/hub-setup.sh`` made (labgrader installed
there as a package; it prints this command with the file's installed path; docs/hub.md)::

    /opt/labgrader/bin/jupyterhub -f /opt/labgrader/lib/python3.11/site-packages/labgrader/exchange/jupyterhub_config.py

Settings come from the environment so that the test suite runs this very file:
``LABGRADER_HUB_URL`` (default ``http://:8000``: every interface; put TLS in front or bind
127.0.0.1 and use ``ssh -L``), ``LABGRADER_HUB_STATE`` (database, cookie secret, pid files; default
``/srv/jupyterhub``), ``LABGRADER_HUB_GROUP`` (the unix group whose members may log in; default
``jupyterhub-users``), ``LABGRADER_HUB_PORTS`` (``hub,proxy-api`` on 127.0.0.1; default
``8081,8001``), ``LABGRADER_JUPYTER_CONFIG`` (where the machine-wide nbgrader and server config
is; default ``/etc/jupyter``, which Jupyter reads anyway), ``LABGRADER_COURSE`` (the course root:
when set, the grading service runs beside the hub, see below) and ``LABGRADER_INSTRUCTOR`` (the
unix user who owns the course and runs the service; default ``instructor``). The proxy is the
environment's own (``<venv>/chp``, installed by ``./course`` or ``deploy/hub-setup.sh``).

Every server but the instructor's reads ``<LABGRADER_JUPYTER_CONFIG>/students`` first, where
``python -m labgrader setup --config-dir`` switched nbgrader's instructor tools off (Formgrader,
Courses, Create Assignment): a student's JupyterLab shows a student's tools.
"""
import os
import sys

c = get_config()  # noqa: F821

VENV_BIN = os.path.dirname(sys.executable)
STATE = os.environ.get("LABGRADER_HUB_STATE", "/srv/jupyterhub")
HUB_PORT, API_PORT = os.environ.get("LABGRADER_HUB_PORTS", "8081,8001").split(",")
JUPYTER_CONFIG = os.environ.get("LABGRADER_JUPYTER_CONFIG", "/etc/jupyter")
INSTRUCTOR = os.environ.get("LABGRADER_INSTRUCTOR", "instructor")
GROUP = os.environ.get("LABGRADER_HUB_GROUP", "jupyterhub-users")
os.makedirs(STATE, mode=0o700, exist_ok=True)

c.JupyterHub.bind_url = os.environ.get("LABGRADER_HUB_URL", "http://:8000")
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{HUB_PORT}"
c.JupyterHub.db_url = "sqlite:///" + os.path.join(STATE, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(STATE, "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every student's server

# The proxy from npm, installed inside the environment (no global install).
c.ConfigurableHTTPProxy.command = [os.path.join(sys.prefix, "chp", "node_modules", ".bin", "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{API_PORT}"
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "jupyterhub-proxy.pid")

# Log in with the unix password (PAM service "login"); only members of one group.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {GROUP}
c.PAMAuthenticator.open_sessions = False

# Each user's JupyterLab runs as that user, in their home, from the course's environment.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [os.path.join(VENV_BIN, "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"


def jupyter_config_path(spawner):
    """The instructor's server reads the machine-wide config; a student's reads the students' folder
    first (nbgrader's instructor tools off), then the same."""
    if spawner.user.name == INSTRUCTOR:
        return JUPYTER_CONFIG
    return os.pathsep.join([os.path.join(JUPYTER_CONFIG, "students"), JUPYTER_CONFIG])


c.Spawner.environment = {
    "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
    "TZ": "UTC",
    "JUPYTER_CONFIG_PATH": jupyter_config_path,  # the exchange's root and course (python -m labgrader setup)
}
c.Spawner.start_timeout = 180  # TensorFlow's environment is large and the machine may be busy
c.Spawner.http_timeout = 180

# Feedback seconds after Submit: the grading service (python -m labgrader serve, labgrader/service/)
# as a managed service. The hub starts it as the instructor (never root: it needs no privilege) in the
# course root, and starts it again if it exits; it waits until the course is set up, a second copy
# waits for the first, and it refuses to start (exit status 3, in the hub's log with what to run)
# while a student of the hub's group, or any other account, can read the course. Its policy is the course's nbgrader_config.py (c.GradingService); its log is
# the hub's. It serves no web page: `python -m labgrader serve --status` in the course root shows it.
COURSE = os.environ.get("LABGRADER_COURSE")
if COURSE:
    c.JupyterHub.services = [{
        "name": "labgrader-grader",
        "user": INSTRUCTOR,
        "cwd": os.path.dirname(COURSE),  # exists before the course does: the service waits for the course
        "command": [sys.executable, "-m", "labgrader", "serve", "--course", COURSE],
        "environment": {
            "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",  # nbgrader runs alembic from the venv
            "TZ": "UTC",
            "JUPYTER_CONFIG_PATH": JUPYTER_CONFIG,  # the exchange's root and course, as the students' servers see them
            "LABGRADER_HUB_GROUP": GROUP,  # the class: the service refuses to start while one of them can read the course
        },
    }]
