"""The page a student fetches for one submission and notebook (nbgrader's ``Fetch Feedback``), as
the course's policy allows at that moment: a receipt, the visible tests, the score, or nbgrader's
full feedback page with the receipt on top.

Pure: everything comes in a ``PageView``. Every text that a student, their code or the grader's
messages could have shaped is escaped; the page has no script and loads nothing. At levels below
``full`` nothing of the hidden tests' outcomes is on the page: not their messages, not their
points, not the score.
"""
from __future__ import annotations

import datetime as _dt
import html
import re
from dataclasses import dataclass, field
from typing import Any

from labgrader.text import one_line

from . import journal as states
from .policy import shows

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
    result: dict[str, Any] = field(default_factory=dict)
    full_page: bytes | None = None   # nbgrader's feedback page of this notebook (graded only)


def render(view: PageView) -> bytes:
    """The page's bytes (UTF-8 HTML)."""
    banner = _banner(view)
    if view.state == states.GRADED and view.level == "full" and view.full_page:
        return _with_banner(view.full_page, banner)
    title = f"{view.assignment}: your submission" + (f" ({view.notebook})" if view.notebook != view.assignment else "")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{_e(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{_e(title)}</h1>{banner}</body></html>\n").encode()


def _banner(view: PageView) -> str:
    parts = [f'<p class="lg-receipt">Received: <b>{_e(view.time)}</b> (when your files last changed in the exchange, '
             "by the server's clock).</p>"]
    parts.append(f'<p class="lg-state">{_state_line(view)}</p>')
    if view.state == states.GRADED:
        parts += _graded(view)
    return '<div class="lg-banner">' + "".join(parts) + "</div>"


def _state_line(view: PageView) -> str:
    reason = _e(one_line(view.reason, 1500))
    if view.state == states.QUEUED and view.paused:
        return ("Received. Grading is paused for now (your instructor has been told); it will be graded when it "
                "resumes: fetch feedback again later.")
    if view.state in (states.QUEUED, states.GRADING):
        ahead = f" ({view.ahead} ahead of it)" if view.ahead else ""
        return f"Being graded{ahead}: fetch feedback again in a few seconds."
    if view.state == states.DEFERRED:
        when = _clock(view.not_before) if view.not_before else "later"
        return (f"Not graded yet: this course grades at most {view.cap} submissions of yours per hour, and that many "
                f"were graded in the last hour. This one will be graded after {when}, unless you submit again "
                "before then (only your newest waiting submission is graded).")
    if view.state == states.SUPERSEDED:
        return "Not graded: you submitted again while it waited, and the newer submission is graded instead."
    if view.state == states.REFUSED:
        return f"Not accepted: {reason}. Fix this and submit again."
    if view.state in (states.FAILED, states.FLAGGED):
        return (f"Could not be graded automatically ({reason}). Your instructor has been told and will grade it; "
                "you may also submit again.")
    return "Graded."


def _graded(view: PageView) -> list[str]:
    result, parts = view.result, []
    if result.get("kept_instead"):
        parts.append(f"<p>This submission arrived after the due date: it was graded for your information only. "
                     f"Your grade is that of your on-time submission of {_e(result['kept_instead'])}.</p>")
    elif result.get("late_seconds"):
        parts.append(f"<p>Submitted {_e(_duration(result['late_seconds']))} after the due date: the course's "
                     "late-submission rule applies.</p>")
    if view.level == "receipt":
        parts.append(f"<p>{_later(view, 'Your feedback')}</p>")
        return parts
    notebook = result.get("notebooks", {}).get(view.notebook, {})
    for fault in notebook.get("faults", [])[:5]:
        parts.append(f'<p class="lg-fail">Your notebook did not run to its end: {_e(one_line(fault, 500))}</p>')
    rows = [_check_row(check, view.level) for check in notebook.get("checks", [])]
    if rows:
        parts.append('<table class="lg-checks"><tr><th>test cell</th><th>outcome</th></tr>' + "".join(rows) + "</table>")
    if shows(view.level, "score"):
        score, total = result.get("score", 0.0), result.get("max_score", 0.0)
        penalty = result.get("penalty") or 0.0
        after = f" (late penalty {penalty:g}: {max(0.0, score - penalty):g} counts)" if penalty else ""
        parts.append(f"<p><b>Score: {score:g} / {total:g}</b>{after}</p>")
    if view.level in ("visible", "score"):
        hidden = "the hidden tests' messages" if view.level == "score" else "the hidden tests' outcomes and your score"
        parts.append(f"<p>{_later(view, hidden.capitalize())}</p>")
    return parts


def _check_row(check: dict[str, Any], level: str) -> str:
    name = _e(check.get("id", "?"))
    if level == "full":  # (a full page without nbgrader's page: its feedback was not generated)
        passed = not check.get("message")
        text = "Passed." if passed else _e(one_line(check.get("message", ""), 1000))
        return f'<tr><td>{name}</td><td class="{"lg-pass" if passed else "lg-fail"}">{text}</td></tr>'
    if not check.get("visible"):
        return f'<tr><td>{name}</td><td class="lg-hidden">hidden tests: checked, outcome not shown yet</td></tr>'
    error = check.get("kernel_error", "")
    if error:
        return f'<tr><td>{name}</td><td class="lg-fail">visible tests failed: {_e(one_line(error, 1000))}</td></tr>'
    return f'<tr><td>{name}</td><td class="lg-pass">visible tests passed</td></tr>'


def _later(view: PageView, what: str) -> str:
    if view.due is None:
        return f"{what} will be shown when your instructor releases them."
    return f"{what} will be shown after the due date, {_e(view.due.strftime('%Y-%m-%d %H:%M UTC'))}: fetch feedback again then."


def _with_banner(page: bytes, banner: str) -> bytes:
    """nbgrader's page with the receipt at the top of its body."""
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


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
