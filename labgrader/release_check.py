"""The committed student version (release/) checked against the instructor's (source/).

``python -m labgrader check-release [assignment ...]`` regenerates each assignment's student version
with ``nbgrader generate_assignment`` in a scratch copy of the course and compares it cell by cell
(type, source, nbgrader metadata without checksums) with the committed ``release/<assignment>/``;
it also checks that no line of a solution or hidden-test region of ``source/`` reaches ``release/``.
An instructor runs it before committing a lab; ``grader_tests/course/test_release.py`` runs it on
every lab of the repository.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

SECRET_BEGIN = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)")
SECRET_END = re.compile(r"### END (SOLUTION|HIDDEN TESTS)")
NOT_COPIED = ("release", "submitted", "autograded", "feedback", "reports", "gradebook.db", ".git", ".venv",
              "__pycache__", ".labgrader", ".ipynb_checkpoints")


def cells(nb: Any) -> list[tuple[str, str, dict]]:
    """What a student version is made of: each cell's type, source and nbgrader metadata."""
    return [(c.cell_type, c.source, {k: v for k, v in c.metadata.get("nbgrader", {}).items() if k != "checksum"})
            for c in nb.cells]


def secret_lines(source: str) -> list[str]:
    """The code lines between BEGIN/END SOLUTION and BEGIN/END HIDDEN TESTS (comments and blanks aside)."""
    lines, inside = [], False
    for line in source.splitlines():
        if SECRET_BEGIN.search(line):
            inside = True
        elif SECRET_END.search(line):
            inside = False
        elif inside and line.strip() and not line.strip().startswith("#"):
            lines.append(line.strip())
    return lines


def leaks(source_nb: Any, release_nb: Any) -> list[str]:
    """Secret lines of the source notebook that appear as a line of the released one."""
    released = {line.strip() for c in release_nb.cells for line in c.source.splitlines()}
    return [line for c in source_nb.cells for line in secret_lines(c.source) if line in released]


def regenerate(course: Path, assignment: str, scratch: Path) -> Path:
    """The student version nbgrader generates now, in a scratch copy of the course."""
    copy = scratch / "course"
    if not copy.exists():
        shutil.copytree(course, copy, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    nbgrader = Path(sys.executable).parent / "nbgrader"
    env = dict(os.environ, PATH=f"{nbgrader.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([str(nbgrader), "generate_assignment", assignment, "--force", "--log-level=ERROR"],
                            cwd=copy, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed: {result.stderr.strip()[-500:]}")
    return copy / "release" / assignment


def problems(course: Path, assignment: str, scratch: Path) -> list[str]:
    """What is wrong with the committed release of one assignment (empty: in sync and leak-free)."""
    found = []
    try:
        fresh = regenerate(course, assignment, scratch)
    except RuntimeError as exc:
        return [str(exc)]
    for source_path in sorted((course / "source" / assignment).glob("*.ipynb")):
        name = source_path.name
        committed_path = course / "release" / assignment / name
        if not committed_path.exists():
            found.append(f"release/{assignment}/{name} is missing: run `nbgrader generate_assignment {assignment} --force`")
            continue
        committed = nbformat.read(committed_path, as_version=4)
        expected = cells(nbformat.read(fresh / name, as_version=4))
        if cells(committed) != expected:
            first = next((i for i, (a, b) in enumerate(zip(expected, cells(committed))) if a != b),
                         min(len(expected), len(committed.cells)))
            found.append(f"release/{assignment}/{name} is out of date with source/ (first difference at cell "
                         f"{first + 1}): run `nbgrader generate_assignment {assignment} --force` and commit release/")
        for line in leaks(nbformat.read(source_path, as_version=4), committed):
            found.append(f"release/{assignment}/{name} leaks a line of a solution or hidden test: {line[:80]!r}")
    for path in sorted(fresh.rglob("*")):  # the other files released beside the notebooks (a students' guide...)
        relative = path.relative_to(fresh)
        committed_file = course / "release" / assignment / relative
        if not path.is_file() or path.suffix == ".ipynb":
            continue
        if not committed_file.is_file():
            found.append(f"release/{assignment}/{relative} is missing (nbgrader releases it)")
        elif committed_file.read_bytes() != path.read_bytes():
            found.append(f"release/{assignment}/{relative} is out of date with source/: run `nbgrader "
                         f"generate_assignment {assignment} --force` and commit release/")
    return found


def main(course: Path, assignments: list[str] | None = None) -> int:
    """Check ``assignments`` (default: every folder of source/); print each problem, then one summary line."""
    course = Path(course).resolve()
    names = assignments or sorted(p.name for p in (course / "source").iterdir() if p.is_dir())
    found: list[str] = []
    with tempfile.TemporaryDirectory(prefix="labgrader-release-check-") as scratch:
        for name in names:
            found += problems(course, name, Path(scratch))
    for problem in found:
        print(problem)
    print(f"release check: {len(found)} problem(s) in {len(names)} assignment(s) ({', '.join(names)})")
    return 1 if found else 0
