"""`nbgrader zip_collect` with LMS downloads: Canvas (user ids mapped to SIS logins through the
gradebook CSV, `LATE`, `-1` re-uploads), Moodle (a folder per participant) and Blackboard
(attempt times in the server's zone) archives, each collected to the right student id with the
right time; zip-slip, links, bombs and unmappable or dangerous ids refused with the reason,
the rest of the class collected. Real `nbgrader zip_collect` commands in a course copy."""
import io
import json
import stat
import zipfile

import nbformat
import pytest

from conftest import ASSIGNMENT, CORPUS, REPO, copy_course, nbgrader
import snippets
from labgrader.exchange import refusals

pytestmark = pytest.mark.slow  # nbgrader commands (no kernels)

CANVAS_ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,embeddings (123)
    Points Possible,,,,,8
"Liddell, Alice",1001,S1,alice,Sec A,
"Builder, Bob",1002,S2,bob,Sec A,
"Evil, Mallory",1003,S3,../mallory,Sec A,
"""


def notebook(name="correct/list_and_flatten"):
    release = nbformat.read(REPO / "release" / ASSIGNMENT / snippets.NOTEBOOK, as_version=4)
    return nbformat.writes(snippets.build_notebook(release, snippets.load(CORPUS / f"{name}.py")))


def make_zip(path, members):
    """``members``: name -> bytes/str, or (bytes, unix mode) for links and special files."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            mode = None
            if isinstance(data, tuple):
                data, mode = data
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.external_attr = mode << 16
            archive.writestr(info, data)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("zip") / "course")
    with open(course / "nbgrader_config.py", "a") as fh:
        fh.write("\nc.SafeExtractor.max_member_bytes = 2 * 1024 ** 2\n")
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    return course


def zip_collect(course, collector, *args):
    return nbgrader(course, "zip_collect", ASSIGNMENT, "--force", "--strict",
                    f"--ZipCollectApp.collector_plugin=labgrader.exchange.zipcollect.{collector}", *args, check=False)


def archive_dir(course):
    folder = course / "downloaded" / ASSIGNMENT / "archive"
    if folder.exists():
        for p in folder.iterdir():
            p.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def submitted(course):
    return {p.parent.parent.name: p for p in (course / "submitted").glob(f"*/{ASSIGNMENT}/{snippets.NOTEBOOK}")}


def reset(course):
    import shutil
    shutil.rmtree(course / "submitted", ignore_errors=True)


