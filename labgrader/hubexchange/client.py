"""What nbgrader's exchange plugins over HTTP share (``HubExchange``), and the lines that switch a
course or a single-user server to them (``configure``).

Every request carries the JupyterHub token of the process (``$JUPYTERHUB_API_TOKEN``: a student's
server has one, and so has every terminal in it); the service decides who that is. Nothing is
read from the environment at import time: traits take their defaults when a plugin is made.

In the machine-wide ``nbgrader_config.py`` of the single-user image::

    from labgrader.hubexchange.client import configure
    configure(c, "http://proxy-public/services/labgrader-exchange/")

and at the end of the course's ``nbgrader_config.py`` (the instructor's)::

    configure(c, "http://proxy-public/services/labgrader-exchange/", course_root=c.CourseDirectory.root)
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from typing import Any, NoReturn

import requests
from jupyter_core.paths import jupyter_data_dir
from nbgrader.exchange import ExchangeError
from nbgrader.exchange.abc import Exchange as ABCExchange
from nbgrader.utils import ignore_patterns
from traitlets import Bool, Float, Unicode, default
from traitlets.config import Config

from . import archives
from .config import ASSIGNMENT_ID, api_path

PLUGINS = {
    "exchange": "labgrader.hubexchange.client.HubExchange",
    "release_assignment": "labgrader.hubexchange.release.HubReleaseAssignment",
    "release_feedback": "labgrader.hubexchange.release.HubReleaseFeedback",
    "fetch_assignment": "labgrader.hubexchange.fetch.HubFetchAssignment",
    "fetch_feedback": "labgrader.hubexchange.fetch.HubFetchFeedback",
    "submit": "labgrader.hubexchange.submit.HubSubmit",
    "list": "labgrader.hubexchange.listing.HubList",
    "collect": "labgrader.hubexchange.collect.HubCollect",
}
CHUNK = 1024 * 1024
NO_INBOUND = os.path.join(".labgrader", "no-inbound")  # the course's Exchange.root: see configure


def configure(c: Config, service_url: str, course_root: str | None = None) -> None:
    """Make every nbgrader exchange command of ``c`` talk to the service at ``service_url``
    (the proxy's URL of the service, e.g. ``https://hub.example.org/services/labgrader-exchange/``).

    ``course_root``: this is the course's own configuration. The grading service (``python -m
    labgrader serve``) also watches the file-system exchange's inbound, which this course does not
    use: its ``Exchange.root`` becomes an empty folder private to the course (``NO_INBOUND``, made by
    the exchange service as it starts), so nobody can hand in that way."""
    for trait, plugin in PLUGINS.items():
        setattr(c.ExchangeFactory, trait, plugin)
    c.HubExchange.service_url = service_url
    if course_root:
        c.Exchange.root = os.path.join(course_root, NO_INBOUND)


class HubExchange(ABCExchange):
    """The exchange service on the hub, seen from nbgrader (``c.HubExchange.*``)."""

    service_url = Unicode("", config=True,
                          help="The exchange service's URL through the hub's proxy, e.g. "
                               "http://proxy-public/services/labgrader-exchange/ (Zero to JupyterHub).")
    token = Unicode(config=True, help="The JupyterHub API token to send (default: $JUPYTERHUB_API_TOKEN).")
    cache = Unicode(config=True, help="Local record of what was submitted (default: $JUPYTER_DATA_DIR/nbgrader_cache), "
                                      "read by the Assignments tab and fetch_feedback.")
    path_includes_course = Bool(False, config=True,
                                help="Whether assignments are fetched into <course>/<assignment> (else <assignment>).")
    timeout = Float(300.0, config=True, help="Seconds to wait for the service's answer.")

    @default("token")
    def _token_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    @default("cache")
    def _cache_default(self) -> str:
        return os.path.join(jupyter_data_dir(), "nbgrader_cache")

    def fail(self, msg: str) -> NoReturn:
        self.log.fatal(msg)
        raise ExchangeError(msg)

    # -- the service ---------------------------------------------------------------------------

    def course(self) -> str:
        if not self.coursedir.course_id:
            self.fail("No course id specified. Re-run with --course flag.")
        return self.coursedir.course_id

    def assignment_id(self) -> str:
        assignment = self.coursedir.assignment_id
        if not ASSIGNMENT_ID.match(assignment or ""):
            self.fail(f"{assignment!r} is not an assignment id the exchange takes (letters, digits, '.', '_', '-')")
        return assignment

    def url(self, *parts: str) -> str:
        if not self.service_url:
            self.fail("The exchange service's URL is not set: c.HubExchange.service_url in nbgrader_config.py")
        quoted = [urllib.parse.quote(p, safe="") for p in parts]
        return self.service_url.rstrip("/") + "/" + api_path(urllib.parse.quote(self.course(), safe=""), *quoted)

    def call(self, method: str, *parts: str, ok: tuple[int, ...] = (200, 201), **kwargs: Any) -> requests.Response:
        """One request to the service; any other status fails the command with the service's words."""
        if not self.token:
            self.fail("No JupyterHub token: run this in your JupyterHub server (it sets JUPYTERHUB_API_TOKEN)")
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        try:
            response = requests.request(method, self.url(*parts), headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            self.fail(f"The exchange service could not be reached at {self.service_url}: {exc}")
        if response.status_code not in ok:
            self.fail(f"The exchange refused ({response.status_code}): {message_of(response)}")
        return response

    def release_of(self, assignment: str) -> dict[str, Any]:
        """The service's record of a released assignment (its files, sha256), or the command fails."""
        for release in self.json("GET", "assignments"):
            if release["assignment"] == assignment:
                return dict(release)
        self.fail(f"Assignment not found: {assignment} is not released in {self.course()}")

    def json(self, method: str, *parts: str, **kwargs: Any) -> Any:
        return self.call(method, *parts, **kwargs).json()

    @contextlib.contextmanager
    def download(self, *parts: str, sha256: str = "", limit: int = 2 * archives.paths.MAX_TOTAL_BYTES
                 ) -> Iterator[str]:
        """The file at ``parts``, saved to a private temporary file (its path is yielded); checked
        against ``sha256`` when given and never larger than ``limit``."""
        folder = tempfile.mkdtemp(prefix="labgrader-exchange-")
        path = os.path.join(folder, "download")
        try:
            response = self.call("GET", *parts, stream=True)
            digest, size = hashlib.sha256(), 0
            with response, open(path, "xb") as out:
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        self.fail(f"The exchange sent more than {limit} bytes: not taken")
                    digest.update(chunk)
                    out.write(chunk)
            if sha256 and digest.hexdigest() != sha256:
                self.fail("The exchange sent a file whose content is not the one it listed: not taken")
            yield path
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- the local side ------------------------------------------------------------------------

    def local_dir(self, course: str, assignment: str) -> str:
        """Where the student's copy of an assignment lives."""
        root = os.path.join(course, assignment) if self.path_includes_course else assignment
        return os.path.abspath(os.path.join(self.assignment_dir, root))

    def ignore(self) -> Any:
        """nbgrader's rule for what a copy leaves out (CourseDirectory.ignore, include, max_file_size)."""
        return ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                               max_file_size=self.coursedir.max_file_size, log=self.log)

    def packed(self, folder: str) -> tuple[str, list[str]]:
        """``folder`` zipped into a private temporary file: (its path, the member names)."""
        handle, path = tempfile.mkstemp(prefix="labgrader-upload-", suffix=".zip")
        try:
            with os.fdopen(handle, "wb") as out:
                names = archives.pack(folder, out, self.ignore(), archives.Limits(
                    max_file_bytes=self.coursedir.max_file_size * 1000 or archives.paths.MAX_FILE_BYTES,
                    max_total_bytes=self.coursedir.max_dir_size * 1000 or archives.paths.MAX_TOTAL_BYTES))
        except archives.BadArchive as exc:
            os.unlink(path)
            self.fail(f"Not sent: {exc}")
        except BaseException:
            os.unlink(path)
            raise
        return path, names

    def upload(self, method: str, path: str, *parts: str, **kwargs: Any) -> Any:
        """Stream the file at ``path`` to the service; returns its JSON answer."""
        with open(path, "rb") as body:
            headers = {"Content-Type": "application/zip", "Content-Length": str(os.fstat(body.fileno()).st_size),
                       **kwargs.pop("headers", {})}
            return self.json(method, *parts, data=body, headers=headers, **kwargs)

    # nbgrader's Exchange.start runs these three; the plugins define them
    def init_src(self) -> None:
        raise NotImplementedError

    def init_dest(self) -> None:
        raise NotImplementedError

    def copy_files(self) -> None:
        raise NotImplementedError


def message_of(response: requests.Response) -> str:
    try:
        return str(response.json().get("message") or response.reason)
    except ValueError:
        return f"{response.reason} ({response.text[:200]!r})"
