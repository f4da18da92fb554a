"""Put back graded test cells (and cell metadata) a student deleted or edited, before nbgrader's OverwriteCells."""
import copy

from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import NbGraderPreprocessor

from labgrader.cells import grade_id, is_test_cell
from labgrader.context import context_of


def _without_bookkeeping(meta):
    """What nbgrader adds when it releases a cell (checksum, cell_type; absent from a source
    notebook) is nbgrader's business, not a repair to report."""
    return {k: v for k, v in meta.items() if k not in ("checksum", "cell_type")}


class RestoreTestCells(NbGraderPreprocessor):
    """nbgrader restores the *source* of the test cells it finds, by grade id. A test cell the
    student deleted, or whose grade id or flags they changed, is not restored: nbgrader then
    scores it 0 without saying why or fails the whole notebook. Taking the released notebook
    (what the student was given) as the reference, this step drops nbgrader metadata that names
    no released cell, resets the metadata of every known cell to the released one, and
    re-inserts every missing graded test cell where the release has it, so the student's
    answers are graded by the real tests."""

    def preprocess(self, nb, resources):
        context = context_of(resources)
        if context is None or context.release is None:  # no grading module: nbgrader's own behaviour
            return nb, resources
        release = context.release
        released = {grade_id(c): c for c in release.cells if grade_id(c)}
        notes = []

        for cell in nb.cells:
            gid = grade_id(cell)
            if gid and gid not in released:
                notes.append(f"cell with unknown grade id {gid!r} treated as a plain cell")
                del cell.metadata["nbgrader"]
            elif gid and _without_bookkeeping(cell.metadata.nbgrader) != _without_bookkeeping(released[gid].metadata.nbgrader):
                notes.append(f"nbgrader metadata of cell {gid!r} was edited and has been reset")
                cell.metadata.nbgrader = copy.deepcopy(released[gid].metadata.nbgrader)

        present = {grade_id(c) for c in nb.cells if grade_id(c)}
        anchor = -1  # index in nb of the last source cell seen so far
        for src in release.cells:
            gid = grade_id(src)
            if gid in present:
                anchor = next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid)
            elif gid and is_test_cell(src):
                restored = copy.deepcopy(src)
                restored.outputs = []
                if restored.get("id") in {c.get("id") for c in nb.cells}:
                    # the student's edited copy still has the released cell's id: ids must stay unique
                    restored.id = new_code_cell().id
                nb.cells.insert(anchor + 1, restored)
                anchor += 1
                notes.append(f"test cell {gid!r} was missing and has been restored")
        for note in notes:
            context.record.note(note)
            self.log.warning("[labgrader] %s: %s", context.student, note)
        return nb, resources
