"""labgrader's HTML, as Jinja2 templates: data in, markup out, every value escaped unless a
template marks it safe (autoescape), so a student's text (ids, messages, file names) can never
become markup by a forgotten escape call. One environment for every page."""
from __future__ import annotations

import functools

import jinja2


@functools.cache
def environment() -> jinja2.Environment:
    """The shared environment: templates from this package, autoescape on, an undefined name an error."""
    return jinja2.Environment(autoescape=True, loader=jinja2.PackageLoader("labgrader", "templates"),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)
