"""Fixtures of every test folder: the embedded server, and clients of it.

- ``server``: the plugin's ``embedded_apiserver_async`` (its options, per module, come from the
  ``embedded_apiserver`` marker), and ``api``, a kopf-informers client of it, for async tests;
- official ``kubernetes`` clients of the plugin's ``embedded_apiserver`` (the threaded one), each
  built from that server's own kubeconfig: the official client reads its default kubeconfig
  location at import time, so the environment is no help there.

Helpers that are not fixtures are in ``tests/_helpers`` (on ``pythonpath``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import pytest

from kopf_informers import ApiClient, testing
from kopf_informers.testing import EmbeddedApiServer

T = TypeVar("T")


@pytest.fixture
def server(embedded_apiserver_async: EmbeddedApiServer) -> EmbeddedApiServer:
    return embedded_apiserver_async


@pytest.fixture
async def api(server: EmbeddedApiServer) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(server.kubeconfig) as client:
        yield client


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
def authorization_v1(
    api_client: kubernetes.client.ApiClient,
) -> kubernetes.client.AuthorizationV1Api:
    return kubernetes.client.AuthorizationV1Api(api_client)


@pytest.fixture
def authentication_v1(
    api_client: kubernetes.client.ApiClient,
) -> kubernetes.client.AuthenticationV1Api:
    return kubernetes.client.AuthenticationV1Api(api_client)


@pytest.fixture
def batch_v1(api_client: kubernetes.client.ApiClient) -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(api_client)


@pytest.fixture
def custom_objects(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client)


@pytest.fixture
def apiextensions_v1(
    api_client: kubernetes.client.ApiClient,
) -> kubernetes.client.ApiextensionsV1Api:
    return kubernetes.client.ApiextensionsV1Api(api_client)


@pytest.fixture
def dynamic_client(api_client: kubernetes.client.ApiClient, tmp_path: Path) -> Any:
    # Its default discovery cache is one file per server URL in the system's temporary folder:
    # a later test's server on a reused port would inherit an earlier test's resources.
    cache_file = tmp_path / "dynamic-client-discovery.json"
    return kubernetes.dynamic.DynamicClient(api_client, cache_file=str(cache_file))


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """``wait_until(check, what=None, timeout=10)``: the plugin's bounded poll, as a fixture."""
    return testing.wait_until


@dataclasses.dataclass
class RawResponse:
    """A response as it came, errors included: status, decoded JSON body and headers."""

    status: int
    body: Any
    headers: Mapping[str, str]


@pytest.fixture
def raw(api_client: kubernetes.client.ApiClient) -> Callable[..., RawResponse]:
    """``raw(method, path, query=..., body=..., content_type=...)``: a request the typed API
    methods cannot make (a chosen query or content type, a malformed path); never raises."""

    def request(
        method: str, path: str, *, query: Sequence[tuple[str, str]] = (),
        body: Any = None, content_type: str | None = None,
    ) -> RawResponse:
        headers = {"Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        _, url, headers, payload, _ = api_client.param_serialize(
            method, path, query_params=list(query), header_params=headers, body=body,
            auth_settings=["BearerToken"],
        )
        response = api_client.call_api(method, url, header_params=headers, body=payload)
        data = response.read()
        decoded = json.loads(data) if data else None
        return RawResponse(response.status, decoded, dict(response.headers))

    return request


WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                  "listKind": "WidgetList"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "subresources": {
                "status": {},
                "scale": {"specReplicasPath": ".spec.replicas",
                          "statusReplicasPath": ".status.replicas",
                          "labelSelectorPath": ".status.selector"},
            },
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "properties": {
                        "replicas": {"type": "integer"},
                        "color": {"type": "string"},
                    }},
                    "status": {"type": "object", "properties": {
                        "replicas": {"type": "integer"},
                        "selector": {"type": "string"},
                        "phase": {"type": "string"},
                    }},
                },
            }},
        }],
    },
}


@pytest.fixture
def install_crd(
    apiextensions_v1: kubernetes.client.ApiextensionsV1Api,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``install_crd(body)``: create the CRD, wait until it is established, return the body."""

    def install(body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        apiextensions_v1.create_custom_resource_definition(body)

        def established() -> bool:
            crd = apiextensions_v1.read_custom_resource_definition(name)
            conditions = (crd.status.conditions if crd.status else None) or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        testing.wait_until(established, f"the CRD {name} is established")
        return body

    return install


@pytest.fixture
def widget_crd(install_crd: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """A served and established namespaced CRD, ``widgets.example.com/v1``, with the status
    and scale subresources; returns the CRD body it was created from."""
    return install_crd(WIDGET_CRD)

