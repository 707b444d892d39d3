"""Label selectors: parsed and validated once, compiled into a loop of lookups, matched often.

Where it sits: :mod:`kopf_informers.selectors` re-exports the public names; the embedded API
server and the listers filter objects with :class:`LabelSelector`. The grammar and semantics
are those of ``k8s.io/apimachinery/pkg/labels`` (see :mod:`kopf_informers.selectors`); keys and
values are validated as ``k8s.io/apimachinery/pkg/util/validation`` validates them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple, final

from kopf_informers.errors import SelectorError

from ._selection import Operator, Problem, quote, reporting


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


_ALL_OPERATORS: Final = frozenset(Operator)
_SET_OPERATORS: Final = frozenset({Operator.IN, Operator.NOT_IN})
_SINGLE_VALUE_OPERATORS: Final = frozenset(
    {Operator.EQUALS, Operator.NOT_EQUALS, Operator.GREATER_THAN, Operator.LESS_THAN}
)
_NO_VALUE_OPERATORS: Final = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})
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
        raise Problem(f"key {quote(key)} must be a string")
    parts = key.split("/")
    if len(parts) > 2:
        raise Problem(f"key {quote(key)} must be a name with an optional DNS subdomain prefix "
                       f"and '/', e.g. 'example.com/MyName'")
    if len(parts) == 2:
        _check_key_prefix(key, parts[0])
    _check_key_name(key, parts[-1])
    return key


def _check_key_prefix(key: str, prefix: str) -> None:
    if not prefix:
        raise Problem(f"key {quote(key)}: the prefix before '/' must be non-empty")
    if len(prefix) > 253:
        raise Problem(f"key {quote(key)}: the prefix must be no more than 253 characters")
    if not _SUBDOMAIN_RE.fullmatch(prefix):
        raise Problem(f"key {quote(key)}: the prefix must be a lowercase RFC 1123 subdomain: "
                       f"lowercase alphanumeric characters, '-' or '.', starting and ending "
                       f"with an alphanumeric character")


def _check_key_name(key: str, name: str) -> None:
    if not name:
        raise Problem(f"key {quote(key)}: the name must be non-empty")
    if len(name) > 63:
        raise Problem(f"key {quote(key)}: the name must be no more than 63 characters")
    if not _NAME_RE.fullmatch(name):
        raise Problem(f"key {quote(key)}: the name {_NAME_RULE}")


def _check_label_value(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise Problem(f"value {quote(value)} of key {quote(key)} must be a string")
    if len(value) > 63:
        raise Problem(f"value {quote(value)} of key {quote(key)} "
                       f"must be no more than 63 characters")
    if value and not _NAME_RE.fullmatch(value):
        raise Problem(f"value {quote(value)} of key {quote(key)} must be empty or {_NAME_RULE}")
    return value


def _check_arity(key: str, operator: Operator, values: tuple[str, ...]) -> None:
    if operator in _SET_OPERATORS and not values:
        raise Problem(f"key {quote(key)}: the values set of '{operator}' can't be empty")
    if operator in _NO_VALUE_OPERATORS and values:
        raise Problem(f"key {quote(key)}: the values set must be empty for '{operator}', "
                       f"got {list(values)}")
    if operator in _SINGLE_VALUE_OPERATORS and len(values) != 1:
        raise Problem(f"key {quote(key)}: '{operator}' requires exactly one value, "
                       f"got {list(values)}")
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN) and _int64(values[0]) is None:
        raise Problem(f"key {quote(key)}: the value of '{operator}' must be an integer, "
                       f"got {quote(values[0])}")


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
    """Validate and normalise one requirement; raise :class:`Problem` if it is not valid."""
    if not isinstance(operator, str) or operator not in _ALL_OPERATORS:
        raise Problem(f"{quote(operator)} is not a label selector operator")
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
    return "end of string" if token == _END else quote(token)


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
            raise Problem(f"expected ',' or end of string, found {_describe(token)}")
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
            raise Problem(f"expected a key, found {_describe(token)}")
        return token

    def _operator(self, key: str) -> Operator:
        token = self._next()
        if token not in _OPERATOR_TOKENS:
            raise Problem(f"expected an operator (=, ==, !=, in, notin, >, <) after key "
                           f"{quote(key)}, found {_describe(token)}")
        return _OPERATOR_TOKENS[token]

    def _value(self) -> str:
        if self._peek() in (",", _END):
            return ""  # "key=" selects the empty value
        token = self._next()
        if not _is_identifier(token):
            raise Problem(f"expected a value, found {_describe(token)}")
        return token

    def _values_set(self, operator: Operator) -> list[str]:
        token = self._next()
        if token != "(":
            raise Problem(f"expected '(' after '{operator}', found {_describe(token)}")
        values: list[str] = []
        current: str | None = None  # the value since the last comma; None if none yet
        while (token := self._next()) != ")":
            if token == _END:
                raise Problem("unclosed parenthesis")
            if token == ",":
                values.append(current or "")  # "(a,)" and "(,a)" hold the empty value
                current = None
            elif current is None and _is_identifier(token):
                current = token
            else:
                raise Problem(f"expected a value, ',' or ')', found {_describe(token)}")
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
        with reporting("invalid label selector"):
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
            raise SelectorError(f"a label selector must be a string, got {quote(text)}")
        return _parse_label_text(text)

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any]) -> LabelSelector:
        """Make a selector from a ``metav1.LabelSelector`` (``matchLabels``, ``matchExpressions``).

        ``{}`` selects everything. Only the ``In``, ``NotIn``, ``Exists`` and ``DoesNotExist``
        operators exist in this form.
        """
        with reporting(f"invalid label selector {quote(selector)}"):
            return cls(_requirements_from_dict(selector))

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        """Make a selector that requires each of these labels to have exactly its value."""
        with reporting(f"invalid label selector {quote(labels)}"):
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
    with reporting(f"invalid label selector {quote(text)}"):
        return LabelSelector(_LabelParser(text).parse())


def _requirements_from_dict(selector: object) -> list[Requirement]:
    if not isinstance(selector, Mapping):
        raise Problem("expected a mapping with matchLabels and/or matchExpressions")
    _reject_unknown_fields(selector, {"matchLabels", "matchExpressions"})
    labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(labels, Mapping):
        raise Problem(f"matchLabels must be a mapping, got {quote(labels)}")
    if not isinstance(expressions, list | tuple):
        raise Problem(f"matchExpressions must be a list, got {quote(expressions)}")
    requirements = [_label_requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items()]
    requirements.extend(_expression_requirement(expression) for expression in expressions)
    return requirements


def _expression_requirement(expression: object) -> Requirement:
    if not isinstance(expression, Mapping):
        raise Problem(f"a match expression must be a mapping, got {quote(expression)}")
    _reject_unknown_fields(expression, {"key", "operator", "values"})
    operator = expression.get("operator")
    if operator not in _METAV1_OPERATORS:
        raise Problem(f"{quote(operator)} is not a valid label selector operator; "
                       f"expected one of {', '.join(_METAV1_OPERATORS)}")
    values = expression.get("values") or []
    if not isinstance(values, list | tuple):
        raise Problem(f"values must be a list of strings, got {quote(values)}")
    return _label_requirement(expression.get("key"), _METAV1_OPERATORS[operator], values)


def _reject_unknown_fields(mapping: Mapping[Any, Any], known: set[str]) -> None:
    unknown = sorted(map(str, set(mapping) - known))
    if unknown:
        raise Problem(f"unknown field(s) {', '.join(unknown)}; expected only "
                       f"{', '.join(sorted(known))}")


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
                        f"got {type(selector).__name__} {quote(selector)}")


_EVERYTHING_LABELS: Final = LabelSelector()
