"""A small course for the grading service's fast tests: a real nbgrader gradebook with one
assignment of one notebook (made through nbgrader's API: no generate_assignment, no kernel), a
temporary exchange, and the service's intake and inbound adapter over them, as ``serve`` builds them."""
import datetime as dt
import os
import pwd
from pathlib import Path

from traitlets.config import Config

from labgrader.course import Course
from labgrader.exchange import entries
from labgrader.service.inbound import InboundIntake
from labgrader.service.intake import Intake
from labgrader.service.policy import GradingService

ASSIGNMENT = "embeddings"
NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
SECRET = b"0123456789abcdef" * 2


_template: dict[str, bytes] = {}


def _alembic_head() -> str:
    """What nbgrader's ``get_alembic_version`` reads from ``alembic heads`` (a subprocess: seconds),
    read in this process from nbgrader's own migration scripts."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader import api
    with api._temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        return str(ScriptDirectory.from_config(AlembicConfig(ini)).get_current_head())


def _gradebook() -> bytes:
    """The gradebook's bytes, made by nbgrader once per test run."""
    if "db" not in _template:
        import tempfile
        from unittest import mock

        from nbgrader.api import Gradebook
        with tempfile.TemporaryDirectory() as folder, mock.patch("nbgrader.api.get_alembic_version", _alembic_head):
            url = f"sqlite:///{folder}/gradebook.db"
            with Gradebook(url) as gb:
                gb.update_or_create_assignment(ASSIGNMENT)
                gb.update_or_create_notebook("embeddings", ASSIGNMENT)
            Gradebook(url, "course").close()
            _template["db"] = Path(folder, "gradebook.db").read_bytes()
    return _template["db"]


def make_course(tmp_path, due=None):
    root = tmp_path / "course"
    root.mkdir(parents=True)
    (root / "gradebook.db").write_bytes(_gradebook())
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = f"sqlite:///{root}/gradebook.db"
    config.CourseDirectory.course_id = "course"
    config.CourseDirectory.ignore = [".ipynb_checkpoints", "__pycache__"]
    course = Course(root, config)
    if due is not None:
        set_due(course, due)
    return course


def set_due(course, due):
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=due.astimezone(dt.timezone.utc).replace(tzinfo=None))
    course.refresh()


class Served:
    """The intake, the inbound adapter and their journal and store, over a temporary exchange."""

    def __init__(self, tmp_path, **policy):
        self.course = make_course(tmp_path)
        self.policy = GradingService(**{"max_per_hour": 10, "settle_seconds": 0.0, "incomplete_seconds": 0.0, **policy})
        self.inbound = tmp_path / "exchange" / "inbound"
        self.inbound.mkdir(parents=True)
        self.intake = Intake(self.course, policy=self.policy)
        self.journal, self.store = self.intake.journal, self.intake.store
        self.adapter = InboundIntake(str(self.inbound), self.intake, [ASSIGNMENT], self.policy, entries.Caps(),
                                     self.course.coursedir.ignore)

    def hand_in(self, tag, files=None, take=True):
        """One entry of the user running the tests (its owner is its student), written now."""
        name = f"{me()}+{ASSIGNMENT}+2026-11-30 04:00:00.000000 UTC+{tag}"
        folder = self.inbound / name
        folder.mkdir()
        for file, data in (files or {"embeddings.ipynb": NOTEBOOK, "submission_secret.txt": SECRET}).items():
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_bytes(data)
        if take:
            self.adapter.look(name)
        return name

    def states(self):
        return {row["entry"].rsplit("+", 1)[1]: row["state"] for row in self.journal.rows()}

    def blobs(self):
        return sorted(p.name for p in Path(self.store.blobs).rglob("*") if p.is_file())


def me():
    return pwd.getpwuid(os.getuid()).pw_name
