"""What nbgrader would silently skip or fail on, found before grading: no notebook, a renamed
notebook, a notebook that is not valid JSON, and anything in the hand-in that is not a regular
file or folder (links, FIFOs, devices, sockets, a folder named like the notebook, files beyond
the size caps), which nbgrader would follow, hang on or copy as root."""
import json
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from labgrader.safety import paths


@dataclass
class Preflight:
    student: str
    error: str = ""                              # not gradable: why
    notes: list = field(default_factory=list)    # gradable, but the instructor should know


def check_submission(folder, notebook_names):
    """Inspect ``submitted/<student>/<assignment>/`` against the assignment's notebooks
    (``notebook_names``: file names, as the gradebook lists them; one name is accepted too); fix
    what can be fixed without losing anything: when the assignment has one notebook and one other
    notebook was handed in, it is copied under the expected name (the original stays)."""
    folder = Path(folder)
    expected_names = [notebook_names] if isinstance(notebook_names, str) else list(notebook_names)
    result = Preflight(student=folder.parent.name)
    problems = []
    for name in expected_names or [None]:
        problems += [p for p in paths.handin_problems(folder, notebook=name) if p not in problems]
    if problems:  # refused before nbgrader opens anything in it
        result.error = "not graded: " + "; ".join(problems)
        return result
    notebooks = sorted(p for p in folder.glob("*.ipynb") if stat.S_ISREG(p.lstat().st_mode))
    missing = [name for name in expected_names if not (folder / name).exists()]
    others = [p for p in notebooks if p.name not in expected_names]
    if missing and len(expected_names) == 1 and len(others) == 1:
        paths.copy_regular(others[0], folder / missing[0])
        result.notes.append(f"notebook handed in as {others[0].name!r}; graded as {missing[0]!r}")
        missing = []
    if missing and len(missing) == len(expected_names):
        listed = ", ".join(repr(n) for n in expected_names)
        if others:
            result.error = (f"no {listed} among the notebooks handed in "
                            f"({', '.join(p.name for p in others)}): rename the right one and grade again")
        else:
            result.error = f"no notebook handed in (expected {listed})"
        return result
    for name in missing:  # nbgrader grades the others and scores this one 0
        result.notes.append(f"{name!r} was not handed in: its cells score 0")
    for name in expected_names:
        if name in missing:
            continue
        error = _invalid(folder / name, name)
        if error:
            result.error = error
            return result
    return result


def _invalid(path, name):
    """Why ``path`` is not a notebook nbgrader can read ("" when it is one)."""
    try:
        data = paths.read_notebook(path)  # measured before nbformat parses it
    except paths.UnsafePath as exc:
        return f"not graded: {exc}"
    try:
        with warnings.catch_warnings():  # nbformat's own notes (missing cell ids...) are not faults
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.reads(data.decode("utf-8"), as_version=4))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"{name} is not a valid notebook file (not JSON: {exc})"
    except Exception as exc:  # nbformat's ValidationError and friends
        return f"{name} is not a valid notebook ({type(exc).__name__}: {str(exc)[:200]})"
    return ""
