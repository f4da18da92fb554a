"""What one submission may cost the grader, without a kernel: JSON measured before it is parsed,
kernel messages over a budget dropped unread, a linear flag hint and functional rebuild, and the
judge process's caps, which make whatever happens while judging a student's hand-over that cell's
outcome (never a lab error, never the class's)."""
import json
import random
import re

import nbformat
import numpy as np
import pytest
from jupyter_client.session import Session

from labgrader import jsonlimits
from labgrader.context import GradingContext, Handover
from labgrader.judge_process import Caps, JudgeProcess, Request
from labgrader.judging import evidence
from labgrader.judging.evidence import Hints
from labgrader.kernels.export import MIME
from labgrader.kernels.session import DROPPED_MIME, LATE_REPLIES, Flooded, GradingSession
from labgrader.lab import lab_at
from labgrader.record import NotebookRecord

MiB = 1024 ** 2


# --- JSON measured, not parsed -----------------------------------------------------------------

def values_in(value):
    if isinstance(value, list):
        return 1 + sum(values_in(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(1 + values_in(v) for v in value.values())
    return 1


def depth_of(value):
    if isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        return 1 + max((depth_of(v) for v in items), default=0)
    return 0


def random_json(rng, depth=0):
    roll = rng.random()
    if depth > 5 or roll < 0.3:
        return rng.choice([1, -2.5e3, None, True, "", "\\", '"', 'a\\"b\\\\', "x,y:[{", "\u2028"])
    if roll < 0.65:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["k", 'q"', "[,:", "\\"]) + str(i): random_json(rng, depth + 1) for i in range(rng.randint(0, 4))}


def test_the_shape_bounds_every_value_and_key_and_measures_the_depth():
    rng = random.Random(7)
    for _ in range(2000):
        value = random_json(rng)
        for text in (json.dumps(value), json.dumps(value, separators=(",", ":")), json.dumps(value, indent=1,
                                                                                          ensure_ascii=False)):
            shape = jsonlimits.shape(text.encode(), 10 ** 9)
            assert shape.values >= values_in(value) and shape.depth == depth_of(value), text


def test_measuring_what_a_student_can_send_is_linear():
    """Megabytes each: a pass that backtracked (quadratic) would take hours on these."""
    lists = b"[" + b"[]," * 2_000_000 + b"[]]"  # two million lists: hundreds of megabytes once parsed
    assert "JSON values" in jsonlimits.too_large(lists, 32 * MiB, 200_000, 100)
    unclosed = b'"' + b'\\"' * 2_000_000  # every quote escaped: no string ever closes
    assert jsonlimits.shape(unclosed, 10).values == 1
    deep = b"[" * 2_000_000 + b"]" * 2_000_000
    assert jsonlimits.too_large(deep, 32 * MiB, 3_000_000, 100).startswith("JSON nested 2000000 deep")
    assert jsonlimits.too_large(b"x" * (32 * MiB + 1), 32 * MiB, 10, 10).startswith(f"{32 * MiB + 1} bytes")


# --- kernel messages over a budget are dropped unread -------------------------------------------

KEY = b"key"


def frames(kernel, msg_type, content, parent):
    return kernel.serialize(kernel.msg(msg_type, content, parent=parent))


def read(grader, wire):
    return grader.deserialize(grader.feed_identities(wire)[1])


@pytest.fixture
def pair():
    kernel = Session(key=KEY)
    return kernel, GradingSession(key=KEY, max_output_bytes=MiB, max_handover_bytes=4 * MiB, max_total_bytes=3 * MiB,
                                  max_handover_total=6 * MiB, max_json_values=1000), kernel.msg("execute_request", {})


