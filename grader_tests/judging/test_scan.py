"""The static tampering scan (labgrader.judging.scan), on notebooks only: no kernel, no nbgrader run."""
import copy
from pathlib import Path

import nbformat
import pytest

from conftest import ASSIGNMENT, CORPUS, REPO
import snippets as submissions
from labgrader.judging.scan import MAX_LINE, scan

RELEASE = nbformat.read(REPO / "release" / ASSIGNMENT / submissions.NOTEBOOK, as_version=4)
SOURCE = nbformat.read(REPO / "source" / ASSIGNMENT / submissions.NOTEBOOK, as_version=4)
PROTECTED = ["model", "model2", "embedding_layer", "embedding_matrix", "vocab_size", "embedding_size"]

# Hostile submissions that attack the machine or the notebook's structure, not the grading code:
# nothing to flag in the code (the sandbox, the time limits and RestoreTestCells answer them).
# Every other hostile snippet tampers and must be flagged.
NOT_TAMPERING = {
    "allocates_12gb", "calls_sys_exit", "infinite_loop", "output_flood",  # resources, a failing cell
    "deletes_test_cells", "deletes_test_cells_wrong", "edits_grade_ids", "edits_points_metadata",
    "edits_test_cells",  # edits of locked cells and metadata: restored before running, so never run
    "stderr_escape_sequences",  # attacks the grader's terminal, answered by printing stderr as text
    "writes_sparse_file", "fills_tmp", "fills_working_copy",  # disk use, answered by the size caps
}


def snippets(kind):
    return [submissions.load(p) for p in sorted((CORPUS / kind).glob("*.py"))]


def findings_for(snippet):
    return scan(submissions.build_notebook(RELEASE, snippet), RELEASE, PROTECTED)


def answer(source, cell="q2_answer", added=()):
    """Findings for a submission whose ``cell`` holds ``source`` (plus cells added after grade ids)."""
    snippet = submissions.Snippet(Path("case"), answers={cell: source} if source is not None else {},
                                  added=list(added))
    return findings_for(snippet)


@pytest.mark.parametrize("snippet", snippets("correct") + snippets("wrong"), ids=lambda s: s.name)
def test_honest_submissions_are_not_flagged(snippet):
    assert findings_for(snippet) == []


def test_the_instructors_solution_is_not_flagged():
    assert scan(SOURCE, RELEASE, PROTECTED) == []


def test_the_release_itself_is_not_flagged():
    assert scan(RELEASE, RELEASE, PROTECTED) == []


@pytest.mark.parametrize("snippet", [s for s in snippets("hostile") if s.name not in NOT_TAMPERING],
                         ids=lambda s: s.name)
def test_tampering_submissions_are_flagged(snippet):
    found = strict_findings_for(snippet)  # with the lab's rules, as FlagTampering runs it
    assert found, f"{snippet.name} was not flagged"
    for f in found:
        assert f.reason and f.code and f.line >= 1 and len(f.code) <= MAX_LINE


@pytest.mark.parametrize("name", sorted(NOT_TAMPERING))
def test_hostile_submissions_that_do_not_tamper_are_not_flagged(name):
    assert findings_for(submissions.load(CORPUS / "hostile" / f"{name}.py")) == []


def test_a_finding_names_the_cell_the_line_and_the_reason():
    [f] = answer("from tensorflow.keras.models import Sequential\n\nimport numpy as n2\n"
                 "n2.allclose = lambda *a, **k: True\nmodel3 = Sequential([embedding_layer, Flatten()])")
    assert (f.cell, f.line, f.code) == ("q2_answer", 4, "n2.allclose = lambda *a, **k: True")
    assert f.cell_index == 33 and "numpy.allclose" in f.reason and "monkeypatching" in f.reason
    assert f.as_dict() == {"cell_index": 33, "cell": "q2_answer", "line": 4,
                           "code": "n2.allclose = lambda *a, **k: True", "reason": f.reason}


def test_long_lines_are_trimmed():
    [f] = answer("import gc  # " + "x" * 500)
    assert len(f.code) == MAX_LINE and f.code.startswith("import gc")


