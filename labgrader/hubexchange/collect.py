"""``nbgrader collect`` from the exchange service: ``c.ExchangeFactory.collect =
"labgrader.hubexchange.collect.HubCollect"``.

The service lists every submission with its student (from the hub token at upload) and its time
(the server's clock), so nothing the student wrote decides who or when. Per student the newest is
collected (``--before-duedate``: the newest at or before the due date in the gradebook, else the
newest; ``--update``: replace an older copy; ``--student``: matched against the service's names).
Each archive is downloaded, checked against the sha256 the service listed, extracted safely into a
fresh folder beside ``submitted/<student>/<assignment>/`` with the service's ``timestamp.txt``
(which nbgrader's late penalties read; one in the archive is replaced), then moved into place. A
student id that is not a safe folder name is refused, with the reason; the rest are collected.
"""
from __future__ import annotations

import datetime as _dt
import fnmatch
import os
import shutil
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.abc import ExchangeCollect as ABCExchangeCollect

from labgrader.exchange.entries import claimed_id_problem
from labgrader.exchange.times import parse_time
from labgrader.text import printable

from . import archives
from .client import HubExchange


class HubCollect(HubExchange, ABCExchangeCollect):

    def init_src(self) -> None:
        assignment = self.assignment_id()
        receipts = self.json("GET", "assignments", assignment, "submissions")
        wanted = self.coursedir.student_id or "*"
        if wanted != "*":
            receipts = [r for r in receipts if fnmatch.fnmatchcase(r["student"], wanted)]
        self.duedate = self._duedate()
        by_student: dict[str, list[dict[str, Any]]] = {}
        for receipt in receipts:
            by_student.setdefault(receipt["student"], []).append(receipt)
        self.chosen = [self.choose(subs) for _, subs in sorted(by_student.items())]

    def _duedate(self) -> _dt.datetime | None:
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                due = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                return None
        return due.replace(tzinfo=_dt.timezone.utc) if due else None

    def choose(self, subs: list[dict[str, Any]]) -> dict[str, Any]:
        newest_first = sorted(subs, key=lambda r: r["timestamp"], reverse=True)
        if self.before_duedate and self.duedate is not None:
            on_time = [r for r in newest_first if parse_time(r["timestamp"]) <= self.duedate]
            if on_time:
                return on_time[0]
        return newest_first[0]

    def init_dest(self) -> None:
        pass

    def copy_files(self) -> None:
        assignment = self.coursedir.assignment_id
        if not self.chosen:
            self.log.warning("No submissions of '%s' for course '%s' to collect", assignment, self.coursedir.course_id)
            return
        self.log.info("Processing %d submissions of '%s' for course '%s'", len(self.chosen), assignment,
                      self.coursedir.course_id)
        for receipt in self.chosen:
            problem = claimed_id_problem(receipt["student"])
            if problem:
                self.log.error("Not collected: %s (%s)", printable(receipt["student"]), problem)
                continue
            self.collect_one(receipt)

    def collect_one(self, receipt: dict[str, Any]) -> None:
        student, assignment = receipt["student"], self.coursedir.assignment_id
        dest = self.coursedir.format_path(self.coursedir.submitted_directory, student, assignment)
        if os.path.isdir(dest):
            existing = self.coursedir.get_existing_timestamp(dest)
            newer = existing is None or parse_time(receipt["timestamp"]).replace(tzinfo=None) > existing
            if not ((self.update and newer) or (self.before_duedate and not same_time(existing, receipt))):
                self.log.info("Submission already exists, use --update to update: %s %s", student, assignment)
                return
            self.log.info("Updating submission: %s %s", student, assignment)
        else:
            self.log.info("Collecting submission: %s %s", student, assignment)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        staging = os.path.join(os.path.dirname(dest), f".{assignment}.collecting")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            with self.download("submissions", receipt["id"], sha256=receipt["sha256"]) as archive:
                archives.extract(archive, staging)
            stamp = os.path.join(staging, "timestamp.txt")
            if os.path.lexists(stamp):
                os.unlink(stamp)  # the student's own file: only the service's time counts
            with open(stamp, "x") as fh:
                fh.write(receipt["timestamp"])
            replace(staging, dest)
        except (archives.BadArchive, OSError) as exc:  # one submission never stops the class
            self.log.error("Not collected: %s's submission of %s: %s", printable(student), receipt["timestamp"], exc)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def same_time(existing: _dt.datetime | None, receipt: dict[str, Any]) -> bool:
    return existing is not None and parse_time(receipt["timestamp"]).replace(tzinfo=None) == existing


def replace(staging: str, dest: str) -> None:
    """Put ``staging`` at ``dest``; an older copy is removed only once the new one is in place."""
    old = dest + ".replaced"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.lexists(dest):
        os.rename(dest, old)
    os.rename(staging, dest)
    shutil.rmtree(old, ignore_errors=True)