def test_an_output_over_its_budget_becomes_a_note_in_its_cell_without_a_flag(pair):
    kernel, grader, parent = pair
    note = read(grader, frames(kernel, "stream", {"name": "stdout", "text": "x" * (2 * MiB)}, parent))
    assert note["msg_type"] == "stream" and note["parent_header"]["msg_id"] == parent["header"]["msg_id"]
    assert "over the grader's limits" in note["content"]["text"]
    assert grader.too_large == 1 and not grader.unreadable  # no honest kernel is flagged for printing much


def test_json_values_are_counted_before_parsing_and_a_hand_over_dropped_says_where_it_was(pair):
    kernel, grader, parent = pair
    flood = {"data": {MIME: [[]] * 5000, "text/plain": ""}, "metadata": {}}  # 20 KB, 5000 values
    dropped = read(grader, frames(kernel, "display_data", flood, parent))
    assert dropped["parent_header"]["msg_id"] == parent["header"]["msg_id"]
    assert "JSON values" in dropped["content"]["data"][DROPPED_MIME]["why"]  # for the judge: too large, not missing
    assert dropped["content"]["data"][DROPPED_MIME]["scope"] == "message"  # too large by itself (not the totals)
    small = {"data": {MIME: [[]] * 10, "text/plain": ""}, "metadata": {}}
    assert read(grader, frames(kernel, "display_data", small, parent))["content"] == small


def test_each_kernel_has_a_total_for_outputs_and_one_for_hand_overs_and_replies_always_get_through(pair):
    kernel, grader, parent = pair
    text = {"name": "stdout", "text": "y" * (MiB - 1000)}
    kept = [read(grader, frames(kernel, "stream", text, parent))["content"] == text for _ in range(4)]
    assert kept == [True, True, True, False]  # 3 MiB of outputs per kernel
    handover = {"data": {MIME: "z" * (3 * MiB - 1000), "text/plain": ""}, "metadata": {}}
    read_as = [read(grader, frames(kernel, "display_data", handover, parent))["content"]["data"] for _ in range(3)]
    assert [MIME in data for data in read_as] == [True, True, False]  # a hand-over may be larger; 6 MiB of them per kernel
    assert read_as[2][DROPPED_MIME]["scope"] == "notebook"  # maybe the same object as before: not another one
    reply = read(grader, frames(kernel, "execute_reply", {"status": "ok", "execution_count": 1}, parent))
    assert reply["msg_type"] == "execute_reply" and grader.too_large == 2


def test_past_its_messages_a_kernel_gets_only_its_replies_read(pair):
    kernel, _, parent = pair
    grader = GradingSession(key=KEY, max_messages=3)
    read_as = [read(grader, frames(kernel, "stream", {"name": "stdout", "text": f"{n}\n"}, parent)) for n in range(3)]
    assert [m["content"].get("text") for m in read_as] == ["0\n", "1\n", "2\n"] and not grader.flooded
    with pytest.raises(Flooded, match="more than 3 messages"):  # nbclient's reader of outputs stops there
        read(grader, frames(kernel, "stream", {"name": "stdout", "text": "3\n"}, parent))
    later = [read(grader, frames(kernel, "stream", {"name": "stdout", "text": "x"}, parent)) for _ in range(2)]
    assert [m["msg_type"] for m in later] == ["labgrader_unreadable"] * 2  # then ignored, header only
    reply = read(grader, frames(kernel, "execute_reply", {"status": "ok", "execution_count": 1}, parent))
    assert reply["content"]["status"] == "ok" and not grader.unreadable  # nbclient still gets its reply


def test_a_flood_typed_as_replies_is_a_flood_past_a_few_late_replies(pair):
    """Replies are read past max_messages (nbclient waits for them), but only LATE_REPLIES of them:
    a kernel sending execute_reply after execute_reply on its iopub was never stopped (its cell ran
    to its time limit, burning CPU)."""
    kernel, _, parent = pair
    grader = GradingSession(key=KEY, max_messages=3)
    for n in range(3 + LATE_REPLIES):
        assert read(grader, frames(kernel, "execute_reply", {"status": "ok", "execution_count": n}, parent))["msg_type"] \
            == "execute_reply"
    with pytest.raises(Flooded, match="more than 3 messages"):
        read(grader, frames(kernel, "execute_reply", {"status": "ok", "execution_count": 0}, parent))


