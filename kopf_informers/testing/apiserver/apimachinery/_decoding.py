"""Request bodies, decoded within the limits of kube-apiserver's own decoders.

Where it sits: the HTTP layer and the PATCH handler decode every JSON or YAML body with
:func:`load_json` or :func:`load_yaml` (create and update bodies by way of the table of body
media types, ``_negotiation.BODY_TYPES``). Nothing nested deeper than ``MAX_DEPTH`` (``_limits``)
and no YAML whose aliases expand it beyond go-yaml's budget gets past them, so that the walks
over objects further on (copies, merges, pruning, validation: recursive Python) stay within
Python's recursion limit, and a few hundred bytes cannot expand into gigabytes.

What the real decoders refuse, and the words used for it, here as there::

    JSON and YAML nested deeper than 10,000 levels     exceeded max depth (of 10000)
    YAML whose aliases make up most of what a          yaml: document contains excessive aliasing
      document decodes to (go-yaml's alias ratio)
    a YAML anchor whose value contains an alias to it  yaml: anchor 'a' value contains itself

Differences on purpose: the depth limit is ``MAX_DEPTH``, not 10,000 (see ``_limits``); YAML
is decoded by PyYAML's safe loader, whose other errors keep PyYAML's words.

Errors are :class:`DecodeError`, whose message the caller puts after its own prefix (``error
decoding YAML:``, ``error decoding patch:``) and answers with a 400.

A JSON object may name a key twice; orjson keeps the last value, as Go does, and so does the
real server, which also reports each repetition as a strict decoding error (``fieldValidation``
then refuses the request, warns, or says nothing). :func:`duplicate_fields` finds them.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson
import yaml
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.nodes import Node

from ._limits import DEPTH_EXCEEDED, MAX_DEPTH

# go-yaml's alias budget (decode.go, allowedAliasRatio): up to 400,000 decoded nodes, 99% of
# them may come from expanding aliases; from 4,000,000 on, 10%; linearly in between. It applies
# from 1,000 nodes and 100 aliased ones on.
_ALIAS_RATIO_LOW: Final = 400_000
_ALIAS_RATIO_HIGH: Final = 4_000_000
_YAML_ERROR_PREFIX: Final = "error converting YAML to JSON: yaml: "


class DecodeError(ValueError):
    """A body that cannot be decoded, or that the real server's decoder would refuse."""


def load_json(raw: bytes) -> Any:
    """Decode a JSON body no deeper than ``MAX_DEPTH``; raises :class:`DecodeError`."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if str(e).startswith("depth limit exceeded"):  # orjson's own, at 1,024 levels
            raise DecodeError(DEPTH_EXCEEDED) from None
        raise DecodeError(str(e)) from None
    # Every level opens a bracket, so a body with few brackets (in strings too) is shallow;
    # only bodies with many of them are walked.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and is_deeper_than(value, MAX_DEPTH):
        raise DecodeError(DEPTH_EXCEEDED)
    return value


def duplicate_fields(raw: bytes, decoded: Any = None) -> list[str]:
    """The paths of the keys that a JSON body repeats within one object, in the order they
    repeat, as sigs.k8s.io/json reports them (``spec.replicas``, ``items[0].name``).

    For a body that ``load_json`` decodes; none for one it refuses. ``decoded``: the body as
    ``load_json`` decoded it, if it was (else it is decoded here).

    Cheap when there are none, as is almost always the case. The compact JSON of the decoded
    value holds each key once: a body that is that very text (as compact JSON from most clients
    is) repeats none. Nor does one with as many colons as it, if it has no escaped colons: every
    key is followed by a colon, other colons are inside strings, literally or escaped
    (``\\u003a``), and a repeated key would add its own colon (and those of its value, which
    decoding drops). Any other body takes one pass of the standard library's C scanner, which
    counts the keys of every object; only a body with repetitions is read again for their paths.
    """
    if decoded is None:
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            decoded = None
    if decoded is not None:
        try:
            compact = orjson.dumps(decoded)
        except orjson.JSONEncodeError:
            compact = b""
        if compact == raw or (compact and b"\\u003" not in raw
                              and raw.count(b":") == compact.count(b":")):
            return []
    try:
        _FIND_DUPLICATES.decode(raw.decode("utf-8"))
    except _Repeated:
        return _duplicate_paths(_PAIRS.decode(raw.decode("utf-8")), "")
    except (ValueError, RecursionError):  # what load_json refuses, on its own terms
        pass
    return []


class _Repeated(Exception):  # a signal, not an error
    pass


class _Pairs(list[tuple[str, Any]]):
    """An object's members in their order, repetitions included."""


def _refuse_repeated(pairs: list[tuple[str, Any]]) -> None:
    if len(dict(pairs)) != len(pairs):
        raise _Repeated


_FIND_DUPLICATES: Final = json.JSONDecoder(object_pairs_hook=_refuse_repeated)
_PAIRS: Final = json.JSONDecoder(object_pairs_hook=_Pairs)


