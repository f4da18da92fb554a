"""What nbgrader would silently skip or fail on, found before grading: no notebook, a renamed
notebook, a notebook that is not valid JSON."""
import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat


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
    notebooks = sorted(p for p in folder.glob("*.ipynb"))
    if not expected.exists():
        if len(notebooks) == 1:
            shutil.copy2(notebooks[0], expected)
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
            nbformat.validate(nbformat.reads(expected.read_text(encoding="utf-8"), as_version=4))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        result.error = f"{notebook_name} is not a valid notebook file (not JSON: {exc})"
    except Exception as exc:  # nbformat's ValidationError and friends
        result.error = f"{notebook_name} is not a valid notebook ({type(exc).__name__}: {str(exc)[:200]})"
    return result
