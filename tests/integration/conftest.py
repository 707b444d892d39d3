"""Shared fixtures of the integration tests: official ``kubernetes`` clients of the embedded server.

Each client is built from the ``embedded_apiserver`` fixture's own kubeconfig: the official client
reads its default kubeconfig location at import time, so the environment is no help here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import kubernetes
import pytest

from kopf_informers.testing.apiserver import EmbeddedApiServer

T = TypeVar("T")


@pytest.fixture
def api_client(embedded_apiserver: EmbeddedApiServer) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(
        config_file=str(embedded_apiserver.kubeconfig),
    )
    with client:
        yield client


@pytest.fixture
def core_v1(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture
def apps_v1(api_client: kubernetes.client.ApiClient) -> kubernetes.client.AppsV1Api:
    return kubernetes.client.AppsV1Api(api_client)


@pytest.fixture
def custom_objects(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client)


@pytest.fixture
def apiextensions_v1(
    api_client: kubernetes.client.ApiClient,
) -> kubernetes.client.ApiextensionsV1Api:
    return kubernetes.client.ApiextensionsV1Api(api_client)


@pytest.fixture
def dynamic_client(api_client: kubernetes.client.ApiClient) -> Any:
    return kubernetes.dynamic.DynamicClient(api_client)


def _wait_until(check: Callable[[], T | None], *, timeout: float = 10.0,
                interval: float = 0.02, message: str = "") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"not reached within {timeout}s: {message or check}")
        time.sleep(interval)


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """``wait_until(check, timeout=10)``: poll until ``check()`` is truthy, then return it."""
    return _wait_until
