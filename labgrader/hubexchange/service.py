"""``python -m labgrader.hubexchange serve --course ROOT``: the exchange service, run as a JupyterHub
service (managed by the hub, or external with its own token).

It reads from the environment JupyterHub gives a service: ``JUPYTERHUB_API_TOKEN`` (its token),
``JUPYTERHUB_API_URL``, ``JUPYTERHUB_SERVICE_NAME``, ``JUPYTERHUB_SERVICE_PREFIX`` (the proxy routes
``/services/<name>/`` to it) and ``JUPYTERHUB_SERVICE_URL`` (where to listen: 127.0.0.1 or the pod's
IP, never every interface unless told). Its settings are the course's (``c.HubExchangeService`` in
``nbgrader_config.py``; the course id is ``c.CourseDirectory.course_id``). It waits, saying why,
until the course is configured, runs with umask 077 and keeps everything in its store (0700).
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from jupyterhub.services.auth import HubAuth
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback

from labgrader.config import load_course_config
from labgrader.text import PrintableFilter

from .client import NO_INBOUND
from .config import HubExchangeService
from .context import Exchange, Intake, NoGrading
from .grading import CATCH_UP_SECONDS, GradingIntake
from .handlers import routes
from .roles import Groups
from .store import Store

log = logging.getLogger("labgrader.hubexchange")
DEFAULT_NAME = "labgrader-exchange"
HARD_MAX_BODY = 64 * 1024 ** 3  # what tornado lets reach a handler; each upload gets its own limit first
BODY_TIMEOUT = 600.0  # seconds an upload may take (a stalled one is dropped; its bytes leave the quota)


@dataclass
class Hub:
    """What the hub told the service about itself (the environment of a JupyterHub service)."""
    api_url: str
    token: str
    name: str
    prefix: str
    bind_url: str

    @classmethod
    def from_environment(cls) -> Hub:
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        api_url = os.environ.get("JUPYTERHUB_API_URL", "")
        if not token or not api_url:
            raise SystemExit("JUPYTERHUB_API_TOKEN and JUPYTERHUB_API_URL are not set: run this as a JupyterHub "
                             "service (c.JupyterHub.services), or set them for an external service")
        name = os.environ.get("JUPYTERHUB_SERVICE_NAME", DEFAULT_NAME)
        return cls(api_url, token, name, os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{name}/"),
                   os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8765"))

    def address(self) -> tuple[str, int]:
        parsed = urllib.parse.urlsplit(self.bind_url)
        return parsed.hostname or "127.0.0.1", parsed.port or 80


def course_settings(root: str, wait_seconds: float = 5.0) -> tuple[str, HubExchangeService]:
    """The course id and the service's settings, once the course is configured (waits, saying why)."""
    said = ""
    while True:
        why = ""
        if not os.path.isfile(os.path.join(root, "nbgrader_config.py")):
            why = f"no nbgrader_config.py in {root}"
        else:
            config = load_course_config(root)
            course = config.CourseDirectory.get("course_id", "")
            if course:
                return course, HubExchangeService(config=config)
            why = "no c.CourseDirectory.course_id in the course's configuration"
        if wait_seconds <= 0:
            raise SystemExit(f"the exchange cannot serve this course: {why}")
        if why != said:
            log.warning("not serving yet: %s (checking again every %g s)", why, wait_seconds)
            said = why
        time.sleep(wait_seconds)


def make_exchange(root: str, hub: Hub, intake: Intake | None = None) -> tuple[Exchange, HubAuth]:
    course, settings = course_settings(root)
    store = Store(settings.store or os.path.join(root, ".labgrader", "exchange"))
    store.clear_incoming()
    auth = HubAuth(api_token=hub.token, api_url=hub.api_url, cache_max_age=settings.token_cache_seconds,
                   allow_token_in_url=False,
                   access_scopes={f"access:services!service={hub.name}"})
    groups = Groups(hub.api_url, hub.token, settings.students_group.format(course_id=course),
                    settings.instructors_group.format(course_id=course), settings.group_cache_seconds)
    if intake is None:
        intake = GradingIntake(root) if settings.grade_on_upload else NoGrading()
    return Exchange(course, hub.name, settings, store, groups, intake), auth


def make_empty_inbound(root: str, course: str) -> None:
    """The empty, private inbound the grading service looks at when the course's exchange root is
    ``client.NO_INBOUND`` (the course hands in over HTTP only; see ``client.configure``)."""
    config = load_course_config(root)
    exchange_root = config.Exchange.get("root", "")
    if os.path.realpath(exchange_root) != os.path.realpath(os.path.join(root, NO_INBOUND)):
        return
    for folder in (exchange_root, os.path.join(exchange_root, course), os.path.join(exchange_root, course, "inbound")):
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)


def make_app(exchange: Exchange, auth: HubAuth, prefix: str) -> web.Application:
    return web.Application(routes(prefix), exchange=exchange, hub_auth=auth, xsrf_cookies=False)


async def run(root: str, hub: Hub, ip: str | None = None, port: int | None = None,
              intake: Intake | None = None) -> None:
    exchange, auth = make_exchange(root, hub, intake)
    make_empty_inbound(root, exchange.course)
    host, bind_port = hub.address()
    host, bind_port = ip or host, port or bind_port
    if host in ("", "0.0.0.0", "::"):
        log.warning("listening on every interface: the proxy should be the only way in (bind 127.0.0.1 or the pod's IP)")
    server = HTTPServer(make_app(exchange, auth, hub.prefix), max_body_size=HARD_MAX_BODY,
                        body_timeout=BODY_TIMEOUT, idle_connection_timeout=BODY_TIMEOUT)
    server.listen(bind_port, address=host)
    log.info("exchange for %s at http://%s:%d%s (store %s; students: group %s, instructors: group %s)",
             exchange.course, host, bind_port, hub.prefix, exchange.store.folder, exchange.groups.students,
             exchange.groups.instructors)
    if isinstance(exchange.intake, GradingIntake):
        catch_up = PeriodicCallback(lambda: exchange.offer_all(), CATCH_UP_SECONDS * 1000)
        exchange.offer_all()
        catch_up.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.stop()
    exchange.store.close()
    log.info("stopped")


def main(root: Path, ip: str | None = None, port: int | None = None) -> None:
    os.umask(0o077)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(PrintableFilter())
    asyncio.run(run(str(root.resolve()), Hub.from_environment(), ip, port))
