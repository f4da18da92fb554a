"""The grader's side of the kernel's message protocol: a session that reads whatever the kernel
sends without letting one message stop the grading.

Student code holds the kernel's session key, so it can send anything a kernel can: JSON nested
deeper than the decoder's recursion limit, a replayed (duplicate) signature, a header or parent
that is not an object, an ``execute_reply`` without a status. jupyter_client raises on the first
two (and on a message without its delimiter), nbclient on the others, which would end the notebook's grading with an exception.
GradingSession checks each message's shape instead, counts the ones it cannot read
(``unreadable``, by reason) and hands nbclient a short stand-in: a stdout note when the message
was an output of a known cell, otherwise a message nobody waits for (ignored).
"""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from jupyter_client.session import Session
from nbformat.v4 import output_from_msg
from nbformat.v4.nbbase import validate

from labgrader.errors import LabgraderError

# Messages nbclient turns into a cell's outputs: an unreadable one stands in as a note in that cell.
OUTPUT_TYPES = {"stream", "display_data", "execute_result", "update_display_data", "error", "clear_output"}
# Fields of a reply or status nbclient reads without a default.
REQUIRED = {"execute_reply": ("status", str), "status": ("execution_state", str)}
NOTE = "\n[labgrader: a message from the kernel could not be read ({why}); it was dropped]\n"


class Unreadable(LabgraderError):
    """A message the grader does not accept; the text says why, in a few words."""


class GradingSession(Session):
    """jupyter_client's Session (same signing and packing) whose ``deserialize`` never raises."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unreadable: Counter[str] = Counter()  # reason -> messages dropped, since the session began

    def feed_identities(self, msg_list: Any, copy: bool = True) -> tuple[list[bytes], list[Any]]:
        try:
            return super().feed_identities(msg_list, copy=copy)
        except ValueError:  # no delimiter: deserialize([]) below counts it as malformed
            return [], []

    def deserialize(self, msg_list: list[Any], content: bool = True, copy: bool = True) -> dict[str, Any]:
        try:
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

    def _stand_in(self, msg_list: list[Any], why: str) -> dict[str, Any]:
        """A note for the cell the message was meant for, when that much can be read."""
        parent: Any = {}
        msg_type = "labgrader_unreadable"
        try:
            parts = [bytes(getattr(part, "bytes", part)) for part in msg_list[1:3]]
            header, parent = self.unpack(parts[0]), self.unpack(parts[1])
            if isinstance(header, dict) and header.get("msg_type") in OUTPUT_TYPES and isinstance(parent, dict) \
                    and isinstance(parent.get("msg_id"), str):
                msg_type, parent = "stream", {"msg_id": parent["msg_id"]}
            else:
                parent = {}
        except Exception:  # noqa: BLE001 (RecursionError, bad JSON, too few parts: no cell to note it in)
            parent = {}
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": self.session,
                  "username": self.username, "date": datetime.now(timezone.utc), "version": "5.3"}
        text = NOTE.format(why=why)
        return {"header": header, "msg_id": header["msg_id"], "msg_type": msg_type, "parent_header": parent,
                "metadata": {}, "content": {"name": "stdout", "text": text} if msg_type == "stream" else {},
                "buffers": []}


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
        # what nbclient would write into the notebook must be a valid nbformat output
        try:
            validate(output_from_msg({"header": {"msg_type": kind}, "content": body}), "output")
        except Exception:  # noqa: BLE001 (KeyError, TypeError, nbformat's ValidationError)
            raise Unreadable(f"malformed {header['msg_type']}") from None
