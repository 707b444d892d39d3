"""The list-watch source of an informer: a :class:`~kopf_informers.ListerWatcher`
over the API client (client-go's ``cache.ListWatch`` from ``NewListWatchFromClient``).

Its place in the data flow::

    ApiClient.list / .watch --> ApiListWatch --ListPage, WatchEvent--> Reflector --> Store

It holds one resource, namespace and selector set, and nothing else: the reflector decides
when to list, from which resourceVersion and for how long to watch. The watch events pass
through as the client yields them (:class:`~kopf_informers.WatchEvent`); list answers become
:class:`~kopf_informers.ListPage`. The client is asked for at each request, not at
construction, because an informer factory resolves its credentials only when it starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from ._api import ApiClient, WatchEvent
from ._reflector import ListPage
from .selectors import FieldSelector, LabelSelector

__all__ = ["WATCH_INACTIVITY_MARGIN", "ApiListWatch"]

WATCH_INACTIVITY_MARGIN = 30.0  # seconds beyond the server-side timeout before giving up on a watch


class ApiListWatch:
    """Lists and watches one resource, namespace (None: all) and selector set through ``api()``."""

    hands_over_objects = True  # every answer is decoded anew: the store may adopt the objects

    def __init__(
        self, *, api: Callable[[], ApiClient], resource: str, namespace: str | None,
        label_selector: LabelSelector, field_selector: FieldSelector,
    ) -> None:
        self._api = api
        self._resource = resource
        self._namespace = namespace
        self._labels = label_selector if not label_selector.is_empty else None
        self._fields = field_selector if not field_selector.is_empty else None

    async def list_page(
        self, *, resource_version: str | None, limit: int, continue_token: str | None,
    ) -> ListPage:
        page = await self._api().list(
            self._resource, namespace=self._namespace, label_selector=self._labels,
            field_selector=self._fields, resource_version=resource_version, limit=limit,
            continue_token=continue_token,
        )
        meta = page.get("metadata") or {}
        return ListPage(page.get("items") or [], str(meta.get("resourceVersion") or ""),
                        meta.get("continue") or None)

    async def watch(
        self, *, resource_version: str | None, timeout_seconds: int,
        send_initial_events: bool = False,
    ) -> AsyncIterator[WatchEvent]:
        events = self._api().watch(
            self._resource, namespace=self._namespace, label_selector=self._labels,
            field_selector=self._fields, resource_version=resource_version,
            allow_bookmarks=True, send_initial_events=send_initial_events,
            timeout_seconds=timeout_seconds,
            inactivity_timeout=timeout_seconds + WATCH_INACTIVITY_MARGIN,
        )
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()
