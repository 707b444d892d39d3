"""Label and field selectors: parsed once, matched many times.

Both sides of the library filter objects the way Kubernetes does, and they share this module so
that they agree on every corner case:

* the embedded API server parses ``?labelSelector=`` and ``?fieldSelector=`` of list and watch
  requests and filters the objects (and each watch event) it sends back;
* the listers filter the objects of an informer's store with the same selectors.

The grammar and the semantics follow ``k8s.io/apimachinery/pkg/labels`` and ``.../fields``:

* ``!=`` and ``notin`` match objects that lack the label; ``=``, ``==`` and ``in`` need it;
* a field that an object lacks compares as ``""`` (Kubernetes field sets always hold every
  supported key);
* ``==`` is only another spelling of ``=``: it parses to :attr:`Operator.EQUALS`.

Matching is the hot path, so a selector is compiled when it is made: every label requirement
becomes ``(key, accepted values, expected)`` and :meth:`LabelSelector.matches` is one loop of
dictionary lookups and frozenset membership tests, with no regular expressions and no per-call
allocation. Parsing is cached, so parsing the same text again costs a dictionary lookup.

Everything that does not parse or validate raises :class:`~kopf_informers.errors.SelectorError`,
whose message names the selector and the problem.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, NamedTuple, final

from kopf_informers.errors import SelectorError

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "object_fields",
    "parse_field_selector",
    "parse_label_selector",
]


class Operator(enum.StrEnum):
    """The operators of selector requirements, valued as in ``k8s.io/apimachinery/.../selection``.

    Field selectors use only :attr:`EQUALS` and :attr:`NOT_EQUALS`. There is no ``DOUBLE_EQUALS``:
    ``==`` parses to :attr:`EQUALS`, because it means the same.
    """

    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


class Requirement(NamedTuple):
    """One requirement of a label selector: ``key``, an operator and its values.

    ``values`` is sorted and free of duplicates in every requirement that a selector holds. It has
    one value for ``=``, ``!=``, ``gt`` and ``lt``, at least one for ``in`` and ``notin``, and none
    for ``exists`` and ``!``.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        """The requirement in selector syntax, as Kubernetes renders it."""
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.operator in _SET_OPERATORS:
            # "()" would be an empty set, which does not parse; "(,)" is the set of "".
            values = "," if self.values == ("",) else ",".join(self.values)
            return f"{self.key} {self.operator} ({values})"
        return f"{self.key}{_LABEL_SYMBOLS[self.operator]}{self.values[0]}"


class FieldRequirement(NamedTuple):
    """One requirement of a field selector: ``key`` equals (or not) ``value``."""

    key: str
    operator: Operator
    value: str

    def __str__(self) -> str:
        """The requirement in selector syntax, with the value escaped as Kubernetes does."""
        return f"{self.key}{self.operator}{_escape_field_value(self.value)}"


_ALL_OPERATORS: Final = frozenset(Operator)
_SET_OPERATORS: Final = frozenset({Operator.IN, Operator.NOT_IN})
_SINGLE_VALUE_OPERATORS: Final = frozenset(
    {Operator.EQUALS, Operator.NOT_EQUALS, Operator.GREATER_THAN, Operator.LESS_THAN}
)
_NO_VALUE_OPERATORS: Final = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})
_FIELD_OPERATORS: Final = frozenset({Operator.EQUALS, Operator.NOT_EQUALS})
# All but the integer comparisons, which are rare and match in a separate, slower loop.
_LABEL_CHECK_OPERATORS: Final = _ALL_OPERATORS - {Operator.GREATER_THAN, Operator.LESS_THAN}
_LABEL_SYMBOLS: Final = {
    Operator.EQUALS: "=",
    Operator.NOT_EQUALS: "!=",
    Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
}
_METAV1_OPERATORS: Final = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


class _Problem(Exception):
    """What is wrong with a selector, before the entry point adds which selector it was."""


@contextlib.contextmanager
def _reporting(prefix: str) -> Iterator[None]:
    try:
        yield
    except _Problem as e:
        raise SelectorError(f"{prefix}: {e}") from None


def _quote(text: object) -> str:
    return f'"{text}"' if isinstance(text, str) else repr(text)


