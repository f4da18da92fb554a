"""Command line: python -m labgrader <command> (or ./course <command>)."""
from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COURSE_HELP = "the course directory: where nbgrader_config.py, source/ and submitted/ are (default: the current directory)"


def wrapped(text: str) -> str:
    """A description as --help shows it: wrapped to 88 columns (epilogs keep their own lines)."""
    return textwrap.fill(" ".join(text.split()), 88)


EXIT_STATUS = """exit status: 0 every submission graded and none flagged; 1 a submission was not graded or was
flagged (said on the last line); 2 grading stopped before or while grading (no sandbox, no such
assignment, a broken lab), with the reason."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (docs/_ext renders every command's --help into the documentation)."""
    parser = argparse.ArgumentParser(
        prog="python -m labgrader", description=wrapped("Grade nbgrader assignments safely and fast. Run from the course "
        "directory (or give --course); plain nbgrader commands keep working beside these."))
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    formatter = argparse.RawDescriptionHelpFormatter

    demo = commands.add_parser(
        "demo", formatter_class=formatter, help="grade the demo class and print the grades",
        description=wrapped("Generate the embeddings lab's student version, hand in the demo class (the test corpus in "
        "grader_tests/submissions/), grade it in parallel into the course's gradebook, write feedback, the "
        "exports and the class report, and print a grade table."),
        epilog="writes: gradebook.db, autograded/, feedback/, grades.csv, grades_canvas.csv,\n"
               "grading_report_embeddings.json, reports/embeddings.html and reports/embeddings.csv (in the course)")
    demo.add_argument("--course", type=Path, default=ROOT, help="the course directory (default: this repository)")

    grade = commands.add_parser(
        "autograde", formatter_class=formatter, help="autograde a whole class in parallel (like nbgrader autograde)",
        description=wrapped("Autograde every submission in submitted/<student>/<assignment>/ with nbgrader's own Autograde, "
        "each in a sandboxed kernel forked from a warm fork server, one worker per core plus one. Before the "
        "first submission the instructor's notebook must get full marks from the lab's judges (the readiness "
        "check). Re-grades every submission it is given (plain `nbgrader autograde` needs --force for that)."),
        epilog="writes: the gradebook, autograded/<student>/<assignment>/, and grading_report_<assignment>.json\n"
               "(one record per submission: scores, flags, faults, the kernel's stderr, timings)\n\n" + EXIT_STATUS)
    grade.add_argument("assignment", help="the assignment's name, as in source/<assignment>/")
    grade.add_argument("--student", action="append", metavar="ID",
                       help="grade only this student (repeatable; default: every student in submitted/)")
    grade.add_argument("--workers", type=int, metavar="N",
                       help="worker processes (default: cores + 1; with --cluster local: Dask workers)")
    grade.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="grade on this Dask cluster (its workers need the course at the same path and a "
                            "PostgreSQL gradebook)")
    grade.add_argument("--cluster", choices=["local"],
                       help="grade on a Dask LocalCluster of --workers processes on this machine")
    grade.add_argument("--keep", action="store_true", help="skip submissions already autograded (default: re-grade)")
    grade.add_argument("--course", type=Path, default=Path.cwd(), help=COURSE_HELP)

    report = commands.add_parser(
        "report", formatter_class=formatter, help="the class report (HTML and CSV) from the gradebook",
        description=wrapped("A self-contained HTML page: the score distribution, each check's pass rate, the most common "
        "failure messages, each student's state (graded, flagged with the findings, timed out, kernel died, not "
        "gradable), and the same table of students as CSV. Reads the course's gradebook (its db_url) and "
        "grading_report_<assignment>.json."),
        epilog="writes: <out>/<assignment>.html and <out>/<assignment>.csv")
    report.add_argument("assignment", help="the assignment's name, as in source/<assignment>/")
    report.add_argument("--out", type=Path, metavar="DIR", help="the folder to write to (default: <course>/reports)")
    report.add_argument("--course", type=Path, default=Path.cwd(), help=COURSE_HELP)

    canvas = commands.add_parser(
        "export-canvas", formatter_class=formatter, help="the grades as a CSV that Canvas's gradebook imports",
        description=wrapped("Canvas's gradebook columns (Student, ID, SIS User ID, SIS Login ID, Section, <assignment>) and a "
        "Points Possible row, one row per student of the gradebook; the SIS Login ID is the nbgrader student id. "
        "Rename the last column to the Canvas assignment's name before importing (Grades > Import)."),
        epilog="writes: the file given by --to")
    canvas.add_argument("assignment", help="the assignment's name, as in source/<assignment>/")
    canvas.add_argument("--to", type=Path, metavar="FILE", help="the CSV to write (default: <course>/grades_canvas.csv)")
    canvas.add_argument("--course", type=Path, default=Path.cwd(), help=COURSE_HELP)

    release = commands.add_parser(
        "check-release", formatter_class=formatter, help="check the committed student version against source/",
        description=wrapped("Regenerate the student version in a scratch copy of the course with `nbgrader "
        "generate_assignment` and compare it cell by cell (type, source, nbgrader metadata) with the committed "
        "release/<assignment>/; check that no line of a solution or hidden-test region of source/ reaches "
        "release/."),
        epilog="exit status: 0 in sync and leak-free; 1 otherwise, each problem on a line of its own")
    release.add_argument("assignment", nargs="*", help="assignments to check (default: every folder of source/)")
    release.add_argument("--course", type=Path, default=Path.cwd(), help=COURSE_HELP)

    # The grading service (labgrader/service/): feedback seconds after Submit, on a JupyterHub.
    serve = commands.add_parser(
        "serve", formatter_class=formatter, help="grade each submission as it arrives and release its feedback",
        description=wrapped("Watch the exchange's inbound folder, collect each new submission, grade it on a warm pool and "
        "release a feedback page to its student alone, at the level of the policy (c.GradingService in "
        "nbgrader_config.py). Meant to run as a JupyterHub managed service, as the instructor."),
        epilog="writes: the gradebook, autograded/, feedback pages in the exchange, and .labgrader/service/\n"
               "(the journal, kept copies, the shadow course)")
    serve.add_argument("assignment", nargs="*", help="assignments to serve (default: c.GradingService.assignments, "
                       "else every assignment of the gradebook)")
    serve.add_argument("--course", type=Path, default=Path.cwd(), help=COURSE_HELP)
    serve.add_argument("--workers", type=int, metavar="N",
                       help="worker processes (default: c.GradingService.workers, else cores + 1)")
    serve.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="grade on this Dask cluster (one assignment)")
    serve.add_argument("--status", action="store_true",
                       help="print the queue, what was graded, failures, flags and refusals, then exit")
    serve.add_argument("--json", action="store_true", help="with --status: as JSON")

    # A deployment that is safe by construction, and checked (labgrader/deploy/).
    from labgrader.deploy import doctor, setup
    doctor_cmd = commands.add_parser(
        "doctor", formatter_class=formatter, help="audit a deployment: who can read the course, the exchange, the "
        "service, due dates, limits",
        description=wrapped("Audit a live deployment of a course, as root or as its instructor. For every student account "
        "(the hub's group, the gradebook's students, the owners of inbound's entries, --student) and any other "
        "account: can it read or write anything of the course (source/, gradebook.db, submitted/, autograded/, "
        "feedback/, .labgrader/, nbgrader_config.py), or the solutions in the clone labgrader runs from? Then the "
        "exchange's modes and owners, the grading service and its policy, due dates, free disk, inotify watches and "
        "cgroups. Access is evaluated from modes, ACLs and groups along the whole path; as root each private path is "
        "also opened as each account. Each problem comes with the command that fixes it."),
        epilog="exit status: 0 nothing to fix; 1 warnings only; 2 something unsafe")
    doctor.add_arguments(doctor_cmd)
    setup_cmd = commands.add_parser(
        "setup", formatter_class=formatter, help="as root: the exchange, a private course folder, the machine-wide config",
        description=wrapped("As root: make the exchange (root 1777, the course folder the instructor's, inbound 3733, "
        "outbound 0755, feedback 0711), the course folder (the instructor's, 0700) with source/, release/ and "
        "nbgrader_config.py copied from a clone (0700 folders, 0600 files, links skipped, what is there kept), and, "
        "only with --config-dir, the machine-wide config (a file that differs is kept as <name>.bak-<time> first). "
        "Says what it made, kept and wrote. deploy/hub-setup.sh runs it."))
    setup.add_arguments(setup_cmd)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from labgrader.errors import LabgraderError
    try:
        run(args)
    except LabgraderError as exc:  # any of labgrader's: what is wrong and what to do, no traceback
        print(f"\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run(args: argparse.Namespace) -> None:
    if args.command == "serve":
        serve(args)
    elif args.command == "doctor":
        from labgrader.deploy import doctor
        raise SystemExit(doctor.run(args))
    elif args.command == "setup":
        from labgrader.deploy import setup
        raise SystemExit(setup.run(args))
    elif args.command == "demo":
        from labgrader import demo
        demo.run(args.course)
    elif args.command == "autograde":
        from labgrader.batch import grade_class
        from labgrader.deploy.doctor import warn_unless_private
        from labgrader.reports.summary import print_summary
        warn_unless_private(str(args.course))
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
        from labgrader.reports.class_report import write_report
        page, table = write_report(args.course, args.assignment, out_dir=args.out, db_url=course_db_url(args.course))
        print(f"Class report: {page}\nCSV: {table}")
    elif args.command == "export-canvas":
        from labgrader.reports.lms import write_canvas_csv
        path = args.to or args.course / "grades_canvas.csv"
        print(f"Canvas CSV: {write_canvas_csv(course_db_url(args.course), args.assignment, path)}")
    elif args.command == "check-release":
        from labgrader.release_check import main as check_release
        raise SystemExit(check_release(args.course, args.assignment))


def course_db_url(course: Path) -> str:
    """The course's gradebook, as nbgrader reads it from nbgrader_config.py (PostgreSQL included)."""
    from labgrader.config import load_course_config
    return load_course_config(course.resolve()).CourseDirectory.db_url


def serve(args: argparse.Namespace) -> None:
    if args.status:
        from labgrader.service.status import print_status
        raise SystemExit(print_status(str(args.course.resolve()), as_json=args.json))
    from labgrader.deploy.doctor import refuse_unless_private
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for chatty in ("traitlets", "watchfiles"):  # nbgrader's converters log every file they copy
        logging.getLogger(chatty).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:  # the service's log is the hub's: only what needs a look
        handler.addFilter(expected_checksum_warning)
    refuse_unless_private(str(args.course), logging.getLogger("labgrader.service"))  # fail closed: exit status 3
    from labgrader.service.server import Service
    Service(args.course, args.assignment, workers=args.workers, scheduler=args.scheduler).run()


def expected_checksum_warning(record: logging.LogRecord) -> bool:
    """False for nbgrader's "Attribute 'checksum' for cell ... has changed!": the grader puts the
    instructor's test cells (hidden tests and all) back in every submission, so each graded test
    cell says it; every other warning passes. (Read as formatted: labgrader's PrintableFilter on
    nbgrader's logger formats a record before any handler sees it.)"""
    try:
        message = record.getMessage()
    except Exception:  # a record that does not format is not this one
        return True
    return not message.startswith("Attribute 'checksum' for cell ")


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