# --- the flag hint --------------------------------------------------------------------------------

def regex_hint(cells, words):
    """The hint as a regular expression found it (quadratic on long lines): the oracle."""
    for assigns in (True, False):
        for word in words:
            store = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)[^=\n]*(?<![=!<>])=(?!=)")
            for label, source in cells:
                for number, line in enumerate(evidence.source_lines(source), start=1):
                    code = line.split("#", 1)[0]
                    if store.search(code) if assigns else word in code:
                        return f"{label}, line {number}: {evidence.one_line(line.strip(), 160)}"
    return ""


def test_the_hint_finds_the_line_the_regular_expression_found():
    rng = random.Random(3)
    pieces = ["x", "json", "json.dumps", "dumps", "=", "==", "!=", "<=", ">=", " ", "(", ")", "#", "\n", "_x", "= =", "<"]
    for _ in range(5000):
        source = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        for words in (["json"], ["x"], ["dumps", "json.dumps"]):
            assert Hints([("cell", source)]).line(words) == regex_hint([("cell", source)], words), (source, words)


def test_the_hint_reads_a_long_line_once_however_many_flags_ask():
    """The red team's line: "display" mentioned a hundred thousand times, no assignment after any. The
    regular expression scanned to the end from each mention (days at this size); each flag asked again."""
    line = 'noise = "' + "display " * 120_000 + '"'
    hints = Hints([("q1_answer", line), ("q2_answer", "publish_display_data(x)")])
    for _ in range(1000):
        assert hints.line(["MIME", "export", "display", "publish"]).startswith("q1_answer, line 1: noise = ")
    assert len(hints._found) == 1


# --- the functional rebuild -------------------------------------------------------------------------

keras = pytest.importorskip("keras")


def exported(model):
    from labgrader.judging.protocol import validate
    from labgrader.kernels.export import Encoder
    encoder = Encoder()
    record = {"grade_id": "g", "answers": {"model3": encoder.encode(model)}, "lab": {}, "objects": encoder.objects,
              "ids": encoder.ids, "evidence": [], "watched": True}
    return validate(json.loads(json.dumps(record)))


def calls_on_every_earlier_tensor(chain, consumers):
    """``chain`` Identity layers in a row, then ``consumers`` more, each called on every tensor of the chain."""
    from keras.layers import Identity
    x = keras.Input(shape=[1])
    tensors, y = [], x
    for _ in range(chain):
        y = Identity()(y)
        tensors.append(y)
    for _ in range(consumers):
        y = Identity()(tensors + [y])[-1]
    return keras.Model(x, y)


def test_each_argument_of_a_functional_model_is_resolved_a_bounded_number_of_times(monkeypatch):
    from labgrader.judging import keras_models
    record = exported(calls_on_every_earlier_tensor(30, 30))
    arguments = 30 + 30 * 31
    resolved = []
    real = keras_models._resolve
    monkeypatch.setattr(keras_models, "_resolve", lambda value, tensors, depth: resolved.append(1) or real(value, tensors, depth))
    keras_models.Rebuilder(record["objects"]).get(record["answers"]["model3"]["ref"])
    assert len(resolved) <= 2 * arguments  # re-resolving each waiting call as its inputs appeared: ~30 * 30 * 31 / 2


def test_layer_calls_over_the_input_budget_are_refused_before_keras_runs_them(monkeypatch):
    from labgrader.judging import keras_models
    record = exported(calls_on_every_earlier_tensor(30, 10))  # 30 + 10 * 31 inputs
    monkeypatch.setattr(keras_models, "MAX_CALL_INPUTS", 300)
    monkeypatch.setattr(keras_models.Rebuilder, "_call", lambda *a: pytest.fail("Keras ran a call"))
    with pytest.raises(keras_models.TooLarge, match="tensors"):
        keras_models.Rebuilder(record["objects"]).get(record["answers"]["model3"]["ref"])


