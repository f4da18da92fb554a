"""Fast tests of the formgrader's Content-Security-Policy (labgrader/server/formgrader_csp.py):
nbgrader's own templates, rendered with ordinary values, get every inline script allowed; values
that break out of their string, and anything a student's output adds, get none; which response
gets which policy. nbgrader's real templates and exporter, no server (Chromium: jupyterlab/)."""
import re
from pathlib import Path

import nbformat
import pytest
from jinja2 import Environment, FileSystemLoader
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.server_extensions.formgrader import handlers
from traitlets.config import Config

import hostile_content
from labgrader.server.formgrader_csp import (
    LOCKED, STUDENT_FILE, Templates, inline_scripts, page_policy, policy_for, sha256_source)

TEMPLATES = Path(handlers.template_path)
PAGES = ["manage_assignments.tpl", "manage_submissions.tpl", "gradebook_assignments.tpl", "gradebook_notebooks.tpl",
         "gradebook_notebook_submissions.tpl", "manage_students.tpl", "manage_students_assignments.tpl",
         "manage_students_notebook_submissions.tpl"]
ORDINARY = dict(base_url="/user/jane.doe", url_prefix=".", default_timezone="+0000", course_dir="/c", windows=False,
                assignment_id="embeddings", notebook_id="embeddings", student_id="o'brien", exchange="", current_config={})


@pytest.fixture(scope="module")
def templates():
    return Templates(TEMPLATES, "/user/jane.doe/")


def render(page, **values):
    env = Environment(loader=FileSystemLoader([str(TEMPLATES)]))
    return env.get_template(page).render(**{**ORDINARY, **values})


def hashes_in(policy):
    return set(re.findall(r"'sha256-[^']+'", policy))


@pytest.mark.parametrize("page", PAGES)
def test_every_script_of_nbgraders_pages_is_allowed(templates, page):
    html = render(page)
    assert inline_scripts(html) and set(templates.allowed_hashes(html)) == {sha256_source(s) for s in inline_scripts(html)}


@pytest.mark.parametrize("student", ['x";window.top.__pwned = 1;"', "x\\", "x</script><script>window.top.__pwned = 1",
                                     "x\nwindow.top.__pwned = 1"])
def test_a_student_id_that_leaves_its_string_gets_no_hash(templates, student):
    html = render("manage_students_assignments.tpl", student_id=student)
    refused = [s for s in inline_scripts(html) if "student_id" in s]
    assert refused and not {sha256_source(s) for s in refused} & set(templates.allowed_hashes(html))


def test_base_url_is_allowed_only_as_it_is(templates):
    html = render("manage_students.tpl", base_url="/user/mallory")
    assert templates.allowed_hashes(html) == []


def formgrade_page(nb):
    """nbgrader's submission page, rendered as its SubmissionHandler does (template and resources)."""
    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [str(TEMPLATES)]
    resources = {"assignment_id": "embeddings", "notebook_id": "embeddings", "submission_id": "0123abcd" * 4,
                 "index": 0, "total": 2, "base_url": "/user/jane.doe", "student": "<img src=x onerror=alert(1)>",
                 "last_name": None, "first_name": None, "notebook_path": "./autograded/x/embeddings.ipynb"}
    html, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    return html


def test_the_submission_page_allows_its_own_scripts_and_none_of_the_students(templates):
    nb = new_notebook(cells=[new_markdown_cell(hostile_content.MARKDOWN_CELL),
                             new_code_cell("x", outputs=hostile_content.raw_outputs())])
    nb.metadata["widgets"] = hostile_content.WIDGET_STATE
    html = formgrade_page(nbformat.from_dict(nb))
    scripts = inline_scripts(html)
    allowed = set(templates.allowed_hashes(html))
    ours = [s for s in scripts if "var submission_id" in s or "function toggle_name" in s or "Show student name" in s]
    theirs = [s for s in scripts if s not in ours]
    assert len(ours) == 3 and {sha256_source(s) for s in ours} == allowed  # variables, toggle_name, tooltips
    assert len(theirs) >= 3 and not {sha256_source(s) for s in theirs} & allowed  # <script>, Javascript(), SVG
    policy = policy_for("/user/jane.doe/formgrader/submissions/1/", "grader.example:8888", "/user/jane.doe/",
                        templates, html)
    assert hashes_in(policy) == allowed | {sha256_source(h) for h in templates.handlers}
    assert sha256_source(f"window.top.__pwned = 1") not in policy


def test_a_page_runs_only_what_nbgrader_ships():
    policy = page_policy("grader.example:8888", "/", ["'sha256-x'"], ["'sha256-y'"],
                         "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/")
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    scripts = directives["script-src"].split()
    assert not {"'unsafe-inline'", "'unsafe-eval'", "'self'", "*", "data:", "blob:"} & set(scripts)
    assert [s for s in scripts if not s.startswith("'")] == [
        "grader.example:8888/formgrader/static/", "grader.example:8888/formgrader/fonts/",
        "grader.example:8888/formgrader/submissions/components/", "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/"]
    assert directives["connect-src"] == "grader.example:8888/formgrader/api/"
    for name in ("frame-src", "object-src", "base-uri", "form-action", "worker-src", "default-src"):
        assert directives[name] == "'none'"
    assert directives["frame-ancestors"] == "'self'"


@pytest.mark.parametrize("path, expected", [
    ("/formgrader/api/students", LOCKED),
    ("/formgrader/static/js/utils.js", LOCKED),
    ("/formgrader/submissions/abc/evil.html", STUDENT_FILE),  # a file handed in beside the notebook
    ("/formgrader/submissions/abc/sub/evil.svg", STUDENT_FILE),
    ("/files/autograded/bob/embeddings/evil.html", STUDENT_FILE),
    ("/files/course/submitted/bob/embeddings/evil.html", STUDENT_FILE),
    ("/files/%61utograded/bob/embeddings/evil.html", STUDENT_FILE),  # jupyter_server opens it decoded
    ("/nbconvert/html/feedback/bob/embeddings/embeddings.ipynb", STUDENT_FILE),
    ("/lab", None),
    ("/files/source/embeddings/embeddings.ipynb", None),
    ("/api/contents/autograded/bob", None),
])
def test_which_response_gets_which_policy(templates, path, expected):
    assert policy_for(path, "h:1", "/", templates, "<html></html>") == expected


@pytest.mark.parametrize("path", ["/formgrader/submissions/abc/", "/formgrader/submissions/abc/next",
                                  "/formgrader/manage_students/bob", "/formgrader"])
def test_formgrader_pages_get_the_page_policy(templates, path):
    assert "script-src h:1/formgrader/static/" in policy_for(path, "h:1", "/", templates, "<html></html>")


def test_a_host_csp_cannot_name_or_an_unseen_page_runs_no_script(templates):
    for host, html in (("[::1]:8888", render("manage_students.tpl")), ("h:1", None)):
        policy = policy_for("/formgrader/manage_students", host, "/", templates, html)
        assert "script-src" not in policy and "default-src 'none'" in policy and "sandbox" in policy


def test_a_page_full_of_unclosed_tags_costs_one_pass():
    import time
    html = "<script>a</script>" + "<script x" * 200_000 + "<script>" * 200_000
    started = time.process_time()
    assert inline_scripts(html) == ["a"]
    assert time.process_time() - started < 5  # quadratic: minutes
