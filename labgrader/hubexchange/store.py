"""What the exchange service keeps: blobs by content hash and one SQLite file of records, in a folder
only the service's own uid can open (0700; files 0400/0600).

- ``releases``: one archive per released assignment (the instructor's upload; ``force`` replaces);
- ``submissions``: one row per accepted upload, immutable: who (from the hub token), when (the
  server's clock when the last byte arrived), the archive's sha256 and size, the client's upload id
  (a second upload with the same id is a replay: refused);
- ``feedback``: pages released by the instructor for one submission and notebook;
- ``attempts``: every authenticated upload attempt (the per-hour rate counts them, refused or not);
- ``refusals``: every refused request with its status and reason, for the instructor.

The bytes of an upload are written once to ``incoming/`` while they stream in, hashed, checked,
then renamed to ``blobs/<sha256>`` (read-only; a second copy of the same content is dropped). Nothing
rewrites a blob or a submission row afterwards. Single writer: the service's one event loop.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import stat
import time
from dataclasses import dataclass, field
from typing import Any

from labgrader.errors import LabgraderError
from labgrader.exchange.times import format_timestamp, from_epoch

_SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    assignment TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, released_ns INTEGER NOT NULL,
    released_by TEXT NOT NULL, files TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY, assignment TEXT NOT NULL, student TEXT NOT NULL, received_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, upload_id TEXT NOT NULL, files TEXT NOT NULL,
    UNIQUE (student, upload_id), UNIQUE (student, assignment, received_ns)
);
CREATE INDEX IF NOT EXISTS submissions_by_student ON submissions (student, assignment, received_ns);
CREATE TABLE IF NOT EXISTS feedback (
    submission TEXT NOT NULL, notebook TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    released_ns INTEGER NOT NULL, PRIMARY KEY (submission, notebook)
);
CREATE TABLE IF NOT EXISTS attempts (student TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_by_student ON attempts (student, at);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
    assignment TEXT NOT NULL, status INTEGER NOT NULL, reason TEXT NOT NULL
);
"""


KEPT_REFUSALS = 1000  # the newest of each caller; a client sending garbage forever cannot fill the disk


class UnsafeStore(LabgraderError, RuntimeError):
    """The store folder is not private to the service; the message says what to fix."""


@dataclass
class Submission:
    id: str
    assignment: str
    student: str
    received_ns: int
    sha256: str
    size: int
    upload_id: str
    files: list[str] = field(default_factory=list)

    @property
    def timestamp(self) -> str:
        """The server's time, as nbgrader's ``timestamp.txt`` holds it (UTC, microseconds)."""
        return format_timestamp(from_epoch(self.received_ns / 1e9))

    def receipt(self) -> dict[str, Any]:
        return {"id": self.id, "assignment": self.assignment, "student": self.student, "timestamp": self.timestamp,
                "sha256": self.sha256, "size": self.size, "files": self.files}


