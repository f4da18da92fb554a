"""The exchange service's HTTP API (tornado handlers, JSON errors with a sentence for a person).

Every request is identified by the JupyterHub token it carries, and by nothing else: the hub says
whose token it is (``HubAuth``), the token must hold ``access:services!service=<this service>``,
and the user's role in the course comes from the hub's groups (``roles.Groups``). A name, a
student id, a time or a uid in the request is never taken for who or when; a student id naming
someone else is refused (403). Uploads stream to the store's private folder as they arrive; the
submission's time is the server's clock when its last byte arrived, returned to the client.
"""
from __future__ import annotations

import json
import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, cast

from jupyterhub.services.auth import HubAuthenticated, UserNotAllowed
from tornado import web
from tornado.ioloop import IOLoop

from labgrader.exchange.entries import name_problem
from labgrader.text import one_line

from . import archives
from .config import ASSIGNMENT_ID, SUBMISSION_ID, UPLOAD_ID, UPLOAD_ID_HEADER
from .context import Exchange
from .roles import INSTRUCTOR
from .store import Incoming, Submission

log = logging.getLogger("labgrader.hubexchange")
CHUNK = 256 * 1024
DRAIN_BYTES = 256 * 1024 ** 2


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


def body_limit(handler: web.RequestHandler, size: int) -> None:
    """The most bytes tornado reads of this request's body (it closes the connection beyond)."""
    cast(Any, handler.request.connection).set_max_body_size(size)


def refuse(status: int, message: str, **headers: str) -> web.HTTPError:
    """An error for the client, with ``message`` (plain words) as its body."""
    error = web.HTTPError(status, log_message=message.replace("%", "%%"))
    error.headers = headers  # type: ignore[attr-defined]
    return error


class ApiHandler(HubAuthenticated, web.RequestHandler):
    """Authenticated by the hub token (header ``Authorization: token ...``), JSON in and out."""

    caller: Caller | None = None
    who = "(no valid token)"   # the token's owner once the hub said it, for the refusals' record
    action = "request"

    @property
    def exchange(self) -> Exchange:
        return self.settings["exchange"]

    @property
    def hub_auth(self) -> Any:
        return self.settings["hub_auth"]

    def get_current_user(self) -> Any:  # the model is set by prepare (asynchronously), never here
        return self.caller

    def check_xsrf_cookie(self) -> None:  # tokens only: no cookie is ever accepted as a credential
        return None

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "default-src 'none'; sandbox")

    async def prepare(self) -> None:
        self.caller = await self.authenticate()

    async def authenticate(self) -> Caller:
        ex = self.exchange
        # the header only: never a token in the URL (it would reach logs) nor a cookie
        found = self.hub_auth.auth_header_pat.match(self.request.headers.get("Authorization", ""))
        token = found.group(1) if found else ""
        model = await self.hub_auth.user_for_token(token, sync=False) if token else None
        if not model:
            raise refuse(403, "no valid JupyterHub token: send the header 'Authorization: token "
                              "$JUPYTERHUB_API_TOKEN' (a token the hub issued)")
        try:
            self.check_hub_user(model)
        except UserNotAllowed:
            self.who = model.get("name", self.who)
            raise refuse(403, f"this token may not use the exchange: it lacks the scope "
                              f"access:services!service={ex.service_name} (the hub's recipe gives it to the course's "
                              "users and their servers)") from None
        if model.get("kind", "user") != "user":
            raise refuse(403, "only users hand in and collect: this token is a service's")
        name = self.who = model["name"]
        role = await ex.groups.role_of(name)
        if role is None:
            raise refuse(403, f"{name} is neither a student nor an instructor of {ex.course} (JupyterHub groups "
                              f"{ex.groups.students} and {ex.groups.instructors})")
        return Caller(name, role)

    def course_only(self, course: str) -> None:
        if course != self.exchange.course:
            raise refuse(404, f"this exchange serves the course {self.exchange.course!r}, not {one_line(course, 80)!r}")

    def instructor_only(self) -> None:
        assert self.caller is not None
        if self.caller.role != INSTRUCTOR:
            raise refuse(403, f"only the course's instructors may do this ({self.caller.name} is a student)")

    def own_or_instructor(self, submission_id: str) -> Submission:
        """The submission, if the caller may see it; 404 for any other (its existence is not told)."""
        assert self.caller is not None
        sub = self.exchange.store.submission(submission_id) if SUBMISSION_ID.match(submission_id) else None
        if sub is None or (self.caller.role != INSTRUCTOR and sub.student != self.caller.name):
            raise refuse(404, "no such submission of yours")
        return sub

    def student_argument(self) -> str | None:
        """The ``student`` query argument: instructors may name anyone; a student only themself (403)."""
        assert self.caller is not None
        wanted = self.get_query_argument("student", None)
        if wanted is not None and self.caller.role != INSTRUCTOR and wanted != self.caller.name:
            raise refuse(403, f"you are {self.caller.name}: a student sees only their own submissions")
        return wanted

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    async def send_blob(self, sha256: str, content_type: str, filename: str) -> None:
        """A stored file (by its hash) as an attachment, in chunks."""
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{urllib.parse.quote(filename)}")
        with open(self.exchange.store.blob_path(sha256), "rb") as blob:
            while chunk := blob.read(CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if not isinstance(value, web.HTTPError):  # refusals are logged (and recorded) by write_error
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = error.log_message if isinstance(error, web.HTTPError) and error.log_message else self._reason
        if isinstance(error, web.HTTPError):
            message = message % error.args if error.args else message.replace("%%", "%")
            for header, value in getattr(error, "headers", {}).items():
                self.set_header(header.replace("_", "-"), value)
        if status_code != 404 or self.caller:  # unknown URLs without a token are not worth a record
            self.exchange.refused(self.who, self.action, self.path_kwargs.get("assignment", ""), status_code, message)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "message": message}))


