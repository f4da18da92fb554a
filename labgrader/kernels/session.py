"""The grader's side of the kernel's message protocol: a session that reads whatever the kernel
sends without letting one message stop the grading.

Student code holds the kernel's session key, so it can send anything a kernel can: messages
whose parsing alone would cost the grader gigabytes (thirty megabytes of ``[[],[],...]`` are ten
million Python lists, copied again by nbclient and nbformat), JSON nested
deeper than the decoder's recursion limit, a replayed (duplicate) signature, a header or parent
that is not an object, an ``execute_reply`` without a status. jupyter_client raises on the first
two (and on a message without its delimiter), nbclient on the others, which would end the notebook's grading with an exception.
GradingSession measures each message before parsing it (its bytes, and the number and depth of
its JSON values: labgrader/jsonlimits.py) against the per-kernel budgets below, checks the shape of
what it parses, counts the messages it drops (``too_large``; ``unreadable``, by reason: no honest
kernel sends those) and hands nbclient a short stand-in: a stdout note when the message was an
output of a known cell, otherwise a message nobody waits for (ignored).
"""
from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from jupyter_client.session import Session
from nbformat.v4 import output_from_msg
from traitlets import Integer

from labgrader import jsonlimits
from labgrader.errors import LabgraderError

# Messages nbclient turns into a cell's outputs: an unreadable one stands in as a note in that cell.
OUTPUT_TYPES = {"stream", "display_data", "execute_result", "update_display_data", "error", "clear_output"}
# Fields of a reply or status nbclient reads without a default.
REQUIRED = {"execute_reply": ("status", str), "status": ("execution_state", str)}
NOTE = "\n[labgrader: a message from the kernel could not be read ({why}); it was dropped]\n"
TOO_LARGE = "\n[output truncated: a message from the kernel was over the grader's limits ({why}); it was dropped]\n"
MiB = 1024 ** 2
HANDOVER_MARK = b"application/vnd.labgrader."  # the hand-overs' MIME types (labgrader.kernels.export)
DROPPED_MIME = "application/vnd.labgrader.dropped+json"  # where a hand-over dropped unread was (the grader's own)
PER_NOTEBOOK = "per notebook"  # the end of why a message was dropped for the kernel's totals, not its own size
LATE_REPLIES = 100  # replies read past max_messages (the cell's own, a shutdown's: a few)
ENVELOPE_BYTES = 32 * 1024                     # a header, parent header or metadata part (an honest one: ~300 bytes)


class Flooded(LabgraderError):
    """Raised to nbclient's reader of a kernel's outputs once the kernel sent more than
    ``max_messages``: it stops reading them (the kernel's further outputs are dropped by ZeroMQ, at
    no cost to the grader) and GuardedExecute stops the notebook after the cell."""


class Unreadable(LabgraderError):
    """A message the grader does not accept; the text says why, in a few words."""


