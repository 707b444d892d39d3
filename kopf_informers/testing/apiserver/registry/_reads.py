"""Reads of the embedded server: selections, consistent paginated lists, watch subscriptions.

``Reads`` is the read half of ``ApiCore``: list at a resourceVersion (the latest, or an older one
rebuilt from the event history), pages over one snapshot with continue tokens that expire with
the history, and watch subscriptions whose replay and live events can neither overlap nor leave
a gap, since subscribing and snapshotting happen in one synchronous step on the server's loop.
"""

from __future__ import annotations

import base64
import bisect
import collections

import orjson

from ....selectors import FieldSelector, LabelSelector, object_fields
from ..apimachinery._status import ApiStatusError, bad_request, gone
from ..storage._store import Event, Obj, ResourceKey, Store, Watcher
from ._resources import ResourceInfo

SNAPSHOTS_KEPT = 64  # paginated list snapshots kept for continue tokens
_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)


def present(info: ResourceInfo, obj: Obj) -> Obj:
    """The object as seen through one served version (no conversion: as with strategy None)."""
    if obj.get("apiVersion") == info.api_version:
        return obj
    return {**obj, "apiVersion": info.api_version}


class Selection:
    """What a list or watch selects: a namespace and label and field selectors."""

    def __init__(
        self, info: ResourceInfo, namespace: str | None,
        label_selector: str | None, field_selector: str | None,
    ) -> None:
        self.info = info
        self.namespace = namespace
        try:
            self.labels = LabelSelector.parse(label_selector or "")
            self.fields = FieldSelector.parse(field_selector or "")
        except ValueError as e:
            raise bad_request(str(e)) from e
        supported = {"metadata.name", "metadata.namespace", *info.field_selectors}
        unsupported = sorted(set(self.fields.keys) - supported)
        if unsupported:
            raise bad_request(
                f'field label not supported: {unsupported[0]}'
            )
        self._extra_fields = tuple(k for k in self.fields.keys if not k.startswith("metadata."))
        self.everything = self.labels.is_empty and self.fields.is_empty

    def matches(self, obj: Obj) -> bool:
        meta = obj["metadata"]
        if self.namespace is not None and meta.get("namespace", "") != self.namespace:
            return False
        if self.everything:
            return True
        if not self.labels.matches(meta.get("labels") or {}):
            return False
        return self.fields.is_empty or self.fields.matches(
            object_fields(obj, self._extra_fields)
        )



