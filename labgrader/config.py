"""nbgrader's configuration, read from the places plain ``nbgrader`` reads it.

``nbgrader autograde`` run from the course root merges, lowest priority first: the Jupyter config
path's ``nbgrader_config.py`` (system, the environment's prefix, the user's ``~/.jupyter``), the
current directory's, then the course root's (``NbGrader.load_config_file`` and ``initialize``).
The batch command and its workers read the same files in the same order, so both paths grade
with the same settings.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from traitlets.config import Config
from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

NAME = "nbgrader_config"


def config_paths(root: str | Path) -> list[str]:
    """Folders holding nbgrader config files, lowest priority first."""
    from jupyter_core.paths import jupyter_config_path
    ordered = list(reversed(jupyter_config_path())) + [os.getcwd(), str(root)]
    seen, unique = set(), []
    for path in reversed(ordered):  # a folder listed twice counts at its highest priority
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return list(reversed(unique))


def load_course_config(root: str | Path, db_url: str | None = None, settings: dict[str, dict[str, Any]] | None = None) -> Config:
    """The course's nbgrader configuration; ``settings`` ({section: {name: value}}) and ``db_url`` on top."""
    config = Config()
    for path in config_paths(root):
        for loader in (JSONFileConfigLoader(NAME + ".json", path=path), PyFileConfigLoader(NAME + ".py", path=path)):
            if os.path.isfile(os.path.join(path, loader.filename)):
                config.merge(loader.load_config())
    for section, values in (settings or {}).items():
        for name, value in values.items():
            config[section][name] = value
    if db_url:
        config.CourseDirectory.db_url = db_url
    return config
