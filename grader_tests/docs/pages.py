"""The documentation's pages as the tests read them: their code blocks, what each says about being run,
and the files the tutorial makes.

A shell block (```bash, sh, shell, console) is run by a test of grader_tests/docs/ unless an HTML
comment right before it says otherwise:

    <!-- not run: why (e.g. needs a hub; grader_tests/hub/test_round_trip.py runs the recipe) -->
    <!-- run by: FILE[, FILE] -->   (each command line of the block appears in one of these files)

A MyST code block whose caption is a path (``:caption: source/intro_stats/grading.py``) is a file the
reader writes; one whose caption is ``Cell N · <kind> · id <grade id>[ · N point(s)]`` is a notebook cell
made with nbgrader's Create Assignment toolbar.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

REPO = Path(__file__).resolve().parents[2]
SHELL = {"bash", "sh", "shell", "console"}
MARKER = re.compile(r"^<!--\s*(not run|run by):\s*(.*?)\s*-->$", re.S)
CELL = re.compile(r"^Cell (\d+) · (Read-only|Autograded answer|Autograder tests|Manually graded answer) · id (\S+)"
                  r"(?: · (\d+) points?)?$")


@dataclass
class Block:
    page: Path
    line: int          # 1-based line of the fence in the page
    language: str
    text: str          # the block's content (without a MyST directive's options)
    caption: str = ""
    marker: str = ""   # "not run", "run by" or "" (run by this directory's tests)
    reason: str = ""   # the marker's text

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    def commands(self) -> list[str]:
        """The block's command lines (comments and continuation joined, blank lines dropped)."""
        lines, current = [], ""
        for raw in self.text.splitlines():
            line = raw.split("  #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
            current += line.rstrip("\\").strip() + (" " if line.endswith("\\") else "")
            if not line.endswith("\\") and current.strip():
                lines.append(current.strip())
                current = ""
        return lines


def pages() -> list[Path]:
    """The README and every page of the site (not docs/incoming/, which is folded into them)."""
    return [REPO / "README.md"] + sorted(p for p in (REPO / "docs").rglob("*.md")
                                         if "incoming" not in p.parts and "_build" not in p.parts)


def blocks(page: Path) -> list[Block]:
    tokens = MarkdownIt("commonmark").parse(page.read_text())
    found = []
    for index, token in enumerate(tokens):
        if token.type != "fence":
            continue
        info = token.info.strip()
        directive = re.match(r"^\{code-block\}\s*(\S*)", info)
        language = directive.group(1) if directive else info.split(" ")[0]
        text, caption = token.content, ""
        if directive:
            options, _, body = text.partition("\n\n") if text.startswith(":") else ("", "", text)
            for option in options.splitlines():
                if option.startswith(":caption:"):
                    caption = option.partition(":caption:")[2].strip().strip('"')
            text = body
        block = Block(page, token.map[0] + 1 if token.map else 0, language, text, caption)
        previous = tokens[index - 1] if index else None
        if previous is not None and previous.type == "html_block":
            match = MARKER.match(previous.content.strip())
            if match:
                block.marker, block.reason = match.group(1), " ".join(match.group(2).split())
        found.append(block)
    return found


def shell_blocks(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.language in SHELL]


def runnable(page: Path) -> list[Block]:
    """The shell blocks of ``page`` that a test of this directory runs, in page order."""
    return [b for b in shell_blocks(page) if not b.marker]


def shell_script(page: Path) -> str:
    """The page's runnable blocks as one bash script, each announced (a failure names its block)."""
    parts = ["set -euo pipefail"]
    for block in runnable(page):
        parts += [f"echo '### {block.where}' >&2", block.text.rstrip()]
    return "\n".join(parts) + "\n"


def tutorial_files(page: Path) -> dict[str, str]:
    """Files whose block caption is their path: {path: content}."""
    return {b.caption: b.text for b in blocks(page) if b.caption and "/" in b.caption and not CELL.match(b.caption)}


def tutorial_cells(page: Path) -> list[tuple[int, str, str, int | None, Block]]:
    """Notebook cells: (number, kind, grade id, points or None, block), in the order of their numbers."""
    cells = []
    for block in blocks(page):
        match = CELL.match(block.caption)
        if match:
            number, kind, grade_id, points = match.groups()
            cells.append((int(number), kind, grade_id, int(points) if points else None, block))
    return sorted(cells, key=lambda c: c[0])