# ---------------------------------------------------------------------------------------------
# Validation of label keys and values (k8s.io/apimachinery/pkg/util/validation).
# Regular expressions run here, when a selector is made, never when it matches.

_NAME_RE: Final = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_LABEL_RE: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_RE: Final = re.compile(rf"{_LABEL_RE}(\.{_LABEL_RE})*")
_NAME_RULE: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)


def _check_label_key(key: object) -> str:
    if not isinstance(key, str):
        raise _Problem(f"key {_quote(key)} must be a string")
    parts = key.split("/")
    if len(parts) > 2:
        raise _Problem(f"key {_quote(key)} must be a name with an optional DNS subdomain prefix "
                       f"and '/', e.g. 'example.com/MyName'")
    if len(parts) == 2:
        _check_key_prefix(key, parts[0])
    _check_key_name(key, parts[-1])
    return key


def _check_key_prefix(key: str, prefix: str) -> None:
    if not prefix:
        raise _Problem(f"key {_quote(key)}: the prefix before '/' must be non-empty")
    if len(prefix) > 253:
        raise _Problem(f"key {_quote(key)}: the prefix must be no more than 253 characters")
    if not _SUBDOMAIN_RE.fullmatch(prefix):
        raise _Problem(f"key {_quote(key)}: the prefix must be a lowercase RFC 1123 subdomain: "
                       f"lowercase alphanumeric characters, '-' or '.', starting and ending "
                       f"with an alphanumeric character")


def _check_key_name(key: str, name: str) -> None:
    if not name:
        raise _Problem(f"key {_quote(key)}: the name must be non-empty")
    if len(name) > 63:
        raise _Problem(f"key {_quote(key)}: the name must be no more than 63 characters")
    if not _NAME_RE.fullmatch(name):
        raise _Problem(f"key {_quote(key)}: the name {_NAME_RULE}")


def _check_label_value(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise _Problem(f"value {_quote(value)} of key {_quote(key)} must be a string")
    if len(value) > 63:
        raise _Problem(f"value {_quote(value)} of key {_quote(key)} "
                       f"must be no more than 63 characters")
    if value and not _NAME_RE.fullmatch(value):
        raise _Problem(f"value {_quote(value)} of key {_quote(key)} must be empty or {_NAME_RULE}")
    return value


def _check_arity(key: str, operator: Operator, values: tuple[str, ...]) -> None:
    if operator in _SET_OPERATORS and not values:
        raise _Problem(f"key {_quote(key)}: the values set of '{operator}' can't be empty")
    if operator in _NO_VALUE_OPERATORS and values:
        raise _Problem(f"key {_quote(key)}: the values set must be empty for '{operator}', "
                       f"got {list(values)}")
    if operator in _SINGLE_VALUE_OPERATORS and len(values) != 1:
        raise _Problem(f"key {_quote(key)}: '{operator}' requires exactly one value, "
                       f"got {list(values)}")
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN) and _int64(values[0]) is None:
        raise _Problem(f"key {_quote(key)}: the value of '{operator}' must be an integer, "
                       f"got {_quote(values[0])}")


def _int64(text: str | None) -> int | None:
    """Parse like Go's ``strconv.ParseInt(text, 10, 64)``; ``None`` where it would fail."""
    if text is None:
        return None
    digits = text[1:] if text.startswith(("+", "-")) else text
    if not (digits.isascii() and digits.isdigit()):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def _label_requirement(key: object, operator: object, values: Iterable[object]) -> Requirement:
    """Validate and normalise one requirement; raise :class:`_Problem` if it is not valid."""
    if not isinstance(operator, str) or operator not in _ALL_OPERATORS:
        raise _Problem(f"{_quote(operator)} is not a label selector operator")
    checked_key = _check_label_key(key)
    unique = tuple(sorted({_check_label_value(checked_key, value) for value in values}))
    _check_arity(checked_key, Operator(operator), unique)
    return Requirement(checked_key, Operator(operator), unique)


# ---------------------------------------------------------------------------------------------
# The label selector grammar (k8s.io/apimachinery/pkg/labels/selector.go, Parser).
# Tokens are plain strings: a symbol, an identifier, or "" for the end of the text.
# "in" and "notin" are keywords only where an operator is expected, as in Kubernetes.

