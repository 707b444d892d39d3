"""Field selectors, and the field sets of objects that they match against.

Where it sits: :mod:`kopf_informers.selectors` re-exports the public names; the embedded API
server filters lists and watches with :class:`FieldSelector` over :func:`object_fields`. The
grammar and semantics are those of ``k8s.io/apimachinery/pkg/fields`` (see
:mod:`kopf_informers.selectors`): only ``=``, ``==`` and ``!=``, values escaped with a backslash,
and a field that an object lacks compares as ``""``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple, final

from kopf_informers.errors import SelectorError

from ._selection import Operator, Problem, quote, reporting


class FieldRequirement(NamedTuple):
    """One requirement of a field selector: ``key`` equals (or not) ``value``."""

    key: str
    operator: Operator
    value: str

    def __str__(self) -> str:
        """The requirement in selector syntax, with the value escaped as Kubernetes does."""
        return f"{self.key}{self.operator}{_escape_field_value(self.value)}"


_FIELD_OPERATORS: Final = frozenset({Operator.EQUALS, Operator.NOT_EQUALS})
_FIELD_KEY_FORBIDDEN: Final = frozenset(",=!\\ \t\r\n")


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


_FIELD_ESCAPE_RE: Final = re.compile(r"\\(.?)|[,=]", re.DOTALL)


def _unescape_field_value(value: str) -> str:
    def unescape(match: re.Match[str]) -> str:
        escaped = match.group(1)
        if escaped is None:
            raise Problem(f"unescaped {quote(match.group())} in value {quote(value)}; "
                           f"escape it with a backslash")
        if not escaped:
            raise Problem(f"value {quote(value)} ends with an unfinished escape sequence")
        if escaped not in "\\,=":
            raise Problem(f"invalid escape sequence {quote(match.group())} in value "
                           f"{quote(value)}")
        return escaped

    return _FIELD_ESCAPE_RE.sub(unescape, value)


def _split_field_terms(text: str) -> list[str]:
    """Split at commas that are not escaped with a backslash."""
    terms: list[str] = []
    start = 0
    escaping = False
    for index, c in enumerate(text):
        if escaping:
            escaping = False
        elif c == "\\":
            escaping = True
        elif c == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _parse_field_term(term: str) -> FieldRequirement:
    """Split ``key=value``, ``key==value`` or ``key!=value`` at the first operator."""
    index = term.find("=")
    if index < 0:
        raise Problem(f"{quote(term)} is not key=value, key==value or key!=value")
    if index > 0 and term[index - 1] == "!":
        key, operator, value = term[: index - 1], Operator.NOT_EQUALS, term[index + 1 :]
    elif term.startswith("=", index + 1):
        key, operator, value = term[:index], Operator.EQUALS, term[index + 2 :]
    else:
        key, operator, value = term[:index], Operator.EQUALS, term[index + 1 :]
    return _field_requirement(_check_field_key(key), operator, _unescape_field_value(value))


def _field_requirement(key: object, operator: object, value: object) -> FieldRequirement:
    """Validate one requirement; raise :class:`Problem` if it is not valid."""
    if not isinstance(operator, str) or operator not in _FIELD_OPERATORS:
        raise Problem(f"{quote(operator)} is not a field selector operator; expected = or !=")
    checked_key = _check_field_key(key)
    if not isinstance(value, str):
        raise Problem(f"value {quote(value)} of field {quote(key)} must be a string")
    return FieldRequirement(checked_key, Operator(operator), value)


def _check_field_key(key: object) -> str:
    if not isinstance(key, str) or not key or not _FIELD_KEY_FORBIDDEN.isdisjoint(key):
        raise Problem(f"field key {quote(key)} must be a non-empty string without "
                       f"whitespace, ',', '=', '!' or '\\'")
    return key


# (key, value, expected equality): matches if (fields.get(key, "") == value) is expected.
_FieldCheck = tuple[str, str, bool]


@final
class FieldSelector:
    """An immutable, hashable, precompiled field selector.

    Make one with :meth:`parse`, :meth:`from_fields`, or from requirements; ``FieldSelector()``
    selects everything. :attr:`keys` tells which fields it reads, so that a server can reject the
    fields it does not support. Equality and ``str()`` work as for :class:`LabelSelector`.

    Raises :class:`~kopf_informers.errors.SelectorError` for invalid keys, values or operators.
    """

    __slots__ = ("_checks", "_hash", "_keys", "_requirements")

    def __init__(self, requirements: Iterable[FieldRequirement] = ()) -> None:
        with reporting("invalid field selector"):
            checked = sorted(_field_requirement(*requirement) for requirement in requirements)
        self._requirements: tuple[FieldRequirement, ...] = tuple(checked)
        self._checks: tuple[_FieldCheck, ...] = tuple(
            (r.key, r.value, r.operator is Operator.EQUALS) for r in checked
        )
        self._keys = frozenset(r.key for r in checked)
        self._hash = hash(self._requirements)

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        """Parse ``"metadata.name=x,status.phase!=Running"``; ``""`` selects everything."""
        if not isinstance(text, str):
            raise SelectorError(f"a field selector must be a string, got {quote(text)}")
        return _parse_field_text(text)

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> FieldSelector:
        """Make a selector that requires each of these fields to have exactly its value."""
        with reporting(f"invalid field selector {quote(fields)}"):
            return cls([_field_requirement(k, Operator.EQUALS, v) for k, v in fields.items()])

    @property
    def requirements(self) -> tuple[FieldRequirement, ...]:
        """The requirements, sorted by key (then operator and value)."""
        return self._requirements

    @property
    def keys(self) -> frozenset[str]:
        """The field keys that the requirements read."""
        return self._keys

    @property
    def is_empty(self) -> bool:
        """Whether the selector has no requirements, and so selects everything."""
        return not self._requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether the fields satisfy every requirement; a missing field compares as ``""``."""
        get = fields.get
        for key, value, expected in self._checks:  # noqa: SIM110 -- faster than all() here
            if (get(key, "") == value) is not expected:
                return False
        return True

    def __str__(self) -> str:
        return ",".join(map(str, self._requirements))

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self._requirements == other._requirements

    def __hash__(self) -> int:
        return self._hash


