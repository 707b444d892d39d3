"""Validation, pruning and defaulting of the objects the embedded API server stores.

Where it sits: the registry validates every object with :func:`validate_metadata`; a custom
resource version's strategy calls :func:`apply_defaults`, :func:`prune` (its pruned paths drive
``fieldValidation=Strict`` and ``Warn``) and :func:`validate_custom_object`; the strategy of
CustomResourceDefinitions calls :func:`validate_crd`. Any :class:`Cause` fails the request
with 422 Invalid, whose message :func:`invalid_message` builds. Everything here is pure: no
I/O, and inputs are never mutated (the results are fresh containers).

The field paths, reasons and messages are those of kube-apiserver 1.35: ``field.Error`` bodies
from apimachinery, the detail texts of kube-openapi's schema validator, and apiextensions'
pruning and defaulting algorithms, quirks included (for example, errors of ``anyOf``/``oneOf``/
``allOf``/``not`` carry the field ``<nil>``, as the real server sends them). Caveats:

* ``pattern`` is matched with Python's :mod:`re`, not RE2: ``\\p{L}``-style classes fail to
  compile (reported as an invalid pattern, as the real server reports uncompilable ones).
* ``format`` checks are close approximations of go-openapi's; ``isbn*`` and ``creditcard``
  are not checked. CEL rules (``x-kubernetes-validations``), list types and ratcheting are not
  implemented; the metadata of embedded resources is not validated.

The work is split by concept; this module is the facade the server imports, and re-exports::

    _field_errors       Cause, its constructors (invalid(), required(), ...), invalid_message()
    _gofmt              values as Go prints them (%v, %q, json.Marshal), for the messages
    _names              DNS-1123/DNS-1035 names, label keys and values, validate_object_name()
    _objectmeta         validate_metadata()
    _pruning            apply_defaults(), prune()
    _schema_validation  validate_custom_object(), with string formats in _formats
    _crd_validation     validate_crd()
"""

from __future__ import annotations

from ..apimachinery._field_errors import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    NO_FIELD,
    NOT_SUPPORTED,
    REQUIRED,
    TOO_LONG,
    TOO_MANY,
    TYPE_INVALID,
    Cause,
    duplicate,
    forbidden,
    invalid,
    invalid_message,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)
from ..apimachinery._names import validate_object_name
from ._crd_validation import validate_crd
from ._objectmeta import ANNOTATIONS_SIZE_LIMIT, validate_metadata
from ._pruning import apply_defaults, prune
from ._schema_validation import META_FIELDS, Schema, validate_custom_object

__all__ = [
    "ANNOTATIONS_SIZE_LIMIT",
    "DUPLICATE",
    "FORBIDDEN",
    "INVALID",
    "META_FIELDS",
    "NOT_SUPPORTED",
    "NO_FIELD",
    "REQUIRED",
    "TOO_LONG",
    "TOO_MANY",
    "TYPE_INVALID",
    "Cause",
    "Schema",
    "apply_defaults",
    "duplicate",
    "forbidden",
    "invalid",
    "invalid_message",
    "not_supported",
    "prune",
    "required",
    "too_long",
    "too_many",
    "type_invalid",
    "validate_crd",
    "validate_custom_object",
    "validate_metadata",
    "validate_object_name",
]
