"""Reading a lister before its informer synced: a true, actionable error, never None or [].

An empty cache that has not synced cannot tell "no such object" from "not listed yet", so each
read says which it is (not started, still listing, stopped before the sync) and how to wait.
Informers read scripted sources; time is virtual (looptime).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from _helpers.scripted import ScriptedSource, cm

from kopf_informers._informer import InformerFactory, SharedIndexInformer
from kopf_informers._reflector import ListPage
from kopf_informers.errors import CacheNotSyncedError, KopfInformersError

pytestmark = pytest.mark.looptime

READS: list[Any] = [
    pytest.param(lambda lister: lister.get("a", "ns"), id="get"),
    pytest.param(lambda lister: lister.list(), id="list"),
    pytest.param(lambda lister: lister.list("ns", selector="app=web"), id="list-namespace"),
    pytest.param(lambda lister: lister.by_index("namespace", "ns"), id="by-index"),
    pytest.param(lambda lister: lister.index_values("namespace"), id="index-values"),
    pytest.param(lambda lister: len(lister), id="len"),
    pytest.param(lambda lister: lister.namespaced_view("ns").get("a"), id="namespaced-view"),
]


class HeldSource(ScriptedSource):
    """A scripted source whose first list waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.pages.append(ListPage([cm("a", 1)], "1", None))
        self.gate = asyncio.Event()

    async def list_page(self, *, resource_version: str | None, limit: int,
                        continue_token: str | None) -> ListPage:
        await self.gate.wait()
        return await super().list_page(resource_version=resource_version, limit=limit,
                                       continue_token=continue_token)

    async def watch(self, **kwargs: Any) -> AsyncIterator[Any]:
        async for event in super().watch(**kwargs):
            yield event


def informer_of(source: ScriptedSource) -> SharedIndexInformer[Any]:
    return SharedIndexInformer(source=source, resource="v1/configmaps", namespaced=True)


@pytest.mark.parametrize("read", READS)
def test_a_read_before_the_start_says_the_informer_is_not_started_and_how_to_wait(
        read: Callable[[Any], object]) -> None:
    informer = informer_of(HeldSource())
    with pytest.raises(CacheNotSyncedError) as raised:
        read(informer.lister)
    message = str(raised.value)
    assert "v1/configmaps" in message
    assert "is not started" in message
    assert "await factory.wait_synced()" in message
    assert "await informer.wait_synced()" in message
    assert "read listers from handlers" in message
    assert raised.value.informer == "v1/configmaps"
    assert raised.value.started is False
    assert isinstance(raised.value, KopfInformersError)


@pytest.mark.parametrize("read", READS)
async def test_a_read_while_the_first_list_runs_says_it_is_not_synced_yet(
        read: Callable[[Any], object]) -> None:
    informer = informer_of(HeldSource())
    informer.start()
    try:
        await asyncio.sleep(1)  # the list is under way, held
        with pytest.raises(CacheNotSyncedError, match=r"started but not synced yet") as raised:
            read(informer.lister)
        assert "await informer.wait_synced()" in str(raised.value)
        assert raised.value.started is True
    finally:
        await informer.stop()


async def test_reads_answer_once_synced_and_keep_answering_after_a_stop() -> None:
    source = HeldSource()
    informer = informer_of(source)
    informer.start()
    source.gate.set()
    await informer.wait_synced(timeout=10)
    assert informer.lister.get("a", "ns") is not None
    assert informer.lister.get("missing", "ns") is None  # now a true "there is none"
    await informer.stop()
    assert [o["metadata"]["name"] for o in informer.lister.list()] == ["a"]  # the last state


async def test_a_read_after_a_stop_before_the_sync_says_the_cache_is_incomplete() -> None:
    informer = informer_of(HeldSource())
    informer.start()
    await asyncio.sleep(1)
    await informer.stop()
    with pytest.raises(CacheNotSyncedError, match=r"stopped before its first list completed"):
        informer.lister.list()


def test_an_all_namespaces_informer_of_the_factory_is_not_called_cluster_scoped_before_start(
) -> None:
    # Its scope is known only after discovery: before it, the true problem is the start.
    informer = InformerFactory().informer("v1/configmaps")
    with pytest.raises(CacheNotSyncedError, match=r"is not started") as raised:
        informer.lister.get("a", "ns")
    assert "cluster-scoped" not in str(raised.value)
    assert informer.lister.namespaced is None
    assert informer.lister.namespaced_view("ns").namespace == "ns"  # checked when read

