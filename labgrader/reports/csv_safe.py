"""Cells that a spreadsheet will not run: OWASP's advice against CSV (formula) injection.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as
a formula by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``@SUM(...)``, DDE). A
student id is chosen by whoever names the hand-in folder, so every CSV we write passes its text
cells through :func:`neutral`, which prefixes such a cell with a single quote (shown as text,
the quote itself hidden by most spreadsheets). Numbers we format ourselves are left alone.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: object) -> object:
    """``value`` as a CSV cell that no spreadsheet evaluates."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value  # our own numbers: -1 stays a number
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class Writer:
    """``csv.writer`` whose rows are neutralized cell by cell (and always quoted when needed)."""

    def __init__(self, f: IO[str]) -> None:
        self._out = csv.writer(f)

    def writerow(self, row: Iterable[object]) -> None:
        self._out.writerow([neutral(v) for v in row])
