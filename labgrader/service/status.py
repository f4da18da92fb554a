"""``python -m labgrader serve --status``: the queue, what was graded, failures, flags and refusals,
read from the service's journal (the service need not be running)."""
from __future__ import annotations

import json
import os
import time
from typing import Any

from labgrader.record import SubmissionRecord
from labgrader.text import one_line, printable

from . import journal as J
from .policy import HOUR

RECENT = 15


def status(course_root: str) -> dict[str, Any]:
    """Everything ``--status`` shows, as data."""
    path = J.journal_path(course_root)
    if not os.path.exists(path):
        return {"running": False, "journal": path, "submissions": 0}
    journal = J.Journal(path, readonly=True)
    try:
        rows, meta, graded_events = journal.rows(), journal.meta(), journal.count_events("graded")
        now = time.time()
        usage = journal.usage(now - HOUR, now)
    finally:
        journal.close()
    beat = meta.get("heartbeat") or 0
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    graded = sorted((r for r in rows if r["state"] == J.GRADED), key=lambda r: r["graded"] or 0)
    return {
        "running": bool(beat) and time.time() - beat < 30 and not meta.get("stopped", 0) > beat,
        "pid": meta.get("pid"), "heartbeat": beat, "workers": meta.get("workers"), "paused": meta.get("paused") or {},
        "policy": meta.get("policy") or {}, "assignments": meta.get("assignments") or [],
        "submissions": len(rows), "counts": counts,
        "queue": [_brief(r) for r in rows if r["state"] in (J.GRADING, J.QUEUED, J.DEFERRED)],
        "graded": [_brief(r) for r in graded[-RECENT:]],
        "failures": [_brief(r) for r in rows if r["state"] in (J.FAILED, J.FLAGGED)],
        "flags": [b for b in map(_brief, rows) if b["state"] == J.GRADED and b["flags"]],
        "taken_late": [b for b in map(_brief, rows) if b["changed_at"]],
        "refused": [_brief(r) for r in rows if r["state"] == J.REFUSED],
        "graded_twice": sorted(k for k, n in graded_events.items() if n > 1),
        "usage": {student: round(seconds, 1) for student, seconds in sorted(usage.items(), key=lambda u: -u[1])},
        "journal": path,
    }


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    result = row["result"]
    record = SubmissionRecord.from_dict(result.get("record") or {"student": row["student"]})
    graded = row["state"] == J.GRADED
    latency = round(row["graded"] - row["time_ns"] / 1e9, 2) if row["graded"] else None
    taken_late = row.get("ctime_ns") and row["time_ns"] > row["ctime_ns"] + 1e6
    return {"student": row["student"], "assignment": row["assignment"], "time": row["time"], "state": row["state"],
            "score": record.score if graded else None, "max_score": record.max_score if graded else None,
            "target": result.get("target"), "flags": len(record.flags) + record.dropped_flags,
            "attempts": row["attempts"], "reason": row["reason"], "entry": row["entry"], "source": row.get("source", ""),
            "seconds_to_grade": latency, "charge": row.get("charge", 0.0),
            "changed_at": _iso(row["ctime_ns"]) if taken_late else None}


def _iso(ns: int) -> str:
    from labgrader.exchange.times import format_timestamp, from_epoch
    return format_timestamp(from_epoch(ns / 1e9))


def format_status(data: dict[str, Any]) -> str:
    """The same, for a terminal (student-made text printable, one line each)."""
    if not data["submissions"] and not data.get("pid"):
        return f"No grading service has run for this course yet (no journal at {data['journal']})."
    state = (f"running (pid {data['pid']}, {data['workers']} worker(s))" if data["running"]
             else f"not running (last seen {_ago(data['heartbeat'])})")
    lines = [f"Grading service: {state}; journal {data['journal']}"]
    policy = data["policy"]
    if policy:
        lines.append(f"Policy: before the due date {policy['before_due']}, after it {policy['after_due']}; "
                     f"at most {policy['max_per_hour'] or 'any number of'} graded per student per hour")
    budget = policy.get("grading_budget_seconds") or 0
    if data.get("usage"):
        used = [f"{printable(s)} {n:g} s" + (" (over)" if budget and n >= budget else "")
                for s, n in list(data["usage"].items())[:10]]
        lines.append(f"Grading time in the last hour{f' (budget {budget:g} s each)' if budget else ''}: "
                     + ", ".join(used))
    for assignment, why in data["paused"].items():
        lines.append(f"PAUSED {assignment}: {one_line(why, 500)} (fix it, then restart the service)")
    lines.append("Submissions: " + (", ".join(f"{n} {s}" for s, n in sorted(data["counts"].items())) or "none"))
    sections = (("Queue (in grading order)", data["queue"]), ("Recently graded", data["graded"]),
                ("Failures (not graded: grade by hand)", data["failures"]), ("Flagged for review", data["flags"]),
                ("Refused at collection", data["refused"]),
                ("Taken long after their files last changed (the service was not running?): their time is when they "
                 "were copied, minus the grace", data.get("taken_late", [])))
    for title, items in sections:
        if items:
            lines.append(f"{title}:")
            lines += [f"  {_line(item)}" for item in items]
    if data["graded_twice"]:
        lines.append(f"GRADED MORE THAN ONCE (a bug: report it): {', '.join(map(printable, data['graded_twice']))}")
    return "\n".join(lines)


def _line(item: dict[str, Any]) -> str:
    text = f"{printable(item['student']) or '?'} {item['assignment']} submitted {item['time']}: {item['state']}"
    if item["score"] is not None:
        text += f" {item['score']:g}/{item['max_score']:g}"
        if item["target"] == "shadow":
            text += " (not in the gradebook: it keeps an on-time or newer submission)"
    if item["seconds_to_grade"] is not None:
        text += f", {item['seconds_to_grade']:g} s after submission"
    if item["flags"]:
        text += f", {item['flags']} flag(s): see the autograded notebook or the class report"
    if item.get("changed_at"):
        text += f" (its files last changed {item['changed_at']})"
    if item["reason"]:
        text += f" - {one_line(item['reason'], 300)}"
    return text


def _ago(epoch: float) -> str:
    if not epoch:
        return "never"
    return f"{int(time.time() - epoch)} s ago"


def print_status(course_root: str, as_json: bool = False) -> int:
    data = status(course_root)
    print(json.dumps(data, indent=1) if as_json else format_status(data))
    return 0
