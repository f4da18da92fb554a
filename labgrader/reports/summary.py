"""The end-of-run summary of a batch: what was graded, what failed and why, how long it took.

One line per student in each block (the first item, shortened, and how many more): the details are
in ``grading_report_<assignment>.json`` and the class report, which the blocks point to.
"""
from __future__ import annotations

from typing import Any

from labgrader.record import Flag, report_path
from labgrader.reports.gradebook import total_scores
from labgrader.text import one_line, printable  # student ids, messages and notes: no escape sequences

WIDTH = 110  # characters of the first item shown on a student's line


def print_summary(report: dict[str, Any]) -> None:
    results = report["results"]
    assignment = report["assignment"]
    details = f"each student's in full: {report_path('.', assignment).name}, and the class report " \
              f"(python -m labgrader report {assignment})"
    failed = [r for r in results if not r["ok"]]
    totals = total_scores(report["db_url"], assignment)
    print(f"\nGraded {len(results) - len(failed)} of {len(results)} submissions in {report['seconds']:.1f} s "
          f"with {report['workers']} worker(s).")
    if failed:
        print(f"\nNot graded ({len(failed)}): scored 0 and flagged for manual grading in the gradebook")
        for r in failed:
            print(printable(f"  {r['student']}: {one_line(r['error'], WIDTH)}"))
    block("Graded, with repairs (notes)", [r for r in results if r["ok"] and r["notes"]], "notes", details)
    block("Graded, with a fault (a cell timed out, or the cells after a dead kernel or the time limit not run)",
          [r for r in results if r["ok"] and r.get("faults")], "faults", details)
    flagged = [r for r in results if r.get("flags")]
    if flagged:
        print(f"\nFlagged for manual review ({len(flagged)}): graded, scores kept, marked needs-manual-grade in the "
              f"gradebook (the grader saw evidence of tampering); {details}")
        for r in flagged:
            print(printable(f"  {r['student']}: {flag_summary(r)}"))
    refused = report.get("refused") or []
    if refused:
        print(f"\nRefused when collected ({len(refused)}): never graded, kept in the exchange; reasons in "
              f"collect_report_{assignment}.json")
        for entry in refused:
            reasons = "; ".join(entry.get("reasons", []))
            print(printable(f"  {entry.get('who') or '?'}: {one_line(str(entry.get('entry', '')) + ': ' + reasons, WIDTH)}"))
    if report.get("stopped"):
        print(printable(f"\nGrading stopped: {report['stopped']}"))
    graded = [totals[r["student"]] for r in results if r["ok"] and r["student"] in totals]
    if graded:  # this run's students only (after --student, not the whole gradebook's)
        scores = [score for score, _ in graded]
        print(f"\nMean score {sum(scores) / len(scores):.2f} / {graded[0][1]:g} "
              f"over the {len(scores)} submission(s) graded by this run")


def block(title: str, records: list[dict[str, Any]], key: str, details: str) -> None:
    """A block of the summary: its title with the count, then one line per student."""
    if not records:
        return
    print(f"\n{title} ({len(records)}); {details}")
    for r in records:
        print(printable(f"  {r['student']}: {first_and_count([str(item) for item in r[key]])}"))


def first_and_count(items: list[str], dropped: int = 0) -> str:
    """The first item on one line, shortened, and how many more there are."""
    more = len(items) - 1 + dropped
    return one_line(items[0], WIDTH) + (f" (and {more} more)" if more > 0 else "")


def flag_summary(record: dict[str, Any]) -> str:
    """One line for a flagged submission: how many findings, and the first one, shortened."""
    flags = [str(Flag.from_dict(f)) for f in record["flags"]]
    count = len(flags) + record.get("dropped_flags", 0)
    return f"{count} finding{'s' if count > 1 else ''}: {first_and_count(flags, record.get('dropped_flags', 0))}"