_TOKEN_RE: Final = re.compile(r"!=|==|[!=<>(),]|[^ \t\r\n!=<>(),]+")
_SYMBOLS: Final = frozenset({"!=", "==", "!", "=", "<", ">", "(", ")", ","})
_END: Final = ""
_OPERATOR_TOKENS: Final = {
    "=": Operator.EQUALS,
    "==": Operator.EQUALS,
    "!=": Operator.NOT_EQUALS,
    "in": Operator.IN,
    "notin": Operator.NOT_IN,
    ">": Operator.GREATER_THAN,
    "<": Operator.LESS_THAN,
}


def _is_identifier(token: str) -> bool:
    return token != _END and token not in _SYMBOLS


def _describe(token: str) -> str:
    return "end of string" if token == _END else _quote(token)


class _LabelParser:
    """A recursive-descent parser of one label selector string; one instance per parse."""

    def __init__(self, text: str) -> None:
        self._tokens = _TOKEN_RE.findall(text)
        self._position = 0

    def _peek(self) -> str:
        tokens, position = self._tokens, self._position
        return tokens[position] if position < len(tokens) else _END

    def _next(self) -> str:
        token = self._peek()
        self._position += 1
        return token

    def parse(self) -> list[Requirement]:
        if not self._tokens:
            return []
        requirements = [self._requirement()]
        while (token := self._next()) == ",":
            requirements.append(self._requirement())
        if token != _END:
            raise _Problem(f"expected ',' or end of string, found {_describe(token)}")
        return requirements

    def _requirement(self) -> Requirement:
        token = self._next()
        if token == "!":
            return _label_requirement(self._key(self._next()), Operator.DOES_NOT_EXIST, ())
        key = self._key(token)
        if self._peek() in (",", _END):
            return _label_requirement(key, Operator.EXISTS, ())
        operator = self._operator(key)
        values = self._values_set(operator) if operator in _SET_OPERATORS else [self._value()]
        return _label_requirement(key, operator, values)

    def _key(self, token: str) -> str:
        if not _is_identifier(token):
            raise _Problem(f"expected a key, found {_describe(token)}")
        return token

    def _operator(self, key: str) -> Operator:
        token = self._next()
        if token not in _OPERATOR_TOKENS:
            raise _Problem(f"expected an operator (=, ==, !=, in, notin, >, <) after key "
                           f"{_quote(key)}, found {_describe(token)}")
        return _OPERATOR_TOKENS[token]

    def _value(self) -> str:
        if self._peek() in (",", _END):
            return ""  # "key=" selects the empty value
        token = self._next()
        if not _is_identifier(token):
            raise _Problem(f"expected a value, found {_describe(token)}")
        return token

    def _values_set(self, operator: Operator) -> list[str]:
        token = self._next()
        if token != "(":
            raise _Problem(f"expected '(' after '{operator}', found {_describe(token)}")
        values: list[str] = []
        current: str | None = None  # the value since the last comma; None if none yet
        while (token := self._next()) != ")":
            if token == _END:
                raise _Problem("unclosed parenthesis")
            if token == ",":
                values.append(current or "")  # "(a,)" and "(,a)" hold the empty value
                current = None
            elif current is None and _is_identifier(token):
                current = token
            else:
                raise _Problem(f"expected a value, ',' or ')', found {_describe(token)}")
        if current is not None or values:
            values.append(current or "")
        return values


# ---------------------------------------------------------------------------------------------
# Label selectors.

_ABSENT: Final = object()  # what a label lookup gives for a missing key; no label value is it
_NO_LABELS: Final[Mapping[str, str]] = {}

# (key, accepted values, expected membership): matches if (labels.get(key) in accepted) is expected.
_LabelCheck = tuple[str, frozenset[object], bool]
# (key, is greater-than, bound) for the rare 'gt' and 'lt' operators.
_Comparison = tuple[str, bool, int]


def _compile_label_check(requirement: Requirement) -> _LabelCheck:
    key, operator, values = requirement
    if operator is Operator.EXISTS:
        return key, frozenset({_ABSENT}), False
    if operator is Operator.DOES_NOT_EXIST:
        return key, frozenset({_ABSENT}), True
    return key, frozenset(values), operator in (Operator.EQUALS, Operator.IN)


