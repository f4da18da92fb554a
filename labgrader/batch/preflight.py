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


def check_submission(folder, notebook_name):
    """Inspect ``submitted/<student>/<assignment>/``; fix what can be fixed without losing anything
    (a renamed notebook is copied under the expected name, the original stays)."""
    folder = Path(folder)
    result = Preflight(student=folder.parent.name)
    expected = folder / notebook_name
    problems = paths.handin_problems(folder, notebook=notebook_name)
    if problems:  # refused before nbgrader opens anything in it
        result.error = "not graded: " + "; ".join(problems)
        return result
    notebooks = sorted(p for p in folder.glob("*.ipynb") if stat.S_ISREG(p.lstat().st_mode))
    if not expected.exists():
        if len(notebooks) == 1:
            paths.copy_regular(notebooks[0], expected)
            result.notes.append(f"notebook handed in as {notebooks[0].name!r}; graded as {notebook_name!r}")
        elif notebooks:
            result.error = (f"no {notebook_name!r} among the notebooks handed in "
                            f"({', '.join(p.name for p in notebooks)}): rename the right one and grade again")
            return result
        else:
            result.error = f"no notebook handed in (expected {notebook_name!r})"
            return result
    try:
        with warnings.catch_warnings():  # nbformat's own notes (missing cell ids...) are not faults
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.reads(paths.read_regular(expected).decode("utf-8"), as_version=4))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        result.error = f"{notebook_name} is not a valid notebook file (not JSON: {exc})"
    except Exception as exc:  # nbformat's ValidationError and friends
        result.error = f"{notebook_name} is not a valid notebook ({type(exc).__name__}: {str(exc)[:200]})"
    return result
