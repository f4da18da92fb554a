"""The service's journal: what it collected, graded and released, so that a restart loses nothing
and grades nothing twice (``<course>/.labgrader/service/journal.sqlite``).

One row per submission (an inbound entry as it was when collected: ``<entry>@<ctime ns>``, so an
entry changed after its collection is a new submission), one append-only event per step. The
service is the only writer (one service per course: ``service.lock``); ``serve --status`` reads.
Every change is one transaction (WAL, synchronous=FULL): a SIGKILL leaves the journal as it was
after the last completed step. A row left ``grading`` by a killed service is graded again at the
next start (its attempt counted: a submission that kills the service twice is flagged, not retried
forever).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

QUEUED, DEFERRED, GRADING, GRADED, FAILED, FLAGGED, REFUSED, SUPERSEDED = (
    "queued", "deferred", "grading", "graded", "failed", "flagged", "refused", "superseded")
DONE = (GRADED, FAILED, FLAGGED, REFUSED, SUPERSEDED)
MAX_ATTEMPTS = 2  # a crash is retried once, then flagged for the instructor

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    key TEXT PRIMARY KEY,            -- "<entry>@<ctime ns>"
    entry TEXT NOT NULL,
    assignment TEXT NOT NULL,
    student TEXT NOT NULL,           -- the entry's owner ("" when no user owns it)
    uid INTEGER NOT NULL DEFAULT -1,
    time TEXT NOT NULL,              -- the trusted time (latest ctime), UTC
    time_ns INTEGER NOT NULL,
    seen REAL NOT NULL,              -- when the service collected it
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    suspect INTEGER NOT NULL DEFAULT 0,   -- crashed once: graded alone next time
    admitted REAL,                   -- admitted to the queue (what the per-hour cap counts)
    not_before REAL,                 -- deferred by the cap until then
    started REAL,
    graded REAL,
    kept TEXT NOT NULL DEFAULT '',   -- the copy kept on disk
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


def journal_path(course_root: str | os.PathLike) -> str:
    return os.path.join(os.fspath(course_root), ".labgrader", "service", "journal.sqlite")


class Journal:

    def __init__(self, path: str, readonly: bool = False, clock=time.time):
        self.path, self.clock = path, clock
        if readonly:  # (a stopped service left no WAL: read the file as it is, creating nothing beside it)
            mode = "mode=ro" if os.path.exists(path + "-wal") else "immutable=1"
            self.db = sqlite3.connect(f"file:{path}?{mode}", uri=True, timeout=10)
        else:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    # -- rows ----------------------------------------------------------------------------------

    def add(self, row: dict[str, Any], event: str, detail: str = "") -> None:
        """A newly collected submission (its state decided), with its first event."""
        row = dict(row, seen=row.get("seen", self.clock()))
        for name in ("notebooks", "result"):
            if name in row and not isinstance(row[name], str):
                row[name] = json.dumps(row[name])
        names = ", ".join(row)
        with self.db:
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
        with self.db:
            if fields:
                assignments = ", ".join(f"{name} = ?" for name in fields)
                self.db.execute(f"UPDATE submissions SET {assignments} WHERE key = ?", (*fields.values(), key))
            if event:
                self._event(key, event, detail)

    def rows(self, where: str = "1", args: tuple = ()) -> list[dict[str, Any]]:
        return [_row(r) for r in self.db.execute(f"SELECT * FROM submissions WHERE {where} ORDER BY time_ns, key", args)]

    def in_state(self, *states: str) -> list[dict[str, Any]]:
        return self.rows(f"state IN ({', '.join('?' * len(states))})", states)

    def admitted_times(self, assignment: str, student: str) -> list[float]:
        """When each of a student's submissions was admitted to the queue (the cap counts these)."""
        return [r[0] for r in self.db.execute(
            "SELECT admitted FROM submissions WHERE assignment = ? AND student = ? AND admitted IS NOT NULL",
            (assignment, student))]

    def entry_times(self) -> dict[str, int]:
        """entry name -> the latest ctime (ns) of it that was journaled."""
        return {r[0]: r[1] for r in self.db.execute("SELECT entry, MAX(time_ns) FROM submissions GROUP BY entry")}

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

    # -- events, pages, meta -------------------------------------------------------------------

    def _event(self, key: str, event: str, detail: str = "") -> None:
        self.db.execute("INSERT INTO events (at, key, event, detail) VALUES (?, ?, ?, ?)",
                        (self.clock(), key, event, detail))

    def event(self, key: str, event: str, detail: str = "") -> None:
        with self.db:
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
        with self.db:
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
        with self.db:
            for name, value in values.items():
                self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, json.dumps(value)))

    def meta(self) -> dict[str, Any]:
        return {r[0]: json.loads(r[1]) for r in self.db.execute("SELECT name, value FROM meta")}


def _row(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["notebooks"] = json.loads(data.get("notebooks") or "[]")
    data["result"] = json.loads(data.get("result") or "{}")
    return data