class WhoAmI(ApiHandler):
    SUPPORTED_METHODS = ("GET",)

    def get(self, course: str) -> None:
        self.course_only(course)
        assert self.caller is not None
        ex, name = self.exchange, self.caller.name
        self.reply({"name": name, "role": self.caller.role, "course": ex.course, "limits": ex.limits(),
                    "used": {"bytes": ex.store.bytes_of(name), "in_flight": ex.in_flight.get(name, 0),
                             "uploads_last_hour": ex.store.attempts(name, time.time())}})


class Releases(ApiHandler):
    SUPPORTED_METHODS = ("GET",)

    def get(self, course: str) -> None:
        self.course_only(course)
        self.reply(self.exchange.store.releases())


class Refusals(ApiHandler):
    SUPPORTED_METHODS = ("GET",)

    def get(self, course: str) -> None:
        self.course_only(course)
        self.instructor_only()
        self.reply(self.exchange.store.refusals())


@web.stream_request_body
class Upload(ApiHandler):
    """What streamed uploads share: admission before any byte is read (role, size, rate, quota),
    then the body to a private file in the store, hashed as it comes; discarded unless kept.

    A refused upload is answered once its body has been read and dropped (up to ``DRAIN_BYTES``):
    a proxy forwards an answer only to a client that could send its whole request (CHP answers 503
    otherwise). A larger one is answered at once and its connection closed."""

    upload: Incoming | None = None
    kept = False
    reserved = 0           # bytes counted against the caller's quota while this upload is received
    deferred: web.HTTPError | None = None   # a refusal waiting for the end of the body
    body_read = False

    async def prepare(self) -> None:
        try:
            await super().prepare()
            if self.request.method in ("PUT", "POST"):
                await self.start_upload()
        except web.HTTPError as error:
            declared = self.request.headers.get("Content-Length", "")
            if self.request.method not in ("PUT", "POST") or (declared and not (declared.isdigit() and
                                                                                  int(declared) <= DRAIN_BYTES)):
                raise
            self.deferred = error
            body_limit(self, DRAIN_BYTES)

    async def start_upload(self) -> None:
        limit = await self.admit(**self.path_kwargs)
        length = self.request.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise refuse(411, "send the upload with a Content-Length")
        if int(length) > limit:
            raise refuse(413, f"the upload is {int(length)} bytes; the exchange takes at most {limit} bytes here")
        body_limit(self, int(length))
        self.upload = self.exchange.store.incoming()

    def received_whole(self) -> None:
        """First thing of put/post (tornado calls them once the body is in): answer a deferred refusal."""
        self.body_read = True
        if self.deferred is not None:
            raise self.deferred

    async def admit(self, *args: Any, **kwargs: Any) -> int:
        """Check whether this upload may start; returns its largest size in bytes."""
        raise NotImplementedError

    def data_received(self, chunk: bytes) -> None:
        if self.upload is not None and not self._finished:
            self.upload.write(chunk)

    async def checked(self, limits: archives.Limits) -> list[archives.Member]:
        """The upload's archive, inspected away from the event loop; 400 with the reason if refused."""
        assert self.upload is not None
        self.upload.close()
        try:
            return await IOLoop.current().run_in_executor(None, archives.inspect, self.upload.path, limits)
        except archives.BadArchive as exc:
            raise refuse(400, f"the archive is refused: {one_line(exc, 400)}") from None

    def keep(self) -> str:
        assert self.upload is not None
        self.kept = True
        return self.exchange.store.keep(self.upload)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if self.upload is not None and not self.kept:
            self.upload.discard()  # before the answer: whoever reads it finds nothing of the upload left
        if not self.body_read:
            # Tornado closes a connection it answers before reading the request's body: say so, or a
            # proxy reuses the connection for its next request and answers that one 503 (ECONNRESET).
            self.set_header("Connection", "close")
            body_limit(self, 0)
        super().write_error(status_code, **kwargs)

    def on_finish(self) -> None:
        if self.reserved and self.caller is not None:
            left = self.exchange.in_flight.get(self.caller.name, 0) - self.reserved
            self.exchange.in_flight[self.caller.name] = max(0, left)
            self.reserved = 0
        if self.upload is not None and not self.kept:
            self.upload.discard()

    def on_connection_close(self) -> None:
        self.on_finish()


