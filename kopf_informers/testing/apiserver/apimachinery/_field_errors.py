"""Field errors: the causes of a 422 Invalid, worded as apimachinery's ``field.Error`` words them.

Where it sits: every validation module (``_objectmeta``, ``_schema_validation``,
``_crd_validation``) reports what is wrong as :class:`Cause` objects made by the constructors
here; the server puts them in ``details.causes`` of the ``Status`` and builds the top-level
message with :func:`invalid_message`. Bad values are rendered as Go renders them (``_gofmt``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ._gofmt import go_quote, go_value

# Causes' reasons (metav1.CauseType), as apimachinery's field.ErrorType spells them.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
TYPE_INVALID = "FieldValueTypeInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"

NO_FIELD = "<nil>"  # what the real server puts as the field of errors it cannot place


@dataclasses.dataclass(frozen=True)
class Cause:
    """One ``metav1.StatusCause``: what is wrong with one field. ``type`` is its JSON ``reason``.

    ``message`` is the body of the error without the field (``Invalid value: 3: ...``), exactly
    what the real server puts in ``details.causes[].message``; ``str(cause)`` prepends the field.
    """

    type: str
    message: str
    field: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"reason": self.type, "message": self.message, "field": self.field}


# Constructors named after apimachinery's field.Invalid(), field.Required(), ...


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(INVALID, _body("Invalid value", value, detail), field)


def type_invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(TYPE_INVALID, _body("Invalid value", value, detail), field)


def duplicate(field: str, value: Any) -> Cause:
    return Cause(DUPLICATE, _body("Duplicate value", value, ""), field)


def not_supported(field: str, value: Any, supported: Sequence[str]) -> Cause:
    detail = "supported values: " + ", ".join(map(go_quote, supported)) if supported else ""
    return Cause(NOT_SUPPORTED, _body("Unsupported value", value, detail), field)


def required(field: str, detail: str = "") -> Cause:
    return Cause(REQUIRED, f"Required value: {detail}" if detail else "Required value", field)


def forbidden(field: str, detail: str) -> Cause:
    return Cause(FORBIDDEN, f"Forbidden: {detail}" if detail else "Forbidden", field)


def too_long(field: str, max_length: int) -> Cause:
    unit = "byte" if max_length == 1 else "bytes"
    return Cause(TOO_LONG, f"Too long: may not be more than {max_length} {unit}", field)


def too_many(field: str, actual: int, max_count: int) -> Cause:
    unit = "item" if max_count == 1 else "items"
    return Cause(TOO_MANY, f"Too many: {actual}: must have at most {max_count} {unit}", field)


def invalid_message(kind: str, name: str, causes: Sequence[Cause], *, group: str = "") -> str:
    """The top-level message of a 422: ``Kind.group "name" is invalid: <causes>``.

    Several distinct causes are bracketed and comma-separated, duplicates dropped, as the
    apimachinery error aggregate prints them. ``kind`` may come qualified (``Foo.example.com``).
    """
    qualified = f"{kind}.{group}" if group else kind
    return f"{qualified} {go_quote(name)} is invalid: {_aggregate([str(c) for c in causes])}"


def _aggregate(messages: list[str]) -> str:
    if not messages:
        return "<nil>"
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def unplaced(detail: str) -> Cause:
    """An error kube-openapi returns without a field: the server renders it at ``<nil>``."""
    return invalid(NO_FIELD, "", detail)


def _body(label: str, value: Any, detail: str) -> str:
    text = f"{label}: {go_value(value)}"
    return f"{text}: {detail}" if detail else text
