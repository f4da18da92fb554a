"""nbgrader's CheckCellMetadata, with the schema's own check done once per process.

nbgrader validates each cell's metadata with ``jsonschema.validate(meta, schema)``, which first
checks the *schema* against the JSON Schema meta-schema, on every call: two runs over a
38-cell notebook cost about 0.6 s of the grader's CPU per submission. Here the same schema
(nbgrader's own v3.json) is checked once and compiled into one validator; every cell is still
validated, by nbgrader's MetadataValidatorV3 (grade ids, points, duplicates, cell types), with
the same errors (``jsonschema.exceptions.best_match``, as ``jsonschema.validate`` raises).
"""
import traceback

import jsonschema
from jsonschema.exceptions import best_match
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator, SchemaTooNewError, SchemaTooOldError
from nbgrader.preprocessors import CheckCellMetadata as NbgraderCheckCellMetadata

_compiled: dict = {}  # schema version -> validator whose schema was checked once


class _CompiledSchema(BaseMetadataValidator):
    """BaseMetadataValidator.validate_cell with a validator built once (same checks, same errors)."""

    def validate_cell(self, cell):
        if "nbgrader" not in cell.metadata:
            return
        schema = cell.metadata["nbgrader"].get("schema_version", 0)
        if schema < self.schema_version:
            raise SchemaTooOldError("Outdated schema version: {} (expected {})".format(schema, self.schema_version),
                                    schema, self.schema_version)
        if schema > self.schema_version:
            raise SchemaTooNewError("Schema version is too new: {} (expected {})".format(schema, self.schema_version),
                                    schema, self.schema_version)
        validator = _compiled.get(self.schema_version)
        if validator is None:
            cls = jsonschema.validators.validator_for(self.schema)
            cls.check_schema(self.schema)
            validator = _compiled[self.schema_version] = cls(self.schema)
        error = best_match(validator.iter_errors(cell.metadata["nbgrader"]))
        if error is not None:
            raise error


class FastMetadataValidator(MetadataValidator, _CompiledSchema):
    """nbgrader's MetadataValidatorV3, whose ``super().validate_cell`` lands on _CompiledSchema."""


class CheckCellMetadata(NbgraderCheckCellMetadata):
    """nbgrader's CheckCellMetadata (same checks, same log lines and error), validator compiled once."""

    def preprocess(self, nb, resources):
        try:
            FastMetadataValidator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg)
        return nb, resources
