"""GradingSession reads whatever a kernel sends (student code holds the key) without raising: a
message it cannot read is counted by reason and stands in as a note for its cell, or is ignored."""
import pytest
from jupyter_client.session import Session

from labgrader.kernels.session import GradingSession

KEY = b"secret-key"


@pytest.fixture
def pair():
    """The kernel's session (what student code can use) and the grader's."""
    return Session(key=KEY), GradingSession(key=KEY)


def wire(kernel, msg_type, content, parent=None):
    """The frames a kernel sends, after the grader's socket strips nothing (no identities)."""
    message = kernel.msg(msg_type, content, parent=parent or {})
    return kernel.serialize(message)


def read(grader, frames):
    idents, parts = grader.feed_identities(frames)
    return grader.deserialize(parts)


def test_an_ordinary_message_reads_as_jupyter_clients_does(pair):
    kernel, grader = pair
    msg = read(grader, wire(kernel, "stream", {"name": "stdout", "text": "hi\n"}))
    assert msg["content"] == {"name": "stdout", "text": "hi\n"} and msg["msg_type"] == "stream"
    assert not grader.unreadable


def test_json_nested_too_deeply_becomes_a_note_for_its_cell(pair):
    kernel, grader = pair
    parent = kernel.msg("execute_request", {})
    frames = wire(kernel, "display_data", {}, parent=parent)
    frames[-1] = b'{"data": {"text/plain": ' + b"[" * 100_000 + b"]" * 100_000 + b'}, "metadata": {}}'
    frames[1] = kernel.sign(frames[2:6])
    msg = read(grader, frames)
    assert msg["msg_type"] == "stream" and msg["parent_header"]["msg_id"] == parent["header"]["msg_id"]
    assert "could not be read (nested too deeply)" in msg["content"]["text"]
    assert grader.unreadable == {"nested too deeply": 1}


def test_a_replayed_message_is_dropped(pair):
    kernel, grader = pair
    frames = wire(kernel, "stream", {"name": "stdout", "text": "once\n"})
    assert read(grader, frames)["content"]["text"] == "once\n"
    read(grader, frames)
    assert grader.unreadable == {"duplicate signature": 1}


def test_a_forged_signature_or_a_missing_delimiter_is_dropped(pair):
    kernel, grader = pair
    frames = wire(kernel, "stream", {"name": "stdout", "text": "x"})
    frames[1] = b"0" * 64
    assert read(grader, frames)["msg_type"] == "labgrader_unreadable"
    assert read(grader, [b"no delimiter", b"{}"])["parent_header"] == {}  # ignored: no cell waits for it
    assert grader.unreadable == {"bad signature": 1, "malformed": 1}


@pytest.mark.parametrize("msg_type, content, why", [
    ("execute_reply", {"no": "status"}, "execute_reply without status"),
    ("status", {}, "status without execution_state"),
    ("display_data", {"data": ["text/plain"], "metadata": {}}, "malformed display_data"),
    ("display_data", {"data": {"text/plain": 5}, "metadata": {}}, "malformed display_data"),
    ("update_display_data", {"data": {"text/plain": 5}, "metadata": {}, "transient": {"display_id": "a"}},
     "malformed update_display_data"),
    ("stream", {"name": "stdout"}, "malformed stream"),
    ("error", {"ename": "E", "evalue": "v", "traceback": [1]}, "malformed error"),
    ("display_data", {"data": {}, "metadata": {}, "transient": [1]}, "malformed transient"),
    ("execute_result", {"data": {}, "metadata": {}, "execution_count": "evil"}, "malformed execution count"),
])
def test_a_message_nbclient_or_nbformat_would_fail_on_is_dropped(pair, msg_type, content, why):
    kernel, grader = pair
    msg = read(grader, wire(kernel, msg_type, content))
    assert msg["msg_type"] in ("stream", "labgrader_unreadable") and grader.unreadable == {why: 1}


def test_an_unreadable_reply_is_never_taken_for_the_cells_reply(pair):
    """nbclient takes any shell message whose parent is the request as its reply: the stand-in
    for a reply has no parent."""
    kernel, grader = pair
    parent = kernel.msg("execute_request", {})
    assert read(grader, wire(kernel, "execute_reply", {}, parent=parent))["parent_header"] == {}


def test_a_parent_that_is_not_an_object_is_dropped(pair):
    kernel, grader = pair
    frames = wire(kernel, "stream", {"name": "stdout", "text": "x"})
    frames[3] = b"[1, 2]"
    frames[1] = kernel.sign(frames[2:6])
    assert read(grader, frames)["parent_header"] == {}
    assert grader.unreadable == {"malformed parent header": 1}
