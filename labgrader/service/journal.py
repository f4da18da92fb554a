"""The service's journal: what it received, graded and released, so that a restart loses nothing
and grades nothing twice (``<course>/.labgrader/service/journal.sqlite``).

One row per submission, keyed ``<source>:<submission id>`` (``inbound:<entry name>``: an inbound
entry is taken once; ``upload:<id>``: one upload of the hub's exchange), one append-only event
per step. What each submission holds, and each page shown for it, are references to the
service's store (labgrader/service/store.py), table ``refs``: a blob no reference names is
deleted. Writers are the service's loop and the intake (``intake.accept``, which an exchange
service may call from another process): every change is one transaction (WAL,
synchronous=FULL, ``BEGIN IMMEDIATE`` where a decision reads what it writes), so a SIGKILL leaves
the journal as it was after the last completed step. A row left ``grading`` by a killed service
is graded again at the next start (its attempt counted: a submission that kills the service twice
is flagged, not retried forever).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

QUEUED, DEFERRED, GRADING, GRADED, FAILED, FLAGGED, REFUSED, SUPERSEDED = (
    "queued", "deferred", "grading", "graded", "failed", "flagged", "refused", "superseded")
DONE = (GRADED, FAILED, FLAGGED, REFUSED, SUPERSEDED)
LIVE = (QUEUED, DEFERRED, GRADING)
MAX_ATTEMPTS = 2  # a crash is retried once, then flagged for the instructor
CONTENT, FEEDBACK, PAGE = "content", "feedback", "page"  # kinds of store references (they keep blobs)
MANIFEST = "manifest"  # what a submission held, kept once its files are no longer (no blob kept for it)
VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    key TEXT PRIMARY KEY,            -- "<source>:<submission id>" (schema 1: "<entry>@<ctime ns>")
    entry TEXT NOT NULL,             -- the submission id: an inbound entry's name, an upload's id
    assignment TEXT NOT NULL,
    student TEXT NOT NULL,           -- who submitted, authenticated ("" when nobody could be told)
    uid INTEGER NOT NULL DEFAULT -1, -- their unix uid, when pages are released on the file-system exchange
    time TEXT NOT NULL,              -- the trusted time of receipt, UTC
    time_ns INTEGER NOT NULL,
    seen REAL NOT NULL,              -- when the service took it
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    suspect INTEGER NOT NULL DEFAULT 0,   -- crashed once: graded alone next time
    admitted REAL,                   -- admitted to the queue (what the per-hour cap counts)
    not_before REAL,                 -- deferred by the cap until then
    started REAL,
    graded REAL,
    kept TEXT NOT NULL DEFAULT '',   -- (schema 1: the copy's folder)
    secret TEXT NOT NULL DEFAULT '',
    notebooks TEXT NOT NULL DEFAULT '[]',
    reason TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '{}',
    shown TEXT NOT NULL DEFAULT ''   -- what the student's released page shows now
);
CREATE INDEX IF NOT EXISTS by_state ON submissions (state, time_ns);
CREATE INDEX IF NOT EXISTS by_student ON submissions (assignment, student);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, key TEXT NOT NULL, event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_by_key ON events (key);
CREATE TABLE IF NOT EXISTS pages (   -- feedback page names (one per submission and notebook), first owner keeps
    name TEXT PRIMARY KEY, student TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS refs (    -- store blobs a submission refers to: its files, feedback, pages
    key TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (key, kind, name)
);
CREATE INDEX IF NOT EXISTS refs_by_blob ON refs (sha256);
CREATE INDEX IF NOT EXISTS by_shown ON submissions (shown) WHERE shown = '';
"""
_COLUMNS_2 = {  # added to a schema-1 journal
    "source": "TEXT NOT NULL DEFAULT 'inbound'",  # "inbound" or "upload"
    "ctime_ns": "INTEGER NOT NULL DEFAULT 0",     # inbound: the entry's latest ctime when it was taken
    "content": "TEXT NOT NULL DEFAULT ''",        # the content's digest (store.Manifest.digest)
    "charge": "REAL NOT NULL DEFAULT 0",          # grading seconds it cost (the fairness budget counts them)
}


class BlobStore(Protocol):
    def delete(self, digests: list[str]) -> int: ...


def journal_path(course_root: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(course_root), ".labgrader", "service", "journal.sqlite")


