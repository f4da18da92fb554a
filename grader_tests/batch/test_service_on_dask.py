"""The grading service on a Dask cluster (``python -m labgrader serve --scheduler``): a scheduler
and a worker started by hand, a throw-away PostgreSQL gradebook, the exchange set up for root as
the instructor (no other users needed: the student is root too), one submission collected, graded
on the worker and released. The hub, Chromium and many students: grader_tests/hub/test_service.py."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ASSIGNMENT, CORPUS, REPO, copy_course, nbgrader
import snippets
from labgrader.reports.gradebook import cell_scores
from labgrader.service import journal as J
from test_distributed import free_port
from test_postgresql import postgres  # noqa: F401  (the throw-away PostgreSQL server fixture)

pytestmark = [pytest.mark.slow, pytest.mark.dask, pytest.mark.postgres]
BIN = Path(sys.executable).parent
COURSE_ID = "categorical-embeddings"


@pytest.mark.skipif(os.geteuid() != 0, reason="the exchange's set-up needs root")
def test_the_service_grades_on_a_dask_cluster_into_postgresql(postgres, tmp_path):  # noqa: F811
    config_dir, exchange = tmp_path / "jconf", tmp_path / "exchange"
    subprocess.run([sys.executable, "-m", "labgrader.exchange", "setup", "--root", exchange, "--course", COURSE_ID,
                    "--instructor", "root", "--config-dir", config_dir], check=True, capture_output=True)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", JUPYTER_CONFIG_PATH=str(config_dir), TZ="UTC")
    course = copy_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a") as fh:
        fh.write(f"\nc.CourseDirectory.db_url = {postgres!r}\nc.Execute.timeout = 10\n")
    os.environ["JUPYTER_CONFIG_PATH"] = str(config_dir)
    try:
        nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
        nbgrader(course, "release_assignment", ASSIGNMENT)
    finally:
        del os.environ["JUPYTER_CONFIG_PATH"]
    home = tmp_path / "home"
    release = snippets.nbformat.read(REPO / "release" / ASSIGNMENT / snippets.NOTEBOOK, as_version=4)
    snippet = snippets.load(CORPUS / "correct" / "add_method.py")
    (home / ASSIGNMENT).mkdir(parents=True)
    snippets.nbformat.write(snippets.build_notebook(release, snippet), home / ASSIGNMENT / snippets.NOTEBOOK)

    address = f"tcp://127.0.0.1:{free_port()}"
    started = []

    def start(name, cmd, **kw):
        started.append(subprocess.Popen(cmd, env=env, stdout=open(tmp_path / f"{name}.log", "w"), stderr=subprocess.STDOUT,
                                        **kw))
        return started[-1]

    try:
        start("scheduler", [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                            "--no-dashboard"])
        start("worker", [BIN / "dask", "worker", address, "--nthreads", "1", "--no-dashboard"])
        service = start("service", [sys.executable, "-m", "labgrader", "serve", ASSIGNMENT, "--scheduler", address,
                                    "--course", course], cwd=course)
        journal_path = J.journal_path(course)
        deadline = time.monotonic() + 600
        while not (os.path.exists(journal_path) and J.Journal(journal_path, readonly=True).meta().get("heartbeat")):
            assert service.poll() is None and time.monotonic() < deadline, (tmp_path / "service.log").read_text()[-3000:]
            time.sleep(0.5)
        submitted = subprocess.run([BIN / "nbgrader", "submit", ASSIGNMENT], cwd=home, env=env, capture_output=True,
                                   text=True)
        assert submitted.returncode == 0, submitted.stderr[-2000:]
        while True:
            rows = J.Journal(journal_path, readonly=True).rows()
            if rows and rows[0]["state"] in J.DONE:
                break
            assert service.poll() is None and time.monotonic() < deadline, (tmp_path / "service.log").read_text()[-3000:]
            time.sleep(0.5)
        service.send_signal(signal.SIGTERM)
        assert service.wait(60) == 0
    finally:
        for proc in reversed(started):
            if proc.poll() is None:
                proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    row = rows[0]
    assert row["state"] == J.GRADED and row["student"] == "root" and row["result"]["target"] == "gradebook", row
    assert row["result"]["record"]["score"] == 8 and cell_scores(postgres, ASSIGNMENT)["root"] == snippet.expected
    assert "with 1 worker(s)" in (tmp_path / "service.log").read_text()
    pages = list((exchange / COURSE_ID / "feedback").glob("*.html"))
    assert len(pages) == 1 and "Graded." in pages[0].read_text()
    assert not (course / "gradebook.db").exists()