class AssignmentUpload(Upload):
    """An upload below one assignment of the course."""

    def check_names(self, course: str, assignment: str) -> None:
        self.course_only(course)
        if not ASSIGNMENT_ID.match(assignment):
            raise refuse(400, f"{one_line(assignment, 80)!r} is not an assignment id (letters, digits, '.', '_', "
                              "'-' inside, at most 100)")


class Assignment(AssignmentUpload):
    SUPPORTED_METHODS = ("GET", "PUT", "DELETE")
    action = "release"

    async def admit(self, course: str, assignment: str) -> int:
        self.check_names(course, assignment)
        self.instructor_only()
        if self.exchange.store.released(assignment) and self.get_query_argument("force", "") != "1":
            raise refuse(409, f"{assignment} is already released: release with --force to replace it")
        return self.exchange.config.max_release_bytes

    async def get(self, course: str, assignment: str) -> None:
        self.action = "fetch"
        self.check_names(course, assignment)
        release = self.exchange.store.released(assignment)
        if release is None:
            raise refuse(404, f"{assignment} is not released")
        await self.send_blob(release["sha256"], "application/zip", f"{assignment}.zip")

    async def put(self, course: str, assignment: str) -> None:
        self.received_whole()
        members = await self.checked(self.exchange.release_limits())
        assert self.upload is not None and self.caller is not None
        size = self.upload.size
        record = self.exchange.store.release(assignment, self.keep(), size, self.caller.name, [m.name for m in members])
        log.info("%s released %s (%d bytes, %d files)", self.caller.name, assignment, size, len(members))
        self.reply(record, 201)

    def delete(self, course: str, assignment: str) -> None:
        self.action = "unrelease"
        self.check_names(course, assignment)
        self.instructor_only()
        if not self.exchange.store.unrelease(assignment):
            raise refuse(404, f"{assignment} is not released")
        self.reply({"assignment": assignment, "removed": True})