def _open_readonly(path: str, tries: int = 50) -> sqlite3.Connection:
    """The journal opened to read, creating nothing beside it. While the service has it open, its
    WAL exists and ``mode=ro`` shares it; a stopped service left none, and the file is read as it
    is (``immutable``). The two race: the service's last connection closing removes the WAL (and
    ``mode=ro`` then cannot open the file), so a failed open is tried again."""
    for attempt in range(tries):
        mode = "mode=ro" if os.path.exists(path + "-wal") else "immutable=1"
        db = None
        try:
            db = sqlite3.connect(f"file:{path}?{mode}", uri=True, timeout=10, isolation_level=None)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            if db is not None:
                db.close()
            if attempt == tries - 1 or not os.path.exists(path):
                raise
            time.sleep(0.02)
    raise AssertionError("unreachable")


class Journal:

    def __init__(self, path: str, readonly: bool = False, clock: Callable[[], float] = time.time):
        self.path, self.clock = path, clock
        self._depth = 0
        if readonly:
            self.db = _open_readonly(path)
        else:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        self.db.row_factory = sqlite3.Row

    def _migrate(self) -> None:
        with self.transaction():
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version >= VERSION:
                return
            for statement in _statements(_SCHEMA):
                self.db.execute(statement)
            have = {r[1] for r in self.db.execute("PRAGMA table_info(submissions)")}
            for name, kind in _COLUMNS_2.items():
                if name not in have:
                    self.db.execute(f"ALTER TABLE submissions ADD COLUMN {name} {kind}")
            for statement in _statements(_SCHEMA_2):
                self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version = {VERSION}")

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction (nested calls join the outer one); taken at once (``BEGIN IMMEDIATE``),
        so a decision made on what it reads holds against another writer."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.db.execute("ROLLBACK")
            raise
        self._depth = 0
        self.db.execute("COMMIT")

    def changed(self) -> int:
        """A number that changes when another connection commits (``PRAGMA data_version``)."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    # -- rows ----------------------------------------------------------------------------------

    def add(self, row: dict[str, Any], event: str, detail: str = "") -> None:
        """A new submission (its state decided), with its first event."""
        row = dict(row, seen=row.get("seen", self.clock()))
        for name in ("notebooks", "result"):
            if name in row and not isinstance(row[name], str):
                row[name] = json.dumps(row[name])
        names = ", ".join(row)
        with self.transaction():
            self.db.execute(f"INSERT INTO submissions ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
            self._event(row["key"], event, detail)

    def has(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM submissions WHERE key = ?", (key,)).fetchone() is not None

    def get(self, key: str) -> dict[str, Any]:
        found = self.db.execute("SELECT * FROM submissions WHERE key = ?", (key,)).fetchone()
        if found is None:
            raise KeyError(key)
        return _row(found)

    def update(self, key: str, event: str = "", detail: str = "", **fields: Any) -> None:
        """Change fields of a submission (and record ``event``), in one transaction."""
        for name in ("notebooks", "result"):
            if name in fields and not isinstance(fields[name], str):
                fields[name] = json.dumps(fields[name])
        with self.transaction():
            if fields:
                assignments = ", ".join(f"{name} = ?" for name in fields)
                self.db.execute(f"UPDATE submissions SET {assignments} WHERE key = ?", (*fields.values(), key))
            if event:
                self._event(key, event, detail)

    def rows(self, where: str = "1", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [_row(r) for r in self.db.execute(f"SELECT * FROM submissions WHERE {where} ORDER BY time_ns, key", args)]

    def in_state(self, *states: str) -> list[dict[str, Any]]:
        return self.rows(f"state IN ({', '.join('?' * len(states))})", states)

    def unshown(self) -> list[dict[str, Any]]:
        """Submissions no page was made for yet (received by another process's intake, say)."""
        return self.rows("shown = ''")

    def admitted_times(self, assignment: str, student: str) -> list[float]:
        """When each of a student's submissions was admitted to the queue (the cap counts these)."""
        return [r[0] for r in self.db.execute(
            "SELECT admitted FROM submissions WHERE assignment = ? AND student = ? AND admitted IS NOT NULL",
            (assignment, student))]

    def entries(self, source: str = "inbound") -> set[str]:
        """The submission ids of ``source`` journaled so far (inbound: entry names; taken once)."""
        return {r[0] for r in self.db.execute("SELECT entry FROM submissions WHERE source = ?", (source,))}

    def usage(self, since: float, now: float) -> dict[str, float]:
        """student -> grading seconds charged since ``since``: finished gradings' charges plus the
        time gradings in flight have run so far."""
        used: dict[str, float] = {}
        for student, charge in self.db.execute(
                "SELECT student, SUM(charge) FROM submissions WHERE graded >= ? GROUP BY student", (since,)):
            used[student] = float(charge or 0.0)
        for student, started in self.db.execute("SELECT student, started FROM submissions WHERE state = ?", (GRADING,)):
            used[student] = used.get(student, 0.0) + max(0.0, now - max(started or now, since))
        return used

    def recover(self) -> list[str]:
        """At start: submissions a killed service left ``grading`` go back to the queue (their attempt
        counted), or are flagged when that was their last attempt. Returns their keys."""
        interrupted = self.in_state(GRADING)
        for row in interrupted:
            if row["attempts"] >= MAX_ATTEMPTS:
                self.update(row["key"], "flagged", "the service stopped twice while grading it (killed, or it "
                            "crashed the service)", state=FLAGGED, reason="grading was interrupted twice: "
                            "grade it by hand or with python -m labgrader autograde")
            else:
                self.update(row["key"], "interrupted", "the service stopped while grading it: graded again",
                            state=QUEUED, suspect=1)
        return [r["key"] for r in interrupted]

    # -- references to the store ---------------------------------------------------------------

    def add_refs(self, key: str, kind: str, refs: list[tuple[str, str, int]]) -> None:
        """``refs``: (name, sha256, size); a name given again is replaced."""
        with self.transaction():
            self.db.executemany("INSERT OR REPLACE INTO refs (key, kind, name, sha256, size) VALUES (?, ?, ?, ?, ?)",
                                [(key, kind, name, sha, size) for name, sha, size in refs])

    def refs(self, key: str, kind: str) -> list[tuple[str, str, int]]:
        return [(r[0], r[1], r[2]) for r in self.db.execute(
            "SELECT name, sha256, size FROM refs WHERE key = ? AND kind = ? ORDER BY name", (key, kind))]

    def release_content(self, key: str) -> list[str]:
        """A submission done with its files: they stay listed (its manifest: what was received) and
        are no longer kept for it; returns the blobs nothing keeps any more."""
        with self.transaction():
            shas = [r[0] for r in self.db.execute("SELECT DISTINCT sha256 FROM refs WHERE key = ? AND kind = ?",
                                                  (key, CONTENT))]
            self.db.execute("UPDATE refs SET kind = ? WHERE key = ? AND kind = ?", (MANIFEST, key, CONTENT))
            return [s for s in shas if not self.kept(s)]

    def kept(self, sha256: str) -> bool:
        """Whether a submission or page keeps this blob."""
        return self.db.execute("SELECT 1 FROM refs WHERE sha256 = ? AND kind != ? LIMIT 1",
                               (sha256, MANIFEST)).fetchone() is not None

    def drop_refs(self, key: str, *kinds: str, names: tuple[str, ...] = ()) -> list[str]:
        """Forget references of ``key`` (of ``kinds``; only ``names`` when given); returns the blobs
        nothing refers to any more (for the store to delete)."""
        with self.transaction():
            where = f"key = ? AND kind IN ({', '.join('?' * len(kinds))})"
            args: tuple[Any, ...] = (key, *kinds)
            if names:
                where += f" AND name IN ({', '.join('?' * len(names))})"
                args += names
            shas = [r[0] for r in self.db.execute(f"SELECT DISTINCT sha256 FROM refs WHERE {where}", args)]
            self.db.execute(f"DELETE FROM refs WHERE {where}", args)
            return [s for s in shas if not self.kept(s)]

    def forget(self, store: BlobStore, digests: list[str]) -> None:
        """Delete from ``store`` the blobs of ``digests`` that nothing keeps, deciding under the
        journal's write lock: an intake (maybe another process's) that took the same content
        commits its references under that lock too, after checking its blobs are still there."""
        if not digests:
            return
        with self.transaction():
            store.delete([sha for sha in dict.fromkeys(digests) if not self.kept(sha)])

    def bytes_of(self, student: str) -> int:
        """What a student's submissions and pages hold in the store (each distinct blob once)."""
        found = self.db.execute(
            "SELECT SUM(size) FROM (SELECT DISTINCT r.sha256, r.size FROM refs r JOIN submissions s ON s.key = r.key "
            "WHERE s.student = ? AND r.kind != ?)", (student, MANIFEST)).fetchone()[0]
        return int(found or 0)

    def shares(self, student: str, sha256: str) -> bool:
        """Whether a submission of ``student`` already refers to this blob (it costs them nothing more)."""
        return self.db.execute("SELECT 1 FROM refs r JOIN submissions s ON s.key = r.key WHERE s.student = ? AND "
                               "r.sha256 = ? AND r.kind != ? LIMIT 1", (student, sha256, MANIFEST)).fetchone() is not None

    def evictable_pages(self, student: str) -> list[str]:
        """Keys of a student's finished submissions that still hold pages or feedback, oldest first."""
        return [r[0] for r in self.db.execute(
            f"SELECT DISTINCT s.key FROM submissions s JOIN refs r ON r.key = s.key WHERE s.student = ? AND "
            f"r.kind IN (?, ?) AND s.state IN ({', '.join('?' * len(DONE))}) ORDER BY s.time_ns",
            (student, FEEDBACK, PAGE, *DONE))]

    # -- events, pages, meta -------------------------------------------------------------------

    def _event(self, key: str, event: str, detail: str = "") -> None:
        self.db.execute("INSERT INTO events (at, key, event, detail) VALUES (?, ?, ?, ?)",
                        (self.clock(), key, event, detail))

    def event(self, key: str, event: str, detail: str = "") -> None:
        with self.transaction():
            self._event(key, event, detail)

    def events(self, key: str | None = None) -> list[dict[str, Any]]:
        query, args = ("SELECT * FROM events WHERE key = ? ORDER BY id", (key,)) if key else ("SELECT * FROM events ORDER BY id", ())
        return [dict(r) for r in self.db.execute(query, args)]

    def count_events(self, event: str) -> dict[str, int]:
        """key -> how many times ``event`` was recorded for it (e.g. "graded": exactly once each)."""
        return {r[0]: r[1] for r in self.db.execute("SELECT key, COUNT(*) FROM events WHERE event = ? GROUP BY key", (event,))}

    def claim_page(self, name: str, student: str, key: str, kind: str) -> str:
        """Bind a page name to ``student`` (``kind``: "submission" or "refusal"). Returns "" when the
        name is theirs, else why not: a name is a secret nbgrader wrote into one student's entry, so a
        second student carrying it copied it. The first submission keeps it; a refusal page never
        takes a name from a submission, and gives its own up to one."""
        with self.transaction():
            found = self.db.execute("SELECT student, kind FROM pages WHERE name = ?", (name,)).fetchone()
            if found is None or found["student"] == student and (found["kind"] == kind or kind == "submission"):
                self.db.execute("INSERT OR REPLACE INTO pages (name, student, key, kind) VALUES (?, ?, ?, ?)",
                                (name, student, key, kind))
                return ""
            if kind == "submission" and found["kind"] == "refusal":
                self.db.execute("UPDATE pages SET student = ?, key = ?, kind = ? WHERE name = ?", (student, key, kind, name))
                return ""
            if found["student"] == student:
                return ""
            return (f"its submission_secret.txt is {found['student']}'s (it names their feedback page): copied from "
                    "their hand-in; not released")

    def set_meta(self, **values: Any) -> None:
        with self.transaction():
            for name, value in values.items():
                self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, json.dumps(value)))

    def meta(self) -> dict[str, Any]:
        return {r[0]: json.loads(r[1]) for r in self.db.execute("SELECT name, value FROM meta")}