def test_a_model_holding_another_many_times_is_counted_not_unrolled():
    from keras.layers import Identity

    from labgrader.judging.keras_models import Rebuilder, TooLarge, layers_deep
    model = keras.Sequential([Identity()])
    for _ in range(14):
        model = keras.Sequential([model, model])  # one call runs 2 ** 14 Identity layers
    assert len(layers_deep(model)) == 15      # each layer once (was every path: 49150 entries)
    record = exported(model)
    with pytest.raises(TooLarge, match="runs its layers more than"):
        Rebuilder(record["objects"]).get(record["answers"]["model3"]["ref"])


# --- the judge process ---------------------------------------------------------------------------

FAKE_LAB = '''
import os
import numpy as np
from labgrader.lab import Lab, NotGradable, failed, passed

def judge(check):
    what = check.answers.value("x_" + check.grade_id).value  # one answer per cell (one object per name)
    if what == "spin":
        while True:
            pass
    if what == "grow":
        kept = []
        while True:
            kept.append(np.ones(10 ** 7))
    if what == "raise":
        raise ValueError("the lab did not expect this")
    if what == "not gradable":
        raise NotGradable("x cannot be rebuilt")
    if what == "exit":
        os._exit(3)
    check.rng.integers(0, 10)
    return passed() if what == "right" else failed("x is wrong: write it again.")

lab = Lab(judge=judge)
'''


@pytest.fixture
def fake_lab(tmp_path):
    (tmp_path / "grading.py").write_text(FAKE_LAB)
    return (str(tmp_path / "grading.py"), "fake", "digest")


def handover(value, gid="q1"):
    return {"grade_id": gid, "answers": {f"x_{gid}": {"kind": "str", "value": value, "length": len(value)}}, "lab": {},
            "objects": {}, "ids": {}, "evidence": [], "watched": True}


def test_whatever_happens_while_judging_is_an_outcome_and_the_judge_process_is_replaced_after_a_cap(fake_lab):
    process = JudgeProcess(Caps(cpu_seconds=20, memory_bytes=256 * MiB))
    rng = np.random.default_rng(0)

    def judge(value, cpu_seconds=0.5):
        return process.judge(Request(fake_lab, "q1", handover(value), handover("right"), rng, cpu_seconds=cpu_seconds))
    try:
        right = judge("right")
        assert (right.kind, right.passed) == ("verdict", True) and right.rng_state != rng.bit_generator.state
        first = process.pid
        assert (judge("wrong").kind, judge("wrong").message) == ("verdict", "x is wrong: write it again.")
        assert judge("raise").message == "ValueError: the lab did not expect this"
        assert (judge("not gradable").kind, judge("not gradable").message) == ("not_gradable", "x cannot be rebuilt")
        assert process.pid == first  # none of these costs the judge process
        assert judge("spin").kind == "over_cpu" and process.pid == 0
        assert judge("right").passed and process.pid not in (0, first)
        assert judge("grow", cpu_seconds=20).kind == "over_memory" and process.pid == 0
        assert judge("exit").kind == "died"
        assert judge("right").passed
    finally:
        process.stop()


def test_without_a_cgroup_the_judge_process_caps_its_data_segment(fake_lab):
    """An ordinary user's grader (no cgroup it may write): RLIMIT_DATA instead; the grader says so."""
    process = JudgeProcess(Caps(cpu_seconds=20, memory_bytes=256 * MiB, cgroup_parent="/labgrader-no-such-cgroup"))
    rng = np.random.default_rng(0)
    try:
        grown = process.judge(Request(fake_lab, "q1", handover("grow"), handover("right"), rng, cpu_seconds=20))
        assert grown.kind == "over_memory" and process._cgroup is None
        assert process.judge(Request(fake_lab, "q1", handover("right"), handover("right"), rng, cpu_seconds=20)).passed
    finally:
        process.stop()


