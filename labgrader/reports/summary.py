"""The end-of-run summary of a batch: what was graded, what failed and why, how long it took."""
from __future__ import annotations

from typing import Any

from labgrader.record import Flag, flag_lines
from labgrader.reports.gradebook import total_scores
from labgrader.text import printable  # student ids, messages and notes: no escape sequences


def print_summary(report: dict[str, Any]) -> None:
    results = report["results"]
    failed = [r for r in results if not r["ok"]]
    noted = [r for r in results if r["ok"] and r["notes"]]
    totals = total_scores(report["db_url"], report["assignment"])
    print(f"\nGraded {len(results) - len(failed)} of {len(results)} submissions in {report['seconds']:.1f} s "
          f"with {report['workers']} worker(s).")
    if failed:
        print(f"\nNot graded ({len(failed)}): scored 0 and flagged for manual grading in the gradebook")
        for r in failed:
            print(printable(f"  {r['student']}: {r['error']}"))
    if noted:
        print("\nGraded, with notes:")
        for r in noted:
            for note in r["notes"]:
                print(printable(f"  {r['student']}: {note}"))
    faulted = [r for r in results if r["ok"] and r.get("faults")]
    if faulted:
        print("\nGraded, with a fault (a cell interrupted, or the cells after a dead kernel or the time limit not run):")
        for r in faulted:
            for fault in r["faults"]:
                print(printable(f"  {r['student']}: {fault}"))
    flagged = [r for r in results if r.get("flags")]
    if flagged:
        print(f"\nFlagged for manual review ({len(flagged)}): graded, scores kept, marked needs-manual-grade "
              "in the gradebook (the grader saw evidence of tampering)")
        for r in flagged:
            for line in flag_lines([Flag.from_dict(f) for f in r["flags"]], dropped=r.get("dropped_flags", 0)):
                print(printable(f"  {r['student']}: {line}"))
    refused = report.get("refused") or []
    if refused:
        print(f"\nRefused when collected ({len(refused)}): never graded, kept in the exchange; reasons in "
              f"collect_report_{report['assignment']}.json")
        for entry in refused:
            print(printable(f"  {entry.get('who') or '?'}: {entry.get('entry', '')}: {'; '.join(entry.get('reasons', []))}"))
    if report.get("stopped"):
        print(printable(f"\nGrading stopped: {report['stopped']}"))
    graded = [totals[r["student"]] for r in results if r["ok"] and r["student"] in totals]
    if graded:  # this run's students only (after --student, not the whole gradebook's)
        scores = [score for score, _ in graded]
        print(f"\nMean score {sum(scores) / len(scores):.2f} / {graded[0][1]:g} "
              f"over the {len(scores)} submission(s) graded by this run")
