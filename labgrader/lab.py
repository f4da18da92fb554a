"""The contract between the engine and one lab: ``source/<assignment>/grading.py`` defines ``lab``.

A lab is a folder an instructor can copy: its notebooks (nbgrader's source version) and
``grading.py``, which only the grader imports (``CourseDirectory.ignore`` keeps it out of the
release and of students' working copies)::

    from labgrader.lab import Check, Lab, failed, passed

    def judge(check: Check) -> Verdict: ...

    lab = Lab(judge=judge, handovers={"q1": ("answer",)}, pinned_names=("model", "model2"),
              warm_imports=("tensorflow",))

The grader runs each graded test cell's visible code only; its hidden test region never enters
the kernel. Right after the cell, the grader itself hands the names ``handovers`` lists for it
over as data (``labgrader.kernels.export.answer``, run as a silent cell holding no test text).
The hidden region is what runs when the engine is not the grader (nbgrader's stock
configuration): it must fail (``raise``), so a course graded without its nbgrader_config.py
scores 0 instead of passing every hidden check.

``load_lab`` imports it once per process (by content), checks the contract and says which file
and which attribute is wrong. A judge gets the student's answers as the grader rebuilt them and
returns a Verdict; ``NotGradable`` (an answer that cannot be rebuilt) is the student's, with its
sentence; any other exception is a bug of the lab (``LabError``), never a student's fault.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
from dataclasses import dataclass, field, fields
from typing import Callable, Mapping, Optional

import numpy as np

from labgrader.errors import LabgraderError
from labgrader.judging.answers import Answers, NotGradable
from labgrader.judging.values import Value, Verdict, failed, passed

MODULE_FILE = "grading.py"

__all__ = ["Check", "Inputs", "Lab", "LabError", "NotGradable", "Value", "Verdict", "failed", "load_lab", "passed"]


class LabError(LabgraderError):
    """The lab itself is broken (its grading.py, or its notebook's hidden tests): grading stops."""


@dataclass(frozen=True)
class Check:
    """What a judge gets for one graded test cell."""
    grade_id: str
    answers: Answers                  # what the student's cell handed over, rebuilt in the grader
    reference: Answers                # what the instructor's notebook handed over in the same cell
    rng: np.random.Generator          # the grader's randomness for this submission (ids, weights...)
    arguments: Optional[list] = None  # what a function-valued answer was called with (see Lab.arguments)


@dataclass(frozen=True)
class Inputs:
    """The values the grader draws to cross-check a Keras model answer against the student's real
    object (``labgrader.judging.faithful``): uniform in [low, high), whole numbers if ``integers``."""
    low: float = -1.0
    high: float = 1.0
    integers: bool = False


@dataclass(frozen=True)
class Lab:
    """Everything the engine needs to know about a lab, with its defaults."""

    judge: Callable[[Check], Verdict]
    """The verdict for one graded test cell; runs only in the grader."""

    handovers: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """grade id of each graded test cell -> the names of the notebook's namespace the grader hands
    over right after that cell ran (e.g. ``{"q2_structure": ("model3",)}``): what its judge gets
    as ``check.answers``. Every graded test cell of the lab's notebooks needs an entry (the
    readiness check says which are missing). A name handed over by several cells must be the same
    object in each of them."""

    pinned_names: tuple[str, ...] = ()
    """Objects the lab's own cells build (e.g. ``model``), pinned silently just before the first
    cell a student could have written: every export carries them, so a judge compares the
    student's answer with the lab's objects, not with whatever those names hold later."""

    watched_modules: tuple[str, ...] = ()
    """Modules the export relies on besides the engine's own (e.g. ``keras``): what student code
    rebinds in them is put back before each export and flagged as evidence."""

    arguments: Optional[Callable[[str, np.random.Generator], Optional[list]]] = None
    """For function-valued answers: ``arguments(grade_id, rng)`` -> a list of calls (each a list of
    plain numbers or nested lists), sent to the kernel before that test cell; the function is
    called on each and only the results come back. None for cells that need none."""

    allowed_layers: Optional[tuple[str, ...]] = None
    """Keras layer classes (public names, e.g. "Embedding") a rebuilt answer may use; None: every
    built-in layer the engine rebuilds (``labgrader.judging.keras_models.LAYERS``)."""

    warm_imports: tuple[str, ...] = ()
    """Modules imported once by the batch's fork server (so each kernel starts with them) and by
    the grader before its workers start (so rebuilding answers does not import them again)."""

    cross_check_inputs: Mapping[str, Inputs] = field(default_factory=dict, hash=False)
    """Answer (or pinned) name -> the range of the inputs the grader draws to cross-check that
    Keras model against the student's real object; by default ids below the input_dim of an
    Embedding it feeds, whole numbers for an integer input, else uniform in [-1, 1)."""

    handin_files: tuple[str, ...] = ()
    """Glob patterns of files a hand-in may hold besides the notebooks and still have in the
    kernel's working copy, Python modules included (none by default: a ``.py`` file or package
    handed in is removed before the kernel starts, and flagged if it is named like a module)."""

    name: str = field(default="", compare=False)    # the assignment (set by load_lab)
    path: str = field(default="", compare=False)    # its grading.py (set by load_lab)
    digest: str = field(default="", compare=False)  # of its folder's files (set by load_lab)

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in ("pinned_names", "watched_modules", "warm_imports", "handin_files") and (
                    type(value) not in (tuple, list) or not all(type(v) is str for v in value)):
                raise TypeError(f"Lab.{item.name} must be a tuple of strings, not {value!r}")
        if not isinstance(self.handovers, Mapping) or not all(
                type(k) is str and type(v) in (tuple, list) and all(type(n) is str for n in v)
                for k, v in self.handovers.items()):
            raise TypeError(f"Lab.handovers must map grade ids to tuples of names, not {self.handovers!r}")
        if not isinstance(self.cross_check_inputs, Mapping) or not all(
                type(k) is str and isinstance(v, Inputs) for k, v in self.cross_check_inputs.items()):
            raise TypeError("Lab.cross_check_inputs must map names to labgrader.lab.Inputs")
        if not callable(self.judge):
            raise TypeError("Lab.judge must be a function judge(check) -> Verdict")
        if self.arguments is not None and not callable(self.arguments):
            raise TypeError("Lab.arguments must be a function arguments(grade_id, rng) -> list or None")


def lab_directory(coursedir, assignment: str) -> str:
    return coursedir.format_path(coursedir.source_directory, ".", assignment)


def _lab_files(folder: str) -> list[str]:
    """The files of a lab folder that make the lab (no caches), in a fixed order."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", ".ipynb_checkpoints"))
        found += [os.path.join(root, name) for name in sorted(files) if not name.endswith(".pyc")]
    return found


def folder_digest(folder: str) -> str:
    """The content of every file of a lab folder (notebooks, grading.py, data), as a short hash."""
    digest = hashlib.sha256()
    for path in _lab_files(folder):
        with open(path, "rb") as f:
            digest.update(os.path.relpath(path, folder).encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()[:24]


_digests: dict[tuple[str, tuple[tuple[str, int, int, int], ...]], str] = {}


def lab_digest(folder: str) -> str:
    """``folder_digest``, read once per process and content: keyed by every file's size and
    change times (a lab that ships a large dataset is not read again for each submission)."""
    files = _lab_files(folder)
    stats = [os.stat(path) for path in files]
    key = (os.path.realpath(folder), tuple((path, s.st_size, s.st_mtime_ns, s.st_ctime_ns) for path, s in zip(files, stats)))
    if key not in _digests:
        _digests[key] = folder_digest(folder)
    return _digests[key]


_loaded: dict[tuple[str, str], Lab] = {}


def load_lab(coursedir, assignment: str) -> Lab | None:
    """The assignment's Lab, or None when it has no grading.py (stock nbgrader tests).
    Imported once per process and content; raises LabError naming the file and what is wrong."""
    folder = lab_directory(coursedir, assignment)
    path = os.path.join(folder, MODULE_FILE)
    if not os.path.isfile(path):
        return None
    digest = lab_digest(folder)
    key = (os.path.realpath(path), digest)
    if key not in _loaded:
        _loaded[key] = _import(path, assignment, digest)
    return _loaded[key]


def _import(path: str, assignment: str, digest: str) -> Lab:
    spec = importlib.util.spec_from_file_location(f"labgrader_lab_{assignment}_{digest}", path)
    if spec is None or spec.loader is None:
        raise LabError(f"{path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except TypeError as exc:  # Lab(...) with a misspelt or mistyped attribute
        raise LabError(f"{path}: {exc} (see labgrader/lab.py for the attributes of Lab)") from None
    except Exception as exc:
        raise LabError(f"{path} failed to import: {type(exc).__name__}: {exc}") from None
    lab = getattr(module, "lab", None)
    if not isinstance(lab, Lab):
        raise LabError(f"{path} must define `lab = Lab(judge=...)` (labgrader.lab.Lab), "
                       f"not {type(lab).__name__ if lab is not None else 'nothing'}")
    return dataclasses.replace(lab, name=assignment, path=path, digest=digest)


def notebook_names(db_url: str, assignment: str) -> list[str]:
    """The assignment's notebook names (without .ipynb), as nbgrader's gradebook records them."""
    from nbgrader.api import Gradebook
    with Gradebook(db_url) as gb:
        return [notebook.name for notebook in gb.find_assignment(assignment).notebooks]