@final
class LabelSelector:
    """An immutable, hashable, precompiled label selector.

    Make one with :meth:`parse`, :meth:`from_dict`, :meth:`from_labels`, or from requirements;
    ``LabelSelector()`` selects everything. Two selectors are equal if they have the same
    requirements regardless of order; ``str()`` gives the canonical text (requirements sorted by
    key, values sorted), which parses back to an equal selector.

    Raises :class:`~kopf_informers.errors.SelectorError` for invalid keys, values or operators.
    """

    __slots__ = ("_checks", "_comparisons", "_hash", "_requirements")

    def __init__(self, requirements: Iterable[Requirement] = ()) -> None:
        with _reporting("invalid label selector"):
            checked = sorted(_label_requirement(*requirement) for requirement in requirements)
        self._requirements: tuple[Requirement, ...] = tuple(checked)
        self._checks: tuple[_LabelCheck, ...] = tuple(
            _compile_label_check(r) for r in checked if r.operator in _LABEL_CHECK_OPERATORS
        )
        self._comparisons: tuple[_Comparison, ...] = tuple(
            (r.key, r.operator is Operator.GREATER_THAN, int(r.values[0]))
            for r in checked if r.operator not in _LABEL_CHECK_OPERATORS
        )
        self._hash = hash(self._requirements)

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse the string syntax: ``"app=web,tier in (a,b),!legacy"``; ``""`` selects all."""
        if not isinstance(text, str):
            raise SelectorError(f"a label selector must be a string, got {_quote(text)}")
        return _parse_label_text(text)

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any]) -> LabelSelector:
        """Make a selector from a ``metav1.LabelSelector`` (``matchLabels``, ``matchExpressions``).

        ``{}`` selects everything. Only the ``In``, ``NotIn``, ``Exists`` and ``DoesNotExist``
        operators exist in this form.
        """
        with _reporting(f"invalid label selector {_quote(selector)}"):
            return cls(_requirements_from_dict(selector))

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        """Make a selector that requires each of these labels to have exactly its value."""
        with _reporting(f"invalid label selector {_quote(labels)}"):
            return cls([_label_requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items()])

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        """The requirements, sorted by key (then operator and values)."""
        return self._requirements

    @property
    def is_empty(self) -> bool:
        """Whether the selector has no requirements, and so selects everything."""
        return not self._requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether labels (``None`` means no labels) satisfy every requirement."""
        get = (_NO_LABELS if labels is None else labels).get
        for key, accepted, expected in self._checks:
            if (get(key, _ABSENT) in accepted) is not expected:
                return False
        return not self._comparisons or self._compare(labels or _NO_LABELS)

    def _compare(self, labels: Mapping[str, str]) -> bool:
        for key, greater, bound in self._comparisons:
            number = _int64(labels.get(key))
            if number is None or not (number > bound if greater else number < bound):
                return False
        return True

    def __str__(self) -> str:
        return ",".join(map(str, self._requirements))

    def __repr__(self) -> str:
        return f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return self._requirements == other._requirements

    def __hash__(self) -> int:
        return self._hash



@functools.lru_cache(maxsize=1024)
def _parse_label_text(text: str) -> LabelSelector:
    with _reporting(f"invalid label selector {_quote(text)}"):
        return LabelSelector(_LabelParser(text).parse())


def _requirements_from_dict(selector: object) -> list[Requirement]:
    if not isinstance(selector, Mapping):
        raise _Problem("expected a mapping with matchLabels and/or matchExpressions")
    _reject_unknown_fields(selector, {"matchLabels", "matchExpressions"})
    labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(labels, Mapping):
        raise _Problem(f"matchLabels must be a mapping, got {_quote(labels)}")
    if not isinstance(expressions, list | tuple):
        raise _Problem(f"matchExpressions must be a list, got {_quote(expressions)}")
    requirements = [_label_requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items()]
    requirements.extend(_expression_requirement(expression) for expression in expressions)
    return requirements


def _expression_requirement(expression: object) -> Requirement:
    if not isinstance(expression, Mapping):
        raise _Problem(f"a match expression must be a mapping, got {_quote(expression)}")
    _reject_unknown_fields(expression, {"key", "operator", "values"})
    operator = expression.get("operator")
    if operator not in _METAV1_OPERATORS:
        raise _Problem(f"{_quote(operator)} is not a valid label selector operator; "
                       f"expected one of {', '.join(_METAV1_OPERATORS)}")
    values = expression.get("values") or []
    if not isinstance(values, list | tuple):
        raise _Problem(f"values must be a list of strings, got {_quote(values)}")
    return _label_requirement(expression.get("key"), _METAV1_OPERATORS[operator], values)