def _duplicate_paths(value: Any, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, item in value:
            child = f"{path}.{key}" if path else key
            if key in seen:
                found.append(child)
            seen.add(key)
            found.extend(_duplicate_paths(item, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_duplicate_paths(item, f"{path}[{index}]"))
    return found


def is_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest in ``value`` more than ``limit`` levels (``{}`` is one);
    walked with a stack of its own, not by recursion, and no further than the limit."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def load_yaml(raw: bytes, loader: type[LimitedSafeLoader] | None = None) -> Any:
    """Decode one YAML document with a :class:`LimitedSafeLoader` (or a subclass of it);
    raises :class:`DecodeError` for undecodable YAML and for what go-yaml would refuse."""
    try:
        return yaml.load(raw, Loader=loader or LimitedSafeLoader)  # a safe loader
    except DecodeError:
        raise
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise DecodeError(f"{_YAML_ERROR_PREFIX}{where}{e.problem or e.context}") from None
    except (yaml.YAMLError, ValueError, TypeError) as e:  # e.g. a timestamp of month 13
        raise DecodeError(f"{_YAML_ERROR_PREFIX}{e}") from None


class LimitedSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, composing no document that go-yaml would refuse to decode.

    Guarantees, all checked while the document is composed, before anything is constructed:

    * no object or array nests deeper than ``MAX_DEPTH``, aliases expanded (composing is
      recursive: this also keeps it within Python's recursion limit);
    * no anchor's value contains an alias to the anchor itself (PyYAML would build a cyclic
      value, on which every walk further on recurses without end);
    * aliases expand the document within go-yaml's budget, counted as go-yaml counts: each node
      that decoding the document visits, the nodes of an alias's expansion once per alias.

    PyYAML itself shares an anchor's value among its aliases instead of expanding it, but every
    walk over the decoded value (copying, encoding) expands it all the same: that is what the
    budget is for.
    """

    def __init__(self, stream: bytes) -> None:
        super().__init__(stream)
        self._containers = 0  # the objects and arrays around the node being composed
        self._expansions: dict[str, tuple[int, int]] = {}  # anchor: (nodes, depth) expanded
        self._children: list[list[int]] = []  # per node being composed: [nodes, depth] inside
        self._decoded = 0  # nodes that decoding visits up to here, as go-yaml counts them
        self._aliased = 0  # those of them that come from expanding aliases

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # Refused as soon as scanned, as go-yaml's scanner does: PyYAML's scanner would look
        # up to 1,024 characters ahead at every level for a key, slowly, before composing it.
        if self.flow_level >= MAX_DEPTH:
            raise DecodeError(_YAML_ERROR_PREFIX + DEPTH_EXCEEDED)
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)  # refuses an undefined alias itself
            self._expand(str(event.anchor))
            return node
        container = isinstance(event, MappingStartEvent | SequenceStartEvent)
        if container and self._containers >= MAX_DEPTH:
            raise DecodeError(_YAML_ERROR_PREFIX + DEPTH_EXCEEDED)
        self._decoded += 1
        self._containers += container
        self._children.append([0, 0])
        try:
            node = super().compose_node(parent, index)
        finally:
            self._containers -= container
            inside, depth = self._children.pop()
        self._count_in_parent(1 + inside, depth + container)
        if event.anchor is not None:
            self._expansions[event.anchor] = (1 + inside, depth + container)
        return node

    def _expand(self, anchor: str) -> None:
        """Count an alias as go-yaml decodes it: the alias, then its anchor's value again."""
        expansion = self._expansions.get(anchor)
        if expansion is None:  # the anchor's value is still being composed: this is inside it
            raise DecodeError(f"{_YAML_ERROR_PREFIX}anchor '{anchor}' value contains itself")
        nodes, depth = expansion
        if self._containers + depth > MAX_DEPTH:
            raise DecodeError(_YAML_ERROR_PREFIX + DEPTH_EXCEEDED)
        self._decoded += 1 + nodes
        self._aliased += nodes
        self._count_in_parent(1 + nodes, depth)
        # go-yaml checks at every node; within an expansion, the share of aliased nodes only
        # grows and the allowed share only shrinks, so checking at its end finds the same.
        if _excessive_aliasing(self._decoded, self._aliased):
            raise DecodeError(f"{_YAML_ERROR_PREFIX}document contains excessive aliasing")

    def _count_in_parent(self, nodes: int, depth: int) -> None:
        if self._children:
            counts = self._children[-1]
            counts[0] += nodes
            counts[1] = max(counts[1], depth)


def _excessive_aliasing(decoded: int, aliased: int) -> bool:
    if aliased <= 100 or decoded <= 1000:
        return False
    if decoded <= _ALIAS_RATIO_LOW:
        allowed = 0.99
    elif decoded >= _ALIAS_RATIO_HIGH:
        allowed = 0.10
    else:
        span = _ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW
        allowed = 0.99 - 0.89 * (decoded - _ALIAS_RATIO_LOW) / span
    return aliased / decoded > allowed
