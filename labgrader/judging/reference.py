"""Trusted expectations: the instructor's source notebook, run once with the lab's reference
probes, and what its hidden test cells observed.

The result is cached under ``<course>/.labgrader/`` (no kernel can see the course root) by the
hash of everything it depends on, so a class is graded against one reference run, and plain
``nbgrader autograde`` does not repeat it for every student.
"""
import hashlib
import json
import os
import shutil
import tempfile

import nbformat

from labgrader.cells import is_test_cell

from .lab import MODULE_FILE, lab_directory
from .protocol import Malformed, records_in, validate

CACHE_DIR = ".labgrader"


class ReferenceFailed(RuntimeError):
    """The instructor's notebook did not produce an observation for every graded test cell."""


def _fingerprint(folder, notebook):
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", ".ipynb_checkpoints"))
        for name in sorted(files):
            if name.endswith(".pyc"):
                continue
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode() + b"\0" + open(path, "rb").read() + b"\0")
    digest.update(notebook.encode())
    return digest.hexdigest()[:24]


def reference_observations(config, coursedir, assignment, notebook, lab):
    """{grade_id: observations} from the instructor's notebook ``notebook`` (without .ipynb)."""
    folder = lab_directory(coursedir, assignment)
    cache = _cache_path(coursedir, assignment, notebook)
    if os.path.isfile(cache) and not os.path.islink(cache):
        with open(cache) as f:
            return json.load(f)
    observations = run_reference(config, folder, notebook, lab)
    _store(cache, observations)
    return observations


class NotReady(RuntimeError):
    """A grading kernel cannot run the hidden-test machinery here: grading would record zeros."""


def check_ready(config, coursedir, assignment, notebooks, lab):
    """Before grading a class: start one sandboxed kernel per notebook and run the instructor's
    notebook with its hidden tests (a fresh reference run, whatever the cache holds: the cache
    may come from another folder or machine). Raises NotReady with what to do."""
    folder = lab_directory(coursedir, assignment)
    for notebook in notebooks:
        try:
            observations = run_reference(config, folder, notebook, lab)
        except Exception as exc:
            raise NotReady(
                f"Cannot grade {assignment!r}: a grading kernel could not run the hidden tests of the "
                f"instructor's {notebook}.ipynb, so every submission would score 0. {exc} "
                f"(Check that `python -c 'import labgrader'` works with the interpreter the kernels use, "
                f"that the course's source/{assignment}/ is complete, and that "
                f"`nbgrader validate source/{assignment}/{notebook}.ipynb` passes.)") from None
        _store(_cache_path(coursedir, assignment, notebook), observations)


def _cache_path(coursedir, assignment, notebook):
    folder = lab_directory(coursedir, assignment)
    return os.path.join(coursedir.root, CACHE_DIR, f"reference-{assignment}-{notebook}-{_fingerprint(folder, notebook)}.json")


def _store(cache, observations):
    os.makedirs(os.path.dirname(cache), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(cache), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(observations, f)
    os.replace(tmp, cache)  # atomic: concurrent graders read a whole file or none


def run_reference(config, folder, notebook, lab):
    """Run the instructor's notebook in a scratch copy of the lab folder (sandboxed like any
    kernel) with the lab's reference probes; return what each graded test cell observed."""
    from labgrader.preprocessors.guarded_execute import GuardedExecute, add_nonces

    nb = nbformat.read(os.path.join(folder, notebook + ".ipynb"), as_version=4)
    workdir = tempfile.mkdtemp(prefix="labgrader-reference-")
    try:
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if name != MODULE_FILE and not name.endswith(".ipynb") and os.path.isfile(path) and not os.path.islink(path):
                shutil.copy(path, workdir)
        probes = add_nonces(lab.reference_probes())
        executor = GuardedExecute(config=config, probes=probes, lab=lab)
        nb, _ = executor.preprocess(nb, {"metadata": {"path": workdir}, "labgrader_lab_directory": folder})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    observed = {}
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        grade_id = cell.metadata.nbgrader["grade_id"]
        for _, record in records_in(cell):
            try:
                record = validate(record)
            except Malformed:
                continue
            if record["grade_id"] == grade_id and record["nonce"] == probes.get(grade_id, {}).get("nonce"):
                observed[grade_id] = record["observations"]
        if grade_id not in observed and grade_id in probes:
            errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
            raise ReferenceFailed(
                f"The instructor's notebook {notebook}.ipynb gave no observation for the graded cell {grade_id!r} "
                f"in the reference run ({errors[0] if errors else 'no error shown'}): run it top to bottom "
                f"in Jupyter and fix it before grading.")
    return observed
