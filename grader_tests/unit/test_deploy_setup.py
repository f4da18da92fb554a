"""The set-up command and the doctor's pure parts (labgrader/deploy/): a course folder made private
by construction, copied without following links, never overwritten; machine-wide config written
only where told and never replaced silently; the doctor's findings on a course of known modes; the
service's log filter. The recipe as a whole, on real accounts: grader_tests/hub/test_deploy.py."""
import datetime as dt
import logging
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO
from labgrader.__main__ import expected_checksum_warning
from labgrader.deploy import doctor, setup
from labgrader.deploy.access import ANYONE, Evaluator
from labgrader.exchange.layout import SetupRefused, write_kept

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="folders of another owner: needs root")


@pytest.fixture
def base():
    folder = Path(tempfile.mkdtemp(prefix="labgrader-setup-"))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def modes(top):
    return {str(p.relative_to(top)): (stat.S_IMODE(p.lstat().st_mode), p.lstat().st_uid) for p in [top, *top.rglob("*")]}


def test_the_course_id_is_read_without_running_the_config(tmp_path):
    assert setup.course_id_of(str(REPO / "nbgrader_config.py")) == "categorical-embeddings"
    (tmp_path / "nbgrader_config.py").write_text("import os\nos.system('touch ran')\nc.CourseDirectory.course_id = 'x'\n")
    assert setup.course_id_of(str(tmp_path / "nbgrader_config.py")) == "x" and not (tmp_path / "ran").exists()


@root_only
def test_the_course_folder_is_the_instructors_and_private_and_never_overwritten(base):
    nobody = pwd.getpwnam("nobody")
    course, said = base / "course", []
    setup.install_course(str(REPO), str(course), "nobody", said.append)
    seen = modes(course)
    assert seen["."] == (0o700, nobody.pw_uid)
    assert all(uid == nobody.pw_uid and mode & 0o077 == 0 for mode, uid in seen.values()), seen
    assert seen["source/embeddings/grading.py"][0] == 0o600 and seen["source"][0] == 0o700
    assert (course / "source" / "embeddings" / "embeddings.ipynb").read_bytes() == \
        (REPO / "source" / "embeddings" / "embeddings.ipynb").read_bytes()
    assert not list(course.rglob("__pycache__"))
    assert said[0] == f"made {course} (nobody, 0700)" and any("copied" in line and "/source" in line for line in said)
    # again, after the instructor edited a file and opened the folder: kept, and made private again
    (course / "nbgrader_config.py").write_text("# edited\n")
    os.chmod(course, 0o755)
    said.clear()
    setup.install_course(str(REPO), str(course), "nobody", said.append)
    assert (course / "nbgrader_config.py").read_text() == "# edited\n"
    assert stat.S_IMODE(course.stat().st_mode) == 0o700
    assert said[0] == f"made {course} private: mode 0755 -> 0700"
    assert sum(line.startswith("kept ") for line in said) == 3, said


@root_only
def test_the_course_folder_is_refused_when_it_is_a_link_or_someone_elses_or_in_an_open_folder(base):
    (base / "elsewhere").mkdir()
    (base / "course").symlink_to(base / "elsewhere")
    with pytest.raises(SetupRefused, match="not a folder"):
        setup.install_course(str(REPO), str(base / "course"), "nobody", print)
    assert list((base / "elsewhere").iterdir()) == []
    (base / "squatted").mkdir()
    os.chown(base / "squatted", 12345, 12345)
    with pytest.raises(SetupRefused, match="belongs to uid 12345"):
        setup.install_course(str(REPO), str(base / "squatted"), "nobody", print)
    open_folder = base / "open"
    open_folder.mkdir()
    os.chmod(open_folder, 0o777)
    with pytest.raises(SetupRefused, match="writable by everyone"):
        setup.install_course(str(REPO), str(open_folder / "course"), "nobody", print)


@root_only
def test_links_in_the_source_are_not_followed(base):
    source = base / "clone"
    shutil.copytree(REPO / "release", source / "release")
    shutil.copytree(REPO / "source", source / "source")
    shutil.copy(REPO / "nbgrader_config.py", source)
    (source / "source" / "shadow").symlink_to("/etc/shadow")
    said = []
    setup.install_course(str(source), str(base / "course"), "nobody", said.append)
    assert not os.path.lexists(base / "course" / "source" / "shadow")
    assert f"skipped {source / 'source' / 'shadow'} (not a regular file or folder)" in said


