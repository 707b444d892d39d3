"""Fixtures of every test folder: the async embedded server and a kopf-informers client of it.

The server is the plugin's ``embedded_apiserver_async`` (its options, per module, come from the
``embedded_apiserver`` marker); the tests call it ``server``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kopf_informers import ApiClient
from kopf_informers.testing import EmbeddedApiServer


@pytest.fixture
def server(embedded_apiserver_async: EmbeddedApiServer) -> EmbeddedApiServer:
    return embedded_apiserver_async


@pytest.fixture
async def api(server: EmbeddedApiServer) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(server.kubeconfig) as client:
        yield client
