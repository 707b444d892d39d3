"""Frozen objects: deeply read-only copies of decoded JSON, and mutable copies back.

Where it sits: the store's writer (:mod:`kopf_informers._store`) freezes every object it caches
with :func:`frozen`, so that one reader's stray write cannot corrupt what every other reader
sees; whoever wants to edit a cached object takes a mutable deep copy with :func:`thaw`. Both
are re-exported by :mod:`kopf_informers._store` and the package root; the store's docstring
explains the policy and its measured cost. Freezing guards against accidents, not malice:
``dict.__setitem__(obj, ...)`` still writes.

Objects that the writer is handed over (decoded by the API client for nobody else) are frozen
lazily with :func:`adopted`: what every reader reads at once, the rest as lazy shells that freeze
themselves one level at a time on first read. The result behaves as :func:`frozen`'s does.
"""

from __future__ import annotations

import sys
from collections.abc import ItemsView, Iterable, Iterator, ValuesView
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


class _LazyFrozenDict(FrozenDict):
    """A :class:`FrozenDict` whose values may still be plain dicts and lists (:func:`adopted`).

    Its first read through any reading method (``[]``, ``get``, ``items``, ``values``, iteration,
    copies) settles it: each plain dict value becomes a lazy frozen shell of its own and each
    list a lazy list (:class:`_LazyFrozenList`), in place, and the object becomes a plain
    :class:`FrozenDict`, whose reads are ``dict``'s own, at C speed. So an object costs one
    shell per dict or list that is ever read, and nothing for the parts nobody reads. Only
    ``dict``'s methods called on it directly (``dict.get(obj, key)``) can see a plain value, as
    ``dict.__setitem__(obj, ...)`` can still write. ``==``, ``len``, ``in``, ``keys`` and orjson
    read it as it is (equal either way).
    """

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        return _dict_getitem(_settled(self), key)

    def get(self, key: str, default: Any = None) -> Any:
        return _dict_get(_settled(self), key, default)

    def items(self) -> ItemsView[str, Any]:  # type: ignore[override]
        return _dict_items(_settled(self))

    def values(self) -> ValuesView[Any]:  # type: ignore[override]
        return _dict_values(_settled(self))

    def __iter__(self) -> Iterator[str]:
        # Also makes dict(obj), {**obj} and update(obj) copy through keys() and [], which
        # settle it: CPython copies a dict's slots directly only if its __iter__ is dict's own.
        return _dict_iter(_settled(self))

    def copy(self) -> dict[str, Any]:
        return _dict_copy(_settled(self))

    def __copy__(self) -> dict[str, Any]:
        return _dict_copy(_settled(self))

    def __or__(self, other: Any) -> Any:
        return _dict_or(_settled(self), other)

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (FrozenDict, (_dict_copy(_settled(self)),))


_dict_getitem = dict.__getitem__
_dict_get = dict.get
_dict_setitem = dict.__setitem__
_dict_items = dict.items
_dict_values = dict.values
_dict_iter = dict.__iter__
_dict_copy = dict.copy
_dict_or = dict.__or__


def _settled(owner: FrozenDict) -> FrozenDict:
    """``owner`` with every value frozen (shallowly, in place), made a plain FrozenDict.

    Two threads may settle one object at once: each writes equal frozen values over the plain
    ones (a value, not a key: iteration goes on), and one of each stays.
    """
    for key, value in _dict_items(owner):
        cls = type(value)
        if cls is str:
            if len(value) <= _INTERNED_LENGTH:
                _dict_setitem(owner, key, _intern(value))
        elif cls is dict:
            _dict_setitem(owner, key, _LazyFrozenDict(value) if value else _EMPTY_DICT)
        elif cls is list:
            _dict_setitem(owner, key, _LazyFrozenList(value) if value else _EMPTY_LIST)
    owner.__class__ = FrozenDict
    return owner


def adopted(obj: J) -> J:
    """``obj`` frozen, taking over its parts instead of copying them where nobody may read them:
    :func:`frozen`'s result for objects nobody else holds, at a fraction of the cost.

    A Kubernetes object's top level and its ``metadata`` are frozen at once (the store's keys
    and index functions read them anyway), except ``metadata.managedFields``, which, like every
    other dict and list at the top level (``spec``, ``status``, ``data``), becomes a lazy shell,
    frozen one level each time a level is first read (see :class:`_LazyFrozenDict` and
    :class:`_LazyFrozenList`). The caller hands ``obj`` over: if it changes ``obj``'s nested
    containers afterwards, the frozen object may show the change. Meant for objects just
    decoded from JSON, which the store's writer gets from the API client. Anything but a plain
    ``dict`` goes to :func:`frozen`.
    """
    if type(obj) is not dict:
        return frozen(obj)
    source: dict[str, Any] = obj  # type: ignore[assignment]  # a dict: tested above
    if not source:
        return _EMPTY_DICT  # type: ignore[return-value]
    # A copy of the slots in C, then only the values that change are written over: cheaper
    # than building the dict key by key.
    result = FrozenDict(source)
    for key, item in _dict_items(source):
        cls = type(item)
        if cls is str:
            if len(item) <= _INTERNED_LENGTH:
                _dict_setitem(result, key, _intern(item))
        elif cls is dict:
            if not item:
                _dict_setitem(result, key, _EMPTY_DICT)
            elif key == "metadata":  # read by keys and indexes: at once
                _dict_setitem(result, key, _adopted_metadata(item))
            else:
                _dict_setitem(result, key, _LazyFrozenDict(item))
        elif cls is list:
            _dict_setitem(result, key, _LazyFrozenList(item) if item else _EMPTY_LIST)
        elif isinstance(item, _CONTAINERS):
            _dict_setitem(result, key, frozen(item))
    return result  # type: ignore[return-value]