@functools.lru_cache(maxsize=1024)
def _parse_field_text(text: str) -> FieldSelector:
    with reporting(f"invalid field selector {quote(text)}"):
        # Empty terms are skipped, as in Kubernetes: "", "a=b," and "a=b,,c=d" are all valid.
        terms = [term for term in _split_field_terms(text) if term]
        return FieldSelector([_parse_field_term(term) for term in terms])


def object_fields(obj: Mapping[str, Any], extra_paths: Iterable[str] = ()) -> dict[str, str]:
    """The field set of an object, to match field selectors against.

    It always has ``metadata.name`` and ``metadata.namespace``, plus each of ``extra_paths``
    (dotted, e.g. ``status.phase`` or ``involvedObject.uid``). A missing field is ``""``, as is
    anything that is not a scalar (Kubernetes only allows strings, integers and booleans as
    selectable fields). Booleans render as ``true``/``false`` and integers in decimal.
    """
    paths = ("metadata.name", "metadata.namespace", *extra_paths)
    return {path: _render_field(_lookup_path(obj, path)) for path in paths}


def _lookup_path(obj: Mapping[str, Any], path: str) -> object:
    value: object = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _render_field(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return ""


def parse_field_selector(selector: str | FieldSelector | None) -> FieldSelector:
    """Accept a field selector string, a ready :class:`FieldSelector`, or ``None`` (everything).

    Raises :class:`~kopf_informers.errors.SelectorError` for anything else or anything invalid.
    """
    if selector is None:
        return _EVERYTHING_FIELDS
    if isinstance(selector, FieldSelector):
        return selector
    if isinstance(selector, str):
        return FieldSelector.parse(selector)
    raise SelectorError(f"a field selector must be a string or None, "
                        f"got {type(selector).__name__} {quote(selector)}")


_EVERYTHING_FIELDS: Final = FieldSelector()