class GradingSession(Session):
    """jupyter_client's Session (same signing and packing) whose ``deserialize`` never raises and
    parses nothing over its budgets (one session per kernel: per submission)."""

    max_output_bytes = Integer(2 * MiB, config=True, help="Largest message the grader parses from a kernel, other than "
                               "a hand-over to the grader; a larger one is dropped unread, with a note in its cell "
                               "(GuardedExecute keeps 1 MB of output per cell anyway).")
    max_handover_bytes = Integer(24 * MiB, config=True, help="Largest hand-over (a message carrying the export's, "
                                 "pin's or evidence's MIME type) the grader parses; the export module hands over at "
                                 "most 16 MiB of arrays, 21 MiB as base64.")
    max_total_bytes = Integer(128 * MiB, config=True, help="Messages the grader parses from one kernel, all together, "
                              "hand-overs excepted; beyond it outputs are dropped unread, with a note.")
    max_handover_total = Integer(64 * MiB, config=True, help="Hand-overs the grader parses from one kernel, all together "
                                 "(one per test cell and silent cell in an honest run).")
    max_json_values = Integer(200_000, config=True, help="Most JSON values (and keys) in one message's content; a "
                              "larger one is dropped unread (parsing costs the grader memory per value, not per byte).")
    max_json_depth = Integer(100, config=True, help="Deepest nesting of one message's JSON; deeper is unreadable.")
    max_messages = Integer(10_000, config=True, help="Messages the grader reads from one kernel. Reading one costs "
                           "the grader several times what sending it costs the kernel, and an honest notebook sends a "
                           "few hundred (the kernel batches its prints); past this many, the kernel's outputs are no "
                           "longer read (only its replies) and the notebook stops at the cell running (``flooded``).")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unreadable: Counter[str] = Counter()  # reason -> messages dropped, since the session began
        self.too_large = 0                          # messages dropped unread for the budgets
        self.flooded = ""                           # why no more messages are read in full ("" while they are)
        self._parsed = {False: 0, True: 0}          # bytes parsed so far: outputs, hand-overs
        self._messages = 0
        self._late_replies = 0                      # replies read past max_messages

    def feed_identities(self, msg_list: Any, copy: bool = True) -> tuple[list[bytes], list[Any]]:
        try:
            return super().feed_identities(msg_list, copy=copy)
        except ValueError:  # no delimiter: deserialize([]) below counts it as malformed
            return [], []

    def deserialize(self, msg_list: list[Any], content: bool = True, copy: bool = True) -> dict[str, Any]:
        self._messages += 1
        if self._messages > self.max_messages and content:
            dropped = self._flood(msg_list)
            if dropped is not None:
                return dropped
        try:
            over, handover = self._over_budget(msg_list) if content else ("", False)
            if over == "nested too deeply":
                raise RecursionError(over)
            if over:
                self.too_large += 1
                return self._stand_in(msg_list, over, TOO_LARGE, dropped_handover=handover)
            message = super().deserialize(msg_list, content=content, copy=copy)
            check_shape(message, content)
            return message
        except Unreadable as error:
            why = str(error)
        except RecursionError:
            why = "nested too deeply"
        except ValueError as error:  # a bad, missing or replayed signature; JSON that is not JSON
            why = "duplicate signature" if "Duplicate" in str(error) else (
                "bad signature" if "Signature" in str(error) else "not valid JSON")
        except (TypeError, KeyError, IndexError, AttributeError, UnicodeDecodeError):
            why = "malformed"
        self.unreadable[why] += 1
        return self._stand_in(msg_list, why)

    def _flood(self, msg_list: list[Any]) -> dict[str, Any] | None:
        """Past ``max_messages``: a reply is read as usual (None), up to LATE_REPLIES of them (an
        honest kernel sends a few per cell; a flood typed as replies must not go on unnoticed); the
        first other message raises Flooded (nbclient's reader of outputs ends there), any later one
        is ignored after a look at its header only."""
        kind = _msg_type(msg_list[1]) if len(msg_list) > 1 and _size(msg_list[1]) <= ENVELOPE_BYTES else ""
        if kind.endswith("_reply") and self._late_replies < LATE_REPLIES:
            self._late_replies += 1
            return None
        self.too_large += 1
        if self.flooded:
            return _ignored(self.session, self.username)
        self.flooded = f"more than {self.max_messages} messages"
        raise Flooded(self.flooded)

    def _over_budget(self, msg_list: list[Any]) -> tuple[str, bool]:
        """Why the message is more than the grader parses, from its raw parts ("" when it is not):
        its envelope, then its content's bytes (within this kernel's budgets too) and JSON shape;
        and whether it claims to be a hand-over."""
        if len(msg_list) < 5:
            return "", False  # malformed: jupyter_client says so
        if any(_size(part) > ENVELOPE_BYTES for part in msg_list[1:4]):
            return f"a header or metadata over {ENVELOPE_BYTES} bytes", False
        raw = _raw(msg_list[4])
        size = len(raw) + sum(_size(part) for part in msg_list[5:])
        handover = HANDOVER_MARK in raw
        limit, total = (self.max_handover_bytes, self.max_handover_total) if handover else \
            (self.max_output_bytes, self.max_total_bytes)
        if size > limit:
            return f"{size} bytes, over the limit of {limit} per message", handover
        kind = _msg_type(msg_list[1])  # small replies and statuses always get through: nbclient waits for them
        output = size > ENVELOPE_BYTES or (kind != "status" and not kind.endswith("_reply"))  # outputs, comm...
        if output and self._parsed[handover] + size > total:
            return f"over the limit of {total} bytes of {'hand-overs' if handover else 'outputs'} {PER_NOTEBOOK}", handover
        why = jsonlimits.too_large(raw, limit, self.max_json_values, self.max_json_depth)
        if "nested" in why:
            return "nested too deeply", handover
        if not why and output:
            self._parsed[handover] += size
        return why, handover

    def _stand_in(self, msg_list: list[Any], why: str, note: str = NOTE, dropped_handover: bool = False) -> dict[str, Any]:
        """A note for the cell the message was meant for, when that much can be read (for a
        hand-over dropped unread, a display the grader's judge recognizes: DROPPED_MIME, with why and
        whether for its own size or for the kernel's totals: ``scope``)."""
        parent: Any = {}
        msg_type = "labgrader_unreadable"
        try:
            if any(_size(part) > ENVELOPE_BYTES for part in msg_list[1:3]):
                raise ValueError("too large to read")
            parts = [bytes(getattr(part, "bytes", part)) for part in msg_list[1:3]]
            header, parent = self.unpack(parts[0]), self.unpack(parts[1])
            if isinstance(header, dict) and header.get("msg_type") in OUTPUT_TYPES and isinstance(parent, dict) \
                    and isinstance(parent.get("msg_id"), str):
                msg_type, parent = "stream", {"msg_id": parent["msg_id"]}
            else:
                parent = {}
        except Exception:  # noqa: BLE001 (RecursionError, bad JSON, too few parts: no cell to note it in)
            parent = {}
        if msg_type != "stream":
            return _ignored(self.session, self.username)
        if dropped_handover:
            message = _ignored(self.session, self.username, "display_data")
            message.update(parent_header=parent, content={"metadata": {}, "data": {
                "text/plain": note.format(why=why), DROPPED_MIME: {
                    "why": why, "scope": "notebook" if why.endswith(PER_NOTEBOOK) else "message"}}})
            return message
        message = _ignored(self.session, self.username, "stream")
        message.update(parent_header=parent, content={"name": "stdout", "text": note.format(why=why)})
        return message