def test_canvas_ids_late_and_reuploads(course):
    reset(course)
    (course / "canvas.csv").write_text(CANVAS_ROSTER)
    nbgrader(course, "db", "assignment", "add", ASSIGNMENT, "--duedate=2026-12-01 17:00:00 Europe/Berlin")
    make_zip(archive_dir(course) / "submissions.zip", {
        "liddellalice_1001_5001_embeddings.ipynb": notebook("wrong/untouched"),
        "liddellalice_1001_5001_embeddings-1.ipynb": notebook(),  # re-uploaded: this one counts
        "builderbob_LATE_1002_5002_embeddings.ipynb": notebook("wrong/model3_is_model2"),
        "evilmallory_1003_5003_embeddings.ipynb": notebook(),     # SIS login '../mallory'
        "strangercarl_1999_5999_embeddings.ipynb": notebook(),    # not in the roster
    })
    result = zip_collect(course, "CanvasCollector", "--CanvasCollector.roster=canvas.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    found = submitted(course)
    assert sorted(found) == ["alice", "bob"], found
    assert "model3 = Sequential" in found["alice"].read_text()  # the -1 re-upload
    # bob is LATE: one second after the due date (16:00 UTC), so the course's penalty applies
    assert (found["bob"].parent / "timestamp.txt").read_text().startswith("2026-12-01 16:00:01")
    assert not (found["alice"].parent / "timestamp.txt").exists()
    reasons = {r["who"]: " ".join(r["reasons"]) for r in refusals(str(course), ASSIGNMENT)}
    assert "not a student id" in reasons["../mallory"]
    assert "1999 is not in the roster" in reasons["1999"]
    assert not (course / "mallory").exists() and not (course / "submitted" / "..").resolve().name == "mallory"


def test_moodle_folders_map_participants(course):
    reset(course)
    (course / "moodle.csv").write_text("Identifier,Full name,Email address,Status\n"
                                       "Participant 4711,Alice Liddell,alice,Submitted\n"
                                       "Participant 4712,Bob Builder,bob,Submitted\n")
    make_zip(archive_dir(course) / "moodle.zip", {
        "Alice Liddell_4711_assignsubmission_file/embeddings.ipynb": notebook(),
        "Bob Builder_4712_assignsubmission_file_embeddings.ipynb": notebook("wrong/model3_is_model2"),
    })
    result = zip_collect(course, "MoodleCollector", "--MoodleCollector.roster=moodle.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(submitted(course)) == ["alice", "bob"]


def test_blackboard_attempts_with_times_in_the_servers_zone(course):
    reset(course)
    make_zip(archive_dir(course) / "gradebook.zip", {
        "embeddings_alice_attempt_2026-07-01-12-00-00_embeddings.ipynb": notebook("wrong/untouched"),
        "embeddings_alice_attempt_2026-07-01-13-30-00_embeddings.ipynb": notebook(),  # newest attempt
        "embeddings_alice_attempt_2026-07-01-13-30-00.txt": "Name: Alice\n",
    })
    result = zip_collect(course, "BlackboardCollector", "--BlackboardCollector.timezone=Europe/Berlin")
    assert result.returncode == 0, result.stderr[-3000:]
    found = submitted(course)
    assert "model3 = Sequential" in found["alice"].read_text()
    assert (found["alice"].parent / "timestamp.txt").read_text().startswith("2026-07-01 11:30:00")  # CEST -> UTC


def test_hostile_archives_are_refused_and_the_rest_collected(course):
    reset(course)
    folder = archive_dir(course)
    make_zip(folder / "canvas.zip", {
        "liddellalice_1001_5001_embeddings.ipynb": notebook(),
        "../../../evil_1002_5002_embeddings.ipynb": notebook(),               # zip-slip
        "/etc/builderbob_1002_5002_embeddings.ipynb": notebook(),             # absolute
        "builderbob_1002_5002_link.ipynb": (b"/etc/passwd", stat.S_IFLNK | 0o777),  # a link member
        "builderbob_1002_5002_big.ipynb": b"0" * (3 * 1024 ** 2),              # over the member cap
        "builderbob_1002_5002_x\x07.ipynb": notebook(),                        # control character
    })
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(3):
            archive.writestr(f"layer{i}.bin", b"\0" * (400 * 1024 ** 2))  # 1.2 GB of zeros, ~1.2 MB packed
    (folder / "bomb.zip").write_bytes(bomb.getvalue())
    (folder / "not_a_zip.zip").write_bytes(b"PK\x03\x04 garbage")
    result = zip_collect(course, "CanvasCollector", "--CanvasCollector.roster=canvas.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(submitted(course)) == ["alice"]
    assert not list(course.parent.rglob("evil_*")) and not (course / "downloaded" / "evil_1002_5002_embeddings.ipynb").exists()
    report = json.loads((course / f"collect_report_{ASSIGNMENT}.json").read_text())["zip_collect"]["entries"]
    said = {r["entry"]: " ".join(r["reasons"]) for r in report}
    text = json.dumps(said)
    assert "zip-slip" in text and "absolute or Windows path" in text
    assert "a symbolic link in the archive" in text
    assert "more than 2097152" in text
    assert "control characters" in text
    assert "zip bomb" in said["bomb.zip"]
    assert "not a readable zip archive" in said["not_a_zip.zip"]
    assert not (course / "downloaded" / ASSIGNMENT / "extracted" / "bomb").exists() or \
        not list((course / "downloaded" / ASSIGNMENT / "extracted" / "bomb").iterdir())


def test_names_inside_a_students_own_zip_are_never_a_classmates_submission(course):
    """#26: a nested zip holding files named like a classmate's Canvas files became that classmate's
    submission, and when the classmate's own file was there, zip_collect stopped for the whole class
    ("Duplicate submission file"). LMS names are read at the download's top level only."""
    reset(course)
    (course / "canvas.csv").write_text(CANVAS_ROSTER)
    nested = io.BytesIO()
    make_zip(nested, {"builderbob_1002_5002_embeddings.ipynb": notebook("wrong/untouched"),  # "bob's"
                      "embeddings.ipynb": notebook("wrong/model3_is_model2")})
    make_zip(archive_dir(course) / "submissions.zip", {
        "liddellalice_1001_5001_mywork.zip": nested.getvalue(),               # alice's upload: a zip
        "builderbob_1002_5002_embeddings.ipynb": notebook(),                 # bob's own file
        "liddellalice_1001_5001_embeddings.ipynb": notebook("wrong/fresh_embedding"),  # alice's plain one too
    })
    result = zip_collect(course, "CanvasCollector", "--CanvasCollector.roster=canvas.csv")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]  # the class was collected
    found = submitted(course)
    assert sorted(found) == ["alice", "bob"]
    assert found["bob"].read_text() == notebook()  # bob's own file, not the one in alice's zip
    assert found["alice"].read_text() == notebook("wrong/fresh_embedding")  # the first of her two, kept
    report = json.loads((course / f"collect_report_{ASSIGNMENT}.json").read_text())["zip_collect"]["entries"]
    skipped = {r["entry"]: " ".join(r["reasons"]) for r in report if r["status"] == "superseded"}
    assert skipped == {"submissions/liddellalice_1001_5001_mywork/embeddings.ipynb":
                       "a second embeddings.ipynb for alice, with no time to tell which is newer: the first was kept"}
