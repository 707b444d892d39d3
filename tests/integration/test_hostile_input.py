"""Hostile input: what the embedded server refuses, and that it refuses it as kube-apiserver does.

Every request goes over real HTTP with urllib3, which sends any method, body and content type as
given (the typed clients would not). Every request is bounded by a read timeout, so a server that
stalls on its input fails the test instead of hanging the suite; the server is then asked once
more for something ordinary, to show that it still serves.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import urllib3

from kopf_informers.testing.apiserver import EmbeddedApiServer

READ_TIMEOUT = 10  # seconds: every refusal here takes milliseconds; a stall fails the test
HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=READ_TIMEOUT))
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
JSON = "application/json"
MERGE = "application/merge-patch+json"


@dataclasses.dataclass
class Answer:
    status: int
    body: Any

    @property
    def message(self) -> str:
        message: str = self.body["message"]
        return message


def send(server: EmbeddedApiServer, method: str, path: str, body: bytes | str | Any = b"",
         content_type: str = JSON) -> Answer:
    """One request as sent, its answer decoded; bytes and str bodies go as they are."""
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    response = HTTP.request(method, server.url + path, body=body,
                            headers={"Content-Type": content_type})
    return Answer(response.status, json.loads(response.data) if response.data else None)


def still_serves(server: EmbeddedApiServer) -> bool:
    return send(server, "GET", f"{CONFIGMAPS}?limit=1").status == 200


# -- verbs the resource's URL does not take -------------------------------------------------------

METHOD_NOT_ALLOWED = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": "the server does not allow this method on the requested resource",
    "reason": "MethodNotAllowed", "details": {}, "code": 405,
}


@pytest.mark.parametrize(("method", "path", "body"), [
    pytest.param("PATCH", CONFIGMAPS, {"data": {"a": "b"}}, id="patch-namespaced-collection"),
    pytest.param("PUT", CONFIGMAPS, {"metadata": {"name": "x"}}, id="put-namespaced-collection"),
    pytest.param("PATCH", "/api/v1/namespaces", {}, id="patch-cluster-collection"),
    pytest.param("PUT", "/api/v1/configmaps", {}, id="put-all-namespaces"),
    pytest.param("POST", "/api/v1/configmaps", {"metadata": {"name": "named"}},
                 id="post-all-namespaces"),
    pytest.param("DELETE", "/api/v1/configmaps", b"", id="delete-all-namespaces"),
    pytest.param("POST", f"{CONFIGMAPS}/named", {"metadata": {"name": "named"}}, id="post-item"),
])
def test_a_verb_the_url_does_not_take_is_405_method_not_allowed(
    embedded_apiserver: EmbeddedApiServer, method: str, path: str, body: Any,
) -> None:
    answer = send(embedded_apiserver, method, path, body,
                  content_type=MERGE if method == "PATCH" else JSON)
    assert (answer.status, answer.body) == (405, METHOD_NOT_ALLOWED)
    assert send(embedded_apiserver, "GET", f"{CONFIGMAPS}/named").status == 404
