"""The grading service's worker does each piece of work once: a submission taken through the
intake (an upload) and graded by ``worker.grade_job`` on the service's own warm pool opens the
gradebook at most twice (once to grade it, nbgrader's steps included; once for its feedback, it
was 17 times), and reads no notebook again to make the student's page (the record carries each
check).

The driver runs in a subprocess; it and each of the pool's workers wrap those functions with
counters (grader_tests/counting.py): each call is written to a file with its process and
the submission being graded there."""
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from conftest import ASSIGNMENT, CORPUS, REPO, generated_course
import snippets

pytestmark = pytest.mark.slow  # a warm pool, the readiness check and three gradings

SUBMISSIONS = {"alice": "correct/list_and_flatten", "bob": "wrong/copied_weights", "carol": "wrong/no_flatten"}

DRIVER = r'''
import datetime as dt, functools, json, sys
import counting
from labgrader.batch import task
from labgrader.course import Course
from labgrader.service import pool as pool_module, worker
from labgrader.service.dispatch import Dispatcher
from labgrader.service.intake import Intake, Submission
from labgrader.service.policy import GradingService, Lanes
from labgrader.service.pool import LocalPool
from labgrader.service.store import content_digest

root, calls, handins = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
counting.install_service_counters(calls)  # here, and in each worker by its initializer (they are not forked from here)
pool_module.init_pool_worker = functools.partial(counting.init_counting_worker, calls)
course = Course(root)
policy = GradingService(max_per_hour=0)
intake = Intake(course, policy=policy)
for student, folder in handins.items():
    receipt = intake.accept(Submission(student, "embeddings", dt.datetime.now(dt.timezone.utc), folder,
                                       content_digest(folder), source="upload", submission_id=student))
    assert receipt.state == "queued", receipt
lab = course.lab("embeddings")
with LocalPool(course.root, course.db_url, tuple(lab.warm_imports), 2) as pool:
    course.prepare_rows("embeddings", list(handins))
    pool.submit(task.check_ready, "embeddings", course.notebooks("embeddings")).result()
    dispatcher = Dispatcher(course, intake.journal, intake.store, policy, pool, None, {}, Lanes(2))
    jobs = [dispatcher.job(row) for row in intake.journal.in_state("queued")]
    results = [pool.submit(worker.grade_job, job).result() for job in jobs]
print(json.dumps({r["record"]["student"]: [r["record"]["ok"], r["record"]["score"], sorted(r["feedback"])]
                  for r in results}))
'''


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    import shutil
    base = tmp_path_factory.mktemp("service-work-once")
    course = base / "course"
    shutil.copytree(generated_course(), course)
    release = snippets.nbformat.read(REPO / "release" / ASSIGNMENT / snippets.NOTEBOOK, as_version=4)
    handins = {}
    for student, name in SUBMISSIONS.items():
        folder = base / "uploads" / student
        folder.mkdir(parents=True)
        snippets.nbformat.write(snippets.build_notebook(release, snippets.load(CORPUS / f"{name}.py")),
                                folder / snippets.NOTEBOOK)
        handins[student] = str(folder)
    calls = base / "calls.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "grader_tests"), str(REPO)]))
    result = subprocess.run([sys.executable, "-c", DRIVER, str(course), str(calls), json.dumps(handins)], cwd=course,
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    graded = json.loads(result.stdout.strip().splitlines()[-1])
    return graded, [json.loads(line) for line in calls.read_text().splitlines()]


def test_every_upload_is_graded_with_its_feedback(counted):
    graded, _ = counted
    expected = {s: sum(snippets.load(CORPUS / f"{n}.py").expected.values()) for s, n in SUBMISSIONS.items()}
    assert {s: g[1] for s, g in graded.items()} == expected
    assert all(g[0] and g[2] == ["embeddings"] for g in graded.values())  # graded, nbgrader's page kept


def test_a_submission_opens_the_gradebook_at_most_twice(counted):
    graded, calls = counted
    opens = Counter(call["student"] for call in calls if call["what"] == "gradebook" and call["student"])
    assert set(opens) == set(graded)  # counted in the workers, for each submission
    assert max(opens.values()) <= 2, opens  # grading (nbgrader's steps included) and feedback; it was 17


def test_the_page_needs_no_notebook_read_again(counted):
    _, calls = counted
    reads = Counter(call["student"] for call in calls if call["what"] == "notebook read" and call["student"])
    processes = {call["pid"] for call in calls if call["student"]}
    # nbgrader's own reads per submission: the submitted notebook, the sanitize pass's, the autograded
    # one for the feedback, and the record read back once; the release and the source once per
    # process (which tests are visible: a fact of the assignment); none to make the page (was 8)
    assert min(reads.values()) <= 4, reads
    assert sum(n - 4 for n in reads.values()) <= 2 * len(processes), (reads, processes)
