"""Hostile and broken submissions gain nothing, break nothing, and lose nothing."""
import json
import sqlite3

import nbformat
import psutil
import pytest

from conftest import ASSIGNMENT, REPO, corpus, tree_digest
from labgrader.cells import hidden_tests

pytestmark = pytest.mark.slow  # reads the shared graded classes


def outputs_of(course, student, grade_id):
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / "embeddings.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(o.get("text", "") or f"{o.get('ename', '')}: {o.get('evalue', '')}" if o.output_type != "display_data"
                     else o.data.get("text/plain", "") for o in cell.outputs)


def report(graded):
    return {r["student"]: r for r in json.loads((graded["course"] / f"grading_report_{ASSIGNMENT}.json").read_text())["results"]}


def test_source_and_release_are_unchanged(graded_corpus):
    course = graded_corpus["course"]
    assert {name: tree_digest(course / name) for name in ("source", "release")} == graded_corpus["before"]


def test_student_code_cannot_see_the_instructors_files(graded_corpus):
    assert "found: []" in outputs_of(graded_corpus["course"], "reads_source_solutions", "q2_answer")


def test_student_code_cannot_see_other_students(graded_corpus):
    text = outputs_of(graded_corpus["course"], "lists_other_students", "q2_answer")
    listings = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("..")}
    assert listings["../.."] == "['lists_other_students']"   # autograded/: only this student
    assert listings["../../.."] == "['autograded']"           # the course: no source/, no gradebook
    assert "No such file" in text                             # another student's notebook


def test_student_code_cannot_write_the_gradebook(graded_corpus):
    db = sqlite3.connect(graded_corpus["course"] / "gradebook.db")
    assert db.execute("SELECT count(*) FROM grade WHERE manual_score = 8").fetchone() == (0,)
    assert "unable to open database" in outputs_of(graded_corpus["course"], "writes_gradebook", "q2_answer")


def test_no_process_outlives_grading(graded_corpus, plain_graded):
    """After both shared classes (the batch command, plain nbgrader) are graded."""
    import sys
    def ours(info):  # a sandboxed kernel, or what spawns_daemon started
        cmdline = info["cmdline"] or []
        first, count = 1_900_000_000, 1000  # GradingKernelManager.sandbox_uid_first / sandbox_uid_count
        sandboxed = (info["uids"] and first <= info["uids"].real < first + count
                     and any(sys.prefix in part for part in cmdline))
        return sandboxed or any(part in ("4242", "4243") for part in cmdline)
    # Only what started while the two classes were graded: other workers' tests run kernels of their
    # own meanwhile (same uids, same environment), and theirs end with their tests.
    ended = max(graded_corpus["ended"], plain_graded["ended"])
    leftovers = [p.info for p in psutil.process_iter(["pid", "cmdline", "uids", "create_time"])
                 if ours(p.info) and p.info["create_time"] <= ended + 1]
    assert leftovers == []


def test_memory_is_capped(graded_corpus):
    assert "MemoryError" in outputs_of(graded_corpus["course"], "allocates_12gb", "q2_answer")


def test_an_output_flood_is_truncated_not_fatal(graded_corpus):
    text = outputs_of(graded_corpus["course"], "output_flood", "q2_answer")
    assert "output truncated" in text and len(text) < 2_000_000


def test_a_kernel_death_keeps_the_points_already_earned(graded_corpus):
    assert "The kernel died while running this cell" in outputs_of(graded_corpus["course"], "kernel_os_exit", "q2_answer")
    assert graded_corpus["scores"]["kernel_os_exit"]["q1_param_count"] == 2


def test_a_loop_that_ignores_interrupts_stops_the_notebook_not_the_class(graded_corpus):
    assert "did not stop when interrupted" in outputs_of(graded_corpus["course"], "ignores_interrupt", "q2_answer")
    assert "was not run because" in outputs_of(graded_corpus["course"], "ignores_interrupt", "q2_structure")


@pytest.mark.parametrize("graded", ["graded_corpus", "plain_graded"])
def test_a_flood_of_messages_ends_its_kernel_at_once(graded, request):
    """The flood goes on until it is stopped and shrugs off interrupts: left to the cell's time
    limit it would time out (and burn 30 s of kernel CPU); the grader ends the kernel once it has
    sent more than the grader reads, so the cell says Flooded and nothing timed out."""
    course = request.getfixturevalue(graded)["course"]
    text = outputs_of(course, "grader_cost_message_flood", "q2_answer")
    assert "Flooded: This cell sent the grader more than" in text and "ran longer than" not in text, text[-2000:]
    assert "was not run because the notebook sent the grader more than" in \
        outputs_of(course, "grader_cost_message_flood", "q2_structure")
    if graded == "graded_corpus":
        assert report(request.getfixturevalue(graded))["grader_cost_message_flood"]["faults"] == [
            "embeddings: the notebook sent the grader more than 10000 messages"]


