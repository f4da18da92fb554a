"""``nbgrader list`` and the Assignments tab's lists, from the exchange service:
``c.ExchangeFactory.list = "labgrader.hubexchange.listing.HubList"``.

It returns exactly the dicts of nbgrader's ``exchange/default/list.py``, which the tab's server
extension and its JavaScript read: released assignments (``released``, or ``fetched`` when the
student's folder exists, with its notebooks), the student's own submissions from the local record
(``--cached``: each with ``timestamp``, ``has_local_feedback``, ``has_exchange_feedback``,
``feedback_updated``, ``local_feedback_path``, per notebook and per submission, grouped by course,
student and assignment), and for instructors every submission on the service (``--inbound``).
"""
from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Callable
from typing import Any

from nbgrader.exchange.abc import ExchangeList as ABCExchangeList

from .client import HubExchange
from .fetch import cached_submissions, sha256_of


class HubList(HubExchange, ABCExchangeList):

    def init_src(self) -> None:
        self.course()

    def init_dest(self) -> None:
        pass

    def copy_files(self) -> None:
        pass

    def assignment_filter(self) -> str:
        return self.coursedir.assignment_id or "*"

    # -- what nbgrader's ExchangeList.start calls ----------------------------------------------

    def list_files(self) -> list[dict[str, Any]]:
        assignments = self.parse_assignments()
        if self.inbound or self.cached:
            self.log.info("Submitted assignments:")
            for assignment in assignments:
                for info in assignment["submissions"]:
                    self.log.info(format_submission(info))
        else:
            self.log.info("Released assignments:")
            for info in assignments:
                self.log.info("%s %s%s", info["course_id"], info["assignment_id"],
                              " (already downloaded)" if info["status"] == "fetched" else "")
        return assignments

    def remove_files(self) -> list[dict[str, Any]]:
        if self.inbound:
            self.fail("Submissions are the course's record: the exchange never removes them")
        assignments = self.parse_assignments()
        if self.cached:
            for assignment in assignments:
                for info in assignment["submissions"]:
                    self.log.info("Removing %s", format_submission(info))
                    shutil.rmtree(info["path"], ignore_errors=True)
        else:
            for info in assignments:
                self.log.info("Removing %s %s", info["course_id"], info["assignment_id"])
                self.call("DELETE", "assignments", info["assignment_id"])
        return assignments

    def parse_assignments(self) -> list[dict[str, Any]]:
        if self.cached:
            return grouped(self.cached_infos())
        if self.inbound:
            return grouped(self.inbound_infos())
        return self.released_infos()

    # -- the three lists -----------------------------------------------------------------------

    def released_infos(self) -> list[dict[str, Any]]:
        course, wanted, infos = self.course(), self.assignment_filter(), []
        for release in self.json("GET", "assignments"):
            if wanted != "*" and release["assignment"] != wanted:
                continue
            info: dict[str, Any] = {"course_id": course, "assignment_id": release["assignment"]}
            local = self.local_dir(course, release["assignment"])
            if os.path.exists(local):
                info.update(status="fetched", path=local, notebooks=local_notebooks(local))
            else:
                info.update(status="released", path=self.url("assignments", release["assignment"]),
                            notebooks=[{"notebook_id": name[:-len(".ipynb")], "path": name}
                                       for name in sorted(release["files"]) if name.endswith(".ipynb") and "/" not in name])
            if self.remove:
                info["status"] = "removed"
            infos.append(info)
        return infos

    def cached_infos(self) -> list[dict[str, Any]]:
        course = self.course()
        records = cached_submissions(self, course, self.assignment_filter(), self.coursedir.student_id or "*")
        pages: dict[str, dict[str, Any]] = {}
        for assignment in sorted({r["assignment"] for r in records}):
            for receipt in self.json("GET", "assignments", assignment, "submissions"):
                pages[receipt["id"]] = {p["notebook"]: p for p in receipt.get("feedback", [])}
        infos = []
        for record in records:
            local = self.local_dir(course, record["assignment"])
            notebooks = [dict(nb, **feedback_state(os.path.join(local, "feedback", record["timestamp"]), nb["notebook_id"],
                                                   pages.get(record["id"], {})))
                         for nb in local_notebooks(record["path"])]
            infos.append(submission_info(course, record["student"], record["assignment"], record["timestamp"],
                                         record["path"], notebooks, os.path.join(local, "feedback", record["timestamp"])))
        return infos

    def inbound_infos(self) -> list[dict[str, Any]]:
        course, wanted = self.course(), self.assignment_filter()
        student = self.coursedir.student_id if self.coursedir.student_id not in ("", "*") else None
        assignments = [wanted] if wanted != "*" else [r["assignment"] for r in self.json("GET", "assignments")]
        infos = []
        for assignment in assignments:
            params = {"student": student} if student else {}
            for receipt in self.json("GET", "assignments", assignment, "submissions", params=params):
                have = {p["notebook"] for p in receipt.get("feedback", [])}
                notebooks = [{"notebook_id": name[:-len(".ipynb")], "path": name, "has_local_feedback": False,
                              "has_exchange_feedback": name[:-len(".ipynb")] in have, "local_feedback_path": None,
                              "feedback_updated": False}
                             for name in sorted(receipt["files"]) if name.endswith(".ipynb") and "/" not in name]
                infos.append(submission_info(course, receipt["student"], assignment, receipt["timestamp"],
                                             self.url("submissions", receipt["id"]), notebooks, None))
        return infos