# Metadata values that differ from object to object (and from version to version): interning
# them would share nothing and cost time and the interpreter's table of interned strings.
_UNIQUE_METADATA: Final = frozenset({"name", "uid", "resourceVersion"})


def _adopted_metadata(value: dict[str, Any]) -> FrozenDict:
    """``metadata`` frozen deeply, but ``managedFields`` (a lazy list), as :func:`adopted`."""
    result = FrozenDict(value)
    for key, item in _dict_items(value):
        cls = type(item)
        if cls is str:
            if len(item) <= _INTERNED_LENGTH and key not in _UNIQUE_METADATA:
                _dict_setitem(result, key, _intern(item))
        elif cls is dict:
            _dict_setitem(result, key, _freeze_dict(item) if item else _EMPTY_DICT)
        elif cls is list:
            if not item:
                _dict_setitem(result, key, _EMPTY_LIST)
            elif key == "managedFields":  # rarely read, and most of metadata's size
                _dict_setitem(result, key, _LazyFrozenList(item))
            else:
                _dict_setitem(result, key, _freeze_list(item))
        elif isinstance(item, _CONTAINERS):
            _dict_setitem(result, key, frozen(item))
    return result


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


class _LazyFrozenList(FrozenList):
    """A :class:`FrozenList` whose items may still be plain dicts and lists (:func:`adopted`).

    As :class:`_LazyFrozenDict`: its first read through any reading method (``[]``, slices,
    iteration, ``reversed``, ``+``, ``*``, copies, pickling) settles it, in place: each plain
    dict item becomes a lazy frozen shell, each list a lazy list, and the object becomes a plain
    :class:`FrozenList`. ``len``, ``in``, ``==``, ``index``, ``count``, ``thaw``, ``json`` and
    orjson read it as it is (equal either way). Only ``list``'s methods called on it directly
    (``list.__getitem__(obj, 0)``) can see a plain item.
    """

    __slots__ = ()

    def __getitem__(self, index: Any) -> Any:
        return _list_getitem(_settled_list(self), index)

    def __iter__(self) -> Iterator[Any]:
        return _list_iter(_settled_list(self))

    def __reversed__(self) -> Iterator[Any]:
        return _list_reversed(_settled_list(self))

    def __add__(self, other: Any) -> Any:
        if type(other) is _LazyFrozenList:  # list's + would copy its unsettled items
            _settled_list(other)
        return _list_add(_settled_list(self), other)

    def __radd__(self, other: Any) -> Any:
        # Called before list's own + for `plain + lazy` (a subclass's reflected method wins),
        # which would otherwise copy the unsettled items.
        if not isinstance(other, list):
            return NotImplemented
        return _list_add(list(other), _settled_list(self))

    def __mul__(self, count: SupportsIndex) -> Any:
        return _list_mul(_settled_list(self), count)

    def __rmul__(self, count: SupportsIndex) -> Any:
        return _list_mul(_settled_list(self), count)

    def copy(self) -> list[Any]:
        return _list_copy(_settled_list(self))

    def __copy__(self) -> list[Any]:
        return _list_copy(_settled_list(self))

    def __reduce__(self) -> tuple[type[FrozenList], tuple[list[Any]]]:
        return (FrozenList, (_list_copy(_settled_list(self)),))


_list_getitem = list.__getitem__
_list_setitem = list.__setitem__
_list_iter = list.__iter__
_list_reversed = list.__reversed__
_list_add = list.__add__
_list_mul = list.__mul__
_list_copy = list.copy


def _settled_list(owner: FrozenList) -> FrozenList:
    """``owner`` with every item frozen (shallowly, in place), made a plain FrozenList.

    Two threads may settle one list at once: each writes equal frozen items over the plain
    ones, and one of each stays (as :func:`_settled` does for dicts).
    """
    for index, item in enumerate(_list_iter(owner)):
        cls = type(item)
        if cls is str:
            if len(item) <= _INTERNED_LENGTH:
                _list_setitem(owner, index, _intern(item))
        elif cls is dict:
            _list_setitem(owner, index, _LazyFrozenDict(item) if item else _EMPTY_DICT)
        elif cls is list:
            _list_setitem(owner, index, _LazyFrozenList(item) if item else _EMPTY_LIST)
    owner.__class__ = FrozenList
    return owner


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
    """A deep freeze of a dict."""
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
    """A deep freeze of a list."""
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
    for key, item in _dict_items(value):  # the slots as they are: thawing freezes nothing
        cls = type(item)
        if cls is FrozenDict or cls is dict or cls is _LazyFrozenDict:
            item = _thaw_dict(item)
        elif cls is FrozenList or cls is list or cls is _LazyFrozenList:
            item = _thaw_list(item)
        elif cls is not str and isinstance(item, _CONTAINERS):
            item = thaw(item)
        result[key] = item
    return result


def _thaw_list(value: list[Any]) -> list[Any]:
    result: list[Any] = []
    append = result.append
    for item in _list_iter(value):  # the items as they are: thawing freezes nothing
        cls = type(item)
        if cls is FrozenDict or cls is dict or cls is _LazyFrozenDict:
            item = _thaw_dict(item)
        elif cls is FrozenList or cls is list or cls is _LazyFrozenList:
            item = _thaw_list(item)
        elif cls is not str and isinstance(item, _CONTAINERS):
            item = thaw(item)
        append(item)
    return result