def test_forged_messages_and_hidden_exceptions_earn_nothing(graded_corpus):
    for student in ("forges_verdicts", "hides_exceptions", "rewrites_test_cells"):
        assert sum(graded_corpus["scores"][student].values()) == 0, student


TWIN = "counts_both_models_fresh_layer"  # the wrong answers most tamper_* submissions give, without the cheat
TAMPERING = [s for s in corpus("hostile") if s.name.startswith(("tamper_", "redteam_")) or s.twin]


def twin_of(snippet):
    return snippet.twin or TWIN


def no_attack_beats_its_twin(scores, at_least):
    graded = [s for s in TAMPERING if s.name in scores]
    assert len(graded) >= at_least
    for snippet in graded:
        twin = scores[twin_of(snippet)]
        assert all(scores[snippet.name][cell] <= twin[cell] for cell in twin), (snippet.name, scores[snippet.name])


def test_no_tampering_submission_scores_above_its_honest_twin(graded_corpus):
    """Each tamper_* (and red team's) submission gives its twin's answers plus an attack read from
    this repository (what each attack must be flagged with: test_flags.py)."""
    no_attack_beats_its_twin(graded_corpus["scores"], len(TAMPERING))


def test_no_tampering_submission_scores_above_its_honest_twin_on_plain_nbgrader(plain_graded):
    no_attack_beats_its_twin(plain_graded["scores"], 15)


def test_hand_overs_from_outside_their_test_cell_are_not_accepted(graded_corpus):
    text = outputs_of(graded_corpus["course"], "tamper_raw_display_handovers", "q1_answer")
    assert "application/vnd.labgrader.export" not in text


def test_the_notebooks_output_budget_bounds_the_autograded_notebook(graded_corpus):
    """60 cells printing 1 MB each: the per-cell cap alone would keep 60 MB; the notebook's budget
    (GuardedExecute.max_notebook_output_bytes, 5 MB) keeps it small, the answers keep their points."""
    path = graded_corpus["course"] / "autograded" / "many_megabyte_cells" / ASSIGNMENT / "embeddings.ipynb"
    assert path.stat().st_size < 8 * 1024 ** 2
    assert "over the notebook's output limit" in path.read_text()
    assert sum(graded_corpus["scores"]["many_megabyte_cells"].values()) == 8


def quoted_line_is_printable(graded, streams):
    nb = nbformat.read(graded["course"] / "autograded" / "tamper_escape_sequences_in_line" / ASSIGNMENT /
                       "embeddings.ipynb", as_version=4)
    [line] = {flag["line"] for flag in nb.metadata["labgrader"]["flags"]}
    assert line.startswith("q1_answer, line 3: json.dumps = lambda") and "\x1b" not in line and "\x07" not in line
    for stream in streams:
        assert "\x1b]0;pwned" not in graded[stream] and "\x1b[2J" not in graded[stream]


def test_a_quoted_line_reaches_the_terminal_as_printable_text(graded_corpus):
    """The tampering line holds escape sequences (after a U+2028): the flag quotes the line Python
    numbers 3, as printable text, in the record and the summary."""
    quoted_line_is_printable(graded_corpus, ["stdout"])


def test_a_quoted_line_reaches_nbgraders_log_as_printable_text(plain_graded):
    quoted_line_is_printable(plain_graded, ["stdout", "stderr"])


def test_the_input_history_never_holds_a_hidden_test_line(graded_corpus):
    """A cell after the tests prints the kernel's input history: the test cells (and the grader's
    own silent cells) ran outside it."""
    nb = nbformat.read(graded_corpus["course"] / "autograded" / "prints_input_history" / ASSIGNMENT / "embeddings.ipynb",
                       as_version=4)
    [cell] = [c for c in nb.cells if "history read" in c.source]
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert "prints_input_history: history read" in text and "trainable_params_model2 = 40" in text
    for secret in ("_export.answer", "BEGIN HIDDEN", "seal(", "pin(", "watch("):
        assert secret not in text


SPY = "redteam_hooks_read_hidden_tests"


def hidden_test_lines():
    """Every line of the instructor's hidden test regions (nbgrader's delimiters excluded)."""
    source = nbformat.read(REPO / "source" / ASSIGNMENT / "embeddings.ipynb", as_version=4)
    return [line.strip() for cell in source.cells for line in hidden_tests(cell.source) if line.strip()]