def test_config_is_never_replaced_silently(tmp_path):
    path, said = tmp_path / "etc" / "nbgrader_config.py", []
    assert write_kept(str(path), "one\n", said.append) == "wrote"
    assert write_kept(str(path), "one\n", said.append) == "unchanged"
    assert write_kept(str(path), "two\n", said.append) == "replaced"
    backups = list(path.parent.glob("nbgrader_config.py.bak-*"))
    assert path.read_text() == "two\n" and [b.read_text() for b in backups] == ["one\n"]
    assert said[2] == f"replaced {path} (the previous one is kept as {backups[0]})"


@root_only
def test_the_exchange_command_writes_machine_wide_config_only_where_told(base):
    run = [sys.executable, "-m", "labgrader.exchange", "setup", "--root", str(base / "x"), "--course", "c",
           "--instructor", "nobody"]
    without = subprocess.run(run, capture_output=True, text=True, cwd="/")
    assert without.returncode == 0 and "no machine-wide config written" in without.stdout, without.stderr
    with_dir = subprocess.run([*run, "--config-dir", str(base / "conf")], capture_output=True, text=True, cwd="/")
    assert f"wrote {base / 'conf' / 'nbgrader_config.py'}" in with_dir.stdout
    assert sorted(str(p.relative_to(base / "conf")) for p in (base / "conf").rglob("*") if p.is_file()) == [
        "jupyter_server_config.py", "nbgrader_config.py", "students/jupyter_server_config.d/labgrader-students.json",
        "students/labconfig/page_config.json"]


@root_only
def test_the_doctor_reports_what_any_account_can_reach_with_the_fix(base):
    course = base / "course"
    course.mkdir(mode=0o700)
    (course / "gradebook.db").write_text("grades")
    os.chmod(course / "gradebook.db", 0o644)  # what nbgrader's umask makes
    (course / "submitted" / "alice").mkdir(parents=True)
    assert doctor.course_problems(str(course), [ANYONE], Evaluator()) == []
    os.chmod(course, 0o711)  # "nobody can list it" is not private: names are known
    found = doctor.course_problems(str(course), [ANYONE], Evaluator())
    assert [(p.level, p.what.split(":")[0]) for p in found] == [
        ("unsafe", "any other account can read gradebook.db"), ("unsafe", "any other account can read submitted")]
    assert all(p.fix == f"chmod 700 {course}" for p in found) and "hidden tests" in found[0].why
    subprocess.run(["setfacl", "-m", "u:nobody:rx", str(course)], check=True)
    os.chmod(course, 0o750)
    assert doctor._private_fix(str(course)) == f"chmod 700 {course} && setfacl -b {course}"


def test_due_dates_are_set_and_ahead():
    now = dt.datetime(2030, 1, 10, tzinfo=dt.timezone.utc)
    facts = doctor.CourseFacts(due={"a": None, "b": "2030-01-01T17:00:00+00:00", "c": "2030-02-01T17:00:00+00:00"})
    found = {p.what: p for p in doctor.due_problems(facts, now)}
    assert found["a has no due date"].level == "warning"
    assert found["b was due 2030-01-01T17:00:00+00:00"].fix.startswith(
        'nbgrader db assignment add b --duedate="2030-01-24 17:00:00 UTC"')
    assert found["c is due 2030-02-01T17:00:00+00:00"].level == "ok"
    assert doctor.exit_status([]) == 0 and doctor.exit_status([found["a has no due date"]]) == 1


def test_the_doctor_finds_the_clone_an_editable_install_reads():
    assert str(REPO) in doctor.checkouts(doctor.package_dir())


def test_only_nbgraders_expected_checksum_warnings_leave_the_services_log():
    def record(msg, *args):
        return logging.LogRecord("traitlets", logging.WARNING, __file__, 1, msg, args, None)
    change = "Attribute '%s' for cell %s has changed! (should be: %s, got: %s)"
    assert not expected_checksum_warning(record(change, "checksum", "q1_test", "abc", "def"))
    assert expected_checksum_warning(record(change, "points", "q1_test", 2.0, 100.0))
    assert expected_checksum_warning(record("Cell '%s' does not exist in the database", "q9"))
    # as it reaches the service's handler: formatted by labgrader's PrintableFilter on nbgrader's logger
    from labgrader.text import PrintableFilter
    formatted = record(change, "checksum", "q1_test", "abc", "def")
    PrintableFilter().filter(formatted)
    assert formatted.args == () and not expected_checksum_warning(formatted)


