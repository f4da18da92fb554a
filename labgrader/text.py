"""Student-controlled text on its way to a terminal, a log or a report: printable, one line, bounded.

A student chooses folder names, cell sources, error messages and file names, and some of it is
quoted back to the instructor. Escape sequences in it could rewrite the terminal; U+2028, form
feeds and other line breaks Python's tokenizer does not count would shift which line is quoted.
Everything the grader prints or logs that a student could have written goes through ``printable``
(or ``one_line``), on both grading paths.
"""
from __future__ import annotations

import logging
import re
import unicodedata

ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
# The line breaks of Python source (the tokenizer's), unlike str.splitlines()'s longer list.
SOURCE_LINES = re.compile(r"\r\n|\r|\n")


def printable(text: object) -> str:
    """``text`` without control characters or escape sequences (newlines and tabs kept)."""
    text = ESCAPES.sub("", str(text))
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))


def one_line(text: object, limit: int = 300) -> str:
    """``printable`` on one line, at most ``limit`` characters."""
    flat = " ".join(printable(text).split())
    return flat[:limit] + ("..." if len(flat) > limit else "")


def source_lines(source: str) -> list[str]:
    """A cell's source split where Python splits it, so line N is the line Python calls N."""
    return SOURCE_LINES.split(source)


class PrintableFilter(logging.Filter):
    """A log filter: every message (with its arguments) reaches handlers as printable text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg, record.args = printable(message), ()
        return True


def filter_log(logger: logging.Logger) -> None:
    """Add PrintableFilter to ``logger`` once (the nbgrader app's logger, on both paths)."""
    if not any(isinstance(f, PrintableFilter) for f in logger.filters):
        logger.addFilter(PrintableFilter())
