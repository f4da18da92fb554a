"""The HTML pages the grader writes, rendered from the Jinja2 templates in this folder.

Every page shows text a student chose (ids, file names, messages, flags), so the environment
escapes every value by default (``autoescape``): a template that forgets nothing is safe, and
markup can only come from the template itself. A value a template does not receive is an
error (``StrictUndefined``), never an empty string.
"""
from __future__ import annotations

import functools
from typing import Any

import jinja2


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, loader=jinja2.PackageLoader("labgrader", "templates"),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["g"] = lambda number: f"{number:g}"  # a score or points: 8, 0.5, 1e+03
    return env


def render(name: str, **values: Any) -> str:
    """The template ``name`` of this folder, rendered with ``values``."""
    return environment().get_template(name).render(**values)
