"""What label and field selectors share: their operators, and how their errors are reported.

Where it sits: below ``_labels`` and ``_fields`` (as ``k8s.io/apimachinery/pkg/selection`` is
below ``labels`` and ``fields``). Parsing and validation raise :class:`Problem` deep inside, and
the entry points wrap their work in :func:`reporting`, which turns it into a
:class:`~kopf_informers.errors.SelectorError` naming the selector.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator

from kopf_informers.errors import SelectorError


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


class Problem(Exception):
    """What is wrong with a selector, before the entry point adds which selector it was."""


@contextlib.contextmanager
def reporting(prefix: str) -> Iterator[None]:
    try:
        yield
    except Problem as e:
        raise SelectorError(f"{prefix}: {e}") from None


def quote(text: object) -> str:
    return f'"{text}"' if isinstance(text, str) else repr(text)