def local_notebooks(folder: str) -> list[dict[str, Any]]:
    return [{"notebook_id": os.path.splitext(os.path.basename(p))[0], "path": os.path.abspath(p)}
            for p in sorted(glob.glob(os.path.join(glob.escape(folder), "*.ipynb")))]


def feedback_state(local_dir: str, notebook_id: str, pages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """nbgrader's per-notebook feedback fields: fetched here, available on the service, changed since."""
    local = os.path.join(local_dir, f"{notebook_id}.html")
    has_local, page = os.path.isfile(local), pages.get(notebook_id)
    return {"has_local_feedback": has_local, "has_exchange_feedback": page is not None,
            "local_feedback_path": local if has_local else None,
            "feedback_updated": bool(has_local and page is not None and sha256_of(local) != page["sha256"])}


def submission_info(course: str, student: str, assignment: str, timestamp: str, path: str,
                    notebooks: list[dict[str, Any]], feedback_dir: str | None) -> dict[str, Any]:
    """One submission as nbgrader's list describes it (the fields over all its notebooks)."""
    every: Callable[[str], bool] = lambda key: bool(notebooks) and all(nb[key] for nb in notebooks)
    has_local = every("has_local_feedback")
    return {"course_id": course, "student_id": student, "assignment_id": assignment, "timestamp": timestamp,
            "status": "submitted", "path": path, "notebooks": notebooks, "has_local_feedback": has_local,
            "has_exchange_feedback": every("has_exchange_feedback"),
            "feedback_updated": any(nb["feedback_updated"] for nb in notebooks),
            "local_feedback_path": feedback_dir if has_local else None}


def grouped(infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Submissions grouped by (course, student, assignment), oldest first, as nbgrader's list groups them."""
    keys = sorted({(i["course_id"], i["student_id"], i["assignment_id"]) for i in infos})
    result = []
    for course, student, assignment in keys:
        subs = sorted((i for i in infos if (i["course_id"], i["student_id"], i["assignment_id"]) ==
                       (course, student, assignment)), key=lambda i: i["timestamp"])
        result.append({"course_id": course, "student_id": student, "assignment_id": assignment,
                       "status": subs[0]["status"], "submissions": subs})
    return result


def format_submission(info: dict[str, Any]) -> str:
    msg = f"{info['course_id']} {info['student_id']} {info['assignment_id']} {info['timestamp']}"
    if info["has_local_feedback"] and not info["feedback_updated"]:
        return msg + " (feedback already fetched)"
    if info["has_exchange_feedback"]:
        return msg + " (feedback ready to be fetched)"
    return msg + " (no feedback available)"