# Each rule, and evasions of it: (source of the q2 answer, the line flagged, a word of the reason).
CASES = {
    "import alias": ("import numpy as n2\nn2.allclose = f", 2, "monkeypatching"),
    "from-import alias": ("from numpy import testing as t\nt.assert_allclose = f", 2, "numpy.testing.assert_allclose"),
    "lab's np": ("np.testing.assert_allclose = f", 1, "numpy.testing.assert_allclose"),
    "alias by assignment": ("t = np.testing\nt.assert_allclose = f", 2, "monkeypatching"),
    "alias by loop": ("for m in [np]:\n    m.allclose = f", 2, "monkeypatching"),
    "class of a library": ("import keras\nkeras.Sequential.__call__ = f", 2, "keras.Sequential.__call__"),
    "imported class": ("from tensorflow.keras.models import Sequential\nSequential.predict = f", 2, "monkeypatching"),
    "builtins": ("import builtins\nbuiltins.isinstance = f", 1, "builtins"),
    "__builtins__": ("__builtins__.isinstance = f", 1, "__builtins__"),
    "setattr on __import__": ('setattr(__import__("numpy"), "allclose", f)', 1, "setattr"),
    "computed getattr": ('g = getattr(np, "all" + "close")', 1, "computed"),
    "sys.modules": ('import sys\nsys.modules["numpy"].allclose = f', 2, "sys.modules"),
    "type(model3)": ("type(model3).__call__ = f", 1, "type()"),
    "__class__ assignment": ("model3.__class__ = Fake", 1, "__class__"),
    "method patch on own object": ("model3.call = lambda x: x", 1, "method patching"),
    "exec of base64": ("import base64\nexec(base64.b64decode(b'eA=='))", 2, "exec"),
    "eval of a literal": ("eval('1 + 1')", 1, "eval"),
    "compile": ("c = compile('x = 1', 'x', 'exec')", 1, "compiles"),
    "importlib": ("import importlib\nimportlib.reload(np)", 1, "importlib"),
    "%%writefile": ("%%writefile helper.py\nprint(1)", 1, "writefile"),
    "!shell": ("!python helper.py", 1, "shell"),
    "%time runs its code": ("%time np.allclose = f", 1, "monkeypatching"),
    "%%time runs its body": ("%%time\nimport gc", 1, "gc"),
    "gc": ("import gc\nrefs = gc.get_referrers(model2)", 1, "gc"),
    "__code__": ("def f():\n    pass\nf.__code__ = (lambda: 1).__code__", 3, "__code__"),
    "__globals__ in a string": ('g = getattr(f, "__globals__")', 1, "__globals__"),
    "__subclasses__": ("().__class__.__base__.__subclasses__()", 1, "__subclasses__"),
    "sys._getframe renamed": ("from sys import _getframe as here\nhere().f_back", 1, "_getframe"),
    "settrace": ("import sys as s\ns.settrace(lambda *a: None)", 2, "settrace"),
    "setprofile": ("import sys\nsys.setprofile(print)", 2, "setprofile"),
    "audit hook": ("import sys\nsys.addaudithook(print)", 2, "audit"),
    "ctypes": ("import ctypes", 1, "ctypes"),
    "pickle": ("import pickle\npickle.loads(b'cbuiltins\\nsetattr\\n.')", 2, "unpickles"),
    "inspect": ("from inspect import currentframe", 1, "inspect"),
    "/proc": ("maps = open(f'/proc/{1}/maps').read()", 1, "/proc"),
    "globals() write": ('globals()["model3"] = model2', 1, "namespace"),
    "globals() update": ("globals().update(model3=model2)", 1, "namespace"),
    "globals() aliased": ('g = globals()\ng["model3"] = model2', 2, "namespace"),
    "vars() write": ('vars(np)["allclose"] = f', 1, "namespace"),
    "__dict__ write": ('np.__dict__["allclose"] = f', 1, "__dict__"),
    "get_ipython hook": ("get_ipython().events.register('post_run_cell', print)", 1, "get_ipython"),
    "get_ipython aliased": ("ip = get_ipython()\nip.showtraceback = print", 1, "get_ipython"),
    "raw display": ('display({"text/plain": "ok"}, raw=True)', 1, "raw MIME"),
    "publish_display_data": ("from IPython.display import publish_display_data", 1, "raw display data"),
    "our MIME type": ('x = "application/vnd.labgrader.observation+json"', 1, "labgrader"),
    "labgrader in a comment": ("x = 1  # labgrader.kernels", 1, "labgrader"),
    "subprocess": ("import subprocess", 1, "processes"),
    "os.system": ("import os\nos.system('ls')", 2, "shell"),
    "os.kill": ("import os\nos.kill(1, 9)", 2, "signals"),
    "signal": ("import signal", 1, "signals"),
    "threads": ("import threading\nthreading.Thread(target=print).start()", 1, "threads"),
    "fake equality": ("class Yes:\n    def __eq__(self, other):\n        return True", 2, "__eq__"),
    "Sequential subclass": ("from tensorflow.keras.models import Sequential\nclass Liar(Sequential):\n    pass",
                            2, "subclasses"),
    "module shadowed": ("class Fake:\n    pass\nnp = Fake()", 3, "rebinds np"),
    "unparseable with a flagged word": ("def f(:\n    import gc", 2, "does not parse"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule(case):
    source, line, word = CASES[case]
    found = answer(source)
    assert any(f.line == line and word in f.reason + f.code for f in found), [str(f) for f in found]


@pytest.mark.parametrize("source", [
    "model3 = Sequential([embedding_layer, Flatten()])\nmodel3.foo = 1\nmodel3.trainable = False",
    "%matplotlib inline\nmodel3 = Sequential([embedding_layer, Flatten()])",
    "model3 = Sequential([embedding_layer, Flatten()])\nmodel3?",
    "%time model3 = Sequential([embedding_layer, Flatten()])",
    "import numpy\nimport tensorflow as tf\nx = numpy.allclose(1, 1)\nname = type(model2).__name__",
    "from IPython.display import display\ndisplay(model2.summary())",
    "def f(:\n    pass",  # does not parse, and holds nothing flagged: the cell fails, nothing runs
    "embedding_layer = None\nmodel = None",  # rebinding the lab's names in an answer cell is legal
])
def test_harmless_code_is_not_flagged(source):
    assert answer(source) == []


def test_protected_names_are_flagged_only_in_cells_added_before_the_answers():
    early = answer(None, added=[("demo_model2", "model = model2 = None\nvocab_size = 1")])
    assert [(f.cell, f.line) for f in early] == [("added cell after demo_model2", 1)] * 2 + [
        ("added cell after demo_model2", 2)]
    assert {w for f in early for w in PROTECTED if f"rebinds {w}," in f.reason} == {"model", "model2", "vocab_size"}
    assert answer(None, added=[("q2_answer", "model = model2 = None")]) == []
    assert scan(submissions.build_notebook(RELEASE, submissions.Snippet(
        Path("x"), added=[("demo_model2", "model = None")])), RELEASE, protected_names=()) == []


def test_an_import_in_one_cell_and_a_patch_in_a_later_one_are_caught():
    [f] = answer("n2.allclose = f", added=[("demo_indexing", "import numpy as n2")])
    assert f.cell == "q2_answer" and "numpy.allclose" in f.reason


def test_only_what_will_run_is_scanned():
    # An edited locked cell is put back by nbgrader before it runs: not the student's code.
    edited = submissions.Snippet(Path("x"), answers={"demo_indexing": "import gc"})
    assert findings_for(edited) == []
    # A cell whose grade id the release does not have is a cell the student added.
    nb = submissions.build_notebook(RELEASE, submissions.Snippet(Path("x"), added=[("q1_param_count", "import gc")]))
    added = next(c for c in nb.cells if c.source == "import gc")
    added.metadata["nbgrader"] = {"grade_id": "free_points", "locked": True, "solution": False, "grade": False}
    [f] = scan(nb, RELEASE, PROTECTED)
    assert f.cell == "added cell after q1_param_count"
    # An earlier copy of a locked cell runs as written (nbgrader keeps the grade id on the last copy).
    copy_of_test = copy.deepcopy(nb.cells[nb.cells.index(added) - 1])
    copy_of_test.source = "import ctypes"
    nb.cells.insert(0, copy_of_test)
    assert {f.cell for f in scan(nb, RELEASE, PROTECTED)} == {"added cell at the top", "added cell after q1_param_count"}
    # Markdown never runs.
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("import gc"))
    assert len(scan(nb, RELEASE, PROTECTED)) == 2


def test_the_scan_does_not_change_the_notebooks():
    nb = submissions.build_notebook(RELEASE, submissions.load(CORPUS / "hostile" / "monkeypatches_helpers.py"))
    before_nb, before_release = copy.deepcopy(nb), copy.deepcopy(RELEASE)
    assert scan(nb, RELEASE, PROTECTED)
    assert nb == before_nb and RELEASE == before_release


# ------------------------------------------------------------------ the allow-list rules (the lab's allowed_imports)

def lab_allowed_imports():
    from nbgrader.coursedir import CourseDirectory
    from labgrader.judging.lab import load_lab
    return load_lab(CourseDirectory(root=str(REPO)), ASSIGNMENT).allowed_imports


def strict_findings_for(snippet):
    return scan(submissions.build_notebook(RELEASE, snippet), RELEASE, PROTECTED, lab_allowed_imports())


@pytest.mark.parametrize("snippet", snippets("correct") + snippets("wrong"), ids=lambda s: s.name)
def test_the_allow_list_rules_flag_no_honest_answer(snippet):
    assert strict_findings_for(snippet) == []


def test_the_allow_list_rules_flag_nothing_in_the_instructors_solution():
    assert scan(SOURCE, RELEASE, PROTECTED, lab_allowed_imports()) == []


@pytest.mark.parametrize("snippet", [s for s in snippets("hostile") if s.name.startswith("tamper_")], ids=lambda s: s.name)
def test_every_tampering_submission_is_flagged_with_the_labs_rules(snippet):
    assert strict_findings_for(snippet), snippet.name


@pytest.mark.parametrize("code", [
    "import observers\nobservers.observe.report = print",                    # reach the grader's module
    "get = lambda: json\nget().loads = eval",                                 # module hidden behind a call
    "observers.observe._armed.clear()",                                       # empty the grader's snapshot
    "import asyncio\nasyncio.get_event_loop().call_later(0.002, print)",      # run code between cells
    "x = os.sys.modules\nx['json'] = None",                                   # sys.modules through os
    "model3 = Sequential([embedding_layer, Flatten(), Lambda(lambda t: t)])",  # code inside the checks
    "model.set_weights = model3.set_weights",                                  # redirect the lab's writes
])
def test_the_allow_list_rules_catch_what_the_deny_list_missed(code):
    from labgrader.judging.scan import strict_findings
    assert strict_findings(code, set(lab_allowed_imports())), code
