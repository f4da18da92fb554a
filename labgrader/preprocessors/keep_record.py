"""The last step of each autograde pass: the notebook's record, kept in its metadata."""
from nbgrader.preprocessors import NbGraderPreprocessor

from labgrader.context import context_of
from labgrader.record import METADATA_KEY


class KeepRecord(NbGraderPreprocessor):
    """Writes the context's NotebookRecord into ``metadata.labgrader`` of the notebook nbgrader
    is about to write (after ClearMetadataPreprocessor, which would drop it). The sanitize pass's
    record reaches the autograde pass this way, and the autograded notebook keeps the final one,
    which the batch, the summary and the class report read on both paths. Stock nbgrader tests (no
    lab) keep a record too once graded: their checks (RecordChecks)."""

    def preprocess(self, nb, resources):
        context = context_of(resources)
        if context is not None and (context.lab is not None or context.record.checks):
            nb.metadata[METADATA_KEY] = context.record.to_metadata()
        return nb, resources
