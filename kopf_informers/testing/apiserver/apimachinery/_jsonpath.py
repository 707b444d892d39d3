"""A JSONPath subset: what CRD printer columns use in practice.

Where it sits: ``_tables`` reads the cells of a custom resource's ``additionalPrinterColumns``
with :func:`evaluate_jsonpath`; ``_printers`` shares :func:`is_list`. Kubernetes' JSONPath is
richer (ranges, recursive descent, slices); what is not supported here raises
:class:`ValueError`, and the table shows no value for that column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

_STEP = re.compile(
    r"""\.\.                             # recursive descent: unsupported
      | \.(?P<field>(?:\\.|[^.\[\\])+)   # .field, with \. escaping a dot
      | \[(?P<bracket>[^\]]*)\]          # [0], [-1], [*], ['key'], [?(@.a=="b")]
    """,
    re.VERBOSE,
)
_FILTER = re.compile(r"""^\?\(@((?:\.(?:\\.|[^.=!<>\s\\])+)*)\s*(?:(==|!=)\s*(.+?))?\s*\)$""")


def evaluate_jsonpath(obj: Any, path: str) -> list[Any]:
    """All values that a Kubernetes JSONPath finds in ``obj``; ``[]`` if none.

    Supported: ``.a.b``, ``.a\\.b`` (an escaped dot in a key), ``.a[0]``, ``.a[-1]``, ``.a[*]``,
    ``.*``, ``['a.b']`` and filters like ``[?(@.type=="Ready")]`` with ``==`` or ``!=`` against a
    quoted string, a number or a boolean. Optional surrounding braces are accepted.
    Raises :class:`ValueError` for anything else (e.g. ``..`` or slices).
    """
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    values = [obj]
    for step in _parse_steps(text):
        values = [found for value in values for found in step(value)]
    return values


def _parse_steps(text: str) -> Iterator[Callable[[Any], list[Any]]]:
    position = 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None or match.group(0) == "..":
            raise ValueError(f"Unsupported JSONPath at {text[position:]!r} in {text!r}")
        position = match.end()
        if match.group("field") is not None:
            yield _field_step(match.group("field").replace("\\", ""))
        else:
            yield _bracket_step(match.group("bracket").strip(), text)


def _field_step(name: str) -> Callable[[Any], list[Any]]:
    def step(value: Any) -> list[Any]:
        if isinstance(value, Mapping):
            if name == "*":
                return list(value.values())
            return [value[name]] if name in value else []
        return []
    return step


def _bracket_step(inner: str, text: str) -> Callable[[Any], list[Any]]:
    if inner == "*":
        return lambda value: list(value) if is_list(value) else _field_step("*")(value)
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _field_step(inner[1:-1])
    if re.fullmatch(r"-?\d+", inner):
        index = int(inner)

        def pick(value: Any) -> list[Any]:
            return [value[index]] if is_list(value) and -len(value) <= index < len(value) else []

        return pick
    filter_match = _FILTER.match(inner)
    if filter_match is None:
        raise ValueError(f"Unsupported JSONPath subscript [{inner}] in {text!r}")
    subpath, operator, literal = filter_match.groups()
    expected = _literal(literal) if literal is not None else None

    def keep(item: Any) -> bool:
        found = evaluate_jsonpath(item, subpath)
        if operator is None:
            return bool(found)
        equal = bool(found) and _same(found[0], expected)
        return equal if operator == "==" else not equal

    return lambda value: [item for item in value if keep(item)] if is_list(value) else []


def _same(value: Any, expected: Any) -> bool:
    """Equality without Python's ``True == 1`` and with no coercion between strings and numbers."""
    if isinstance(value, bool) != isinstance(expected, bool):
        return False
    return bool(isinstance(value, str) == isinstance(expected, str) and value == expected)


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"Unsupported JSONPath filter value: {text!r}") from e


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)
