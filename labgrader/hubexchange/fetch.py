"""A student's downloads from the exchange service: the released assignment
(``nbgrader fetch_assignment``, the Assignments tab's Fetch) and their own feedback pages
(``nbgrader fetch_feedback``, Fetch Feedback).

Archives are checked and extracted file by file (``archives.extract``: regular files, safe names,
never through a link, within caps). The assignment lands in a fresh folder (made complete, then
renamed into place); with ``replace_missing_files`` only missing files are added, never over the
student's work. Feedback is asked for each submission the local record names, and the service
answers only for the token's own submissions.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
from typing import Any

from nbgrader.exchange.abc import ExchangeFetchAssignment as ABCExchangeFetchAssignment
from nbgrader.exchange.abc import ExchangeFetchFeedback as ABCExchangeFetchFeedback

from labgrader.exchange.entries import name_problem

from . import archives
from .client import HubExchange
from .submit import RECORD


class HubFetchAssignment(HubExchange, ABCExchangeFetchAssignment):

    def init_src(self) -> None:
        self.course()
        self.assignment_id()

    def init_dest(self) -> None:
        self.dest_path = self.local_dir(self.course(), self.coursedir.assignment_id)
        if os.path.isdir(self.dest_path) and not self.replace_missing_files:
            self.fail(f"You already have a copy of the assignment in this directory: {self.coursedir.assignment_id}")

    def copy_files(self) -> None:
        assignment = self.coursedir.assignment_id
        release = self.release_of(assignment)
        self.log.info("Source: %s", self.url("assignments", assignment))
        self.log.info("Destination: %s", self.dest_path)
        with self.download("assignments", assignment, sha256=release["sha256"]) as archive:
            try:
                if os.path.isdir(self.dest_path):
                    added = archives.extract(archive, self.dest_path, skip_existing=True)
                    for name in added:
                        self.log.warning("Replacing missing file '%s'", name)
                else:
                    self.extract_new(archive)
            except (archives.BadArchive, OSError) as exc:
                self.fail(f"The release could not be unpacked: {exc}")
        self.log.info("Fetched as: %s %s", self.course(), assignment)

    def extract_new(self, archive: str) -> None:
        parent = os.path.dirname(self.dest_path)
        os.makedirs(parent, exist_ok=True)
        staging = os.path.join(parent, f".{os.path.basename(self.dest_path)}.fetching")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            archives.extract(archive, staging)
            os.rename(staging, self.dest_path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def cached_submissions(lister: HubExchange, course: str, assignment: str, student: str = "*") -> list[dict[str, Any]]:
    """The submissions this account made, from the local record (``submission.json`` of each cache
    entry ``<student>+<assignment>+<time>``), oldest first, each with its entry's ``path``."""
    found = []
    for path in sorted(glob.glob(os.path.join(glob.escape(lister.cache), glob.escape(course), "*+*+*"))):
        try:
            with open(os.path.join(path, RECORD)) as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            continue  # an entry stock nbgrader made: not ours to read
        if (assignment in ("", "*") or record.get("assignment") == assignment) and \
                (student in ("", "*") or record.get("student") == student):
            found.append(dict(record, path=path))
    return sorted(found, key=lambda r: r["timestamp"])


class HubFetchFeedback(HubExchange, ABCExchangeFetchFeedback):

    def init_src(self) -> None:
        if self.coursedir.student_id not in ("*", ""):
            self.fail("Fetch your own feedback, without --student: the exchange answers for your token only")
        self.submissions = cached_submissions(self, self.course(), self.coursedir.assignment_id or "*")

    def init_dest(self) -> None:
        self.course()

    def copy_files(self) -> None:
        for sub in self.submissions:
            listing = self.json("GET", "submissions", sub["id"], "feedback")
            dest = os.path.join(self.local_dir(self.course(), sub["assignment"]), "feedback", sub["timestamp"])
            for page in listing["pages"]:
                self.fetch_page(sub, page, dest)

    def fetch_page(self, sub: dict[str, Any], page: dict[str, Any], dest: str) -> None:
        notebook = page["notebook"]
        if name_problem(notebook):
            self.log.error("Skipped a feedback page the exchange named %r", notebook)
            return
        target = os.path.join(dest, f"{notebook}.html")
        if os.path.isfile(target) and sha256_of(target) == page["sha256"]:
            return
        with self.download("submissions", sub["id"], "feedback", notebook, sha256=page["sha256"]) as fetched:
            os.makedirs(dest, exist_ok=True)
            shutil.copyfile(fetched, target + ".part")
            os.replace(target + ".part", target)
        self.log.info("Fetched feedback: %s", target)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
