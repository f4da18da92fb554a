"""The documentation is tested like code: the site builds with warnings as errors (nitpicky: every
cross-reference, configuration option and glossary term resolves), every internal link and anchor of
the built site exists, every repository path a page names exists, every shell command of the pages
is run here or says why not, and the grading page's commands run as written on a real course."""
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import snippets
from conftest import CORPUS, REPO, generated_course
from labgrader.reports.gradebook import cell_scores
from pages import blocks, pages, runnable, shell_blocks, shell_script, tutorial_files

# Pages whose unmarked shell blocks a test runs as written (the others must say why not).
RUN_HERE = {"docs/grading.md": "test_the_grading_pages_commands_run_as_written (below)",
            "docs/writing-a-lab.md": "grader_tests/docs/test_tutorial.py"}
# Inline commands (`...`) starting with these must be one of the commands shown in a block.
COMMAND_WORDS = ("./course ", "nbgrader ", "python -m labgrader", ".venv/bin/")
REPO_PATH = re.compile(r"^(?:labgrader|grader_tests|benchmarks|source|release|docs|jupyter-config|\.ci)/[\w./-]*$")
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def prose(page: Path) -> str:
    """The page without its fenced blocks (inline code is what remains)."""
    return re.sub(r"^\s*(```|:::).*?^\s*\1\s*$", "", page.read_text(), flags=re.S | re.M)


def test_every_shell_block_is_run_by_a_test_or_says_why_not():
    problems = []
    for page in pages():
        name = str(page.relative_to(REPO))
        for block in shell_blocks(page):
            if block.marker == "not run" and len(block.reason) < 10:
                problems.append(f"{block.where}: 'not run' needs a reason")
            elif block.marker == "run by":
                files = [REPO / f.strip() for f in block.reason.split(",")]
                missing = [str(f) for f in files if not f.is_file()]
                texts = "\n".join(f.read_text() for f in files if f.is_file())
                problems += [f"{block.where}: run by a missing file {m}" for m in missing]
                problems += [f"{block.where}: {', '.join(map(str, files))} does not run {command!r}"
                             for command in block.commands() if command not in texts]
            elif not block.marker and name not in RUN_HERE:
                problems.append(f"{block.where}: no test runs this block: add it to a page that is run, or "
                                "mark it <!-- not run: why --> / <!-- run by: FILE -->")
    assert not problems, "\n".join(problems)


def test_every_inline_command_is_one_the_pages_show_in_a_block():
    """A command mentioned in the prose is one that a block shows (and so is run or says why not)."""
    shown = "\n".join(b.text for page in pages() for b in shell_blocks(page))

    def is_shown(code: str) -> bool:  # <assignment>, <student>: any word
        pattern = re.sub(r"<[^>]+>", r"\\S+", re.escape(code.rstrip(" .")).replace(r"\<", "<").replace(r"\>", ">"))
        return re.search(pattern, shown) is not None

    problems = [f"{page.relative_to(REPO)}: `{code}`" for page in pages() for code in INLINE_CODE.findall(prose(page))
                if code.startswith(COMMAND_WORDS) and not is_shown(code)]
    assert not problems, "\n".join(problems)


def generated(path: str) -> bool:
    """A path the repository ignores (made by a command: a build, a test's artifacts)."""
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0


def test_every_repository_path_a_page_names_exists():
    """Paths in a page's prose exist, unless a command makes them or the tutorial's reader writes them."""
    tutorial = {Path(path).parts[1] for path in tutorial_files(REPO / "docs" / "writing-a-lab.md")
                if path.startswith("source/")}  # the tutorial's assignment
    problems = []
    for page in pages():
        for code in INLINE_CODE.findall(prose(page)):
            path = code.split(" ")[0].rstrip(".,:;")
            if REPO_PATH.match(path) and not any(c in path for c in "<*{") and not (REPO / path).exists() \
                    and not any(name in path for name in tutorial) and not generated(path):
                problems.append(f"{page.relative_to(REPO)}: `{code}` does not exist")
    assert not problems, "\n".join(problems)


class Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href") is not None:
            self.links.append(attrs["href"])


def parse(path: Path) -> Anchors:
    parser = Anchors()
    parser.feed(path.read_text())
    return parser


@pytest.mark.slow
def test_the_site_builds_without_warnings_and_every_internal_link_resolves(tmp_path):
    out = tmp_path / "html"
    result = subprocess.run(["bash", "-c", f"./course docs {out}"], cwd=REPO, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    built = {p: parse(p) for p in out.rglob("*.html")}
    assert {p.stem for p in built} >= {"index", "quickstart", "grading", "writing-a-lab", "migrating", "hub",
                                       "service", "cluster", "security", "performance", "limits", "architecture",
                                       "configuration", "glossary", "students", "testing"}
    broken = []
    for page, anchors in built.items():
        for href in anchors.links:
            parts = urlsplit(href)
            if parts.scheme or href.startswith("//") or href.startswith("mailto:"):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if target not in built and not target.exists():
                broken.append(f"{page.relative_to(out)}: {href} (no such file)")
            elif parts.fragment and target in built and unquote(parts.fragment) not in built[target].ids:
                broken.append(f"{page.relative_to(out)}: {href} (no such anchor)")
    assert not broken, "\n".join(broken)
    # the generated references: every configurable class's options, every command's --help
    configuration = (out / "configuration.html").read_text()
    for option in ("GradingKernelManager.ram_limit", "GuardedExecute.submission_timeout", "JudgeAnswers.max_export_bytes",
                   "GradingService.before_due", "SafeExtractor.max_members", "TrustedCollect.max_files",
                   "ReclaimWorkingCopy.max_total_bytes"):
        assert f"c.{option}" in configuration, option
    grading = (out / "grading.html").read_text()
    for command in ("autograde", "report", "export-canvas", "check-release", "serve", "demo"):
        assert f"python -m labgrader {command}" in grading, command


def stage(course: Path, names: dict[str, str]) -> None:
    """Hand in corpus submissions under the student ids the page uses."""
    release = course / "release" / "embeddings" / snippets.NOTEBOOK
    for student, path in names.items():
        snippets.write_submission(snippets.load(CORPUS / path), release, course / "submitted" / student / "embeddings")


@pytest.mark.slow
def test_the_grading_pages_commands_run_as_written(tmp_path):
    """docs/grading.md's commands, in page order, in a course with a right (alice) and a wrong (bob)
    hand-in: generate, grade with the batch, re-grade one student, re-grade with plain nbgrader
    (--force), feedback, report, exports, a due date."""
    course = tmp_path / "course"
    shutil.copytree(generated_course(), course)
    (course / ".venv").symlink_to(Path(sys.prefix))
    stage(course, {"alice": "correct/list_and_flatten.py", "bob": "wrong/copied_weights.py"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV"))}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # the page puts the environment on PATH itself
    result = subprocess.run(["bash", "-c", shell_script(REPO / "docs" / "grading.md")], cwd=course, env=env,
                            capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Skipping existing assignment" not in result.stderr  # --force re-graded them
    # after --student, the summary's mean is that run's (alice's full marks), not the gradebook's
    assert "Mean score 8.00 / 8 over the 1 submission(s) graded by this run" in result.stdout
    for made in ("reports/embeddings.html", "reports/embeddings.csv", "grades.csv", "grades_canvas.csv",
                 "feedback/alice/embeddings/embeddings.html", "grading_report_embeddings.json"):
        assert (course / made).is_file(), made
    scores = cell_scores(f"sqlite:///{course}/gradebook.db", "embeddings")
    assert sum(scores["alice"].values()) == 8 and sum(scores["bob"].values()) < 8
    assert len(runnable(REPO / "docs" / "grading.md")) >= 5
