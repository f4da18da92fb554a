"""The recipe is code, and the course it sets up is the instructor's alone.

``deploy/hub-setup.sh`` runs as written (the session's site: hub.py; here once more, for a course of
this module's, releasing ``embeddings`` with its due date) on accounts made with the system's
default modes (homes 0755), nothing locked by the test. A short term fills the course (two
hand-ins, collected, graded by the batch command, feedback generated and released, the grading
service started once). Then, as each student (a real account, ``runuser``): every private path of
the course is denied, and ``grep -r '### BEGIN SOLUTION'`` where the course's things are (the
instructor's home, the engine, the exchange, the config) finds nothing. Then each hole an instructor could open is opened, one at a time, and for each: a
student can really read through it (the test's own proof the hole is open), ``python -m labgrader
doctor`` reports it (as root, and as the instructor), ``python -m labgrader serve`` refuses to
start (exit status 3) saying what to run; then it is closed. Last, in Chromium through the hub, a
student's JupyterLab shows a student's tools and the instructor's the instructor's.
"""
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

import acl
from conftest import ASSIGNMENT, CORPUS, REPO
from hub import Classroom, login, reset_term
from users import GROUP, grant_traverse
import snippets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "jupyterlab"))
from lab import browser_page, keep  # noqa: E402

pytestmark = pytest.mark.slow  # the recipe, a graded term, the service's start, Chromium on the hub

STUDENTS = ("alice", "bob", "carol", "mallory")
REFUSED = 3  # serve's exit status when students can read the course
NOTEBOOK = snippets.NOTEBOOK


