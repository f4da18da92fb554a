"""The configuration and command-line references, generated at build time from the code itself.

As nbgrader's documentation generates its own from ``document_config_options``, the directive
``labgrader-config`` scans the ``labgrader`` package for traitlets ``Configurable`` subclasses and
writes, for each class with options of its own, every ``c.<Class>.<trait>`` with its type, default
and ``help=``. A new configurable class or trait appears without anyone retyping it. Each trait is
a cross-reference target: pages write {trait}`GradingKernelManager.ram_limit`, and the nitpicky
build fails when a page names a trait that does not exist.

The directive ``labgrader-cli`` renders ``--help`` of ``python -m labgrader`` and of each of its
commands, from the parser the command line itself uses (``labgrader.__main__.build_parser``).
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import re
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

# Modules that are not part of the library: JupyterHub configuration files (they call get_config())
# and the command-line entry points.
NOT_MODULES = (".jupyterhub_config", ".__main__")
INLINE_CODE = re.compile(r"``([^`]+)``|`([^`]+)`")


def configurables(package: str = "labgrader") -> list[type]:
    """Every Configurable subclass defined in ``package``, in module order (import errors are errors)."""
    from traitlets.config import Configurable
    root = importlib.import_module(package)
    found: list[type] = []
    for module_info in sorted(pkgutil.walk_packages(root.__path__, f"{package}."), key=lambda m: m.name):
        if module_info.name.endswith(NOT_MODULES):
            continue
        module = importlib.import_module(module_info.name)
        for _, cls in sorted(vars(module).items()):
            if inspect.isclass(cls) and issubclass(cls, Configurable) and cls.__module__ == module.__name__ \
                    and not cls.__name__.startswith("_"):
                found.append(cls)
    return found


def options(cls: type) -> dict[str, Any]:
    """The configurable traits the class itself adds or overrides."""
    return dict(sorted(cls.class_own_traits(config=True).items()))  # type: ignore[attr-defined]


def summary(cls: type) -> str:
    """The first paragraph of the class's own docstring, on one line (none: not its parent's)."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    return " ".join(doc.split("\n\n")[0].split())


def text_with_code(text: str) -> list[nodes.Node]:
    """Plain text whose ``code`` spans become literals (help strings are not parsed as markup)."""
    parts: list[nodes.Node] = []
    position = 0
    for match in INLINE_CODE.finditer(text):
        parts.append(nodes.Text(text[position:match.start()]))
        parts.append(nodes.literal(text=match.group(1) or match.group(2)))
        position = match.end()
    parts.append(nodes.Text(text[position:]))
    return parts


def default_text(trait: Any) -> str:
    try:
        return trait.default_value_repr()
    except Exception:  # a dynamic default: say so rather than guess
        return "(computed at start)"


class ConfigReference(SphinxDirective):
    """``labgrader-config``: one section per configurable class of labgrader."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        std = self.env.get_domain("std")
        sections: list[nodes.Node] = []
        plain: list[type] = []
        for cls in configurables():
            traits = options(cls)
            if not traits:
                plain.append(cls)
                continue
            section = nodes.section(ids=[nodes.make_id(f"config-{cls.__name__}")])
            section += nodes.title(text=cls.__name__)
            section += nodes.paragraph("", "", nodes.literal(text=f"{cls.__module__}.{cls.__name__}"),
                                       nodes.Text(f": {summary(cls)}" if summary(cls) else ""))
            items = nodes.definition_list()
            for name, trait in traits.items():
                target = f"{cls.__name__}.{name}"
                node_id = nodes.make_id(f"trait-{target}")
                term = nodes.term("", "", nodes.literal(text=f"c.{target}"))
                term["ids"].append(node_id)
                std.note_object("trait", target, node_id, location=self.get_location())
                body = nodes.definition()
                body += nodes.paragraph("", "", *text_with_code(" ".join((trait.help or "(no help)").split())))
                body += nodes.paragraph("", "", nodes.emphasis(text=type(trait).__name__),
                                        nodes.Text(", default "), nodes.literal(text=default_text(trait)))
                items += nodes.definition_list_item("", term, body)
            section += items
            sections.append(section)
        if plain:
            section = nodes.section(ids=["config-steps-without-options"])
            section += nodes.title(text="Configurable classes without options of their own")
            rows = nodes.bullet_list()
            for cls in plain:
                rows += nodes.list_item("", nodes.paragraph("", "", nodes.literal(text=f"{cls.__module__}.{cls.__name__}"),
                                                            nodes.Text(f": {summary(cls)}" if summary(cls) else "")))
            section += rows
            sections.append(section)
        return sections


class CommandLineReference(SphinxDirective):
    """``labgrader-cli``: ``--help`` of the command and of each subcommand, as a terminal shows it."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from labgrader.__main__ import build_parser
        os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: the same width on every machine
        parser = build_parser()
        blocks: list[nodes.Node] = [nodes.literal_block(text=parser.format_help(), language="text")]
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, sub in commands.choices.items():
            section = nodes.section(ids=[nodes.make_id(f"cli-{name}")])
            section += nodes.title(text=f"python -m labgrader {name}")
            section += nodes.literal_block(text=sub.format_help(), language="text")
            blocks.append(section)
        return blocks


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_crossref_type("trait", "trait", objname="configuration option")
    app.add_directive("labgrader-config", ConfigReference)
    app.add_directive("labgrader-cli", CommandLineReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
