"""Take the working copy back from the sandbox once the kernel is gone, before nbgrader writes in it."""
import os

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from labgrader.context import context_of
from labgrader.safety import paths


class ReclaimWorkingCopy(NbGraderPreprocessor):
    """Runs right after the execution step, when the kernel and every process it started are dead.

    Student code could have replaced the notebook or put links, FIFOs, devices or huge sparse files
    in its working copy; nbgrader (as root) would then write the autograded notebook through them
    (``FilesWriter`` opens the path as it finds it), chmod their targets (``set_permissions``
    follows links) and copy them into feedback. This step hands the working copy back to root,
    removes every entry that is not a regular file or folder within the caps, and removes the
    notebook file itself, so nbgrader writes it as a fresh file in a folder the student can no
    longer write. Grading reads nothing from disk: the points of the cells that ran are kept."""

    max_file_bytes = Integer(paths.MAX_FILE_BYTES, config=True,
                             help="Largest file kept in a working copy (and so copied into feedback).")
    max_total_bytes = Integer(paths.MAX_TOTAL_BYTES, config=True,
                              help="Most bytes kept in a working copy, all files together.")

    def preprocess(self, nb, resources):
        workdir = resources.get("metadata", {}).get("path")
        if workdir:
            notebook = resources.get("unique_key", "") + resources.get("output_extension", ".ipynb")
            student = resources.get("nbgrader", {}).get("student")
            context = context_of(resources)
            for note in paths.reclaim(workdir, max_file_bytes=self.max_file_bytes,
                                      max_total_bytes=self.max_total_bytes, remove=[notebook]):
                if context is not None:
                    context.record.note(note)
                self.log.warning("[labgrader] %s: %s", student, note)
        return nb, resources
