"""Build student notebooks from the released notebook and answer snippets.

A snippet file stands for one student's submission: it says which answer cells the student
filled in (and with what), which cells they added, and the score each graded cell deserves::

    # expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
    # %% q1_answer
    trainable_params_model2 = 40
    # %% after demo_model2
    print("a cell the student added after the cell demo_model2")
    # %% delete q2_shares_layer
    # %% metadata q1_param_count
    {"points": 100}
    # %% file helpers/__init__.py
    print("a file handed in beside the notebook")

Any cell can be given new source by its grade id (a test cell, too: that is how a student
would edit one); ``delete`` removes a cell and ``metadata`` merges JSON into its nbgrader metadata;
``file`` hands in a file beside the notebook (a path relative to the hand-in folder).

For an assignment with several notebooks (``write_assignment``), each section goes to the
released notebook that has that grade id (grade ids of answer and test cells are unique within
the assignment); ``# %% skip <notebook>`` leaves that notebook out of the hand-in.

A folder stands for a submission handed in as it is (a notebook that is not JSON, a renamed
notebook, no notebook at all): every file in it but ``EXPECT`` is handed in, and ``EXPECT``
holds the ``# expect:`` line.
"""
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SECTION = re.compile(r"^# %% (?:(after|delete|metadata|skip|file) )?(\S+)\s*$")
EXPECT = re.compile(r"^# expect: (.*)$")
# "# flag: <words>": the submission must be flagged with a flag whose text contains <words>
# (one line per flag expected); "# flag: none": it must not be flagged. Correct and wrong
# submissions are never flagged.
FLAG = re.compile(r"^# flag: (.*)$")
# "# twin: <name>": the honest submission this one must not score above, cell by cell (hostile ones)
TWIN = re.compile(r"^# twin: (\S+)$")
NOTEBOOK = "embeddings.ipynb"


@dataclass
class Snippet:
    path: Path
    expected: dict = field(default_factory=dict)   # grade_id -> points; {} = not graded at all
    answers: dict = field(default_factory=dict)    # grade_id -> new source
    added: list = field(default_factory=list)      # (after grade_id, source)
    deleted: list = field(default_factory=list)    # grade ids
    metadata: dict = field(default_factory=dict)   # grade_id -> nbgrader metadata to merge
    files: dict = field(default_factory=dict)      # file name -> text (raw submissions)
    skipped: list = field(default_factory=list)    # notebooks (file names) not handed in
    raw: bool = False                              # handed in as it is
    flags: list | None = None                      # words each expected flag contains; [] = not flagged
    twin: str = ""                                 # the honest submission it must not beat

    @property
    def name(self):
        return self.path.stem

    @property
    def kind(self):
        """correct, wrong or hostile: the corpus folder it is in."""
        return self.path.parent.name

    @property
    def expected_flags(self):
        """Words each expected flag contains ([] = must not be flagged; None = not stated)."""
        return [] if self.kind in ("correct", "wrong") else self.flags


def load(path):
    path = Path(path)
    snippet = Snippet(path)
    if path.is_dir():
        for line in (path / "EXPECT").read_text().splitlines():
            if EXPECT.match(line):
                snippet.expected.update(parse_expectation(EXPECT.match(line).group(1)))
            if FLAG.match(line):
                words = FLAG.match(line).group(1).strip()
                snippet.flags = (snippet.flags or []) + ([] if words == "none" else [words])
        snippet.files = {f.name: f.read_text() for f in sorted(path.iterdir()) if f.name != "EXPECT"}
        snippet.raw = True
        return snippet
    text = path.read_text()
    current, lines = None, []

    def flush():
        if current is None:
            return
        kind, target = current
        body = "\n".join(lines).strip("\n")
        if kind == "after":
            snippet.added.append((target, body))
        elif kind == "delete":
            snippet.deleted.append(target)
        elif kind == "metadata":
            snippet.metadata[target] = json.loads(body)
        elif kind == "skip":
            snippet.skipped.append(target)
        elif kind == "file":
            snippet.files[target] = body + "\n"
        else:
            snippet.answers[target] = body

    for line in text.split("\n"):  # not splitlines(): a cell may hold U+2028 and the like
        expect, section, flag = EXPECT.match(line), SECTION.match(line), FLAG.match(line)
        if expect and current is None:
            snippet.expected.update(parse_expectation(expect.group(1)))
        elif TWIN.match(line) and current is None:
            snippet.twin = TWIN.match(line).group(1)
        elif flag and current is None:
            words = flag.group(1).strip()
            snippet.flags = (snippet.flags or []) + ([] if words == "none" else [words])
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
    for grade_id, changes in snippet.metadata.items():
        by_id[grade_id].metadata.nbgrader.update(changes)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in snippet.deleted]
    return nb


def write_submission(snippet, release_path, dest_dir):
    """Write the snippet's submission into ``dest_dir`` (a student's assignment folder)."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if snippet.raw:
        for name, text in snippet.files.items():
            (dest_dir / name).write_text(text)
        return
    nb = build_notebook(nbformat.read(release_path, as_version=4), snippet)
    nbformat.write(nb, dest_dir / NOTEBOOK)
    for name, text in snippet.files.items():
        (dest_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (dest_dir / name).write_text(text)


def _part(snippet, grade_ids):
    """The sections of ``snippet`` that concern one notebook (the one holding ``grade_ids``)."""
    return Snippet(snippet.path, snippet.expected,
                   answers={k: v for k, v in snippet.answers.items() if k in grade_ids},
                   added=[(after, src) for after, src in snippet.added if after in grade_ids],
                   deleted=[g for g in snippet.deleted if g in grade_ids],
                   metadata={k: v for k, v in snippet.metadata.items() if k in grade_ids})


def write_assignment(snippet, release_dir, dest_dir):
    """Write the snippet's hand-in of every notebook released in ``release_dir`` into ``dest_dir``."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if snippet.raw:
        return write_submission(snippet, None, dest_dir)
    used = set()
    for path in sorted(Path(release_dir).glob("*.ipynb")):
        release = nbformat.read(path, as_version=4)
        ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in release.cells} - {None}
        part = _part(snippet, ids)
        used |= set(part.answers) | {a for a, _ in part.added} | set(part.deleted) | set(part.metadata)
        if path.name not in snippet.skipped:
            nbformat.write(build_notebook(release, part), dest_dir / path.name)
    unknown = (set(snippet.answers) | {a for a, _ in snippet.added} | set(snippet.deleted) | set(snippet.metadata)) - used
    if unknown:
        raise KeyError(f"{snippet.path}: no cell {sorted(unknown)} in the released notebooks")