class Reads:
    """Lists and watch subscriptions over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._snapshots: collections.OrderedDict[tuple[ResourceKey, int], list[Obj]] = (
            collections.OrderedDict()
        )
        self._epoch = 0  # bumped when snapshots are forgotten: older continue tokens expire

    # -- list -----------------------------------------------------------------------------------

    def list_objects(
        self, info: ResourceInfo, selection: Selection, *,
        limit: int | None = None, continue_token: str | None = None,
        resource_version: str | None = None, resource_version_match: str | None = None,
    ) -> tuple[list[Obj], int, str | None, int | None]:
        """A page of matching objects: (items, list RV, continue token, remaining count)."""
        start_after: tuple[str, str] | None = None
        if continue_token:
            snapshot_rv, start_after, epoch = _decode_continue(continue_token)
            if epoch != self._epoch:  # even if the history still covers it: as promised
                raise gone(_CONTINUE_EXPIRED)
            items = self._snapshot(info.key, snapshot_rv, for_continue=True)
        else:
            snapshot_rv = self._list_rv(info, resource_version, resource_version_match, limit)
            if snapshot_rv != self.store.rv:
                items = self._snapshot(info.key, snapshot_rv, for_continue=False)
            elif limit:
                items = self.store.resource(info.key).items()  # all: it may become a snapshot
            else:
                items = self.store.resource(info.key).items(selection.namespace)
        position = 0 if start_after is None else _bisect_after(items, start_after)
        return self._page(items, position, selection, limit, snapshot_rv, info.key)

    def _list_rv(
        self, info: ResourceInfo, rv: str | None, match: str | None, limit: int | None,
    ) -> int:
        if match not in (None, "", "Exact", "NotOlderThan"):
            raise bad_request(f"resourceVersionMatch: Unsupported value: {match!r}")
        if not rv or rv == "0":
            if match == "Exact":
                raise bad_request("resourceVersionMatch: Forbidden: resourceVersionMatch "
                                  '"exact" is forbidden for resourceVersion "0"')
            return self.store.rv
        try:
            wanted = int(rv)
        except ValueError:
            raise bad_request(f'invalid resource version: "{rv}"') from None
        if wanted > self.store.rv:
            raise ApiStatusError(
                504, f"Too large resource version: {wanted}, current: {self.store.rv}",
                reason="Timeout",
            )
        exact = match == "Exact" or (not match and limit)
        return wanted if exact else self.store.rv

    def _snapshot(self, key: ResourceKey, rv: int, *, for_continue: bool) -> list[Obj]:
        """All objects of a resource as they were at ``rv``, sorted by (namespace, name)."""
        cached = self._snapshots.get((key, rv))
        if cached is not None:
            self._snapshots.move_to_end((key, rv))
            return cached
        rs = self.store.resource(key)
        events = rs.events_since(rv)
        if events is None:
            raise gone(
                _CONTINUE_EXPIRED
                if for_continue else f"too old resource version: {rv} ({rs.compacted_rv})"
            )
        state = {
            (ns, name): obj for ns, objs in rs.namespaces.items() for name, obj in objs.items()
        }
        for event in reversed(events):
            meta = event.obj["metadata"]
            k = (meta.get("namespace", ""), meta["name"])
            if event.type == "ADDED":
                state.pop(k, None)
            elif event.old is not None:
                state[k] = event.old
        items = [state[k] for k in sorted(state)]
        self._remember(key, rv, items)
        return items

    def forget_snapshots(self) -> None:
        """Drop every list snapshot: continue tokens of older lists then get 410 Expired."""
        self._snapshots.clear()
        self._epoch += 1

    def _remember(self, key: ResourceKey, rv: int, items: list[Obj]) -> None:
        self._snapshots[(key, rv)] = items
        while len(self._snapshots) > SNAPSHOTS_KEPT:
            self._snapshots.popitem(last=False)

    def _page(
        self, items: list[Obj], position: int, selection: Selection, limit: int | None,
        rv: int, key: ResourceKey,
    ) -> tuple[list[Obj], int, str | None, int | None]:
        if limit is None or limit <= 0:
            if position == 0 and selection.everything and selection.namespace is None:
                return list(items), rv, None, None
            return [o for o in items[position:] if selection.matches(o)], rv, None, None
        page: list[Obj] = []
        index = position
        total = len(items)
        while index < total and len(page) < limit:
            obj = items[index]
            index += 1
            if selection.matches(obj):
                page.append(obj)
        unfiltered = selection.everything and selection.namespace is None
        more = index < total if unfiltered else _any_match(items, index, selection)
        if not more or not page:
            return page, rv, None, None
        last = page[-1]["metadata"]
        if (key, rv) not in self._snapshots:
            self._remember(key, rv, list(items))
        token = _encode_continue(rv, (last.get("namespace", ""), last["name"]), self._epoch)
        remaining: int | None = None  # under a label or field selector: not counted, as real
        if unfiltered:
            remaining = total - index
        elif selection.everything:  # a namespace is a key prefix to etcd: counted
            # Items are in (namespace, name) order: the namespace's rest is one run, found by
            # bisection (a count per page made paginating a namespace quadratic).
            remaining = bisect.bisect_right(
                items, selection.namespace or "", lo=index,
                key=lambda o: o["metadata"].get("namespace", ""),
            ) - index
        return page, rv, token, remaining

    # -- watch ----------------------------------------------------------------------------------

    def subscribe(
        self, info: ResourceInfo, selection: Selection, resource_version: str | None,
        *, send_initial_events: bool | None = None,
    ) -> tuple[Watcher, list[Event], bool]:
        """A watcher plus the events to replay first; False if the RV is too old (410)."""
        rs = self.store.resource(info.key)
        initial: list[Event]
        rv = resource_version or ""
        if send_initial_events or (send_initial_events is None and rv in ("", "0")):
            initial = [
                Event(int(o["metadata"]["resourceVersion"]), "ADDED", o, None)
                for o in rs.items(selection.namespace) if selection.matches(o)
            ]
        else:
            try:
                since = int(rv) if rv else self.store.rv
            except ValueError:
                raise bad_request(f'invalid resource version: "{rv}"') from None
            replay = rs.events_since(since)
            if replay is None:
                watcher = Watcher(rs)
                return watcher, [], False
            initial = replay
        watcher = Watcher(rs)
        rs.watchers.add(watcher)
        return watcher, initial, True


def _any_match(items: list[Obj], index: int, selection: Selection) -> bool:
    return any(selection.matches(o) for o in items[index:])


def _bisect_after(items: list[Obj], key: tuple[str, str]) -> int:
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        meta = items[mid]["metadata"]
        if (meta.get("namespace", ""), meta["name"]) <= key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _encode_continue(rv: int, key: tuple[str, str], epoch: int) -> str:
    raw = orjson.dumps({"v": "embedded/1", "rv": rv, "start": list(key), "epoch": epoch})
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str], int]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        start = (str(data["start"][0]), str(data["start"][1]))
        return int(data["rv"]), start, int(data.get("epoch", 0))
    except (ValueError, KeyError, IndexError, TypeError, orjson.JSONDecodeError):
        raise bad_request(f"continue key is not valid: {token!r}") from None