class Submissions(AssignmentUpload):
    SUPPORTED_METHODS = ("GET", "POST")
    action = "submit"

    def get(self, course: str, assignment: str) -> None:
        self.action = "list"
        self.check_names(course, assignment)
        assert self.caller is not None
        wanted = self.student_argument()  # a student naming anyone else: 403
        if self.caller.role != INSTRUCTOR:
            wanted = self.caller.name
        subs = self.exchange.store.submissions(assignment, wanted)
        pages = self.exchange.pages_of(subs)
        self.reply([dict(s.receipt(), feedback=list(pages[s.id].values())) for s in subs])

    async def admit(self, course: str, assignment: str) -> int:
        self.check_names(course, assignment)
        ex = self.exchange
        assert self.caller is not None
        name = self.caller.name
        self.student_argument()
        if ex.store.released(assignment) is None:
            raise refuse(404, f"{assignment} is not released: there is nothing to hand in yet")
        upload_id = self.request.headers.get(UPLOAD_ID_HEADER, "")
        if not UPLOAD_ID.match(upload_id):
            raise refuse(400, f"send a fresh random {UPLOAD_ID_HEADER} header (16-64 letters, digits, '-' or '_') "
                              "with each upload")
        earlier = ex.store.by_upload_id(name, upload_id)
        if earlier is not None:
            raise refuse(409, f"replayed upload: this upload was received at {earlier.timestamp} (submission "
                              f"{earlier.id}); nothing was stored")
        now = time.time()
        limit = ex.config.max_uploads_per_hour
        if limit and ex.store.attempts(name, now) >= limit:
            wait = max(1, int(ex.store.oldest_attempt(name, now) + 3600 - now) + 1)
            raise refuse(429, f"{limit} uploads in the last hour: the next one is possible in {wait} s",
                         Retry_After=str(wait))
        ex.store.attempt(name, now)
        length = int(self.request.headers.get("Content-Length") or 0)
        used = ex.store.bytes_of(name) + ex.in_flight.get(name, 0)  # uploads under way count: no parallel flood
        if used + length > ex.config.max_student_bytes:
            raise refuse(413, f"over your quota: you keep {used} bytes of submissions (with those being received); "
                              f"this upload of {length} would pass the {ex.config.max_student_bytes} allowed")
        if length <= ex.config.max_upload_bytes:
            self.reserved = length
            ex.in_flight[name] = ex.in_flight.get(name, 0) + length
        return ex.config.max_upload_bytes

    async def post(self, course: str, assignment: str) -> None:
        self.received_whole()
        assert self.upload is not None and self.caller is not None
        received_ns = self.upload.last_byte_ns or time.time_ns()  # the server's clock at the last byte
        members = await self.checked(self.exchange.submission_limits())
        ex, name, size = self.exchange, self.caller.name, self.upload.size
        if ex.store.bytes_of(name) + size > ex.config.max_student_bytes:
            raise refuse(413, f"over your quota of {ex.config.max_student_bytes} bytes of submissions")
        upload_id = self.request.headers[UPLOAD_ID_HEADER]
        if ex.store.by_upload_id(name, upload_id) is not None:  # a replay that raced its original
            raise refuse(409, "replayed upload: nothing was stored")
        sub = ex.store.submit(assignment, name, received_ns, self.keep(), size, upload_id, [m.name for m in members])
        log.info("%s submitted %s at %s (%d bytes, sha256 %s)", name, assignment, sub.timestamp, size, sub.sha256[:12])
        ex.received(sub)
        self.reply(sub.receipt(), 201)