def open_course(base):
    """A course any account can read, as a copy with the system's default modes makes it."""
    course = base / "course"
    for item in ("source", "release", "nbgrader_config.py"):
        (shutil.copytree if (REPO / item).is_dir() else shutil.copy)(REPO / item, course / item)
    os.chmod(course, 0o755)
    return course


def labgrader_command(*args, cwd):
    return subprocess.run([sys.executable, "-m", "labgrader", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, LABGRADER_HUB_GROUP="no-such-group"))


@pytest.mark.slow  # starts the service's command line (nbgrader's imports)
@root_only
def test_serve_refuses_an_open_course_and_starts_on_a_private_one(base):
    course = open_course(base)
    refused = labgrader_command("serve", "--course", str(course), cwd=course)
    assert refused.returncode == 3, refused.stderr[-3000:]
    assert "any other account can read source" in refused.stderr and f"fix: chmod 700 {course}" in refused.stderr
    assert "refusing to serve" in refused.stderr
    os.chmod(course, 0o700)
    started = subprocess.Popen([sys.executable, "-m", "labgrader", "serve", "--course", str(course)], cwd=course,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, LABGRADER_HUB_GROUP="no-such-group"))
    try:
        said = [started.stdout.readline() for _ in range(2)]  # the check passed; it waits for a gradebook
    finally:
        started.terminate()
        started.wait(60)
    assert "is private to its instructor" in said[0] and "not serving yet" in said[1], said


@pytest.mark.slow  # the batch command
@root_only
def test_the_batch_command_warns_and_goes_on(base):
    course = open_course(base)
    result = labgrader_command("autograde", "embeddings", "--course", str(course), cwd=course)
    assert "[labgrader] warning: UNSAFE  any other account can read source" in result.stderr, result.stderr[-3000:]
    assert "grading goes on" in result.stderr


def test_names_students_chose_reach_the_terminal_printable():
    problem = doctor.Problem("warning", "1 of 1 in /srv/x/inbound are readable by any account (e.g. a\x1b[2Jb\x07)",
                             "why", "chmod go-rwx /srv/x/inbound/a\x1b]0;title\x07b")
    shown = doctor.format_problem(problem)
    assert "\x1b" not in shown and "\x07" not in shown and "(e.g. ab)" in shown


@pytest.mark.slow  # builds a wheel
def test_the_wheel_students_import_is_the_engine_whole_and_nothing_else(tmp_path):
    """What deploy/hub-setup.sh installs: every file of labgrader/ (its templates too: feedback needs
    them) and nothing of a course or of the tests."""
    import zipfile
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    shutil.copytree(REPO / "labgrader", tmp_path / "labgrader", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir",
                    str(tmp_path / "dist"), str(tmp_path)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("labgrader-*.whl"))
    inside = {name for name in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in name}
    engine = {str(p.relative_to(REPO)) for p in (REPO / "labgrader").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert inside == engine, (sorted(inside - engine), sorted(engine - inside))
    assert not [n for n in inside if n.endswith(".ipynb") or n.startswith(("grader_tests/", "source/", "release/"))]


def test_a_lab_inside_the_installed_engine_is_unsafe_an_engine_module_named_grading_is_not(tmp_path, monkeypatch):
    package = tmp_path / "labgrader"
    (package / "hubexchange").mkdir(parents=True)
    (package / "hubexchange" / "grading.py").write_text("# the engine's own module\n")
    monkeypatch.setattr(doctor, "package_dir", lambda: str(package))
    monkeypatch.setattr(doctor, "checkouts", lambda _: set())  # (this repository's own editable install aside)
    assert doctor.package_problems([ANYONE], Evaluator()) == []
    (package / "labs" / "embeddings").mkdir(parents=True)
    for name in ("embeddings.ipynb", "grading.py"):
        (package / "labs" / "embeddings" / name).write_text("{}")
    found = doctor.package_problems([ANYONE], Evaluator())
    assert sorted(p.what.rsplit("/", 1)[-1] for p in found) == ["embeddings.ipynb", "grading.py"]
    assert all(p.level == "unsafe" for p in found)
