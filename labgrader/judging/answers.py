"""One test cell's export, as the judge sees it: values decoded, Keras objects rebuilt on demand."""
from __future__ import annotations

from typing import Any

from labgrader.errors import LabgraderError

from .keras_models import NotGradable, Rebuilder
from .values import Value, decode

__all__ = ["Answers", "NotGradable", "UnknownName"]


class UnknownName(LabgraderError, LookupError):
    """A judge asked for a name the hidden test cell does not hand over: a bug of the lab."""


class Answers:
    """The answers a hidden test cell handed over (``answers``) and the lab's own objects pinned
    before student code (``lab``), from one validated export (``labgrader.judging.protocol``).

    ``value(name)`` is what the kernel said about a name; ``keras(name)`` the Keras object rebuilt
    from built-in classes (NotGradable, with a sentence for the student, when it cannot be). The
    objects of one export are rebuilt together, so identity is preserved: two rebuilt models
    share a layer object exactly when the export says they do.
    """

    def __init__(self, export: dict, allowed_layers: set[str] | None = None, changed: dict[str, str] | None = None):
        self.grade_id: str = export["grade_id"]
        self.evidence: list[str] = list(export["evidence"])
        self._answers = {name: decode(value) for name, value in export["answers"].items()}
        self._lab = {name: decode(value) for name, value in export["lab"].items()}
        self._changed = dict(changed or {})  # pinned names that are not what the lab's cells built -> why
        self._rebuilder = Rebuilder(export["objects"], allowed_layers)

    def names(self) -> list[str]:
        return list(self._answers)

    def value(self, name: str) -> Value:
        if name not in self._answers:
            raise UnknownName(f"the test cell hands over no answer {name!r} (it hands over {sorted(self._answers)})")
        return self._answers[name]

    def lab_value(self, name: str) -> Value:
        """What the lab's own cells bound to ``name`` (pinned); NotGradable when that is not what
        the instructor's run of the same cells built (student code got in the way)."""
        if name in self._changed:
            raise NotGradable(self._changed[name])
        if name not in self._lab:
            raise UnknownName(f"the lab pins no object {name!r} (Lab.pinned_names)")
        value = self._lab[name]
        if value.kind == "undefined":
            raise NotGradable(f"{name} was not built: the lab cell that builds it failed or did not run; "
                              "run the notebook from the top without changing the lab's cells")
        return value

    def keras(self, name: str) -> Any:
        """The rebuilt Keras object answering ``name`` (NotGradable if it is none)."""
        return self._object(self.value(name), name)

    def lab(self, name: str) -> Any:
        """The rebuilt Keras object the lab's own cells bound to ``name`` (pinned before student code)."""
        return self._object(self.lab_value(name), name)

    def rebuilt(self, ref: str) -> Any:
        """The Keras object ``ref`` of this export, rebuilt (NotGradable when it cannot be)."""
        return self._rebuilder.get(ref)

    def pinned(self) -> bool:
        """Whether the lab's objects were pinned (an export from the grader, not a notebook run by hand)."""
        return bool(self._lab)

    def _object(self, value: Value, name: str) -> Any:
        if value.kind != "object":
            raise NotGradable(f"{name} is not a Keras model or layer")
        return self._rebuilder.get(value.ref)

    def describe(self, name: str) -> dict:
        """The class (as exported: module and qualified name) and model kind of an object answer,
        without rebuilding it: {"class": ..., "model": "sequential" | "functional" | "subclassed" | None}."""
        value = self.value(name)
        node = self._rebuilder.objects.get(value.ref, {}) if value.kind == "object" else {}
        return {"class": str(node.get("class", "")), "model": node.get("model")}

    def same_object(self, first: Value, second: Value) -> bool:
        return first.kind == second.kind == "object" and first.ref == second.ref
