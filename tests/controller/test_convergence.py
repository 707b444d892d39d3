"""Convergence at a bounded cost: the controller against the embedded server's worst patterns.

Each test reproduces a defect found by a chaos soak of the Foo operator, with a controller shaped
like it (a ConfigMap owns a Deployment named after it and records the Deployment's uid in an
annotation, so every reconcile that creates writes to the primary as well):

- the primary's watch lags its children's, and the primary is deleted (or deleted and created
  again under the same name): reconciling the stale cached primary created children for an owner
  that no longer existed, the garbage collector deleted them, and their deletion re-queued the
  key at once — thousands of writes per second;
- a watch outage ending in 410 Gone hid a child that the controller created and a user deleted
  during the outage: after the relists nothing was queued, and the child never came back;
- a key whose reconciles keep writing (their writes keep being undone) without ever failing.

Writes are counted from the server's journal; nothing asserts a speed, only bounds that the
rate limits guarantee with a wide margin (before the fixes, the counts were in the thousands).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import pytest
from _helpers.controllers import running

from kopf_informers import (
    ApiClient,
    Controller,
    InvalidArgumentError,
    NotFoundError,
    set_controller_reference,
)
from kopf_informers._controller import HOT_LOOP_STREAK
from kopf_informers.testing import EmbeddedApiServer, eventually

pytestmark = pytest.mark.embedded_apiserver(bookmark_interval=0.2, simulate_workloads=False)

CM = "v1/configmaps"
DEPLOY = "apps/v1/deployments"
NS = "default"
LAG = 6.0  # seconds the primary's watch lags behind in the lag scenarios
WRITE_VERBS = ("create", "update", "patch", "delete")


def deployment_for(owner: Any) -> dict[str, Any]:
    name = owner["metadata"]["name"]
    labels = {"app": name}
    child = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }
    return set_controller_reference(owner, child)


def writes(server: EmbeddedApiServer, since: int = 0) -> list[Any]:
    """Write requests in the journal (the server's own controllers write internally)."""
    entries = list(server.journal)[since:]
    return [e for e in entries if e.verb in WRITE_VERBS and e.resource != "events"]


def foo_like(deployments: list[Any]) -> Any:
    """A reconcile function shaped like the Foo operator's: the child from the cache, created
    when missing; the primary then records its child's uid (a write to the primary)."""

    async def reconcile(name: str, namespace: str, body: Any, api: ApiClient, **_: Any) -> None:
        informer = deployments[0]
        child = informer.lister.get(name, namespace)
        if child is None:
            child = await api.create(DEPLOY, deployment_for(body), namespace=namespace)
        uid = child["metadata"]["uid"]
        if (body["metadata"].get("annotations") or {}).get("child") != uid:
            await api.patch(CM, name, {"metadata": {"annotations": {"child": uid}}},
                            namespace=namespace)

    return reconcile


def owner_uid(child: Any) -> str:
    return str(child["metadata"]["ownerReferences"][0]["uid"])


async def settled(api: ApiClient, name: str) -> tuple[Any, Any]:
    """The primary and its child, once the child exists and the primary records it."""
    state: dict[str, Any] = {}

    async def done() -> bool:
        try:
            state["cm"] = await api.get(CM, name, namespace=NS)
            state["child"] = await api.get(DEPLOY, name, namespace=NS)
        except NotFoundError:
            return False
        recorded = (state["cm"]["metadata"].get("annotations") or {}).get("child")
        return (recorded == state["child"]["metadata"]["uid"]
                and owner_uid(state["child"]) == state["cm"]["metadata"]["uid"])

    await eventually(done, f"{name} and its child settled")
    return state["cm"], state["child"]


@pytest.mark.parametrize("recreate", [
    pytest.param(False, id="deleted"),
    pytest.param(True, id="deleted-and-created-again"),
])
async def test_a_lagging_primary_cache_does_not_make_a_hot_loop(
        server: EmbeddedApiServer, api: ApiClient, recreate: bool) -> None:
    deployments: list[Any] = []
    controller = Controller(name="lagging", resource=CM, fn=foo_like(deployments),
                            owns=[DEPLOY], max_concurrent=2)
    async with running(api, controller):
        deployments.append(controller.informers[1])
        await api.create(CM, {"metadata": {"name": "web", "namespace": NS}}, namespace=NS)
        await settled(api, "web")

        server.faults.delay_watches(LAG, resource="configmaps")
        since = len(list(server.journal))
        await api.delete(CM, "web", namespace=NS)  # the GC then deletes its Deployment
        if recreate:
            await api.create(CM, {"metadata": {"name": "web", "namespace": NS}}, namespace=NS)
        await asyncio.sleep(LAG + 1.0)  # the lag itself: the scenario needs real time to pass
        during_lag = writes(server, since)[1 + recreate:]  # less the test's own

        if recreate:
            cm, child = await settled(api, "web")
            assert owner_uid(child) == cm["metadata"]["uid"]
        else:
            async def child_gone() -> bool:
                try:
                    await api.get(DEPLOY, "web", namespace=NS)
                except NotFoundError:
                    return True
                return False
            await eventually(child_gone, "the deleted primary's child garbage-collected")

        # Before the fix: thousands of writes in the lag (create, GC delete, re-queue, create);
        # now one round of the stale reconcile, then nothing until the cache catches up.
        assert len(during_lag) <= 10, [(e.verb, e.resource, e.status) for e in during_lag]
        # And once the cache has caught up, it stays quiet: no write in a second of calm.
        calm_from = len(list(server.journal))
        await asyncio.sleep(1.0)
        assert writes(server, calm_from) == []


async def test_a_child_created_and_deleted_during_a_410_outage_is_created_again(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    deployments: list[Any] = []
    reconcile = foo_like(deployments)
    outage = asyncio.Event()

    async def reconcile_with_outage(body: Any, api: ApiClient, **kwargs: Any) -> None:
        if outage.is_set():
            await reconcile(body=body, api=api, **kwargs)
            return
        # Both watches go down just before the child is created; the primary is left as it
        # is, so that no diff of its relist tells anything.
        outage.set()
        server.faults.fail("watch", "*", 503, count=10**6)
        server.faults.drop_watches()
        await api.create(DEPLOY, deployment_for(body), namespace=NS)

    controller = Controller(name="outage", resource=CM, fn=reconcile_with_outage, owns=[DEPLOY])
    async with running(api, controller):
        deployments.append(controller.informers[1])
        await api.create(CM, {"metadata": {"name": "web", "namespace": NS}}, namespace=NS)
        await eventually(outage.is_set, "the first reconcile")

        async def child() -> Any:
            try:
                return await api.get(DEPLOY, "web", namespace=NS)
            except NotFoundError:
                return None

        await eventually(lambda: child(), "the child created during the outage")
        first = await child()
        await api.delete(DEPLOY, "web", namespace=NS)  # a user deletes it during the outage
        assert deployments[0].lister.get("web", NS) is None  # the informer never saw it
        server.faults.expire_history()  # ... and the outage ends in 410 Gone
        server.faults.clear()

        async def recreated() -> bool:
            again = await child()
            return again is not None and again["metadata"]["uid"] != first["metadata"]["uid"]

        await eventually(recreated, "the child created again after the relists")
        cm = await api.get(CM, "web", namespace=NS)
        assert owner_uid(await child()) == cm["metadata"]["uid"]


async def test_a_key_whose_writes_keep_being_undone_is_slowed_down(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    """A reconcile that never fails, yet writes every time because its writes are undone (here
    by the test, as another writer fighting over a label would): the loop slows down."""
    rounds: list[float] = []

    async def fight(name: str, namespace: str, api: ApiClient, **_: Any) -> None:
        rounds.append(asyncio.get_running_loop().time())
        await api.patch(CM, name, {"metadata": {"labels": {"round": str(len(rounds))}}},
                        namespace=namespace)
        await asyncio.sleep(0.03)  # a reconcile that takes its time: the undo lands during it

    async def undo_forever() -> None:  # the other writer: removes the label at once
        while True:
            with contextlib.suppress(NotFoundError):
                await api.patch(CM, "fought", {"metadata": {"labels": None}}, namespace=NS)
            await asyncio.sleep(0.01)

    controller = Controller(name="fight", resource=CM, fn=fight)
    async with running(api, controller):
        await api.create(CM, {"metadata": {"name": "fought", "namespace": NS}}, namespace=NS)
        other = asyncio.create_task(undo_forever())
        try:
            await eventually(lambda: len(rounds) >= HOT_LOOP_STREAK + 7, "17 rounds")
        finally:
            other.cancel()
    # Past the streak, each round waits at least its hold: 5 ms doubling (the timers'
    # guarantee, minus their resolution). Unheld, a round follows the last in milliseconds.
    gaps = [b - a for a, b in itertools.pairwise(rounds)][HOT_LOOP_STREAK:HOT_LOOP_STREAK + 6]
    holds = [0.005 * 2 ** n for n in range(len(gaps))]
    assert all(gap >= 0.9 * hold for gap, hold in zip(gaps, holds, strict=True)), gaps


async def test_a_resync_period_reconciles_every_primary_again(api: ApiClient) -> None:
    seen: list[str] = []

    async def record(name: str, **_: Any) -> None:
        seen.append(name)

    controller = Controller(name="resync", resource=CM, fn=record, resync_period=1.0)
    async with running(api, controller):
        await api.create(CM, {"metadata": {"name": "steady", "namespace": NS}}, namespace=NS)
        await eventually(lambda: seen.count("steady") >= 3, "two resyncs after the first run")


@pytest.mark.parametrize("period", [0, 0.5, -1, float("nan")])
def test_a_resync_period_under_a_second_is_refused(period: float) -> None:
    with pytest.raises(InvalidArgumentError, match="resync_period"):
        Controller(name="bad", resource=CM, fn=lambda **_: None, resync_period=period)


async def test_a_throttled_reconcile_waits_as_long_as_the_server_asked(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    attempts: list[float] = []

    async def patch_itself(name: str, namespace: str, api: ApiClient, **_: Any) -> None:
        attempts.append(asyncio.get_running_loop().time())
        await api.patch(CM, name, {"data": {"seen": "yes"}}, namespace=namespace)

    controller = Controller(name="throttled", resource=CM, fn=patch_itself)
    server.faults.fail("patch", "configmaps", 429, count=2, retry_after=1)
    async with running(api, controller):
        await api.create(CM, {"metadata": {"name": "slow", "namespace": NS}}, namespace=NS)
        await eventually(lambda: len(attempts) >= 3, "two throttled attempts, then one more")
    # Backoff alone would retry after 5 and 10 ms; the server said 1 s each time.
    assert attempts[1] - attempts[0] >= 0.95
    assert attempts[2] - attempts[1] >= 0.95
