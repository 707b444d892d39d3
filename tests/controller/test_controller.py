"""The reconcile loop for real: controllers against the embedded API server, and inside Kopf.

Two layers:

- The :class:`~kopf_informers.Controller` alone, on the test's loop: informers → keys →
  workqueue → reconcile, with owned children (Deployments and ConfigMaps owned by a ConfigMap
  through ``set_controller_reference``), mapped watches, backoff, ``requeue_after``, finalizers,
  concurrency and predicates. The server runs no workload simulation here, so nothing but the
  test and the controller writes.
- The real Kopf (``kopf.testing.KopfRunner``) running ``operators/informers_operator.py``: the
  startup order (caches synced before workers and before Kopf's own handlers), ``backoff`` on a
  plain Kopf handler, the probe, the cleanup, and a double import.

What "did not happen" is proven with a sentinel, never with a sleep: informer handlers run in
watch order, the queue is FIFO, and one worker takes keys one by one, so once a key enqueued
after the event under test has been reconciled, a key that event would have enqueued would have
been reconciled before it. Every wait is a bounded poll. Timing assertions are lower bounds
that the timers guarantee, and ratios with generous tolerances, checked only on intervals that
no stall of the whole process touched (a busy host, a paused VM); nothing asserts a speed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kopf
import kopf.testing
import kubernetes
import pytest
from _helpers.controllers import WAIT, running
from kubernetes.client import V1ConfigMap, V1ObjectMeta, V1Secret

from kopf_informers import (
    ApiClient,
    Controller,
    ItemExponentialFailureRateLimiter,
    NotFoundError,
    Request,
    Result,
    generation_changed,
    has_finalizer,
    set_controller_reference,
    set_owner_reference,
)
from kopf_informers.testing import (
    EmbeddedApiServer,
    eventually,
    isolated_kopf,
    kopf_logging_undone,
    wait_until,
)

pytestmark = pytest.mark.embedded_apiserver(bookmark_interval=0.2, simulate_workloads=False)

CM = "v1/configmaps"
SECRETS = "v1/secrets"
DEPLOY = "apps/v1/deployments"
NS = "default"
FINALIZER = "example.com/cleanup"


# -- fixtures and helpers -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Call:
    """One call of a reconcile function, as the function saw it."""

    name: str
    retry: int
    cleanup: bool
    at: float  # loop.time()
    body: Any
    synced: bool  # whether every informer of the controller had synced
    action: str = ""


class Recorder:
    """A reconcile function's calls, by name; the function itself is the test's."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.controller: Controller | None = None

    def record(self, name: str, retry: int, cleanup: bool, body: Any, action: str = "") -> Call:
        synced = self.controller is not None and all(
            informer.has_synced for informer in self.controller.informers)
        call = Call(name, retry, cleanup, asyncio.get_running_loop().time(), body, synced, action)
        self.calls.append(call)
        return call

    def of(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]

    def count(self, name: str) -> int:
        return len(self.of(name))


async def create_cm(api: ApiClient, name: str, **data: str) -> Any:
    return await api.create(CM, {"metadata": {"name": name}, "data": dict(data)}, namespace=NS)


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "app", "image": "nginx"}]}},
        },
    }


async def read(api: ApiClient, resource: str, name: str) -> Any:
    try:
        return await api.get(resource, name, namespace=NS)
    except NotFoundError:
        return None


async def gone(api: ApiClient, name: str, resource: str = CM) -> bool:
    return await read(api, resource, name) is None


def labels_of(controller: Controller, name: str) -> Any:
    """The labels of a primary as the controller's cache shows it (its handlers have seen it)."""
    assert controller.primary is not None
    cached = controller.primary.lister.get(name, NS)
    return None if cached is None else cached["metadata"].get("labels")


async def sentinel(api: ApiClient, recorder: Recorder, owner: str, child: str) -> None:
    """Give the owner (already reconciled) a child Deployment, and wait until the owner is
    reconciled for it: every event of the Deployments' informer before it has been handled."""
    before = recorder.count(owner)
    body = await api.get(CM, owner, namespace=NS)
    await api.create(DEPLOY, set_controller_reference(body, deployment(child, 1)), namespace=NS)
    await eventually(lambda: recorder.count(owner) > before, f"{owner} is reconciled")


# -- a ConfigMap that owns a Deployment -----------------------------------------------------------


class DeploymentOwner(Recorder):
    """A ConfigMap with ``data.replicas`` owns the Deployment ``<name>-deploy`` with as many
    replicas; other ConfigMaps are only recorded. It reads the child from the cache."""

    async def __call__(self, *, name: str, namespace: str, body: Any, api: ApiClient,
                       retry: int, cleanup: bool, **_: Any) -> None:
        assert self.controller is not None
        replicas = (body.get("data") or {}).get("replicas")
        if replicas is None:
            self.record(name, retry, cleanup, body)
            return
        deployments = self.controller.informers[1].lister
        current = deployments.get(f"{name}-deploy", namespace)
        if current is None:
            child = set_controller_reference(body, deployment(f"{name}-deploy", int(replicas)))
            await api.create(DEPLOY, child, namespace=namespace)
            action = "created"
        elif current["spec"]["replicas"] != int(replicas):
            await api.patch(DEPLOY, f"{name}-deploy", {"spec": {"replicas": int(replicas)}},
                            namespace=namespace)
            action = "restored"
        else:
            action = "unchanged"
        self.record(name, retry, cleanup, body, action)


