"""The instructor's uploads to the exchange service: the student version of an assignment
(``nbgrader release_assignment``) and the feedback pages of collected submissions
(``nbgrader release_feedback``). The service accepts both only from a member of the course's
instructors group (the token decides, not the unix account).

Feedback is keyed by submission: the page of ``feedback/<student>/<assignment>/<notebook>.html``
goes to the submission of that student whose service time is the ``timestamp.txt`` beside it
(the time ``nbgrader collect`` wrote), so a page always reaches the submission it was made from,
and only that student's token can fetch it.
"""
from __future__ import annotations

import glob
import os
import re
from typing import Any

from nbgrader.exchange.abc import ExchangeReleaseAssignment as ABCExchangeReleaseAssignment
from nbgrader.exchange.abc import ExchangeReleaseFeedback as ABCExchangeReleaseFeedback

from labgrader.safety import paths
from labgrader.text import printable

from .client import HubExchange


class HubReleaseAssignment(HubExchange, ABCExchangeReleaseAssignment):

    def init_src(self) -> None:
        self.src_path = self.coursedir.format_path(self.coursedir.release_directory, ".", self.coursedir.assignment_id)
        if not os.path.isdir(self.src_path):
            source = self.coursedir.format_path(self.coursedir.source_directory, ".", self.coursedir.assignment_id)
            if os.path.isdir(source):
                self.fail(f"Assignment found in '{source}' but not '{self.src_path}', run `nbgrader "
                          "generate_assignment` first.")
            self.fail(f"Assignment not found at: {self.src_path}")

    def init_dest(self) -> None:
        self.assignment_id()

    def copy_files(self) -> None:
        course, assignment = self.course(), self.coursedir.assignment_id
        self.log.info("Source: %s", self.src_path)
        self.log.info("Destination: %s", self.url("assignments", assignment))
        path, names = self.packed(self.src_path)
        try:
            with open(path, "rb") as body:
                response = self.call("PUT", "assignments", assignment, ok=(201, 409), data=body,
                                     params={"force": "1"} if self.force else {},
                                     headers={"Content-Type": "application/zip",
                                              "Content-Length": str(os.fstat(body.fileno()).st_size)})
        finally:
            os.unlink(path)
        if response.status_code == 409:
            self.fail(f"Destination already exists, add --force to overwrite: {course} {assignment}")
        self.log.info("Released as: %s %s (%d files)", course, assignment, len(names))


class HubReleaseFeedback(HubExchange, ABCExchangeReleaseFeedback):

    def init_src(self) -> None:
        student = self.coursedir.student_id or "*"
        self.src_path = self.coursedir.format_path(self.coursedir.feedback_directory, student, self.coursedir.assignment_id)

    def init_dest(self) -> None:
        self.assignment_id()

    def copy_files(self) -> None:
        excluded = set(filter(None, self.coursedir.student_id_exclude.split(",")))
        pattern = re.escape(os.path.sep).join([
            self.coursedir.format_path(self.coursedir.feedback_directory, "(?P<student_id>.*)",
                                       self.coursedir.assignment_id, escape=True), r"(?P<notebook_id>.*)\.html"])
        receipts: dict[str, list[dict[str, Any]]] = {}
        for html_file in sorted(glob.glob(os.path.join(self.src_path, "*.html"))):
            found = re.match(pattern, html_file)
            if found is None or found["student_id"] in excluded:
                continue
            student, notebook = found["student_id"], found["notebook_id"]
            if student not in receipts:
                receipts[student] = self.json("GET", "assignments", self.coursedir.assignment_id, "submissions",
                                              params={"student": student})
            self.release_page(html_file, student, notebook, receipts[student])

    def release_page(self, html_file: str, student: str, notebook: str, receipts: list[dict[str, Any]]) -> None:
        assignment = self.coursedir.assignment_id
        try:
            stamp = paths.read_regular(os.path.join(os.path.dirname(html_file), "timestamp.txt"), 4096).decode().strip()
        except (OSError, paths.UnsafePath, UnicodeDecodeError) as exc:
            self.log.error("Not released for %s: no timestamp.txt beside %s (%s)", printable(student), html_file, exc)
            return
        receipt = next((r for r in receipts if r["timestamp"] == stamp), None)
        if receipt is None:
            self.log.error("Not released for %s: the exchange has no submission of %s at %s (collect it with "
                           "nbgrader collect, then grade and generate feedback again)", printable(student), assignment, stamp)
            return
        self.log.info("Releasing feedback for student '%s' on assignment '%s/%s/%s' (%s)", printable(student),
                      self.coursedir.course_id, assignment, notebook, stamp)
        with open(html_file, "rb") as page:
            self.call("PUT", "submissions", receipt["id"], "feedback", notebook, data=page,
                      headers={"Content-Type": "text/html", "Content-Length": str(os.fstat(page.fileno()).st_size)})
