"""The page a student fetches for one submission and notebook (nbgrader's ``Fetch Feedback``), as
the course's policy allows at that moment: a receipt, the visible tests, the score, or nbgrader's
full feedback page with the receipt on top.

Pure: everything comes in a ``PageView`` (the submission's ``SubmissionRecord`` when graded), and
the markup is a template (labgrader/templates/service_banner.html.j2, service_page.html.j2) with
autoescape: every text that a student, their code or the grader's messages could have shaped is
escaped; the page has no script and loads nothing. At levels below ``full`` nothing of the hidden
tests' outcomes is on the page: not their messages, not their points, not the score.
"""
from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import jinja2
from markupsafe import Markup

from labgrader.record import SubmissionRecord
from labgrader.templates import environment
from labgrader.text import one_line

from . import journal as states

_STYLE = """body{font-family:system-ui,sans-serif;max-width:52em;margin:2em auto;padding:0 1em;color:#1d1d1d}
.lg-banner{border:1px solid #c8c8c8;border-radius:6px;padding:.8em 1em;margin:1em auto;max-width:60em;
font-family:system-ui,sans-serif;background:#f7f7f7}
.lg-state{font-weight:600}.lg-pass{color:#1b7f3b}.lg-fail{color:#b3261e}.lg-hidden{color:#555}
table.lg-checks{border-collapse:collapse;margin:.6em 0}table.lg-checks td,table.lg-checks th{border-bottom:1px solid #ddd;
padding:.3em .6em;text-align:left;vertical-align:top}"""


@dataclass
class PageView:
    assignment: str
    notebook: str
    time: str                        # the trusted time of the submission (UTC)
    state: str                       # the journal's state
    level: str                       # what the policy shows now
    due: _dt.datetime | None = None  # this student's due date (with extension)
    reason: str = ""                 # refusal, failure, deferral
    ahead: int = 0                   # queued: submissions before this one
    not_before: float | None = None  # deferred: when a slot frees up
    cap: int = 0
    paused: bool = False             # the assignment's grading is paused (a lab error)
    record: SubmissionRecord | None = None  # graded: what the grading recorded
    kept_instead: str = ""           # graded for the student only: the time of the submission the gradebook keeps
    source: str = "inbound"          # "inbound" (the file-system exchange) or "upload"
    full_page: bytes | None = None   # nbgrader's feedback page of this notebook (graded only)


def render(view: PageView) -> bytes:
    """The page's bytes (UTF-8 HTML)."""
    banner = Markup(_template("service_banner.html.j2").render(v=view, record=view.record, clock=_clock,
                                                               duration=_duration, later=_later(view)))
    if view.state == states.GRADED and view.level == "full" and view.full_page:
        return _with_banner(view.full_page, banner)
    title = f"{view.assignment}: your submission" + (f" ({view.notebook})" if view.notebook != view.assignment else "")
    return _template("service_page.html.j2").render(title=title, style=Markup(_STYLE), banner=banner).encode()


def _template(name: str) -> jinja2.Template:
    env = environment()
    env.filters.setdefault("one_line", one_line)
    return env.get_template(name)


def _later(view: PageView) -> Callable[[str], str]:
    def later(what: str) -> str:
        if view.due is None:
            return f"{what} will be shown when your instructor releases them."
        return f"{what} will be shown after the due date, {view.due.strftime('%Y-%m-%d %H:%M UTC')}: fetch feedback again then."
    return later


def _with_banner(page: bytes, banner: str) -> bytes:
    """nbgrader's page with the receipt at the top of its body (the banner is escaped markup)."""
    text = page.decode("utf-8", "replace")
    found = re.search(r"<body[^>]*>", text)
    block = f"<style>{_STYLE.split('}', 1)[1]}</style>{banner}"
    if not found:
        return (block + text).encode()
    return (text[:found.end()] + block + text[found.end():]).encode()


def _clock(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%H:%M UTC (%Y-%m-%d)")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"
