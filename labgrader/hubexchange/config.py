"""The exchange service's settings, in the course's ``nbgrader_config.py`` (``c.HubExchangeService``),
and the names both sides agree on (the API's paths, ids, headers)."""
from __future__ import annotations

import re

from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import LoggingConfigurable

MiB = 1024 ** 2
UPLOAD_ID_HEADER = "Upload-Id"
UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Assignment ids become folder names on every side: letters, digits, and . _ - inside.
ASSIGNMENT_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def api_path(course: str, *parts: str) -> str:
    """The path of an API resource below the service's prefix (parts are quoted by the caller)."""
    return "/".join(("api", "courses", course, *parts))


class HubExchangeService(LoggingConfigurable):
    """The exchange service on the hub (``python -m labgrader.hubexchange``, labgrader/hubexchange/):
    who may do what, and the quotas enforced at the door."""

    store = Unicode("", config=True,
                    help="Folder where the service keeps uploads and its records (made 0700; default: "
                         "<course root>/.labgrader/exchange). No student may reach it: on one machine, "
                         "it belongs to the service's own uid.")
    students_group = Unicode("nbgrader-{course_id}", config=True,
                             help="JupyterHub group of the course's students ({course_id} is replaced).")
    instructors_group = Unicode("formgrade-{course_id}", config=True,
                                help="JupyterHub group of the course's instructors ({course_id} is replaced).")
    group_cache_seconds = Float(10.0, config=True,
                                help="Seconds the members of the two groups are cached (a change on the hub takes "
                                     "effect after at most this long).")
    token_cache_seconds = Integer(10, config=True,
                                  help="Seconds the hub's answer for a token is cached (a revoked token is refused "
                                       "after at most this long).")
    max_upload_bytes = Integer(32 * MiB, config=True,
                               help="Largest submission upload (the archive as sent; HTTP 413 beyond).")
    max_uploads_per_hour = Integer(60, config=True,
                                   help="Upload attempts per student in any hour, refused ones included "
                                        "(HTTP 429 beyond; 0: no limit).")
    max_student_bytes = Integer(512 * MiB, config=True,
                                help="Bytes of submissions kept per student, all assignments together "
                                     "(HTTP 413 beyond).")
    max_release_bytes = Integer(256 * MiB, config=True, help="Largest release upload (instructors).")
    max_feedback_bytes = Integer(16 * MiB, config=True, help="Largest feedback page upload (instructors).")
    grade_on_upload = Bool(True, config=True,
                           help="Hand each accepted submission to the course's grading service at once (its intake; "
                                "python -m labgrader serve grades it) and serve the pages it makes.")
    max_members = Integer(1000, config=True, help="Most files in one uploaded archive.")
    max_file_bytes = Integer(64 * MiB, config=True, help="Largest file inside an uploaded archive, unpacked.")
    max_unpacked_bytes = Integer(256 * MiB, config=True, help="Most bytes one uploaded archive unpacks to.")