def test_a_judge_error_on_a_students_hand_over_is_that_cell_not_gradable_never_a_lab_error(fake_lab):
    from labgrader.preprocessors.judge_answers import MALFORMED, JudgeAnswers
    lab = lab_at(*fake_lab)
    reference = {"q1": handover("right"), "q2": handover("right", "q2"), "q3": handover("right", "q3")}
    context = GradingContext("fake", "nb", "mallory", lab, NotebookRecord(notebook="nb"), reference=reference,
                             rng=np.random.default_rng(1))
    nb = nbformat.v4.new_notebook()
    for gid, value in (("q1", "raise"), ("q2", "right"), ("q3", "right")):
        cell = nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade": True, "grade_id": gid, "points": 1}})
        record = handover(value, gid)
        if gid == "q3":
            record["lab"] = {"model": {"kind": "undefined"}}  # more lab names than the instructor's run handed over
        context.handovers[gid] = Handover(exports=[record], complete=True)  # as GuardedExecute received it
        nb.cells.append(cell)
    JudgeAnswers().preprocess(nb, {"labgrader": context})
    record = context.record
    assert record.messages["q1"].startswith("The grader could not judge this answer")
    assert record.faults == ["q1: not judged: the lab's checks stopped with an error on it"]  # no lab detail for the student
    assert record.messages["q2"] == "" and record.messages["q3"] == MALFORMED
    assert [flag.where for flag in record.flags] == ["q3"]  # a judge's error is no evidence; other lab names are


def test_after_a_cap_the_notebooks_later_cells_are_not_judged(fake_lab):
    from traitlets.config import Config

    from labgrader.preprocessors.judge_answers import JudgeAnswers
    lab = lab_at(*fake_lab)
    gids = ("q1", "q2", "q3")
    reference = {gid: handover("right", gid) for gid in gids}
    context = GradingContext("fake", "nb", "mallory", lab, NotebookRecord(notebook="nb"), reference=reference,
                             rng=np.random.default_rng(1))
    nb = nbformat.v4.new_notebook()
    for gid, value in zip(gids, ("right", "grow", "right")):
        cell = nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade": True, "grade_id": gid, "points": 1}})
        context.handovers[gid] = Handover(exports=[handover(value, gid)], complete=True)
        nb.cells.append(cell)
    config = Config()
    config.JudgeLimits.memory_bytes = 256 * MiB
    JudgeAnswers(config=config).preprocess(nb, {"labgrader": context})
    messages = context.record.messages
    assert messages["q1"] == "" and "256 MiB of memory" in messages["q2"]
    assert "an earlier check of this notebook stopped its judging" in messages["q3"]  # not paid for again
    assert not context.record.flags


def test_an_error_reply_adds_a_bounded_valid_error_output():
    """The kernel's execute_reply (student code can forge it) says the cell raised: the error output
    nbgrader adds from it is cut to size and made of strings (a forged 1.9 MB evalue per cell made a
    28 MB notebook past every output budget; a traceback of non-strings, an invalid, ungradable one)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    from labgrader.preprocessors.guarded_execute import GuardedExecute

    cell = new_code_cell("1")
    reply = {"content": {"status": "error", "ename": "E" * 500, "evalue": "x" * 2_000_000,
                         "traceback": [{"not": "a string"}, 7] + ["y" * 10_000] * 100}}
    GuardedExecute().on_cell_executed(cell=cell, cell_index=0, execute_reply=reply)
    [error] = cell.outputs
    assert error.output_type == "error" and len(error.ename) == 200 and len(error.evalue) == 2000
    assert len(error.traceback) == 40 and all(isinstance(line, str) and len(line) <= 2000 for line in error.traceback)
    nbformat.validate(new_notebook(cells=[cell]))  # a valid notebook: gradable