def deployment_owner(**kwargs: Any) -> tuple[Controller, DeploymentOwner]:
    fn = DeploymentOwner()
    controller = Controller(name="cm-deployments", resource=CM, fn=fn, owns=[DEPLOY], **kwargs)
    fn.controller = controller
    return controller, fn


async def settled_owner(api: ApiClient, fn: DeploymentOwner, name: str) -> None:
    """Create the owner and wait for its steady state: the Deployment made, then the reconcile
    that its add event brings finds nothing to do."""
    await create_cm(api, name, replicas="2")
    await eventually(lambda: [c.action for c in fn.of(name)] == ["created", "unchanged"],
                     f"{name} made its Deployment and settled")


async def test_a_deleted_child_is_recreated_by_one_reconcile_of_its_owner(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    controller, fn = deployment_owner()
    async with running(api, controller):
        await settled_owner(api, fn, "web")
        first = await api.get(DEPLOY, "web-deploy", namespace=NS)
        before = fn.count("web")

        await api.delete(DEPLOY, "web-deploy", namespace=NS)
        await eventually(lambda: fn.count("web") > before, "the owner is reconciled")
        recreated = await read(api, DEPLOY, "web-deploy")

        # The very first reconcile after the delete recreated it: one was enough.
        assert fn.of("web")[before].action == "created"
        assert recreated is not None
        assert recreated["metadata"]["uid"] != first["metadata"]["uid"]
        assert recreated["metadata"]["ownerReferences"][0]["name"] == "web"
        creates = server.journal.filter(verb="create", resource="deployments")  # web-deploy's
        assert [e.status for e in creates] == [201, 201]
    assert all(call.retry == 0 for call in fn.calls)
    assert controller.reconciles["error"] == 0


async def test_an_edited_child_is_restored_by_its_owner(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    controller, fn = deployment_owner()
    async with running(api, controller):
        await settled_owner(api, fn, "web")
        before = fn.count("web")

        await api.patch(DEPLOY, "web-deploy", {"spec": {"replicas": 5}}, namespace=NS)
        await eventually(lambda: fn.count("web") > before, "the owner is reconciled")
        assert fn.of("web")[before].action == "restored"
        await eventually(lambda: fn.count("web") > before + 1, "the restore is seen")
        restored = await api.get(DEPLOY, "web-deploy", namespace=NS)
        assert restored["spec"]["replicas"] == 2
        assert fn.of("web")[before + 1].action == "unchanged"


async def test_children_without_a_controller_of_the_primary_kind_enqueue_nothing(
        api: ApiClient) -> None:
    controller, fn = deployment_owner()
    async with running(api, controller):
        await settled_owner(api, fn, "web")
        await create_cm(api, "marker")
        await eventually(lambda: fn.count("marker") == 1, "the sentinel's owner is reconciled")
        web = await api.get(CM, "web", namespace=NS)
        # A Secret named as the ConfigMap: same name and group, another kind.
        secret = await api.create(SECRETS, {"metadata": {"name": "web"}}, namespace=NS)
        before = fn.count("web")

        await api.create(DEPLOY, deployment("orphan", 1), namespace=NS)
        await api.create(DEPLOY, set_owner_reference(web, deployment("not-controlled", 1)),
                         namespace=NS)
        await api.create(DEPLOY, set_controller_reference(secret, deployment("by-secret", 1)),
                         namespace=NS)
        await api.patch(DEPLOY, "orphan", {"spec": {"replicas": 2}}, namespace=NS)
        await api.delete(DEPLOY, "by-secret", namespace=NS)
        await sentinel(api, fn, "marker", "marker-child")

        assert fn.count("web") == before
        deployments = controller.informers[1].lister
        assert {"orphan", "not-controlled"} <= {
            d["metadata"]["name"] for d in deployments.list(NS)}  # seen, and ignored


async def test_any_owner_enqueues_non_controller_owners_too(api: ApiClient) -> None:
    controller, fn = deployment_owner(any_owner=True)
    async with running(api, controller):
        await create_cm(api, "web")
        await eventually(lambda: fn.count("web") == 1, "web is reconciled")
        web = await api.get(CM, "web", namespace=NS)

        await api.create(DEPLOY, set_owner_reference(web, deployment("shared", 1)),
                         namespace=NS)
        await eventually(lambda: fn.count("web") == 2, "web is reconciled for its child")


async def test_a_child_handed_to_another_owner_enqueues_both_owners(api: ApiClient) -> None:
    fn = Recorder()

    def reconcile(*, name: str, retry: int, cleanup: bool, body: Any, **_: Any) -> None:
        fn.record(name, retry, cleanup, body)

    controller = Controller(name="cm-cms", resource=CM, fn=reconcile, owns=[CM])
    fn.controller = controller
    async with running(api, controller):
        old = await create_cm(api, "old")
        new = await create_cm(api, "new")
        await api.create(CM, set_controller_reference(old, {"metadata": {"name": "child",
                                                                         "namespace": NS}}),
                         namespace=NS)
        await eventually(lambda: fn.count("old") == 2 and fn.count("child") == 1,
                         "the owner is reconciled for its new child")
        before_old, before_new = fn.count("old"), fn.count("new")

        child = await api.get(CM, "child", namespace=NS)
        handed = set_controller_reference(new, {**child, "metadata": {
            **child["metadata"], "ownerReferences": []}})
        await api.replace(CM, handed, namespace=NS)
        await eventually(lambda: fn.count("old") > before_old and fn.count("new") > before_new,
                         "both owners are reconciled")


# -- watches with a map function ------------------------------------------------------------------


async def test_a_watched_object_enqueues_what_the_map_function_returns(api: ApiClient) -> None:
    fn = Recorder()
    mapped: list[str] = []

    def reconcile(*, name: str, retry: int, cleanup: bool, body: Any, **_: Any) -> None:
        fn.record(name, retry, cleanup, body)

    def secret_to_configmaps(secret: Any) -> list[Any]:
        mapped.append(secret["metadata"]["name"])
        targets = (secret["metadata"].get("annotations") or {}).get("example.com/for", "")
        # Every form a map function may answer with: "ns/name", (ns, name), Request.
        forms: list[Any] = [f"{NS}/{t}" if i % 3 == 0 else (NS, t) if i % 3 == 1
                            else Request(NS, t) for i, t in enumerate(targets.split(",")) if t]
        return forms

    controller = Controller(name="cm-secrets", resource=CM, fn=reconcile,
                            watches={SECRETS: secret_to_configmaps})
    fn.controller = controller
    async with running(api, controller):
        for name in ("a", "b", "c", "d"):
            await create_cm(api, name)
        await eventually(lambda: all(fn.count(n) == 1 for n in "abcd"), "all are reconciled")

        await api.create(SECRETS, {"metadata": {"name": "s1", "annotations": {
            "example.com/for": "a,b,c"}}}, namespace=NS)
        await eventually(lambda: all(fn.count(n) == 2 for n in "abc"),
                         "the mapped objects are reconciled")
        await api.create(SECRETS, {"metadata": {"name": "s2"}}, namespace=NS)  # maps to none
        await api.create(SECRETS, {"metadata": {"name": "s3", "annotations": {
            "example.com/for": "d"}}}, namespace=NS)
        await eventually(lambda: fn.count("d") == 2, "the sentinel is reconciled")

        assert mapped == ["s1", "s2", "s3"]
        assert [fn.count(n) for n in "abcd"] == [2, 2, 2, 2]

        await api.delete(SECRETS, "s1", namespace=NS)  # deletes are mapped too
        await eventually(lambda: all(fn.count(n) == 3 for n in "abc"),
                         "the mapped objects are reconciled on delete")


# -- errors and backoff ---------------------------------------------------------------------------


def recording(fn: Recorder, *, fail: Callable[[Call], bool] = lambda call: False,
              result: Callable[[Call], Any] = lambda call: None) -> Callable[..., Any]:
    """A reconcile function that records each call, then fails or returns as told."""

    async def reconcile(*, name: str, retry: int, cleanup: bool, body: Any, **_: Any) -> Any:
        call = fn.record(name, retry, cleanup, body)
        if fail(call):
            raise RuntimeError(f"failure #{retry + 1}")
        return result(call)

    return reconcile


def intervals(calls: list[Call]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(calls)]


class Stalls:
    """Moments when this process did not run: a thread sleeping 5 ms at a time notes every
    oversleep beyond ``threshold``. A busy host or a paused VM may stop the process for a while,
    which lengthens any interval across that moment: upper bounds are checked only on intervals
    that no stall touched (lower bounds always are). Times are ``time.monotonic()``, which is
    also asyncio's ``loop.time()``."""

    def __init__(self, threshold: float = 0.05) -> None:
        self.threshold = threshold
        self.windows: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stall-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        before = time.monotonic()
        while not self._stop.wait(0.005):
            now = time.monotonic()
            if now - before > 0.005 + self.threshold:
                self.windows.append((before, now))
            before = now

    def touch(self, start: float, end: float) -> bool:
        return any(a < end and b > start for a, b in self.windows)

    def ratios(self, times: list[float], first: int, last: int) -> list[float]:
        """``gap[k + 1] / gap[k]`` for ``first <= k < last``, where gap ``k`` runs from
        ``times[k]`` to ``times[k + 1]``, for the pairs of gaps that no stall touched."""
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return [gaps[k + 1] / gaps[k] for k in range(first, last)
                if not self.touch(times[k], times[k + 2])]


@pytest.fixture
def stalls() -> Iterator[Stalls]:
    watch = Stalls()
    watch.start()
    yield watch
    watch.stop()


async def test_an_always_failing_reconcile_is_retried_on_the_exponential_schedule(
        api: ApiClient, caplog: pytest.LogCaptureFixture, stalls: Stalls) -> None:
    base, cap = 0.05, 0.4
    fn = Recorder()
    controller = Controller(
        name="failing", resource=CM, fn=recording(fn, fail=lambda call: True),
        rate_limiter=ItemExponentialFailureRateLimiter(base=base, cap=cap),
    )
    fn.controller = controller
    calls = 8  # the delays: 0.05 0.1 0.2 0.4 0.4 0.4 0.4 (capped)
    with caplog.at_level(logging.ERROR, logger="kopf_informers.ctrl"):
        async with running(api, controller):
            await create_cm(api, "doomed")
            await eventually(lambda: fn.count("doomed") >= calls, f"{calls} attempts")
    stopped_at = asyncio.get_running_loop().time()

    attempts = fn.of("doomed")
    delays = [min(base * 2 ** n, cap) for n in range(len(attempts) - 1)]
    gaps = intervals(attempts)
    assert [call.retry for call in attempts] == list(range(len(attempts)))
    # Never earlier than the backoff (the timer's guarantee, give or take its resolution) ...
    assert all(gap >= 0.9 * delay for gap, delay in zip(gaps, delays, strict=True)), gaps
    # ... and roughly doubling until the cap, then flat. Generous: a slow machine adds latency.
    # (The first gap, 50 ms, is left out of the ratios: latency weighs too much on it.)
    times = [call.at for call in attempts]
    doubling, capped = stalls.ratios(times, 1, 3), stalls.ratios(times, 3, len(gaps) - 1)
    assert doubling, f"stalls touched every interval: {gaps} {stalls.windows}"
    assert capped, f"stalls touched every interval: {gaps} {stalls.windows}"
    assert all(1.3 <= ratio <= 3.0 for ratio in doubling), (gaps, stalls.windows)
    assert all(0.6 <= ratio <= 1.6 for ratio in capped), (gaps, stalls.windows)
    # Bounded: no more attempts than the backoff leaves room for in the time it ran.
    elapsed = stopped_at - attempts[0].at
    room = sum(1 for n in range(1, 100) if sum(min(base * 2 ** k, cap) for k in range(n))
               <= elapsed * 1.01)
    assert len(attempts) <= 1 + room
    assert controller.reconciles["error"] == len(attempts)
    assert controller.reconciles["success"] == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("(3 failures so far; next try in" in m and "failure #3" in m
               for m in messages), messages
    # One line a retry; a traceback only with an error not seen before for this object (the
    # function's message names its attempt, so each of these errors is new).
    failures = [r for r in caplog.records if "reconciling default/doomed failed" in r.getMessage()]
    assert len(failures) == len(attempts)
    assert all(r.exc_info is not None for r in failures)


async def test_a_repeated_failure_logs_its_traceback_once(
        api: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    async def fail(**_: Any) -> None:
        raise RuntimeError("the same every time")

    controller = Controller(name="samefail", resource=CM, fn=fail)
    async with running(api, controller):
        await create_cm(api, "same")
        await eventually(lambda: controller.reconciles["error"] >= 5, "5 failures")
    failures = [r for r in caplog.records if "reconciling default/same failed" in r.getMessage()]
    assert len(failures) >= 5
    assert [r.exc_info is not None for r in failures[:3]] == [True, False, False]
    assert "RuntimeError: the same every time" in failures[1].getMessage()


async def test_a_success_after_failures_resets_the_backoff(api: ApiClient) -> None:
    fn = Recorder()
    failures = 3
    controller = Controller(
        name="recovering", resource=CM,
        fn=recording(fn, fail=lambda call: call.body["data"]["mode"] == "flaky"
                     and call.retry < failures),
        rate_limiter=ItemExponentialFailureRateLimiter(base=0.02, cap=1.0),
    )
    fn.controller = controller
    async with running(api, controller):
        await create_cm(api, "flaky", mode="flaky")
        await eventually(lambda: fn.count("flaky") == failures + 1, "the reconcile succeeds")
        assert [c.retry for c in fn.of("flaky")] == [0, 1, 2, 3]

        # A new event: the key starts afresh, not at the 4th failure's backoff.
        await api.patch(CM, "flaky", {"data": {"mode": "steady"}}, namespace=NS)
        await eventually(lambda: fn.count("flaky") == failures + 2, "the change is reconciled")
        assert fn.of("flaky")[-1].retry == 0
        assert controller.queue is not None
        assert controller.queue.num_requeues(Request(NS, "flaky")) == 0
    assert controller.reconciles["error"] == failures
    assert controller.reconciles["success"] == 2


async def test_requeue_after_reconciles_again_later_without_any_event(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    fn = Recorder()
    after, rounds = 0.2, 3
    controller = Controller(
        name="polling", resource=CM,
        fn=recording(fn, result=lambda call: Result.requeue_after(after)
                     if len(fn.of(call.name)) < rounds else None),
    )
    fn.controller = controller
    async with running(api, controller):
        await create_cm(api, "poll")
        await eventually(lambda: fn.count("poll") >= rounds, "the requeued reconciles")

    polls = fn.of("poll")
    assert len(polls) == rounds  # the last one returned None: done
    assert all(gap >= 0.9 * after for gap in intervals(polls)), intervals(polls)
    assert all(call.retry == 0 for call in polls)
    # Nothing but the create was written: the reconciles came from the queue, not from events.
    writes = [e for e in server.journal.filter(resource="configmaps")
              if e.verb in ("create", "update", "patch", "delete")]
    assert [e.verb for e in writes] == ["create"]
    assert controller.reconciles["requeue_after"] == rounds - 1


async def test_a_reconcile_returning_something_else_than_a_result_is_an_error_and_retried(
        api: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    fn = Recorder()
    controller = Controller(
        name="sloppy", resource=CM,
        fn=recording(fn, result=lambda call: "ok" if call.retry == 0 else Result.done()),
        rate_limiter=ItemExponentialFailureRateLimiter(base=0.01, cap=1.0),
    )
    fn.controller = controller
    with caplog.at_level(logging.ERROR, logger="kopf_informers.ctrl"):
        async with running(api, controller):
            await create_cm(api, "sloppy")
            await eventually(lambda: fn.count("sloppy") == 2, "the retry")

    assert [c.retry for c in fn.of("sloppy")] == [0, 1]
    [error] = [r for r in caplog.records if r.name == "kopf_informers.ctrl"]
    message = error.getMessage()
    assert "returned 'ok'" in message
    assert "Result.requeue_after" in message
    assert controller.reconciles == {"success": 1, "error": 1, "requeue_after": 0}


# -- finalizers -----------------------------------------------------------------------------------


async def test_a_controller_given_a_namespace_never_touches_another(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    for namespace in ("a", "b"):
        await api.create("v1/namespaces", {"metadata": {"name": namespace}})
        await api.create(CM, {"metadata": {"name": "cm", "namespace": namespace}},
                         namespace=namespace)
    reconciled: list[str] = []

    async def reconcile(name: str, namespace: str, **_: Any) -> None:
        reconciled.append(f"{namespace}/{name}")

    controller = Controller(name="narrow", resource=CM, fn=reconcile, namespace="a",
                            owns=["v1/secrets"], finalizer=FINALIZER)
    async with running(api, controller):
        await eventually(lambda: reconciled == ["a/cm"], "a/cm reconciled")
        await api.create(CM, {"metadata": {"name": "late", "namespace": "b"}}, namespace="b")
        await api.create(CM, {"metadata": {"name": "late", "namespace": "a"}}, namespace="a")
        await eventually(lambda: "a/late" in reconciled, "a/late reconciled")
    assert sorted(reconciled) == ["a/cm", "a/late"]
    in_b = server.journal.filter(namespace="b")  # the test's own creates, nothing else
    assert [(e.verb, e.name) for e in in_b if e.verb != "create"] == []
    assert not has_finalizer(await api.get(CM, "cm", namespace="b"), FINALIZER)
    assert not [e for e in server.journal if e.verb in ("list", "watch") and e.namespace is None
                and e.resource in ("configmaps", "secrets")]


async def test_the_finalizer_flow_adds_cleans_up_once_removes_and_lets_the_object_go(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    fn = Recorder()
    touched: list[str] = []

    async def reconcile(*, name: str, retry: int, cleanup: bool, body: Any, api: ApiClient,
                        **_: Any) -> None:
        fn.record(name, retry, cleanup, body)
        if cleanup and not touched:
            # Events keep coming while cleaning up: this one arrives mid-reconcile (the cache
            # shows it once its handlers have had it), so the key is queued again for right
            # after the cleanup.
            touched.append(name)
            await api.patch(CM, name, {"metadata": {"labels": {"cleaning": "yes"}}},
                            namespace=NS)
            await eventually(lambda: labels_of(controller, name) == {"cleaning": "yes"},
                             "the event is delivered")

    controller = Controller(name="finalizing", resource=CM, fn=reconcile, finalizer=FINALIZER)
    fn.controller = controller
    async with running(api, controller):
        await create_cm(api, "precious")
        await eventually(lambda: fn.count("precious") == 1, "the first reconcile")
        [first] = fn.of("precious")
        assert not first.cleanup
        assert has_finalizer(first.body, FINALIZER)  # added before the first normal reconcile
        on_server = await api.get(CM, "precious", namespace=NS)
        assert on_server["metadata"]["finalizers"] == [FINALIZER]

        await api.delete(CM, "precious", namespace=NS)
        await eventually(lambda: any(c.cleanup for c in fn.of("precious")), "the cleanup")
        await eventually(lambda: gone(api, "precious"), "the object is gone")
        # A sentinel: the key queued again during the cleanup was handed out before it.
        await create_cm(api, "marker")
        await eventually(lambda: fn.count("marker") == 1, "the sentinel is reconciled")

    cleanups = [c for c in fn.of("precious") if c.cleanup]
    assert len(cleanups) == 1
    assert cleanups[0].body["metadata"]["deletionTimestamp"]
    assert all(has_finalizer(c.body, FINALIZER) for c in fn.of("precious"))
    assert controller.reconciles["error"] == 0
    patches = server.journal.filter(verb="patch", resource="configmaps", name="precious")
    json_patches = [e for e in patches if e.content_type == "application/json-patch+json"]
    # Added once; removed once: the removal, computed from the object the cleanup got, met
    # the label change made during the cleanup (422 on its `test`), re-read it, and succeeded.
    assert [e.status for e in json_patches] == [200, 422, 200]


async def test_a_failing_cleanup_is_retried_and_the_object_stays_until_it_succeeds(
        api: ApiClient) -> None:
    fn = Recorder()
    seen_on_server: list[Any] = []

    async def reconcile(*, name: str, retry: int, cleanup: bool, body: Any, api: ApiClient,
                        **_: Any) -> None:
        fn.record(name, retry, cleanup, body)
        if cleanup:
            seen_on_server.append(await read(api, CM, name))
            if retry < 2:
                raise RuntimeError("the external thing is not cleaned up yet")

    controller = Controller(name="finalizing", resource=CM, fn=reconcile, finalizer=FINALIZER,
                            rate_limiter=ItemExponentialFailureRateLimiter(base=0.02, cap=1.0))
    fn.controller = controller
    async with running(api, controller):
        await create_cm(api, "stubborn")
        await eventually(lambda: fn.count("stubborn") == 1, "the first reconcile")
        await api.delete(CM, "stubborn", namespace=NS)
        await eventually(lambda: gone(api, "stubborn"), "the object is gone")

    cleanups = [c for c in fn.of("stubborn") if c.cleanup]
    assert [c.retry for c in cleanups] == [0, 1, 2]
    # While the cleanup failed, the object stayed, held by the finalizer.
    assert all(obj is not None and obj["metadata"]["finalizers"] == [FINALIZER]
               and obj["metadata"]["deletionTimestamp"] for obj in seen_on_server)
    assert controller.reconciles["error"] == 2


# -- concurrency ----------------------------------------------------------------------------------


async def test_two_workers_reconcile_two_keys_at_once_but_never_one_key_twice(
        api: ApiClient) -> None:
    fn = Recorder()
    active: set[str] = set()
    overlaps: list[str] = []
    peak = 0
    release = asyncio.Event()

    async def reconcile(*, name: str, retry: int, cleanup: bool, body: Any, **_: Any) -> None:
        nonlocal peak
        if name in active:
            overlaps.append(name)
        active.add(name)
        peak = max(peak, len(active))
        fn.record(name, retry, cleanup, body)
        try:
            await asyncio.wait_for(release.wait(), WAIT)
        finally:
            active.discard(name)

    controller = Controller(name="parallel", resource=CM, fn=reconcile, max_concurrent=2)
    fn.controller = controller
    await create_cm(api, "a")
    await create_cm(api, "b")
    async with running(api, controller) as factory:
        await eventually(lambda: active == {"a", "b"}, "both keys are being reconciled at once")
        informer = factory.informer(CM)
        for i in range(3):  # events for a key in flight
            await api.patch(CM, "a", {"data": {"i": str(i)}}, namespace=NS)
        await eventually(lambda: (informer.lister.get("a", NS) or {}).get("data") == {"i": "2"},
                         "the cache has the last change")
        release.set()
        await eventually(lambda: fn.count("a") == 2, "the changes are reconciled once more")
        await create_cm(api, "z")
        await eventually(lambda: fn.count("z") == 1, "the sentinel is reconciled")

    assert peak == 2
    assert overlaps == []
    assert fn.count("a") == 2  # three events while in flight collapsed into one reconcile
    assert fn.of("a")[1].body["data"] == {"i": "2"}  # and it saw the latest state
    assert fn.count("b") == 1


# -- predicates -----------------------------------------------------------------------------------


async def test_generation_changed_filters_updates_of_a_deployment_primary(
        api: ApiClient) -> None:
    fn = Recorder()

    def reconcile(*, name: str, retry: int, cleanup: bool, body: Any, **_: Any) -> None:
        fn.record(name, retry, cleanup, body)

    controller = Controller(name="deployments", resource=DEPLOY, fn=reconcile,
                            predicates=[generation_changed])
    fn.controller = controller
    async with running(api, controller):
        await api.create(DEPLOY, deployment("app", 1), namespace=NS)
        await api.create(DEPLOY, deployment("marker", 1), namespace=NS)
        await eventually(lambda: fn.count("app") == 1 and fn.count("marker") == 1, "created")

        await api.patch(DEPLOY, "app", {"metadata": {"labels": {"tier": "web"}}}, namespace=NS)
        await api.patch_status(DEPLOY, "app", {"status": {"observedGeneration": 1}},
                               namespace=NS)
        await api.patch(DEPLOY, "marker", {"spec": {"replicas": 2}}, namespace=NS)
        await eventually(lambda: fn.count("marker") == 2, "the sentinel's spec change")
        assert fn.count("app") == 1  # labels and status: the generation did not change

        await api.patch(DEPLOY, "app", {"spec": {"replicas": 3}}, namespace=NS)
        await eventually(lambda: fn.count("app") == 2, "the spec change is reconciled")
        last = fn.of("app")[-1].body
        assert last["metadata"]["generation"] == 2
        assert last["metadata"]["labels"]["tier"] == "web"  # level-triggered: all it missed


# -- startup order --------------------------------------------------------------------------------


async def test_no_reconcile_sees_an_informer_that_has_not_synced(
        server: EmbeddedApiServer, api: ApiClient) -> None:
    controller, fn = deployment_owner()
    for name in ("a", "b", "c"):
        await create_cm(api, name, replicas="1")
    # The children's list is slow: the primary syncs first and enqueues its keys early.
    server.faults.add_latency(0.5, verb="list", resource="deployments")
    async with running(api, controller, wait_synced=False):
        await eventually(lambda: all(fn.count(n) >= 1 for n in "abc"), "all are reconciled")
    assert fn.calls
    assert all(call.synced for call in fn.calls)
    assert [c.action for c in fn.calls[:3]] == ["created"] * 3


# -- inside the real Kopf -------------------------------------------------------------------------


OPERATOR = Path(__file__).parents[1] / "kopf" / "operators" / "informers_operator.py"
KOPF_TIMEOUT = 20.0  # seconds: the longest wait for the operator to start, act, or stop
OBSERVATIONS_ENV = "INFORMERS_OPERATOR_OBSERVATIONS"  # where the operator writes what it saw


@dataclasses.dataclass
class Operator:
    """How to run ``informers_operator.py`` in this process, and what it observed."""

    server: EmbeddedApiServer
    observations: Path
    registry: kopf.OperatorRegistry

    def runner(self, *options: str, files: int = 1) -> kopf.testing.KopfRunner:
        args = ["run", "-A", "--standalone", "--verbose", *options, *[str(OPERATOR)] * files]
        return kopf.testing.KopfRunner(args, registry=self.registry, timeout=KOPF_TIMEOUT)

    def seen(self, event: str, name: str | None = None) -> list[dict[str, Any]]:
        if not self.observations.exists():
            return []
        lines = self.observations.read_text().splitlines()
        return [o for o in map(json.loads, lines)
                if o["event"] == event and (name is None or o.get("name") == name)]


@pytest.fixture
def operator(embedded_apiserver: EmbeddedApiServer, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Operator]:
    """A fresh Kopf registry (with the login handler a fresh one lacks) and a fresh
    kopf-informers runtime; everything process-wide that ``kopf run`` changes is put back."""
    observations = tmp_path / "observations.jsonl"
    monkeypatch.setenv(OBSERVATIONS_ENV, str(observations))
    with isolated_kopf(str(embedded_apiserver.kubeconfig), monkeypatch) as registry:
        yield Operator(embedded_apiserver, observations, registry)


def wait(check: Callable[[], Any], what: str) -> Any:
    return wait_until(check, what, timeout=KOPF_TIMEOUT, interval=0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def configmap(name: str, *, labels: dict[str, str] | None = None,
              data: dict[str, str] | None = None) -> V1ConfigMap:
    return V1ConfigMap(metadata=V1ObjectMeta(name=name, labels=labels), data=data)


def read_deployment(apps_v1: kubernetes.client.AppsV1Api, name: str) -> Any:
    try:
        return apps_v1.read_namespaced_deployment(name, NS)
    except kubernetes.client.ApiException as e:
        if e.status == 404:
            return None
        raise


@pytest.mark.embedded_apiserver  # Kopf drives its Deployments: the defaults
def test_kopf_runs_the_controller_and_its_handlers_after_the_caches_synced(
        operator: Operator, core_v1: kubernetes.client.CoreV1Api,
        apps_v1: kubernetes.client.AppsV1Api, stalls: Stalls) -> None:
    server = operator.server
    core_v1.create_namespaced_secret(NS, V1Secret(metadata=V1ObjectMeta(name="early")))
    core_v1.create_namespaced_config_map(NS, configmap(
        "early", labels={"example.com/reads-secret": "yes"}))
    core_v1.create_namespaced_config_map(NS, configmap("web", data={"replicas": "2"}))
    # The Secrets are slow to list: were Kopf's handlers or the workers not held back until
    # the caches synced, they would miss the Secret.
    server.faults.add_latency(1.0, verb="list", resource="secrets")
    liveness = f"http://127.0.0.1:{free_port()}/healthz"

    with (kopf_logging_undone(),
          operator.runner(f"--liveness={liveness}") as runner):
        [read] = wait(lambda: operator.seen("reads-secret", "early"), "Kopf's handler ran")
        assert read == {**read, "cached": True, "synced": True}

        # The controller: a deleted child is recreated through owner watching. (The server
        # simulates the Deployment's status here, so a reconcile for a status change may come
        # in between: counting reconciles exactly is the direct tests' job.)
        wait(lambda: read_deployment(apps_v1, "web-deploy"), "the Deployment is made")
        first = read_deployment(apps_v1, "web-deploy").metadata.uid
        before = len(operator.seen("reconcile", "web"))
        apps_v1.delete_namespaced_deployment("web-deploy", NS)

        def actions_since() -> list[str]:
            return [o["action"] for o in operator.seen("reconcile", "web")[before:]]

        wait(lambda: "created" in actions_since(), "the Deployment is recreated")
        assert read_deployment(apps_v1, "web-deploy").metadata.uid != first

        # A plain Kopf handler with kopf_informers.backoff: retried after growing delays.
        core_v1.create_namespaced_config_map(NS, configmap(
            "flaky", labels={"example.com/flaky": "yes"}))
        wait(lambda: len(operator.seen("flaky", "flaky")) == 4, "the fourth attempt")
        attempts = operator.seen("flaky", "flaky")

        with urllib.request.urlopen(liveness, timeout=KOPF_TIMEOUT) as response:
            probe = json.load(response)["kopf_informers"]

    exception: BaseException | None = runner.exception  # (Kopf types it as never None)
    assert exception is None
    assert runner.exit_code == 0
    reconciles = operator.seen("reconcile")
    assert reconciles
    assert all(o["synced"] for o in reconciles)

    assert [o["retry"] for o in attempts] == [0, 1, 2, 3]
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(attempts)]
    delays = [0.25 * 2 ** n for n in range(3)]
    assert all(gap >= 0.9 * delay for gap, delay in zip(gaps, delays, strict=True)), gaps
    growth = stalls.ratios([o["at"] for o in attempts], 0, 2)
    assert growth, f"stalls touched every interval: {gaps} {stalls.windows}"
    assert all(1.2 <= ratio <= 4.0 for ratio in growth), (gaps, stalls.windows)
    assert "Handler 'flaky' succeeded" in runner.output
    assert actions_since().count("created") == 1
    assert "restored" not in actions_since()

    assert probe["synced"] is True
    assert sorted(probe["informers"]) == sorted([DEPLOY, SECRETS, CM])
    assert all(i["synced"] for i in probe["informers"].values())
    assert probe["informers"][SECRETS]["objects"] >= 1
    # One controller, named after the file, not after the path `kopf run` loaded it from.
    [(name, controller)] = probe["controllers"].items()
    assert name == "informers_operator.configmap_deployment"
    assert isinstance(controller["depth"], int)
    assert controller["reconciles"]["success"] >= 3
    assert controller["reconciles"]["error"] == 0

    # Cleanup: kopf-informers' cleanup handler ran first and left no task behind.
    [cleanup] = operator.seen("cleanup")
    assert cleanup["tasks"] == []
    output = runner.output
    assert output.index("kopf-informers: controllers and informers stopped") < output.index(
        "Activity 'report_what_is_left' succeeded")
    assert "Task was destroyed but it is pending" not in runner.output
    assert not [e for e in server.journal if e.status is not None and e.status >= 500]


@pytest.mark.embedded_apiserver  # Kopf drives its Deployments: the defaults
def test_an_operator_imported_twice_registers_its_controller_once(
        operator: Operator, core_v1: kubernetes.client.CoreV1Api,
        apps_v1: kubernetes.client.AppsV1Api) -> None:
    core_v1.create_namespaced_config_map(NS, configmap("web", data={"replicas": "1"}))
    with kopf_logging_undone(), operator.runner(files=2) as runner:
        wait(lambda: read_deployment(apps_v1, "web-deploy"), "the Deployment is made")
        wait(lambda: [o["action"] for o in operator.seen("reconcile", "web")][-1:] ==
             ["unchanged"], "the owner settled")
    exception: BaseException | None = runner.exception  # (Kopf types it as never None)
    assert exception is None
    assert runner.exit_code == 0
    assert "kopf-informers: caches synced; 1 controllers started" in runner.output
    assert runner.output.count("Activity 'kopf_informers/startup' succeeded") == 1
    creates = operator.server.journal.filter(verb="create", resource="deployments")
    assert [e.status for e in creates] == [201]  # a second controller would have raced it
    assert [o["action"] for o in operator.seen("reconcile", "web")].count("created") == 1
