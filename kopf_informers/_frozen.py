"""Frozen objects: deeply read-only copies of decoded JSON, and mutable copies back.

Where it sits: the store's writer (:mod:`kopf_informers._store`) freezes every object it caches
with :func:`frozen`, so that one reader's stray write cannot corrupt what every other reader
sees; whoever wants to edit a cached object takes a mutable deep copy with :func:`thaw`. Both
are re-exported by :mod:`kopf_informers._store` and the package root; the store's docstring
explains the policy and its measured cost. Freezing guards against accidents, not malice:
``dict.__setitem__(obj, ...)`` still writes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, Final, NoReturn, SupportsIndex, TypeVar

J = TypeVar("J")

_READ_ONLY = (
    "objects from the cache are read-only (every reader shares them); "
    "take a mutable deep copy with thaw(obj) or copy.deepcopy(obj) and edit that"
)


def _refuse(*_: object, **__: object) -> NoReturn:
    raise TypeError(_READ_ONLY)


class FrozenDict(dict[str, Any]):
    """A ``dict`` that refuses to change: every mutating method raises :class:`TypeError`.

    Make them with :func:`frozen`, which freezes the values too. ``copy.copy`` and ``.copy()``
    give a plain dict of the same (frozen) values; ``copy.deepcopy`` gives :func:`thaw`'s mutable
    deep copy; ``|`` gives a plain dict. ``json`` and ``orjson`` serialize it as a dict, but
    ``yaml.safe_dump`` refuses subclasses: :func:`thaw` the object first.
    """

    __slots__ = ()

    def __setitem__(self, key: str, value: Any) -> NoReturn:
        _refuse()

    def __delitem__(self, key: str) -> NoReturn:
        _refuse()

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[misc]  # refusing is the point
        _refuse()

    def clear(self) -> NoReturn:
        _refuse()

    def pop(self, *args: Any) -> NoReturn:
        _refuse()

    def popitem(self) -> NoReturn:
        _refuse()

    def setdefault(self, *args: Any) -> NoReturn:
        _refuse()

    def update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return thaw(self)

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (FrozenDict, (dict(self),))


class FrozenList(list[Any]):
    """A ``list`` that refuses to change: every mutating method raises :class:`TypeError`.

    Make them with :func:`frozen`. ``copy.copy``, slicing and ``+`` give plain lists;
    ``copy.deepcopy`` gives :func:`thaw`'s mutable deep copy.
    """

    __slots__ = ()

    def __setitem__(self, index: SupportsIndex | slice, value: Any) -> NoReturn:
        _refuse()

    def __delitem__(self, index: SupportsIndex | slice) -> NoReturn:
        _refuse()

    def __iadd__(self, other: Iterable[Any]) -> NoReturn:  # type: ignore[misc]
        _refuse()

    def __imul__(self, other: SupportsIndex) -> NoReturn:
        _refuse()

    def append(self, value: Any) -> NoReturn:
        _refuse()

    def extend(self, values: Iterable[Any]) -> NoReturn:
        _refuse()

    def insert(self, index: SupportsIndex, value: Any) -> NoReturn:
        _refuse()

    def pop(self, index: SupportsIndex = -1) -> NoReturn:
        _refuse()

    def remove(self, value: Any) -> NoReturn:
        _refuse()

    def clear(self) -> NoReturn:
        _refuse()

    def sort(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    def reverse(self) -> NoReturn:
        _refuse()

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return thaw(self)

    def __reduce__(self) -> tuple[type[FrozenList], tuple[list[Any]]]:
        return (FrozenList, (list(self),))


# Immutable, so every empty container of every cached object can be the same one.
_EMPTY_DICT: Final = FrozenDict()
_EMPTY_LIST: Final = FrozenList()
_CONTAINERS: Final = (dict, list)
_FROZEN: Final = (FrozenDict, FrozenList)


def frozen(obj: J) -> J:
    """A deeply frozen copy of ``obj``: dicts become :class:`FrozenDict`, lists :class:`FrozenList`.

    The input is not changed. Frozen parts are reused as they are, so freezing a frozen object
    costs nothing. Values of other types are kept as they are (JSON's scalars are immutable).
    """
    result: Any = obj
    if isinstance(obj, _CONTAINERS) and not isinstance(obj, _FROZEN):
        result = _freeze_dict(obj) if isinstance(obj, dict) else _freeze_list(obj)
    return result  # type: ignore[no-any-return]


# The two walkers below are the cost of the mutation policy, paid on every watch event: they test
# exact types first (what JSON decoding produces) and recurse only into containers. Short strings
# are interned on the way: values such as apiVersion, kind, namespace, label values and
# timestamps repeat across thousands of cached objects, and one shared copy of each saves about
# a sixth of a cached object's memory (bench/informers.py).
_INTERNED_LENGTH = 24
_intern = sys.intern


def _freeze_dict(value: dict[str, Any]) -> FrozenDict:
    if not value:
        return _EMPTY_DICT
    result = {}
    for key, item in value.items():
        cls = type(item)
        if cls is str:  # the commonest, so tested first
            if len(item) <= _INTERNED_LENGTH:
                item = _intern(item)
        elif cls is dict:
            item = _freeze_dict(item) if item else _EMPTY_DICT
        elif cls is list:
            item = _freeze_list(item) if item else _EMPTY_LIST
        elif isinstance(item, _CONTAINERS):
            item = frozen(item)
        result[key] = item
    return FrozenDict(result)


def _freeze_list(value: list[Any]) -> FrozenList:
    if not value:
        return _EMPTY_LIST
    result: list[Any] = []
    append = result.append
    for item in value:
        cls = type(item)
        if cls is str:
            if len(item) <= _INTERNED_LENGTH:
                item = _intern(item)
        elif cls is dict:
            item = _freeze_dict(item) if item else _EMPTY_DICT
        elif cls is list:
            item = _freeze_list(item) if item else _EMPTY_LIST
        elif isinstance(item, _CONTAINERS):
            item = frozen(item)
        append(item)
    return FrozenList(result)


def thaw(obj: J) -> J:
    """A mutable deep copy of ``obj``: every dict and list in it, frozen or not, is copied.

    Use it to edit an object taken from the cache (client-go's ``DeepCopy()``).
    """
    result: Any = obj
    if isinstance(obj, dict):
        result = _thaw_dict(obj)
    elif isinstance(obj, list):
        result = _thaw_list(obj)
    return result  # type: ignore[no-any-return]


def _thaw_dict(value: dict[str, Any]) -> dict[str, Any]:
    result = {}
    for key, item in value.items():
        cls = type(item)
        if cls is FrozenDict or cls is dict:
            item = _thaw_dict(item)
        elif cls is FrozenList or cls is list:
            item = _thaw_list(item)
        elif cls is not str and isinstance(item, _CONTAINERS):
            item = thaw(item)
        result[key] = item
    return result


def _thaw_list(value: list[Any]) -> list[Any]:
    result: list[Any] = []
    append = result.append
    for item in value:
        cls = type(item)
        if cls is FrozenDict or cls is dict:
            item = _thaw_dict(item)
        elif cls is FrozenList or cls is list:
            item = _thaw_list(item)
        elif cls is not str and isinstance(item, _CONTAINERS):
            item = thaw(item)
        append(item)
    return result