def _ignored(session: str, username: str, msg_type: str = "labgrader_unreadable") -> dict[str, Any]:
    """A message of ``msg_type`` (by default one nbclient ignores), with no parent."""
    header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session, "username": username,
              "date": datetime.now(timezone.utc), "version": "5.3"}
    return {"header": header, "msg_id": header["msg_id"], "msg_type": msg_type, "parent_header": {}, "metadata": {},
            "content": {}, "buffers": []}


def _size(part: Any) -> int:
    """Bytes of a message part (bytes, or a zmq Frame when received without copying)."""
    try:
        return len(part)
    except TypeError:
        return len(getattr(part, "bytes", b""))


def _msg_type(part: Any) -> str:
    """The type a message's header names (an envelope part, bounded before this is read), or ""."""
    try:
        header = json.loads(_raw(part))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    return header.get("msg_type", "") if isinstance(header, dict) and isinstance(header.get("msg_type"), str) else ""


def _raw(part: Any) -> bytes:
    return part if isinstance(part, bytes) else bytes(getattr(part, "bytes", part))


def check_shape(message: dict[str, Any], content: bool) -> None:
    """What nbclient reads without checking: objects where it expects objects, ids and types as
    strings, a reply's status."""
    header, parent = message.get("header"), message.get("parent_header")
    if not isinstance(header, dict) or not isinstance(header.get("msg_id"), str) \
            or not isinstance(header.get("msg_type"), str):
        raise Unreadable("malformed header")
    if not isinstance(parent, dict) or not isinstance(parent.get("msg_id", ""), str):
        raise Unreadable("malformed parent header")
    if not isinstance(message.get("metadata"), dict):
        raise Unreadable("malformed metadata")
    if not content:
        return
    body = message.get("content")
    if not isinstance(body, dict):
        raise Unreadable("content is not an object")
    if header["msg_type"] in REQUIRED:
        key, required_type = REQUIRED[header["msg_type"]]
        if not isinstance(body.get(key), required_type):
            raise Unreadable(f"{header['msg_type']} without {key}")
    transient = body.get("transient")
    if transient is not None and not isinstance(transient, dict):
        raise Unreadable("malformed transient")
    count = body.get("execution_count")
    if count is not None and type(count) is not int:
        raise Unreadable("malformed execution count")
    kind = "display_data" if header["msg_type"] == "update_display_data" else header["msg_type"]
    if kind in ("stream", "display_data", "execute_result", "error"):
        # what nbclient would write into the notebook must be a valid nbformat output (output_from_msg
        # validates it against its output type's schema: once, the costliest step of reading a message)
        try:
            output_from_msg({"header": {"msg_type": kind}, "content": body})
        except Exception:  # noqa: BLE001 (KeyError, TypeError, nbformat's ValidationError)
            raise Unreadable(f"malformed {header['msg_type']}") from None