@dataclass
class Incoming:
    """An upload being received: a private temporary file, its hash and size so far."""
    path: str
    fd: int
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    last_byte_ns: int = 0

    def write(self, chunk: bytes) -> None:
        _write_all(self.fd, chunk)
        self.digest.update(chunk)
        self.size += len(chunk)
        self.last_byte_ns = time.time_ns()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def discard(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Store:

    def __init__(self, folder: str):
        self.folder = folder
        os.makedirs(os.path.dirname(os.path.abspath(folder)), mode=0o700, exist_ok=True)
        _private_folder(folder)
        for sub in ("blobs", "incoming"):
            _private_folder(os.path.join(folder, sub))
        self.db = sqlite3.connect(os.path.join(folder, "exchange.sqlite"), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    def clear_incoming(self) -> None:
        """Remove uploads a stopped service never finished (the service, as it starts; never a reader)."""
        for leftover in os.listdir(os.path.join(self.folder, "incoming")):
            os.unlink(os.path.join(self.folder, "incoming", leftover))

    # -- blobs ---------------------------------------------------------------------------------

    def incoming(self) -> Incoming:
        path = os.path.join(self.folder, "incoming", secrets.token_hex(16))
        return Incoming(path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))

    def blob_path(self, sha256: str) -> str:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return os.path.join(self.folder, "blobs", sha256)

    def keep(self, upload: Incoming) -> str:
        """Make a finished upload a blob (read-only); returns its sha256. Same content: one copy."""
        upload.close()
        sha = upload.digest.hexdigest()
        final = self.blob_path(sha)
        if os.path.exists(final):
            os.unlink(upload.path)
        else:
            os.chmod(upload.path, 0o400)
            os.rename(upload.path, final)
        return sha

    # -- releases ------------------------------------------------------------------------------

    def release(self, assignment: str, sha256: str, size: int, by: str, files: list[str]) -> dict[str, Any]:
        now = time.time_ns()
        self.db.execute("INSERT OR REPLACE INTO releases VALUES (?, ?, ?, ?, ?, ?)",
                        (assignment, sha256, size, now, by, json.dumps(files)))
        return self.released(assignment) or {}

    def released(self, assignment: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM releases WHERE assignment = ?", (assignment,)).fetchone()
        return _release_record(row) if row else None

    def releases(self) -> list[dict[str, Any]]:
        return [_release_record(r) for r in self.db.execute("SELECT * FROM releases ORDER BY assignment")]

    def unrelease(self, assignment: str) -> bool:
        return self.db.execute("DELETE FROM releases WHERE assignment = ?", (assignment,)).rowcount > 0

    # -- submissions ---------------------------------------------------------------------------

    def submit(self, assignment: str, student: str, received_ns: int, sha256: str, size: int, upload_id: str,
               files: list[str]) -> Submission:
        """Record an accepted upload. Two of one student in the same microsecond are one apart."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            last = self.db.execute("SELECT MAX(received_ns) FROM submissions WHERE student = ? AND assignment = ?",
                                   (student, assignment)).fetchone()[0]
            received_ns = max(received_ns // 1000 * 1000, (last or 0) + 1000)  # timestamps carry microseconds
            sub = Submission(secrets.token_urlsafe(18), assignment, student, received_ns, sha256, size, upload_id, files)
            self.db.execute("INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (sub.id, assignment, student, received_ns, sha256, size, upload_id, json.dumps(files)))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return sub

    def submission(self, submission_id: str) -> Submission | None:
        row = self.db.execute("SELECT * FROM submissions WHERE id = ?", (submission_id,)).fetchone()
        return _submission(row) if row else None

    def by_upload_id(self, student: str, upload_id: str) -> Submission | None:
        row = self.db.execute("SELECT * FROM submissions WHERE student = ? AND upload_id = ?",
                              (student, upload_id)).fetchone()
        return _submission(row) if row else None

    def submissions(self, assignment: str | None = None, student: str | None = None) -> list[Submission]:
        query, args = "SELECT * FROM submissions WHERE 1", list[str]()
        if assignment is not None:
            query, args = query + " AND assignment = ?", args + [assignment]
        if student is not None:
            query, args = query + " AND student = ?", args + [student]
        return [_submission(r) for r in self.db.execute(query + " ORDER BY student, received_ns", args)]

    def at_time(self, student: str, assignment: str, received_ns: int) -> Submission | None:
        row = self.db.execute("SELECT * FROM submissions WHERE student = ? AND assignment = ? AND received_ns = ?",
                              (student, assignment, received_ns)).fetchone()
        return _submission(row) if row else None

    def bytes_of(self, student: str) -> int:
        return self.db.execute("SELECT COALESCE(SUM(size), 0) FROM submissions WHERE student = ?",
                               (student,)).fetchone()[0]

    # -- feedback ------------------------------------------------------------------------------

    def add_feedback(self, submission_id: str, notebook: str, sha256: str, size: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?, ?)",
                        (submission_id, notebook, sha256, size, time.time_ns()))

    def feedback(self, submission_id: str) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM feedback WHERE submission = ? ORDER BY notebook", (submission_id,))
        return {r["notebook"]: {"notebook": r["notebook"], "sha256": r["sha256"], "size": r["size"],
                                "released": format_timestamp(from_epoch(r["released_ns"] / 1e9))} for r in rows}

    # -- the door's books ----------------------------------------------------------------------

    def attempt(self, student: str, now: float) -> int:
        """Record an upload attempt; returns how many the student made in the hour before ``now``
        (this one included)."""
        self.db.execute("DELETE FROM attempts WHERE at < ?", (now - 3600,))
        self.db.execute("INSERT INTO attempts VALUES (?, ?)", (student, now))
        return self.attempts(student, now)

    def attempts(self, student: str, now: float) -> int:
        return self.db.execute("SELECT COUNT(*) FROM attempts WHERE student = ? AND at > ?",
                               (student, now - 3600)).fetchone()[0]

    def oldest_attempt(self, student: str, now: float) -> float:
        return self.db.execute("SELECT MIN(at) FROM attempts WHERE student = ? AND at > ?",
                               (student, now - 3600)).fetchone()[0] or now

    def refuse(self, who: str, action: str, assignment: str, status: int, reason: str) -> None:
        self.db.execute("INSERT INTO refusals (at, who, action, assignment, status, reason) VALUES (?, ?, ?, ?, ?, ?)",
                        (time.time(), who, action, assignment, status, reason))
        # bounded per caller, so that nobody's flood (with or without a token) pushes out another's record
        self.db.execute("DELETE FROM refusals WHERE who = ? AND id <= (SELECT MAX(id) FROM refusals WHERE who = ?) - ?",
                        (who, who, KEPT_REFUSALS))

    def refusals(self, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM refusals ORDER BY id DESC LIMIT ?", (limit,))
        return [{"at": format_timestamp(from_epoch(r["at"])), "who": r["who"], "action": r["action"],
                 "assignment": r["assignment"], "status": r["status"], "reason": r["reason"]} for r in rows]


def _private_folder(path: str) -> None:
    """Make ``path`` (mode 0700) or check that it is ours and private: never a link, never shared."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeStore(f"{path} is not a folder (a link or a file): remove it")
    if st.st_uid != os.geteuid():
        raise UnsafeStore(f"{path} belongs to uid {st.st_uid}, not to the service (uid {os.geteuid()})")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)


def _release_record(row: sqlite3.Row) -> dict[str, Any]:
    return {"assignment": row["assignment"], "sha256": row["sha256"], "size": row["size"],
            "released": format_timestamp(from_epoch(row["released_ns"] / 1e9)), "released_by": row["released_by"],
            "files": json.loads(row["files"])}


def _submission(row: sqlite3.Row) -> Submission:
    return Submission(row["id"], row["assignment"], row["student"], row["received_ns"], row["sha256"], row["size"],
                      row["upload_id"], json.loads(row["files"]))
