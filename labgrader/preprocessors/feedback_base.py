"""A base for the preprocessors of `nbgrader generate_feedback`.

nbconvert's HTML exporter configures ``NbConvertBase.display_data_priority`` for every
preprocessor it runs; nbgrader's NbGraderPreprocessor redeclares that trait without
``config=True``, so traitlets warns once per preprocessor ("Config option
`display_data_priority` not recognized") on every feedback run. Declaring it configurable again
keeps an instructor's terminal free of warnings they did not cause.
"""
from nbgrader.preprocessors import ClearHiddenTests as _ClearHiddenTests
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List


class FeedbackPreprocessor(NbGraderPreprocessor):
    display_data_priority = List(NbGraderPreprocessor.display_data_priority.default_value).tag(config=True)


class ClearHiddenTests(_ClearHiddenTests):
    """nbgrader's ClearHiddenTests (jupyter/nbgrader#917), without the warning above."""
    display_data_priority = FeedbackPreprocessor.display_data_priority