@dataclass(frozen=True)
class Received:
    """What the grading service received from one inbound entry (``received``)."""
    time: _dt.datetime                       # its trusted time
    state: str
    files: dict[str, tuple[str, int]]        # relative path -> (sha256, size); empty when refused
    reason: str = ""


def received(course_root: str | os.PathLike[str], entry: str) -> Received | None:
    """The service's record of the inbound entry named ``entry`` (None: the service never took it).
    ``nbgrader collect`` (labgrader.exchange.collect.TrustedCollect) asks it: content received by the
    service is never taken again under its time unless it is byte for byte what was received."""
    path = journal_path(course_root)
    if not os.path.exists(path):
        return None
    journal = Journal(path, readonly=True)
    try:
        key = f"inbound:{entry}"
        try:
            row = journal.get(key)
        except KeyError:
            return None
        files = {name: (sha, size) for kind in (CONTENT, MANIFEST) for name, sha, size in journal.refs(key, kind)}
        moment = _dt.datetime.fromtimestamp(row["time_ns"] / 1e9, _dt.timezone.utc)
        return Received(moment, row["state"], files, row["reason"])
    except sqlite3.Error:
        return None
    finally:
        journal.close()


def _statements(script: str) -> list[str]:
    lines = [line.split("--")[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _row(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["notebooks"] = json.loads(data.get("notebooks") or "[]")
    data["result"] = json.loads(data.get("result") or "{}")
    return data
