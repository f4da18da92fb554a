"""Build student notebooks from the released notebook and answer snippets.

A snippet file stands for one student's submission: it says which answer cells the student
filled in (and with what), which cells they added, and the score each graded cell deserves::

    # expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
    # %% q1_answer
    trainable_params_model2 = 40
    # %% after demo_model2
    print("a cell the student added after the cell demo_model2")

Files that are not ``.py`` (a broken ``.ipynb``, say) are handed in as they are.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SECTION = re.compile(r"^# %% (?:(after) )?(\S+)\s*$")
EXPECT = re.compile(r"^# expect: (.*)$")
NOTEBOOK = "embeddings.ipynb"


@dataclass
class Snippet:
    path: Path
    expected: dict = field(default_factory=dict)   # grade_id -> points; {} = not graded at all
    answers: dict = field(default_factory=dict)    # grade_id -> new source
    added: list = field(default_factory=list)      # (after grade_id, source)
    files: dict = field(default_factory=dict)      # file name -> text (raw submissions)

    @property
    def name(self):
        return self.path.stem


def load(path):
    path = Path(path)
    snippet = Snippet(path)
    text = path.read_text()
    if path.suffix != ".py":
        snippet.files[path.name] = text
        return snippet
    current, lines = None, []

    def flush():
        if current is None:
            return
        kind, target = current
        body = "\n".join(lines).strip("\n")
        if kind == "after":
            snippet.added.append((target, body))
        else:
            snippet.answers[target] = body

    for line in text.splitlines():
        expect, section = EXPECT.match(line), SECTION.match(line)
        if expect and current is None:
            snippet.expected.update(parse_expectation(expect.group(1)))
        elif section:
            flush()
            current, lines = (section.group(1), section.group(2)), []
        elif current is not None:
            lines.append(line)
    flush()
    return snippet


def parse_expectation(text):
    return {k: float(v) for k, v in (pair.split("=") for pair in text.split())}


def build_notebook(release_nb, snippet):
    """The released notebook with the snippet's answers filled in and its cells added."""
    nb = nbformat.from_dict(release_nb)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    for grade_id, source in snippet.answers.items():
        if grade_id not in by_id:
            raise KeyError(f"{snippet.path}: no cell {grade_id!r} in the released notebook")
        by_id[grade_id].source = source
    for after, source in reversed(snippet.added):
        position = nb.cells.index(by_id[after]) + 1
        nb.cells.insert(position, nbformat.v4.new_code_cell(source))
    return nb


def write_submission(snippet, release_path, dest_dir):
    """Write the snippet's submission into ``dest_dir`` (a student's assignment folder)."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if snippet.files:
        for name, text in snippet.files.items():
            (dest_dir / name).write_text(text)
        return
    nb = build_notebook(nbformat.read(release_path, as_version=4), snippet)
    nbformat.write(nb, dest_dir / NOTEBOOK)
