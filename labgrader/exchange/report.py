"""What the collectors refused, kept for the instructor: ``collect_report_<assignment>.json`` in the
course root, one section per way of collecting (``exchange``: ``nbgrader collect``; ``zip_collect``:
``nbgrader zip_collect``). Student-made text in it is stripped of control characters; it is data
to show escaped, never markup.

``refusals(course_root, assignment)`` is what the batch summary, the grading report and the class
report list: every entry or file that was not collected, with its reasons.
"""
import datetime as _dt
import json
import os
import tempfile

from .times import format_timestamp


def report_path(course_root: str, assignment: str) -> str:
    return os.path.join(course_root, f"collect_report_{assignment}.json")


def load(course_root: str, assignment: str) -> dict:
    path = report_path(course_root, assignment)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write(course_root: str, assignment: str, source: str, records: list[dict], students=None) -> str:
    """Record one run of a collector. With ``students`` (those the run was limited to), the other
    students' records of the previous run are kept."""
    data = load(course_root, assignment)
    if students is not None:
        kept = [r for r in data.get(source, {}).get("entries", [])
                if (r.get("student") or r.get("owner") or r.get("claimed")) not in students]
        records = kept + records
    data["assignment"] = assignment
    data[source] = {"run": format_timestamp(_dt.datetime.now(_dt.timezone.utc)), "entries": records}
    path = report_path(course_root, assignment)
    fd, tmp = tempfile.mkstemp(prefix=".collect_report-", dir=course_root)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, ensure_ascii=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def refusals(course_root: str, assignment: str) -> list[dict]:
    """Every entry (exchange) or file (zip_collect) that was not collected, with why:
    ``[{"source", "who", "entry", "time", "reasons"}]``; ``who`` is the student it belongs to
    when known (the owner of an exchange entry), else the id it claimed."""
    data = load(course_root, assignment)
    found = []
    for source in ("exchange", "zip_collect"):
        for record in data.get(source, {}).get("entries", []):
            if record.get("status") in ("quarantined", "refused") and record.get("reasons"):
                found.append({"source": source, "who": record.get("owner") or record.get("claimed") or "",
                              "entry": record.get("entry", ""), "time": record.get("time"),
                              "reasons": list(record["reasons"])})
    return found
