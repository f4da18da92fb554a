"""``nbgrader submit`` (and the Assignments tab's Submit) as an upload to the exchange service:
``c.ExchangeFactory.submit = "labgrader.hubexchange.submit.HubSubmit"``.

The folder is zipped (nbgrader's ``ignore``/``include``/``max_file_size`` rules) and streamed to the
service with a fresh ``Upload-Id``; the service answers with the submission's id and **its** time
(its clock when the last byte arrived), which is what the local record (the nbgrader cache entry
``<student>+<assignment>+<time>``, read by the Assignments tab and ``fetch_feedback``) is named
after. ``--student`` is refused: the service takes the student from the token.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from typing import Any

from nbgrader.exchange.abc import ExchangeSubmit as ABCExchangeSubmit

from . import archives
from .client import HubExchange
from .config import UPLOAD_ID_HEADER

RECORD = "submission.json"


class HubSubmit(HubExchange, ABCExchangeSubmit):

    def init_src(self) -> None:
        self.src_path = self.local_dir(self.course(), self.coursedir.assignment_id)
        self.assignment_id()
        if not os.path.isdir(self.src_path):
            self.fail(f"Assignment not found at: {self.src_path}")

    def init_dest(self) -> None:
        if self.coursedir.student_id not in ("*", ""):
            self.fail("Submit as yourself, without --student: the exchange takes the student from your "
                      "JupyterHub token")
        self.cache_path = os.path.join(self.cache, self.course())

    def copy_files(self) -> None:
        assignment = self.coursedir.assignment_id
        release = self.release_of(assignment)
        path, names = self.packed(self.src_path)
        try:
            self.check_notebooks(release["files"], names)
            self.check_quota(os.path.getsize(path))
            self.log.info("Source: %s", self.src_path)
            receipt = self.upload("POST", path, "assignments", assignment, "submissions",
                                  headers={UPLOAD_ID_HEADER: secrets.token_urlsafe(24)})
            self.timestamp = receipt["timestamp"]
            self.remember(path, receipt)
        finally:
            os.unlink(path)
        self.log.info("Submitted as: %s %s %s", self.course(), assignment, receipt["timestamp"])

    def check_notebooks(self, released: list[str], submitted: list[str]) -> None:
        """nbgrader's check: notebooks of the release missing from the submission (``strict``: refused)."""
        def notebooks(names: list[str]) -> set[str]:
            return {n for n in names if n.endswith(".ipynb") and "/" not in n}
        missing = sorted(notebooks(released) - notebooks(submitted))
        extra = sorted(notebooks(submitted) - notebooks(released))
        if not missing and not extra:
            return
        said = f"missing: {', '.join(missing) or 'none'}; extra: {', '.join(extra) or 'none'}"
        if missing and self.strict:
            self.fail(f"Assignment {self.coursedir.assignment_id} not submitted. There are missing notebooks "
                      f"for the submission ({said})")
        self.log.warning("Possible missing notebooks and/or extra notebooks submitted for assignment %s (%s)",
                         self.coursedir.assignment_id, said)

    def check_quota(self, size: int) -> None:
        """The service's limits, said before the upload (it refuses anyway; a proxy in between may turn
        an early refusal of a large upload into its own error page)."""
        me = self.json("GET", "whoami")
        limits, used = me["limits"], me["used"]
        if size > limits["max_upload_bytes"]:
            self.fail(f"Not submitted: the assignment's folder zips to {size} bytes; the exchange takes at most "
                      f"{limits['max_upload_bytes']} (remove large files you do not need to hand in)")
        if used["bytes"] + size > limits["max_student_bytes"]:
            self.fail(f"Not submitted: your submissions already hold {used['bytes']} bytes; this one of {size} would "
                      f"pass your quota of {limits['max_student_bytes']}")

    def remember(self, archive: str, receipt: dict[str, Any]) -> None:
        """The local record nbgrader's list and fetch_feedback read: the submitted files, the service's
        time in ``timestamp.txt`` and its receipt in ``submission.json``."""
        entry = os.path.join(self.cache_path, f"{receipt['student']}+{receipt['assignment']}+{receipt['timestamp']}")
        staging = entry + ".partial"
        shutil.rmtree(staging, ignore_errors=True)
        archives.extract(archive, staging)
        with open(os.path.join(staging, "timestamp.txt"), "w") as fh:
            fh.write(receipt["timestamp"])
        with open(os.path.join(staging, RECORD), "w") as fh:
            json.dump(dict(receipt, course=self.course()), fh)
        shutil.rmtree(entry, ignore_errors=True)
        os.rename(staging, entry)
