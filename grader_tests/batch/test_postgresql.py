"""The batch command with a PostgreSQL gradebook, through nbgrader's db_url."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ASSIGNMENT, batch_exit_status, class_course, corpus
from labgrader.reports.gradebook import cell_scores

pytestmark = [pytest.mark.slow, pytest.mark.postgres]  # a PostgreSQL server, a batch grading

PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/usr/lib/postgresql/missing/bin"))


def as_postgres(*cmd):
    result = subprocess.run(["runuser", "-u", "postgres", "--", *map(str, cmd)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL server on a Unix socket (Debian's postgresql, installed by ./course)."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail("Debian's postgresql is needed (./course installs it)")
    base = Path(tempfile.mkdtemp(prefix="labgrader-pg-"))  # pytest's tmp dirs are 0700 to root
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    shutil.chown(base, "postgres")
    shutil.chown(sockets, "postgres")
    os.chmod(base, 0o755)
    as_postgres(PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
    as_postgres(PG_BIN / "pg_ctl", "-D", data, "-l", base / "log", "-w", "start",
                "-o", f"-k {sockets} -c listen_addresses=''")
    as_postgres(PG_BIN / "createdb", "-h", sockets, "-U", "postgres", "gradebook")
    yield f"postgresql://postgres@/gradebook?host={sockets}"
    as_postgres(PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "stop")
    shutil.rmtree(base, ignore_errors=True)


def test_the_batch_command_grades_into_postgresql(postgres, tmp_path):
    snippets = [s for s in corpus() if s.name in ("list_and_flatten", "copied_weights", "not_json", "kernel_os_exit")]
    course = class_course(tmp_path / "course", snippets, f"\nc.CourseDirectory.db_url = {postgres!r}\n")
    result = subprocess.run([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT], cwd=course,
                            capture_output=True, text=True, timeout=900,
                            env=dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"))
    assert result.returncode == batch_exit_status(course, ASSIGNMENT), result.stderr[-2000:]
    scores = cell_scores(postgres, ASSIGNMENT)
    for snippet in snippets:
        assert scores[snippet.name] == snippet.expected, snippet.name
    assert sum(scores["instructor_solution"].values()) == 8
    assert not (course / "gradebook.db").exists()
