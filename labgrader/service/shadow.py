"""A second course for the resubmissions the gradebook does not keep.

The gradebook keeps one submission per student: the newest on time, else the newest late one (as
``nbgrader collect --before-duedate``). A student who submits again after the due date still gets
that submission graded (its feedback), but it must not replace the on-time grade: it is graded in
``<course>/.labgrader/service/shadow/``, a course with its own ``submitted/``, ``autograded/``,
``feedback/`` and SQLite gradebook, the real course's ``source/`` and ``release/`` (links to them)
and its configuration. Its gradebook holds a copy of the assignment (notebooks, cells, points, due
date) made from the real one; the reference run's cache is copied from the real course's.
Nothing in it counts: the instructor's gradebook, exports and reports never read it.
"""
from __future__ import annotations

import copy
import fcntl
import glob
import os
import shutil

from nbgrader.api import Gradebook
from traitlets.config import Config

from labgrader.judging.reference import CACHE_DIR
from labgrader.reference_run import PreAutograde

SHADOW_DIR = os.path.join(".labgrader", "service", "shadow")


def shadow_root(course_root: str) -> str:
    return os.path.join(course_root, SHADOW_DIR)


def shadow_config(config: Config, assignment: str) -> Config:
    """The worker's course configuration, moved to the shadow course (made or refreshed first)."""
    course_root = config.CourseDirectory.root
    root = shadow_root(course_root)
    db_url = "sqlite:///" + os.path.join(root, "gradebook.db") + "?timeout=120"
    prepare(course_root, root, config.CourseDirectory.db_url, db_url, assignment)
    moved = copy.deepcopy(config)
    moved.CourseDirectory.root = root
    moved.CourseDirectory.db_url = db_url
    moved.Autograde.pre_convert_hook = PreAutograde(moved, check=False, announce=False)
    return moved


def prepare(course_root: str, root: str, course_db: str, db_url: str, assignment: str) -> None:
    """Make the shadow course (once), copy the assignment into its gradebook and the reference
    cache into its ``.labgrader`` (each time: the instructor may have regenerated the assignment)."""
    os.makedirs(root, mode=0o700, exist_ok=True)
    with open(os.path.join(root, ".lock"), "a") as lock:  # workers prepare it one at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in ("source", "release"):
            link = os.path.join(root, name)
            if not os.path.islink(link):
                os.symlink(os.path.join(course_root, name), link)
        copy_assignment(course_db, db_url, assignment)
        cache = os.path.join(root, CACHE_DIR)
        os.makedirs(cache, mode=0o700, exist_ok=True)
        for path in glob.glob(os.path.join(course_root, CACHE_DIR, "reference-*.json")):
            target = os.path.join(cache, os.path.basename(path))
            if not os.path.exists(target):
                shutil.copy(path, target + ".tmp")
                os.replace(target + ".tmp", target)


def copy_assignment(source_url: str, target_url: str, assignment: str) -> None:
    """The assignment's definition (due date, notebooks, graded, solution, task and source cells)
    from one gradebook into another, through nbgrader's own API; students are made when graded."""
    with Gradebook(source_url) as source, Gradebook(target_url) as target:
        found = source.find_assignment(assignment)
        target.update_or_create_assignment(assignment, duedate=found.duedate)
        for notebook in found.notebooks:
            target.update_or_create_notebook(notebook.name, assignment)
            for cell in notebook.grade_cells:
                target.update_or_create_grade_cell(cell.name, notebook.name, assignment, max_score=cell.max_score,
                                                   cell_type=cell.cell_type)
            for cell in notebook.solution_cells:
                target.update_or_create_solution_cell(cell.name, notebook.name, assignment)
            for cell in notebook.task_cells:
                target.update_or_create_task_cell(cell.name, notebook.name, assignment, max_score=cell.max_score,
                                                  cell_type=cell.cell_type)
            for cell in notebook.source_cells:
                target.update_or_create_source_cell(cell.name, notebook.name, assignment, cell_type=cell.cell_type,
                                                    locked=cell.locked, source=cell.source, checksum=cell.checksum)


def set_extension(db_url: str, assignment: str, student: str, extension) -> None:
    """The student's extension (from the real gradebook), so that late penalties match."""
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student, extension=extension)
