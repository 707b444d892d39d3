"""Discovery when informers start: transient failures retried inside the library (no server).

The API client is a stand-in answering discovery from a script; time is virtual (looptime), so
the backoff's delays and the deadline take no real time, and their lengths are asserted.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kopf_informers import ExponentialBackoff
from kopf_informers._api import ApiResource
from kopf_informers._informer import InformerFactory, discover
from kopf_informers.errors import (
    ApiConnectionError,
    ApiTimeoutError,
    BadRequestError,
    CacheSyncTimeoutError,
    CredentialsError,
    ForbiddenError,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
    UnknownResourceError,
)

pytestmark = pytest.mark.looptime

CM = "v1/configmaps"
CONFIGMAPS = ApiResource(group="", version="v1", plural="configmaps", kind="ConfigMap",
                         namespaced=True)
REFUSED = ApiConnectionError("failed to talk to http://***@127.0.0.1:1: refused",
                             verb="discover", resource=CM)


class ScriptedApi:
    """Answers ``discover`` from a script (an exception is raised); lists never answer."""

    def __init__(self, *steps: ApiResource | Exception, then: ApiResource | Exception = CONFIGMAPS,
                 ) -> None:
        self.steps = collections.deque(steps)
        self.then = then
        self.calls: list[float] = []

    async def discover(self, resource: str) -> ApiResource:
        self.calls.append(asyncio.get_running_loop().time())
        step = self.steps.popleft() if self.steps else self.then
        if isinstance(step, Exception):
            raise step
        return step

    async def list(self, *_: Any, **__: Any) -> Any:
        await asyncio.Event().wait()

    async def watch(self, *_: Any, **__: Any) -> AsyncIterator[Any]:
        await asyncio.Event().wait()
        yield  # pragma: no cover


def no_jitter() -> ExponentialBackoff:
    return ExponentialBackoff(rng=lambda: 0.0)  # client-go's 0.8 s doubling to 30 s, exactly


def factory_of(api: ScriptedApi) -> InformerFactory:
    return InformerFactory(api, backoff=no_jitter)  # type: ignore[arg-type]


TRANSIENT = [
    pytest.param(REFUSED, id="connection-refused"),
    pytest.param(ApiTimeoutError("timed out", verb="discover", resource=CM), id="timeout"),
    pytest.param(ServerError("down", status=503, reason="ServiceUnavailable"), id="503"),
    pytest.param(ServerError("oops", status=500, reason="InternalError"), id="500"),
    pytest.param(TooManyRequestsError("slow down", status=429, reason="TooManyRequests"),
                 id="429"),
]


@pytest.mark.parametrize("error", TRANSIENT)
async def test_transient_discovery_failures_are_retried_with_the_reflectors_backoff(
    error: Exception, looptime: Any,
) -> None:
    api = ScriptedApi(error, error, error)
    factory = factory_of(api)
    informer = factory.informer(CM)
    await factory.start()
    try:
        assert [t - api.calls[0] for t in api.calls] == pytest.approx([0, 0.8, 2.4, 5.6])
        assert informer.is_running
        assert informer.lister.namespaced
    finally:
        await factory.stop()


async def test_a_429_waits_as_long_as_the_server_asks_when_that_is_longer() -> None:
    throttled = TooManyRequestsError("slow down", status=429, reason="TooManyRequests",
                                     retry_after=7.0)
    api = ScriptedApi(throttled, REFUSED)
    factory = factory_of(api)
    factory.informer(CM)
    await factory.start()
    await factory.stop()
    assert [t - api.calls[0] for t in api.calls] == pytest.approx([0, 7.0, 8.6])


@pytest.mark.parametrize("error", [
    pytest.param(UnknownResourceError("no such resource"), id="unknown-resource"),
    pytest.param(UnauthorizedError("who?", status=401, reason="Unauthorized"), id="401"),
    pytest.param(ForbiddenError("no", status=403, reason="Forbidden"), id="403"),
    pytest.param(BadRequestError("bad", status=400, reason="BadRequest"), id="400"),
    pytest.param(CredentialsError("no kubeconfig"), id="bad-credentials"),
])
async def test_permanent_discovery_failures_are_raised_at_once_and_unchanged(
    error: Exception, looptime: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    api = ScriptedApi(error)
    factory = factory_of(api)
    informer = factory.informer(CM)
    start = float(looptime)
    with pytest.raises(type(error)) as caught:
        await factory.start()
    assert caught.value is error
    assert float(looptime) == start
    assert len(api.calls) == 1
    assert not informer.is_running
    assert "retrying" not in caplog.text


async def test_retries_end_at_the_deadline_with_a_cache_sync_timeout(looptime: Any) -> None:
    api = ScriptedApi(then=REFUSED)
    factory = factory_of(api)
    factory.informer(CM)
    start = float(looptime)
    with pytest.raises(CacheSyncTimeoutError) as caught:
        await factory.start(timeout=10.0)
    assert float(looptime) - start == pytest.approx(10.0)
    # 0, 0.8, 2.4, 5.6 and a last try at the deadline rather than at 12.0.
    assert [t - start for t in api.calls] == pytest.approx([0, 0.8, 2.4, 5.6, 10.0])
    assert caught.value.__cause__ is REFUSED
    assert caught.value.informers == [CM]
    assert str(caught.value).startswith(f"caches not synced within 10.0 s: the discovery of {CM} "
                                        "still fails: discover v1/configmaps: failed to talk")


async def test_each_retry_logs_one_line_saying_when_the_next_try_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kopf_informers")
    api = ScriptedApi(REFUSED, REFUSED)
    factory = factory_of(api)
    factory.informer(CM)
    await factory.start(timeout=100.0)
    await factory.stop()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"discovery of {CM} failed: {REFUSED}; retrying in 0.8 s (giving up in 100 s)",
        f"discovery of {CM} failed: {REFUSED}; retrying in 1.6 s (giving up in 99 s)",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


async def test_discover_alone_retries_and_raises_the_last_failure_at_its_deadline(
    looptime: Any,
) -> None:
    api = ScriptedApi(REFUSED, REFUSED)
    assert await discover(api, CM, backoff=no_jitter()) is CONFIGMAPS  # type: ignore[arg-type]
    always = ScriptedApi(then=REFUSED)
    start = float(looptime)
    with pytest.raises(ApiConnectionError) as caught:
        await discover(always, CM, timeout=3.0, backoff=no_jitter())  # type: ignore[arg-type]
    assert caught.value is REFUSED
    assert float(looptime) - start == pytest.approx(3.0)
