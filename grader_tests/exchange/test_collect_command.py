"""`nbgrader collect` through TrustedCollect with the course's config: `--before-duedate` and
`--update` decided by the trusted time (ctime), never by the folder name, on a real exchange
layout. Entries belong to the system users nobody and daemon (root makes them, as a student's
process would); the instructor is root here (the hub test runs them all as real users)."""
import datetime as dt
import os
import pwd
import time

import pytest

from conftest import ASSIGNMENT, copy_course, nbgrader
from labgrader.exchange.layout import make_exchange
from labgrader.exchange.times import parse_time

pytestmark = [pytest.mark.slow,  # nbgrader commands (no kernels)
              pytest.mark.skipif(os.geteuid() != 0, reason="entries owned by other users need root")]
COURSE_ID = "categorical-embeddings"


def entry(inbound, owner, name_time, text):
    """An entry named with ``name_time`` (a lie, on purpose) holding ``text`` as the notebook."""
    user = pwd.getpwnam(owner)
    path = inbound / f"{owner}+{ASSIGNMENT}+{name_time}+r{time.monotonic_ns()}"
    path.mkdir()
    (path / "embeddings.ipynb").write_text(text)
    for p in (path / "embeddings.ipynb", path):
        os.chown(p, user.pw_uid, user.pw_gid)
    return path.name


@pytest.fixture
def course(tmp_path):
    course = copy_course(tmp_path / "course")
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    make_exchange(str(tmp_path / "exchange"), COURSE_ID, "root", log=lambda *_: None)
    return course, tmp_path / "exchange" / COURSE_ID / "inbound"


def collect(course, *flags):
    return nbgrader(course, "collect", ASSIGNMENT, f"--Exchange.root={course.parent / 'exchange'}", *flags)


def collected(course, student):
    folder = course / "submitted" / student / ASSIGNMENT
    return (folder / "embeddings.ipynb").read_text(), parse_time((folder / "timestamp.txt").read_text())


def test_before_duedate_and_update_follow_the_trusted_time(course):
    course, inbound = course
    entry(inbound, "nobody", "2099-01-01 00:00:00.000000 UTC", "on time, named in the future")
    time.sleep(1.1)
    due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)).replace(microsecond=0)
    nbgrader(course, "db", "assignment", "add", ASSIGNMENT, f"--duedate={due:%Y-%m-%d %H:%M:%S} UTC")
    time.sleep(2.2)
    entry(inbound, "nobody", "2000-01-01 00:00:00.000000 UTC", "late, named in the past")
    entry(inbound, "daemon", "2000-01-01 00:00:00.000000 UTC", "late only")

    collect(course, "--before-duedate")
    text, when = collected(course, "nobody")
    assert text == "on time, named in the future" and when < due
    assert collected(course, "daemon")[0] == "late only"  # nothing on time: the newest

    said = collect(course)  # already collected: kept, says how to update
    assert "use --update" in said.stderr
    assert collected(course, "nobody")[0] == "on time, named in the future"

    collect(course, "--update")
    text, when = collected(course, "nobody")
    assert text == "late, named in the past" and when > due
    assert not list((course / "submitted" / "nobody").glob(".collecting-*"))