def _reject_unknown_fields(mapping: Mapping[Any, Any], known: set[str]) -> None:
    unknown = sorted(map(str, set(mapping) - known))
    if unknown:
        raise _Problem(f"unknown field(s) {', '.join(unknown)}; expected only "
                       f"{', '.join(sorted(known))}")


# ---------------------------------------------------------------------------------------------
# Field selectors (k8s.io/apimachinery/pkg/fields/selector.go).
# Values escape '\', ',' and '=' with a backslash; keys are never escaped.

_FIELD_KEY_FORBIDDEN: Final = frozenset(",=!\\ \t\r\n")


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


_FIELD_ESCAPE_RE: Final = re.compile(r"\\(.?)|[,=]", re.DOTALL)


def _unescape_field_value(value: str) -> str:
    def unescape(match: re.Match[str]) -> str:
        escaped = match.group(1)
        if escaped is None:
            raise _Problem(f"unescaped {_quote(match.group())} in value {_quote(value)}; "
                           f"escape it with a backslash")
        if not escaped:
            raise _Problem(f"value {_quote(value)} ends with an unfinished escape sequence")
        if escaped not in "\\,=":
            raise _Problem(f"invalid escape sequence {_quote(match.group())} in value "
                           f"{_quote(value)}")
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
        raise _Problem(f"{_quote(term)} is not key=value, key==value or key!=value")
    if index > 0 and term[index - 1] == "!":
        key, operator, value = term[: index - 1], Operator.NOT_EQUALS, term[index + 1 :]
    elif term.startswith("=", index + 1):
        key, operator, value = term[:index], Operator.EQUALS, term[index + 2 :]
    else:
        key, operator, value = term[:index], Operator.EQUALS, term[index + 1 :]
    return _field_requirement(_check_field_key(key), operator, _unescape_field_value(value))


def _field_requirement(key: object, operator: object, value: object) -> FieldRequirement:
    """Validate one requirement; raise :class:`_Problem` if it is not valid."""
    if not isinstance(operator, str) or operator not in _FIELD_OPERATORS:
        raise _Problem(f"{_quote(operator)} is not a field selector operator; expected = or !=")
    checked_key = _check_field_key(key)
    if not isinstance(value, str):
        raise _Problem(f"value {_quote(value)} of field {_quote(key)} must be a string")
    return FieldRequirement(checked_key, Operator(operator), value)


def _check_field_key(key: object) -> str:
    if not isinstance(key, str) or not key or not _FIELD_KEY_FORBIDDEN.isdisjoint(key):
        raise _Problem(f"field key {_quote(key)} must be a non-empty string without "
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
        with _reporting("invalid field selector"):
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
            raise SelectorError(f"a field selector must be a string, got {_quote(text)}")
        return _parse_field_text(text)

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> FieldSelector:
        """Make a selector that requires each of these fields to have exactly its value."""
        with _reporting(f"invalid field selector {_quote(fields)}"):
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
    with _reporting(f"invalid field selector {_quote(text)}"):
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


def parse_label_selector(
    selector: str | Mapping[str, Any] | LabelSelector | None,
) -> LabelSelector:
    """Accept a selector in any form an API takes: a string, a ``metav1.LabelSelector`` dict,
    a ready :class:`LabelSelector`, or ``None`` (which selects everything).

    Raises :class:`~kopf_informers.errors.SelectorError` for anything else or anything invalid.
    """
    if selector is None:
        return _EVERYTHING_LABELS
    if isinstance(selector, LabelSelector):
        return selector
    if isinstance(selector, str):
        return LabelSelector.parse(selector)
    if isinstance(selector, Mapping):
        return LabelSelector.from_dict(selector)
    raise SelectorError(f"a label selector must be a string, a mapping or None, "
                        f"got {type(selector).__name__} {_quote(selector)}")


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
                        f"got {type(selector).__name__} {_quote(selector)}")


_EVERYTHING_LABELS: Final = LabelSelector()
_EVERYTHING_FIELDS: Final = FieldSelector()
