"""Command line: python -m labgrader <command> (or ./course <command>)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="labgrader", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_cmd = commands.add_parser("demo", help="grade the demo class into the SQLite gradebook and print the grades")
    demo_cmd.add_argument("--course", type=Path, default=ROOT, help="course directory (default: this repo)")
    grade_cmd = commands.add_parser("autograde", help="autograde a whole class, in parallel (like `nbgrader autograde`)")
    grade_cmd.add_argument("assignment", help="the assignment's name, as in source/<assignment>/")
    grade_cmd.add_argument("--student", action="append", help="only this student (repeatable)")
    grade_cmd.add_argument("--workers", type=int, help="worker processes (default: cores + 1)")
    grade_cmd.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                           help="grade on this Dask cluster (its workers need the course and a PostgreSQL gradebook)")
    grade_cmd.add_argument("--cluster", choices=["local"],
                           help="grade on a Dask LocalCluster of --workers processes on this machine")
    grade_cmd.add_argument("--keep", action="store_true", help="skip submissions already autograded (default: re-grade)")
    grade_cmd.add_argument("--course", type=Path, default=Path.cwd(), help="course directory (default: here)")
    report_cmd = commands.add_parser("report", help="class report (HTML + CSV) from the gradebook")
    report_cmd.add_argument("assignment")
    report_cmd.add_argument("--course", type=Path, default=Path.cwd(), help="course directory (default: here)")
    canvas_cmd = commands.add_parser("export-canvas", help="grades as a CSV that Canvas's gradebook imports")
    canvas_cmd.add_argument("assignment")
    canvas_cmd.add_argument("--to", type=Path, default=Path("grades_canvas.csv"))
    canvas_cmd.add_argument("--course", type=Path, default=Path.cwd(), help="course directory (default: here)")
    # The grading service (labgrader/service/): feedback seconds after Submit, on a JupyterHub.
    serve_cmd = commands.add_parser("serve", help="grade each submission as it arrives and release its feedback "
                                    "(a JupyterHub service; policy: c.GradingService in nbgrader_config.py)")
    serve_cmd.add_argument("assignment", nargs="*", help="assignments to serve (default: c.GradingService.assignments, "
                           "else every assignment of the gradebook)")
    serve_cmd.add_argument("--course", type=Path, default=Path.cwd(), help="course directory (default: here)")
    serve_cmd.add_argument("--workers", type=int, help="worker processes (default: c.GradingService.workers, else cores + 1)")
    serve_cmd.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="grade on this Dask cluster (one assignment)")
    serve_cmd.add_argument("--status", action="store_true", help="print the queue, what was graded, failures and flags")
    serve_cmd.add_argument("--json", action="store_true", help="with --status: as JSON")
    args = parser.parse_args(argv)
    from labgrader.errors import LabgraderError
    try:
        run(args)
    except LabgraderError as exc:  # any of labgrader's: what is wrong and what to do, no traceback
        print(f"\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run(args: argparse.Namespace) -> None:
    if args.command == "serve":
        serve(args)
    elif args.command == "demo":
        from labgrader import demo
        demo.run(args.course)
    elif args.command == "autograde":
        from labgrader.batch import grade_class
        from labgrader.reports.summary import print_summary
        if args.scheduler or args.cluster:  # Dask (labgrader/batch/distributed.py)
            from labgrader.batch.distributed import grade_on_cluster
            report = grade_on_cluster(args.course, args.assignment, students=args.student, scheduler=args.scheduler,
                                      workers=args.workers, force=not args.keep)
        else:
            report = grade_class(args.course, args.assignment, students=args.student, workers=args.workers,
                                 force=not args.keep)
        print_summary(report)
        raise SystemExit(exit_status(report))
    elif args.command == "report":
        from labgrader.config import load_course_config
        from labgrader.reports.class_report import write_report
        db_url = load_course_config(args.course.resolve()).CourseDirectory.db_url  # the course's, PostgreSQL included
        page, table = write_report(args.course, args.assignment, db_url=db_url)
        print(f"Class report: {page}\nCSV: {table}")
    elif args.command == "export-canvas":
        from labgrader.reports.lms import write_canvas_csv
        from labgrader.config import load_course_config
        db_url = load_course_config(args.course.resolve()).CourseDirectory.db_url
        print(f"Canvas CSV: {write_canvas_csv(db_url, args.assignment, args.to)}")


def serve(args: argparse.Namespace) -> None:
    if args.status:
        from labgrader.service.status import print_status
        raise SystemExit(print_status(str(args.course.resolve()), as_json=args.json))
    import logging
    from labgrader.service.server import Service
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for chatty in ("traitlets", "watchfiles"):  # nbgrader's converters log every file they copy
        logging.getLogger(chatty).setLevel(logging.WARNING)
    Service(args.course, args.assignment, workers=args.workers, scheduler=args.scheduler).run()


def exit_status(report: dict[str, Any]) -> int:
    """Non-zero when any submission was not graded or was flagged, said last (after the summary)."""
    from labgrader.record import SubmissionRecord
    records = [SubmissionRecord.from_dict(r) for r in report["results"]]
    failed = sum(not r.ok for r in records)
    flagged = sum(r.ok and bool(r.flags) for r in records)
    if not (failed or flagged):
        return 0
    print(f"\nNeeds attention: {failed} submission(s) not graded, {flagged} flagged for manual review "
          "(see above); exit status 1.")
    return 1


if __name__ == "__main__":
    main()
