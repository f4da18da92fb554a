# mypy: ignore-errors
"""JupyterHub with the exchange service and no shared file system: the Kubernetes recipe on one machine.

Everything of ``labgrader/exchange/jupyterhub_config.py`` (PAM login, the project's proxy, state,
ports: the same environment variables), except:

- every user's server runs as ONE unix account (``LABGRADER_POD_USER``, default ``jovyan``), each
  under bubblewrap seeing only its own home (``LABGRADER_POD_HOMES/<user>``) and the read-only
  system: ``labgrader.hubexchange.podspawner.PodSpawner``, a pod on Kubernetes;
- the exchange is the service ``labgrader-exchange`` (``python -m labgrader.hubexchange serve``),
  managed by the hub, run as the course's owner (``LABGRADER_INSTRUCTOR``) on
  127.0.0.1:``LABGRADER_EXCHANGE_PORT`` (default 8765), reached through the proxy at
  ``/services/labgrader-exchange/``; its store is the course's ``.labgrader/exchange`` (0700);
- the course's JupyterHub groups (nbgrader's names: ``nbgrader-<course>`` for students,
  ``formgrade-<course>`` for instructors; members from ``LABGRADER_STUDENTS`` and
  ``LABGRADER_INSTRUCTORS``, comma-separated; on a real hub, the authenticator or the admin page
  fills them) may use the service: a role gives them ``access:services!service=labgrader-exchange``,
  and their servers' tokens carry it (``c.Spawner.server_token_scopes``); the service may read the
  two groups' members, nothing else.

Run as root from the course's clone::

    LABGRADER_HUB_URL=http://127.0.0.1:8000 LABGRADER_COURSE=/home/instructor/course \\
    LABGRADER_COURSE_ID=categorical-embeddings LABGRADER_STUDENTS=alice,bob LABGRADER_INSTRUCTORS=instructor \\
    .venv/bin/jupyterhub -f labgrader/hubexchange/jupyterhub_config.py

Each server reads ``LABGRADER_JUPYTER_CONFIG/nbgrader_config.py`` (mounted read-only), which must
switch nbgrader to the service (see ``labgrader.hubexchange.client``).
"""
import os
import sys

c = get_config()  # noqa: F821
load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "exchange", "jupyterhub_config.py"))  # noqa: F821

SERVICE = "labgrader-exchange"
COURSE = os.environ["LABGRADER_COURSE"]
COURSE_ID = os.environ.get("LABGRADER_COURSE_ID", "categorical-embeddings")
STUDENTS, INSTRUCTORS = f"nbgrader-{COURSE_ID}", f"formgrade-{COURSE_ID}"
VENV_BIN = os.path.dirname(sys.executable)
JUPYTER_CONFIG = os.environ.get("LABGRADER_JUPYTER_CONFIG", "/etc/jupyter")

# Pods: one uid for everyone, one mount namespace per server.
c.JupyterHub.spawner_class = "labgrader.hubexchange.podspawner.PodSpawner"
c.PodSpawner.pod_user = os.environ.get("LABGRADER_POD_USER", "jovyan")
c.PodSpawner.homes = os.environ.get("LABGRADER_POD_HOMES", "/srv/pods")
c.PodSpawner.extra_ro = [JUPYTER_CONFIG]
c.Spawner.notebook_dir = "/home/jovyan"

# The exchange service, as the course's owner (never a student's uid), on the loopback.
# Beside it, the grading service (grading on upload: the exchange hands it each submission through
# its intake; it serves no web page). Both as the course's owner.
OWNER = os.environ.get("LABGRADER_INSTRUCTOR", "instructor")
ENVIRONMENT = {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin", "TZ": "UTC"}
c.JupyterHub.services = [{
    "name": SERVICE,
    "url": f"http://127.0.0.1:{os.environ.get('LABGRADER_EXCHANGE_PORT', '8765')}",
    "user": OWNER,
    "cwd": os.path.dirname(COURSE),
    "command": [sys.executable, "-m", "labgrader.hubexchange", "serve", "--course", COURSE],
    "environment": ENVIRONMENT,
}, {
    "name": "labgrader-grader",
    "user": OWNER,
    "cwd": os.path.dirname(COURSE),
    "command": [sys.executable, "-m", "labgrader", "serve", "--course", COURSE],
    "environment": ENVIRONMENT,
}]

# Who may reach it: the course's two groups (and their servers' tokens); the service reads the groups.
c.JupyterHub.load_groups = {
    STUDENTS: {"users": [u for u in os.environ.get("LABGRADER_STUDENTS", "").split(",") if u]},
    INSTRUCTORS: {"users": [u for u in os.environ.get("LABGRADER_INSTRUCTORS", "").split(",") if u]},
}
c.JupyterHub.load_roles = [
    {"name": "labgrader-exchange-users", "scopes": [f"access:services!service={SERVICE}"],
     "groups": [STUDENTS, INSTRUCTORS]},
    {"name": "labgrader-exchange-service", "scopes": [f"read:groups!group={STUDENTS}", f"read:groups!group={INSTRUCTORS}"],
     "services": [SERVICE]},
]
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", f"access:services!service={SERVICE}"]