def no_hidden_test_text_reached_the_kernel(course):
    """What the spy kept from every channel (hooks, transformers, audit hook, frames, In/_ih, the
    history database, linecache, the notebooks it could read): the channels worked (they saw the
    test cells' visible code and the grader's own silent cells), and none ever saw hidden test text."""
    spied = json.loads((course / "autograded" / SPY / ASSIGNMENT / "spied.json").read_text())
    channels, text = {where for where, _ in spied}, "\n".join(seen for _, seen in spied)
    assert {"input transformer", "ast transformer", "run_cell", "audit exec", "linecache"} <= channels, channels
    assert "Checks that model3 exists" in text and "_lg.answer(" in text and "_lg.outputs(" in text
    assert [line for line in hidden_test_lines() if line in text] == []
    nb = nbformat.read(course / "autograded" / SPY / ASSIGNMENT / "embeddings.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if "spied.json" in c.source for o in c.outputs)
    assert "spy: files holding hidden tests: []" in printed


def test_no_hidden_test_text_reaches_the_kernel(graded_corpus):
    no_hidden_test_text_reached_the_kernel(graded_corpus["course"])


def test_no_hidden_test_text_reaches_the_kernel_on_plain_nbgrader(plain_graded):
    no_hidden_test_text_reached_the_kernel(plain_graded["course"])


def test_ungradable_submissions_are_reported_and_scored_zero(graded_corpus):
    results = report(graded_corpus)
    assert "no notebook handed in" in results["empty_folder"]["error"]
    assert "not a valid notebook" in results["not_json"]["error"]
    for student in ("empty_folder", "not_json"):
        assert set(graded_corpus["scores"][student].values()) == {0}
    db = sqlite3.connect(graded_corpus["course"] / "gradebook.db")
    flagged = db.execute("""SELECT DISTINCT student.id FROM grade
        JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id
        JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id
        JOIN student ON submitted_assignment.student_id = student.id
        WHERE grade.needs_manual_grade = 1""").fetchall()
    assert {"empty_folder", "not_json"} <= {row[0] for row in flagged}


def test_repairs_are_reported(graded_corpus):
    results = report(graded_corpus)
    assert any("graded as 'embeddings.ipynb'" in n for n in results["renamed_notebook"]["notes"])
    assert any("was missing and has been restored" in n for n in results["deletes_test_cells"]["notes"])
    assert any("was edited and has been reset" in n for n in results["edits_points_metadata"]["notes"])
    assert "Not graded (2)" in graded_corpus["stdout"]


def test_a_failed_regrade_does_not_leave_the_old_grade_standing(graded_corpus, tmp_path):
    from labgrader.batch import grade_class
    from labgrader.reports.gradebook import cell_scores
    import shutil
    course = tmp_path / "course"
    shutil.copytree(graded_corpus["course"], course, ignore=shutil.ignore_patterns("autograded"))
    db_url = f"sqlite:///{course}/gradebook.db"
    assert sum(cell_scores(db_url, ASSIGNMENT)["list_and_flatten"].values()) == 8
    (course / "submitted" / "list_and_flatten" / ASSIGNMENT / "embeddings.ipynb").write_text("{ broken")
    grade_class(course, ASSIGNMENT, students=["list_and_flatten"], progress=False)
    assert sum(cell_scores(db_url, ASSIGNMENT)["list_and_flatten"].values()) == 0
    assert sum(cell_scores(db_url, ASSIGNMENT)["add_method"].values()) == 8  # the others are untouched


def test_plain_nbgrader_autograde_is_sandboxed_too(plain_graded):
    """`nbgrader autograde` from the course root, no extra flags: nbgrader_config.py sandboxes it."""
    assert "found: []" in outputs_of(plain_graded["course"], "reads_source_solutions", "q2_answer")

# Hand-ins that once stopped the class (a judge error taken for a bug of the lab), graded among the
# corpus's correct hand-ins: the first one's name sorts before ten of them at least (nbgrader and the
# batch grade in name order), so a stop would have left those ungraded.
CLASS_STOPPERS = ["classwide_empties_pinned", "redteam_stops_class"]


def a_hand_in_reaches_only_its_own_grade(graded, flagged_of):
    expected = {s.name: s.expected for s in corpus("hostile")}
    honest = [s.name for s in corpus("correct") if s.name in graded["scores"]]
    assert len([name for name in honest if name > CLASS_STOPPERS[0]]) >= 10, honest
    for attacker in CLASS_STOPPERS:
        assert graded["scores"][attacker] == expected[attacker], attacker  # its own cells: malformed, flagged
        assert flagged_of(attacker), attacker
    for student in honest + ["instructor_solution"]:
        assert sum(graded["scores"][student].values()) == 8, student
        assert not flagged_of(student), student


def test_a_hand_in_reaches_only_its_own_grade(graded_corpus):
    results = report(graded_corpus)
    assert not json.loads((graded_corpus["course"] / f"grading_report_{ASSIGNMENT}.json").read_text())["stopped"]
    assert not any(r["lab_error"] for r in results.values())
    a_hand_in_reaches_only_its_own_grade(graded_corpus, lambda student: results[student]["flags"])


def test_a_hand_in_reaches_only_its_own_grade_on_plain_nbgrader(plain_graded):
    from labgrader.record import read_notebook_record

    def flags(student):
        path = plain_graded["course"] / "autograded" / student / ASSIGNMENT / "embeddings.ipynb"
        return read_notebook_record(nbformat.read(path, as_version=4)).flags
    assert "is broken" not in plain_graded["stdout"] + plain_graded["stderr"]
    a_hand_in_reaches_only_its_own_grade(plain_graded, flags)
