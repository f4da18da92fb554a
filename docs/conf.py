"""Sphinx configuration: MyST Markdown pages, the PyData theme, and the configuration reference
and the command-line reference generated from the code (_ext/generated_reference.py). Built and checked by
grader_tests/docs/test_docs.py (warnings are errors, internal links checked)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))
sys.path.insert(0, os.path.dirname(HERE))  # labgrader, for the configuration reference

project = "labgrader"
author = "the labgrader developers"
copyright = "the labgrader developers"

extensions = ["myst_parser", "generated_reference"]
source_suffix = {".md": "markdown"}
root_doc = "index"
# docs/incoming/: other branches' notes, folded into the pages by whoever merges them
exclude_patterns = ["_build", "incoming", "README.md"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links are checked like any other
nitpicky = True

html_theme = "pydata_sphinx_theme"
html_title = "labgrader"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": [],
    "footer_end": [],
}
html_sidebars = {"**": []}  # the pages are all top-level: the navigation bar lists them
html_show_sourcelink = False