class SubmissionArchive(ApiHandler):
    SUPPORTED_METHODS = ("GET",)
    action = "download"

    async def get(self, course: str, submission: str) -> None:
        self.course_only(course)
        sub = self.own_or_instructor(submission)
        await self.send_blob(sub.sha256, "application/zip", f"{sub.assignment}.zip")


class FeedbackList(ApiHandler):
    SUPPORTED_METHODS = ("GET",)
    action = "feedback"

    def get(self, course: str, submission: str) -> None:
        self.course_only(course)
        sub = self.own_or_instructor(submission)
        self.reply({"submission": sub.receipt(), "pages": list(self.exchange.pages(sub).values())})


@web.stream_request_body
class FeedbackPage(Upload):
    SUPPORTED_METHODS = ("GET", "PUT")
    action = "feedback"

    def check(self, course: str, submission: str, notebook: str) -> Submission:
        self.course_only(course)
        sub = self.own_or_instructor(submission)
        if name_problem(notebook) or not notebook or len(notebook) > 200:
            raise refuse(400, f"{one_line(notebook, 80)!r} is not a notebook name")
        return sub

    async def get(self, course: str, submission: str, notebook: str) -> None:
        sub = self.check(course, submission, notebook)
        page = self.exchange.pages(sub).get(notebook)
        if page is None:
            raise refuse(404, f"no feedback for {notebook} of this submission yet")
        if page["source"] == "instructor":
            await self.send_blob(page["sha256"], "application/octet-stream", f"{notebook}.html")
            return
        try:
            data = self.exchange.intake.page(sub, notebook)
        except KeyError:
            raise refuse(404, f"no feedback for {notebook} of this submission yet") from None
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{urllib.parse.quote(notebook)}.html")
        self.finish(data)

    async def admit(self, course: str, submission: str, notebook: str) -> int:
        self.check(course, submission, notebook)
        self.action = "release feedback"
        self.instructor_only()
        return self.exchange.config.max_feedback_bytes

    async def put(self, course: str, submission: str, notebook: str) -> None:
        self.received_whole()
        sub = self.check(course, submission, notebook)
        assert self.upload is not None
        size = self.upload.size
        self.exchange.store.add_feedback(sub.id, notebook, self.keep(), size)
        log.info("feedback %s released for %s's submission of %s at %s", notebook, sub.student, sub.assignment,
                 sub.timestamp)
        self.reply({"submission": sub.id, "notebook": notebook, "size": size}, 201)


class Root(web.RequestHandler):
    """The service's own URL: the hub checks that it answers (nothing here needs a token)."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"service": "labgrader exchange", "api": "api/courses/<course>/"}))


def routes(prefix: str) -> list[tuple[str, type[web.RequestHandler]]]:
    course = r"api/courses/(?P<course>[^/]+)"
    table: list[tuple[str, type[web.RequestHandler]]] = [
        (rf"{course}/whoami", WhoAmI),
        (rf"{course}/assignments", Releases),
        (rf"{course}/assignments/(?P<assignment>[^/]+)", Assignment),
        (rf"{course}/assignments/(?P<assignment>[^/]+)/submissions", Submissions),
        (rf"{course}/submissions/(?P<submission>[^/]+)", SubmissionArchive),
        (rf"{course}/submissions/(?P<submission>[^/]+)/feedback", FeedbackList),
        (rf"{course}/submissions/(?P<submission>[^/]+)/feedback/(?P<notebook>[^/]+)", FeedbackPage),
        (rf"{course}/refusals", Refusals),
    ]
    base = prefix.rstrip("/")
    return [(base + "/?", Root)] + [(base + "/" + pattern, handler) for pattern, handler in table]


__all__ = ["routes", "Caller", "refuse"]
