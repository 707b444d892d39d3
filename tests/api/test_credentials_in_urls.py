"""Credentials in URLs never reach an error or a log line, over real (failing) connections.

A kubeconfig may carry basic-auth credentials in the server URL (``http://user:pass@host``),
a proxy URL may too, and some URLs carry tokens in their query. Every error of the API client,
its chain of causes as a traceback prints it, and every log line of the client and of the
reflector retrying show such URLs with the credentials replaced by ``***``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import traceback
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import kopf
import pytest

from kopf_informers import (
    ApiClient,
    ApiConnectionError,
    CredentialsError,
    ExponentialBackoff,
    KopfInformersError,
)
from kopf_informers._informer import InformerFactory
from kopf_informers.testing import EmbeddedApiServer

SECRET = "secret"
CM = "v1/configmaps"
WAIT = 10.0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def chain_text(error: BaseException) -> str:
    """Everything an error shows of itself and of its causes: what a traceback prints (every
    exception's type and str), and the reprs of each one's args."""
    parts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen), *map(repr, seen.args)]
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "\n".join(parts)


def every_call(client: ApiClient) -> dict[str, Callable[[], Awaitable[Any]]]:
    async def first(items: AsyncGenerator[Any, None]) -> Any:
        async with contextlib.aclosing(items):
            return await anext(items)

    return {
        "discover": lambda: client.discover(CM),
        "get": lambda: client.get(CM, "x", namespace="default"),
        "list": lambda: client.list(CM),
        "list_all": lambda: first(client.list_all(CM)),
        "create": lambda: client.create(CM, {"metadata": {"name": "x"}}, namespace="default"),
        "replace": lambda: client.replace(CM, {"metadata": {"name": "x"}}, namespace="default"),
        "patch": lambda: client.patch(CM, "x", {}, namespace="default"),
        "patch_status": lambda: client.patch_status(CM, "x", {}, namespace="default"),
        "delete": lambda: client.delete(CM, "x", namespace="default"),
        "watch": lambda: first(client.watch(CM)),
    }


@pytest.fixture(params=[
    pytest.param(lambda port: {"server": f"http://user:{SECRET}@127.0.0.1:{port}"},
                 id="userinfo"),
    pytest.param(lambda port: {"server": f"http://user:{SECRET}@127.0.0.1:{port}/?token={SECRET}"},
                 id="userinfo-and-query-token"),
    pytest.param(lambda port: {"server": f"http://user:{SECRET}@127.0.0.1:99999"},
                 id="invalid-url"),  # aiohttp's own error holds the whole URL
    pytest.param(lambda port: {"server": f"http://127.0.0.1:{port}",
                               "proxy_url": f"http://proxy:{SECRET}@127.0.0.1:{port}"},
                 id="proxy-userinfo"),  # aiohttp's own error holds the proxy's credentials
])
def connection_info(request: pytest.FixtureRequest) -> kopf.ConnectionInfo:
    return kopf.ConnectionInfo(**request.param(closed_port()))


async def test_no_error_of_any_method_shows_credentials_of_the_url(
    connection_info: kopf.ConnectionInfo, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kopf_informers")
    async with ApiClient.from_connection_info(connection_info) as client:
        for name, call in every_call(client).items():
            with pytest.raises(ApiConnectionError) as info:
                await call()
            text = chain_text(info.value)
            assert SECRET not in text, name
            assert "***@127.0.0.1" in str(info.value) or "***" in str(info.value), name
        assert SECRET not in repr(client)
    assert SECRET not in caplog.text


async def test_the_reflector_retrying_logs_no_credentials_of_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kopf_informers")
    info = kopf.ConnectionInfo(server=f"http://user:{SECRET}@127.0.0.1:{closed_port()}")
    async with ApiClient.from_connection_info(info) as client:
        factory = InformerFactory(client, backoff=lambda: ExponentialBackoff(initial=0.01,
                                                                              cap=0.02))
        informer = factory.informer(CM)
        informer.start()  # straight to list and watch: no discovery first
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    if len([r for r in caplog.records if "retrying" in r.getMessage()]) >= 3:
                        break
                    await asyncio.sleep(0.01)
        finally:
            await factory.stop()
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert all("http://***@127.0.0.1" in line for line in retries), retries
    assert SECRET not in caplog.text


async def test_tls_settings_that_do_not_load_name_the_server_without_credentials() -> None:
    info = kopf.ConnectionInfo(server=f"https://user:{SECRET}@127.0.0.1:{closed_port()}",
                               ca_data=b"not a certificate")
    async with ApiClient.from_connection_info(info) as client:
        with pytest.raises(CredentialsError) as caught:
            await client.list(CM)
    assert "https://***@127.0.0.1" in str(caught.value)
    assert SECRET not in chain_text(caught.value)


async def test_the_client_shows_its_server_without_credentials() -> None:
    info = kopf.ConnectionInfo(server=f"http://user:{SECRET}@127.0.0.1:{closed_port()}")
    async with ApiClient.from_connection_info(info) as client:
        assert repr(client) == "<ApiClient: not logged in yet>"
        with pytest.raises(KopfInformersError):
            await client.list(CM)
        assert repr(client).startswith("<ApiClient http://***@127.0.0.1:")


async def test_a_token_is_sent_instead_of_credentials_in_the_server_url() -> None:
    # As Go's HTTP client does for client-go: an Authorization header wins over the URL's
    # userinfo (aiohttp refuses both with a ValueError, which escaped the client).
    async with EmbeddedApiServer() as server:
        url = server.url.replace("http://", f"http://user:{SECRET}@")
        info = kopf.ConnectionInfo(server=url, token="a-token")
        async with ApiClient.from_connection_info(info) as client:
            assert (await client.list(CM))["kind"] == "ConfigMapList"
