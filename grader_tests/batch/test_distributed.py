"""The batch command on a Dask cluster (labgrader/batch/distributed.py): real Dask processes,
real nbgrader, real kernels; a LocalCluster, and a scheduler and workers started as separate
commands grading into PostgreSQL while one worker is killed."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import ASSIGNMENT, class_course, copy_course, corpus
import snippets as submissions
from labgrader.reports.gradebook import cell_scores
from test_postgresql import postgres  # noqa: F401  (the throw-away PostgreSQL server fixture)

pytestmark = [pytest.mark.slow, pytest.mark.dask]  # Dask clusters (local, by hand), batch commands

BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
# Correct, wrong and hostile, all quick; not_json never reaches a worker (pre-flight).
CLASS = ("list_and_flatten", "copied_weights", "model3_is_model2", "kernel_os_exit", "calls_sys_exit", "not_json")


def snippets():
    found = [s for s in corpus() if s.name in CLASS]
    assert len(found) == len(CLASS)
    return found


def autograde(course, *args, timeout=900):
    return subprocess.run([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT, *args], cwd=course,
                          capture_output=True, text=True, timeout=timeout, env=ENV)


def report_of(course):
    return {r["student"]: r for r in json.loads((course / f"grading_report_{ASSIGNMENT}.json").read_text())["results"]}


def assert_expected(scores, report):
    for snippet in snippets():
        assert scores[snippet.name] == snippet.expected, snippet.name
    assert sum(scores["instructor_solution"].values()) == 8
    assert set(report) == {s.name for s in snippets()} | {"instructor_solution"}  # nothing lost
    assert not report["not_json"]["ok"] and "not a valid notebook" in report["not_json"]["error"]
    assert all(r["ok"] for name, r in report.items() if name != "not_json"), report


def representative():
    """One submission per distinct expected score vector and per kind of fault or flag: the
    executor is the only thing that differs from the local pool, so this covers what can differ."""
    chosen, seen = [], set()
    slow = {"infinite_loop", "ignores_interrupt", "flood_of_findings", "allocates_12gb", "output_flood", "many_megabyte_cells"}
    for snippet in corpus():
        key = (tuple(sorted(snippet.expected.items())), bool(snippet.expected_flags),
               snippet.name in ("kernel_os_exit", "not_json", "renamed_notebook", "tamper_kept_lab_swap"))
        if key not in seen and snippet.name not in slow:
            seen.add(key)
            chosen.append(snippet)
    return chosen


def test_a_local_cluster_grades_like_the_local_pool(tmp_path):
    """A representative part of the corpus (correct, wrong, hostile, broken) on a LocalCluster of
    process workers: the scores, cell by cell, and the flags the local pool gives them (their
    expectations, which test_corpus.py and test_flags.py hold the local pool to)."""
    chosen = representative()
    assert len(chosen) >= 10
    dask = class_course(tmp_path / "dask", chosen)
    result = autograde(dask, "--cluster", "local", "--workers", "2")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]  # 1: some need attention
    assert "with 2 worker(s)" in result.stdout
    scores = cell_scores(f"sqlite:///{dask}/gradebook.db", ASSIGNMENT)
    records = report_of(dask)
    for snippet in chosen:
        if snippet.expected:
            assert scores[snippet.name] == snippet.expected, snippet.name
        seen = [f"{f['where']}: {f['seen']}" for f in records[snippet.name]["flags"]]
        assert bool(seen) == bool(snippet.expected_flags), (snippet.name, seen)
        for words in snippet.expected_flags or []:
            assert any(words in line for line in seen), (snippet.name, words, seen)


def test_each_worker_has_its_own_warm_fork_server_and_checks_what_it_sees(tmp_path):
    from distributed import Client, LocalCluster

    from labgrader.batch import distributed as dist
    from labgrader.batch import task

    course = class_course(tmp_path / "course", [])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        # A worker that sees another course (here: another release) refuses before any grade.
        with pytest.raises(dist.CourseMismatch, match="sees a different course"):
            client.register_plugin(dist.GradingWorker(course, ASSIGNMENT, "not the client's course"))
        client.register_plugin(dist.GradingWorker(course, ASSIGNMENT, dist.course_fingerprint(course, ASSIGNMENT)))

        def fork_server():
            from labgrader.batch import task as worker_task
            path = worker_task._config.GradingKernelManager.fork_server  # what this worker's kernels use
            return path, os.path.exists(path)
        servers = client.run(fork_server)
        assert len(servers) == 2 and len({path for path, _ in servers.values()}) == 2
        assert all(path and exists for path, exists in servers.values())

        # A submission the worker cannot see is reported with the reason, not skipped.
        record = client.submit(dist.on_worker, task.grade_submission, ASSIGNMENT, "ghost", pure=False).result()
        assert not record.ok and "cannot see" in record.error and "same path on every worker" in record.error
        # The real task, through the runner's executor protocol (concurrent.futures).
        executor = dist.OnWorkers(client)
        executor.submit(task.check_ready, ASSIGNMENT, [submissions.NOTEBOOK.removesuffix(".ipynb")]).result()
        record = executor.submit(task.grade_submission, ASSIGNMENT, "instructor_solution").result()
        assert record.ok and [sum(cells.values()) for cells in record.scores.values()] == [8], record.error


def test_a_remote_cluster_refuses_a_sqlite_gradebook(tmp_path):
    course = copy_course(tmp_path / "course")
    result = autograde(course, "--scheduler", "tcp://127.0.0.1:9", timeout=120)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert "SQLite gradebook" in message and "c.CourseDirectory.db_url" in message and "postgresql://" in message
    assert not (course / "gradebook.db").exists() and not (course / "autograded").exists()


def test_an_unreachable_scheduler_is_a_clear_error_before_any_grade(tmp_path):
    # The gradebook server does not exist either: the scheduler is reached first, or nothing is done.
    course = copy_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a") as config:
        config.write('\nc.CourseDirectory.db_url = "postgresql://nobody@127.0.0.1:9/none"\n')
    (course / "submitted" / "alice" / ASSIGNMENT).mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT, "--scheduler",
                             f"tcp://127.0.0.1:{free_port()}"], cwd=course, capture_output=True, text=True, timeout=120,
                            env=dict(ENV, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="3s"))  # Dask's own setting (30 s)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert "Cannot reach the Dask scheduler" in message and "Nothing was graded" in message, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (course / "autograded").exists() and not list(course.glob("grading_report*"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.postgres
def test_scheduler_and_workers_by_hand_into_postgresql_survive_a_killed_worker(postgres, tmp_path):  # noqa: F811
    from distributed import Client

    course = class_course(tmp_path / "course", snippets(), f"\nc.CourseDirectory.db_url = {postgres!r}\n")
    address = f"tcp://127.0.0.1:{free_port()}"
    started = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name, *cmd):
        log = open(logs / f"{name}.log", "w")
        started.append(subprocess.Popen([str(BIN / "dask"), *cmd], env=ENV, stdout=log, stderr=subprocess.STDOUT))
        return started[-1]

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard")
        start("survivor", "worker", address, "--nthreads", "1", "--no-dashboard", "--name", "survivor")
        # No nanny: the `dask worker` process is the worker itself, and once killed it stays dead
        # (a lost machine), so its submissions must be re-run on the survivor.
        victim = start("victim", "worker", address, "--nthreads", "1", "--no-dashboard", "--name", "victim", "--no-nanny")
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            grading = subprocess.Popen([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT,
                                        "--scheduler", address], cwd=course, env=ENV, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            victim_address = next(a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()
                                  if w["name"] == "victim")
            deadline = time.monotonic() + 600
            while not client.processing().get(victim_address):  # the victim is grading a submission
                assert grading.poll() is None and time.monotonic() < deadline, grading.communicate()
                time.sleep(0.2)
            time.sleep(1)  # well inside its submission (a kernel running)
            children = psutil.Process(victim.pid).children(recursive=True)
            assert any("labgrader.kernels.forkserver" in " ".join(p.cmdline()) for p in children)
            os.kill(victim.pid, signal.SIGKILL)
            out, err = grading.communicate(timeout=600)
        # Its fork server and kernels died with it (nothing outlives a killed worker).
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        for proc in reversed(started):
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert grading.returncode == 1, out[-2000:] + err[-3000:]  # 1: not_json not graded, kernel_os_exit flagged
    assert "with 2 worker(s)" in out
    assert_expected(cell_scores(postgres, ASSIGNMENT), report_of(course))
    assert not (course / "gradebook.db").exists()