def answer(name):
    release = nbformat.read(REPO / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    return nbformat.writes(snippets.build_notebook(release, snippets.load(CORPUS / f"{name}.py")))


def hand_in(room, who, text):
    room.nbgrader(who, "fetch_assignment", ASSIGNMENT, check=True)
    room.run(who, [room.python, "-c", "import sys; open(sys.argv[1], 'w').write(sys.stdin.read())",
                   room.users[who].home / ASSIGNMENT / NOTEBOOK], input=text, check=True)
    room.nbgrader(who, "submit", ASSIGNMENT, check=True)


@contextlib.contextmanager
def serving(room, python=None):
    """``python -m labgrader serve`` started as the instructor (as the hub starts it: the class's
    group named), its output lines collected; stopped (SIGTERM, then SIGKILL) on leaving."""
    env = room.env("instructor", LABGRADER_HUB_GROUP=GROUP)
    if python:
        env["PATH"] = f"{python.parent}:/usr/local/bin:/usr/bin:/bin"
    process = subprocess.Popen(["runuser", "-u", "instructor", "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                                python or room.python, "-m", "labgrader", "serve", "--course", room.course],
                               cwd=room.course, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            tree = psutil.Process(process.pid).children(recursive=True)
            for proc in tree:
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGTERM)
            _, alive = psutil.wait_procs(tree, timeout=30)
            for proc in alive:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            process.wait(30)


def serve_until(process, marker, timeout=180):
    """The service's output up to the line holding ``marker`` (or its exit)."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            break
    return "".join(lines)


def refused_by_serve(room, python=None):
    with serving(room, python) as process:
        try:
            out, _ = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            return None, "still running after 180 s"
        return process.returncode, out


def doctor(room, as_root=True, python=None):
    """``python -m labgrader doctor`` on the module's course, as root or as the instructor, run by
    the machine-wide environment's python (or ``python``)."""
    python = python or room.python
    cmd = [python, "-m", "labgrader", "doctor", "--course", room.course, "--group", GROUP]
    if as_root:
        return subprocess.run(cmd, capture_output=True, text=True, cwd="/", timeout=300,
                              env=dict(os.environ, JUPYTER_CONFIG_PATH=str(room.config_dir)))
    return room.users["instructor"].run(cmd, cwd=room.course, timeout=300, JUPYTER_CONFIG_PATH=str(room.config_dir),
                                        PATH=f"{python.parent}:/usr/local/bin:/usr/bin:/bin")


def answer_lines():
    """Lines only the instructor's notebook has: its solutions and hidden tests (not in the release)."""
    source = nbformat.read(REPO / "source" / ASSIGNMENT / NOTEBOOK, as_version=4)
    released = (REPO / "release" / ASSIGNMENT / NOTEBOOK).read_text()
    found, inside = [], False
    for cell in source.cells:
        for line in cell.source.splitlines():
            text = line.strip()
            if text.startswith(("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS")):
                inside = True
            elif text.startswith(("### END SOLUTION", "### END HIDDEN TESTS")):
                inside = False
            elif inside and len(text) > 25 and '"' not in text and json.dumps(text)[1:-1] not in released \
                    and text not in found:
                found.append(text)
    assert len(found) >= 2, found
    return found[:8]


def private_paths(room):
    """What no student may read or write, each as the command that reads it."""
    c = room.course
    return {
        "the course folder": ["ls", c],
        "the solutions": ["cat", c / "source" / ASSIGNMENT / NOTEBOOK],
        "the lab's judges": ["cat", c / "source" / ASSIGNMENT / "grading.py"],
        "the release": ["cat", c / "release" / ASSIGNMENT / NOTEBOOK],
        "the gradebook": ["cat", c / "gradebook.db"],
        "the configuration": ["cat", c / "nbgrader_config.py"],
        "alice's hand-in": ["cat", c / "submitted" / "alice" / ASSIGNMENT / NOTEBOOK],
        "bob's hand-in": ["cat", c / "submitted" / "bob" / ASSIGNMENT / NOTEBOOK],
        "alice's graded notebook": ["cat", c / "autograded" / "alice" / ASSIGNMENT / NOTEBOOK],
        "alice's feedback": ["cat", c / "feedback" / "alice" / ASSIGNMENT / "embeddings.html"],
        "the service's state": ["ls", c / ".labgrader" / "service"],
        "the service's journal": ["cat", c / ".labgrader" / "service" / "journal.sqlite"],
    }


# ---------------------------------------------------------------------------------------------
# The recipe and a short term


@pytest.fixture(scope="module")
def deployed(hub_site):
    reset_term(hub_site)
    course = hub_site.users["instructor"].home / "deployed-course"
    shutil.rmtree(course, ignore_errors=True)
    room, seen = Classroom(hub_site, course), {}
    try:
        seen["recipe"] = hub_site.recipe(course, release=ASSIGNMENT).stdout  # the script, as written
        seen["modes"] = {p.name: oct(p.stat().st_mode & 0o7777) for p in [course, course.parent]}
        hand_in(room, "alice", answer("correct/list_and_flatten"))
        hand_in(room, "bob", answer("wrong/model3_is_model2"))
        room.nbgrader("instructor", "collect", ASSIGNMENT, check=True)
        seen["autograde"] = room.run("instructor", [room.python, "-m", "labgrader", "autograde", ASSIGNMENT,
                                                    "--workers", "2"], timeout=1800)
        room.nbgrader("instructor", "generate_feedback", ASSIGNMENT, check=True)
        room.nbgrader("instructor", "release_feedback", ASSIGNMENT, check=True)
        with serving(room) as process:  # private: it gets past its check and starts (its state is made)
            seen["serve"] = serve_until(process, "serving ")
        yield room, seen
    finally:
        shutil.rmtree(course, ignore_errors=True)


def test_the_recipe_ran_as_written_and_said_what_it_did(deployed):
    room, seen = deployed
    out = seen["recipe"]
    assert seen["modes"][room.course.name] == "0o700" and seen["modes"][room.course.parent.name] == "0o755", seen["modes"]
    assert f"made {room.course} (instructor, 0700)" in out
    for item in ("source", "release", "nbgrader_config.py"):
        assert f"-> {room.course / item} (" in out, out
    for name in ("nbgrader_config.py", "jupyter_server_config.py", "students/labconfig/page_config.json",
                 "students/jupyter_server_config.d/labgrader-students.json"):
        assert re.search(rf"(wrote|unchanged) {re.escape(str(room.config_dir / name))}\n", out), (name, out)
    assert "nothing of" in out and "(tried as each)" in out and "UNSAFE" not in out, out
    assert "the installed labgrader is the engine alone" in out, out
    assert f"bin/jupyterhub -f {room.site.venv}/lib/" in out, out  # how to start the hub, with the installed config
    # the due date is ahead of today, whatever day the recipe runs
    due = re.search(r"due (\d{4}-\d{2}-\d{2} 17:00:00) UTC", out).group(1)
    assert dt.datetime.strptime(due, "%Y-%m-%d %H:%M:%S") > dt.datetime.utcnow() + dt.timedelta(days=13)
    # the engine students' servers import is a wheel: no lab, no solution, no test corpus in it
    installed = next((room.site.venv / "lib").glob("python3*/site-packages/labgrader"))
    assert not (installed.parent / "source").exists() and not (installed.parent / "grader_tests").exists()
    assert [p for p in installed.rglob("*") if p.suffix == ".ipynb"] == []  # (a lab: a notebook beside its grading.py)
    origin = json.loads(next(installed.parent.glob("labgrader-*.dist-info/direct_url.json")).read_text())
    assert not origin.get("dir_info", {}).get("editable") and origin["url"].endswith(".whl"), origin


def test_the_term_ran(deployed):
    room, seen = deployed
    assert seen["autograde"].returncode in (0, 1), seen["autograde"].stdout[-3000:] + seen["autograde"].stderr[-3000:]
    assert "is private to its instructor" in seen["serve"], seen["serve"][-3000:]
    assert "serving embeddings" in seen["serve"], seen["serve"][-3000:]
    for name, cmd in private_paths(room).items():
        assert os.path.exists(cmd[-1]), f"{name} was not made: the denial below would prove nothing"


@pytest.mark.parametrize("student", STUDENTS)
def test_a_student_can_read_nothing_of_the_course(deployed, student):
    room, _ = deployed
    for name, cmd in private_paths(room).items():
        read = room.run(student, cmd)
        assert read.returncode != 0 and "Permission denied" in read.stderr, (student, name, read.stdout[:300])
        assert room.run(student, ["test", "-w", cmd[-1]]).returncode != 0, (student, name)
    # what a curious student tries first, everywhere the course's things are: the instructor's home,
    # the engine students' servers import, the exchange, the machine-wide config
    engine = next((room.site.venv / "lib").glob("python3*/site-packages/labgrader"))
    patterns = [arg for line in answer_lines() for arg in ("-e", line)]
    grep = room.run(student, ["sh", "-c", 'grep -rlF "$@" 2>/dev/null; true', "-", *patterns,
                              room.users["instructor"].home, engine, room.exchange, room.config_dir])
    assert grep.stdout == "", grep.stdout
    as_root = subprocess.run(["grep", "-rlF", *patterns, room.course / "source"], capture_output=True, text=True)
    assert as_root.stdout, "the lines looked for are not the course's: the search above proves nothing"


def test_doctor_finds_nothing_unsafe_as_root_and_as_the_instructor(deployed):
    room, _ = deployed
    as_root, as_instructor = doctor(room), doctor(room, as_root=False)
    for result in (as_root, as_instructor):
        assert result.returncode in (0, 1) and "UNSAFE" not in result.stdout, result.stdout + result.stderr
        assert re.search(r"readable by alice, bob, carol, mallory(, [\w-]+)* and any other account", result.stdout), \
            result.stdout
    assert "(tried as each)" in as_root.stdout
    assert re.search(r"OK +embeddings is due 20", as_root.stdout), as_root.stdout


# ---------------------------------------------------------------------------------------------
# Each hole, one at a time


@contextlib.contextmanager
def restored(*paths):
    """Modes, owners and ACLs of ``paths`` (recursively) put back as they were on leaving."""
    saved = subprocess.run(["getfacl", "--absolute-names", "-R", "-p", *map(str, paths)], capture_output=True,
                           text=True, check=True).stdout
    try:
        yield
    finally:
        subprocess.run(["setfacl", "--restore=-"], input=saved, text=True, check=True, cwd="/")


def sh(script):
    subprocess.run(["sh", "-c", script], check=True)


HOLES = {
    # name: (the commands that open it, a path it exposes, who reads it, what doctor names)
    "a world-readable course": ("chmod 755 {c}", "{c}/gradebook.db", "mallory", "gradebook.db"),
    "a 0644 gradebook in a course others may search": ("chmod 711 {c} && chmod 644 {c}/gradebook.db",
                                                        "{c}/gradebook.db", "bob", "gradebook.db"),
    "readable feedback/": ("chmod 711 {c} && chmod -R a+rX {c}/feedback",
                           "{c}/feedback/alice/embeddings/embeddings.html", "mallory", "feedback"),
    "readable autograded/": ("chmod 711 {c} && chmod -R a+rX {c}/autograded",
                             "{c}/autograded/alice/embeddings/embeddings.ipynb", "mallory", "autograded"),
    "readable submitted/ of others": ("chmod 711 {c} && chmod -R a+rX {c}/submitted",
                                      "{c}/submitted/alice/embeddings/embeddings.ipynb", "bob", "submitted"),
    "readable solutions": ("chmod 711 {c} && chmod -R a+rX {c}/source",
                           "{c}/source/embeddings/embeddings.ipynb", "carol", "source"),
    "the course shared with the class's group": (f"chgrp {GROUP} {{c}} && chmod 750 {{c}}", "{c}/gradebook.db", "alice",
                                                  "gradebook.db"),
    "an ACL entry for one student": ("setfacl -m u:mallory:rx {c}", "{c}/submitted/alice/embeddings/embeddings.ipynb",
                                     "mallory", "submitted"),
}


@pytest.mark.parametrize("hole", HOLES)
def test_each_hole_is_reported_by_doctor_and_refused_by_serve(deployed, hole):
    room, _ = deployed
    opens, exposed, reader, area = (text.format(c=room.course) if "{" in text else text for text in HOLES[hole])
    with restored(room.course):
        sh(opens)
        read = room.run(reader, ["sh", "-c", 'cat "$1" > /dev/null', "-", exposed])  # (the gradebook is binary)
        assert read.returncode == 0, f"the hole is not open: {reader} cannot read {exposed}: {read.stderr}"
        found = [doctor(room)]
        if hole == "a world-readable course":  # the instructor's doctor evaluates as serve does: once is enough
            found.append(doctor(room, as_root=False))
        status, said = refused_by_serve(room)
    for result in found:
        assert result.returncode == 2, result.stdout + result.stderr
        assert re.search(rf"UNSAFE +.*\b{reader}\b.* {area}", result.stdout), result.stdout
        assert f"fix: chmod 700 {room.course}" in result.stdout, result.stdout
    assert status == REFUSED, (status, said[-3000:])
    assert "refusing to serve" in said and re.search(rf"\b{reader}\b.* {area}", said), said[-3000:]
    assert f"fix: chmod 700 {room.course}" in said, said[-3000:]
    assert "serving " not in said


def test_a_readable_clone_with_solutions_is_reported_and_refused(deployed):
    """The old recipe: labgrader run from a clone every user can read (editable, with its .venv):
    students read the solutions there. Doctor and serve, run from that clone's environment, say so."""
    room, _ = deployed
    saved = []
    repo_python = REPO / ".venv" / "bin" / "python"
    try:
        grant_traverse(saved, GROUP, [REPO])  # "a clone of this repo that every user can read"
        read = room.run("alice", ["cat", REPO / "source" / ASSIGNMENT / NOTEBOOK])
        assert read.returncode == 0 and "BEGIN SOLUTION" in read.stdout, read.stderr
        as_root = doctor(room, True, repo_python)
        as_instructor = doctor(room, False, repo_python)
        status, said = refused_by_serve(room, repo_python)
    finally:
        acl.revoke(saved)
    for result in (as_root, as_instructor):
        assert result.returncode == 2, result.stdout + result.stderr
        assert re.search(rf"UNSAFE +alice, bob, carol(,| and) mallory.* can read the clone {REPO}: .*source/", result.stdout), \
            result.stdout
    assert status == REFUSED and f"can read the clone {REPO}" in said, (status, said[-3000:])
    assert "deploy/hub-setup.sh" in said


# ---------------------------------------------------------------------------------------------
# A student's tools (Chromium through the hub)


def nbgrader_menu(page):
    page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
    page.wait_for_selector("#jp-mainmenu-nbgrader")
    items = page.eval_on_selector_all("#jp-mainmenu-nbgrader .lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel",
                                      "els => els.map(e => e.textContent.trim())")
    page.keyboard.press("Escape")
    return items


def what_lab_shows(page, hub, who, password, shot):
    login(page, hub, who, password)
    page.wait_for_selector("#jp-main-dock-panel", timeout=240_000)
    if who != "instructor":  # a notebook open: where the Create Assignment panel would offer itself
        page.goto(f"{hub}/user/{who}/lab/tree/{ASSIGNMENT}/{NOTEBOOK}")
        page.wait_for_selector(".jp-NotebookPanel-toolbar")
    time.sleep(5)  # JupyterLab asks about news a moment after it starts
    page.screenshot(path=str(shot))
    return {"menu": nbgrader_menu(page),
            "create_assignment": page.locator(".lm-TabBar-tab[data-id='nbgrader-create_assignemnt']").count(),
            "news": page.locator("text=/Jupyter news/i").count(),
            "disabled": page.evaluate("() => JSON.parse(document.getElementById('jupyter-config-data').textContent)"
                                      ".disabledExtensions")}


def test_a_students_lab_shows_a_students_tools_and_the_instructors_the_instructors(deployed, hub, tmp_path):
    room, _ = deployed
    with browser_page() as page:
        alice = what_lab_shows(page, hub, "alice", room.users["alice"].password, tmp_path / "alice.png")
    with browser_page() as page:
        instructor = what_lab_shows(page, hub, "instructor", room.users["instructor"].password,
                                    tmp_path / "instructor.png")
    keep(tmp_path / "alice.png", "hub-student-tools-alice.png")
    keep(tmp_path / "instructor.png", "hub-student-tools-instructor.png")
    print("alice:", alice, "\ninstructor:", instructor)
    assert "Assignment List" in alice["menu"], alice
    assert not [item for item in alice["menu"] if "Formgrader" in item or "Course" in item], alice
    assert alice["create_assignment"] == 0 and alice["news"] == 0, alice
    # the instructor's is stock: the same selectors find what the student's lacks
    assert [item for item in instructor["menu"] if "Formgrader" in item], instructor
    assert instructor["create_assignment"] == 1 and instructor["news"] >= 1, instructor
