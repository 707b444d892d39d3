"""The fault endpoint over HTTP (``/_embedded/``): steady failure rates, timed pauses, and input
that is malformed or out of range, which must be a 400 naming the field and change nothing.

Requests go through urllib, as a test driving a server in another process would send them; every
wait is bounded.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from kopf_informers import testing
from kopf_informers.testing.apiserver import EmbeddedApiServer

TIMEOUT = 10  # seconds: the longest wait for an answer or a state of the listener


def send(url: str, data: bytes | None = None, method: str = "POST") -> tuple[int, Any, Any]:
    """A request with a raw body: status, decoded JSON answer and headers; errors returned."""
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read()), e.headers


def post(url: str, body: Any = None) -> tuple[int, Any]:
    status, answer, _ = send(url, None if body is None else json.dumps(body).encode())
    return status, answer


def listens(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


def wait_until(check: Callable[[], bool], what: str) -> None:
    testing.wait_until(check, what, timeout=TIMEOUT)


def cm_url(server: EmbeddedApiServer, name: str = "") -> str:
    return f"{server.url}/api/v1/namespaces/default/configmaps" + (f"/{name}" if name else "")


def create_cm(server: EmbeddedApiServer, name: str) -> int:
    return send(cm_url(server), json.dumps({"metadata": {"name": name}}).encode())[0]


def read_cm(server: EmbeddedApiServer, name: str) -> int:
    return send(cm_url(server, name), method="GET")[0]


# -- steady rates ---------------------------------------------------------------------------------


def test_a_percentage_over_http_fails_the_same_requests_after_the_same_seed(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    base = f"{embedded_apiserver.url}/_embedded/faults"
    assert create_cm(embedded_apiserver, "a") == 201
    assert post(f"{base}/fail", {"verb": "get", "resource": "configmaps", "status": 500,
                                 "percent": 40})[0] == 200

    def pattern() -> list[int]:
        assert post(f"{base}/seed", {"seed": 1234})[0] == 200
        return [read_cm(embedded_apiserver, "a") for _ in range(40)]

    first = pattern()
    assert set(first) == {200, 500}
    assert pattern() == first
    assert post(f"{base}/clear")[0] == 200
    assert {read_cm(embedded_apiserver, "a") for _ in range(20)} == {200}


def test_a_steady_429_on_writes_over_http_says_when_to_retry(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    assert post(f"{embedded_apiserver.url}/_embedded/faults/fail", {
        "verb": "write", "resource": "v1/configmaps", "status": 429, "percent": 100,
        "retryAfter": 2})[0] == 200
    for _ in range(3):
        status, answer, headers = send(cm_url(embedded_apiserver),
                                       json.dumps({"metadata": {"name": "a"}}).encode())
        assert (status, answer["reason"], headers["Retry-After"]) == (429, "TooManyRequests",
                                                                      "2")
    assert send(cm_url(embedded_apiserver), method="GET")[0] == 200  # reads pass


# -- pauses ---------------------------------------------------------------------------------------


def test_a_timed_pause_over_http_refuses_connections_then_listens_again(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    url = embedded_apiserver.url
    assert post(f"{url}/_embedded/faults/pause", {"seconds": 1})[0] == 200
    wait_until(lambda: not listens(url), "the server to stop listening")
    wait_until(lambda: listens(url), "the server to listen again")
    assert read_cm(embedded_apiserver, "missing") == 404


# -- hostile input --------------------------------------------------------------------------------

HOSTILE = [
    # (action, raw body, what the message must name)
    ("fail", b'{"verb": "get", "resource": ', "not valid JSON"),
    ("pause", b"NaN", "not valid JSON"),
    ("pause", b'{"seconds": NaN}', "not valid JSON"),
    ("pause", b'{"seconds": 1e999}', "not valid JSON"),  # JSON's infinity
    ("pause", b'["seconds", 5]', "JSON object"),
    ("pause", b'"5"', "JSON object"),
    ("pause", b'{"seconds": -1}', "'seconds'"),
    ("pause", b'{"seconds": 0}', "'seconds'"),
    ("pause", b'{"seconds": 1e9}', "'seconds'"),
    ("pause", b'{"seconds": "5"}', "'seconds'"),
    ("pause", b'{"seconds": true}', "'seconds'"),
    ("pause", b'{"secnds": 5}', "'secnds'"),
    ("fail", b'{"verb": "get", "resource": "configmaps"}', "'status'"),
    ("fail", b'{"verb": "get", "resource": "configmaps", "status": "500"}', "'status'"),
    ("fail", b'{"verb": "get", "resource": "configmaps", "status": 200}', "'status'"),
    ("fail", b'{"verb": "get", "resource": "configmaps", "status": 500.5}', "'status'"),
    ("fail", b'{"verb": 5, "resource": "configmaps", "status": 500}', "'verb'"),
    ("fail", b'{"verb": "frobnicate", "resource": "configmaps", "status": 500}', "frobnicate"),
    ("fail", b'{"verb": "get", "resource": "", "status": 500}', "'resource'"),
    ("fail", b'{"verb": "get", "resource": ["a"], "status": 500}', "'resource'"),
    ("fail", b'{"verb": "get", "resource": "x", "status": 500, "count": 0}', "'count'"),
    ("fail", b'{"verb": "get", "resource": "x", "status": 500, "count": 1.5}', "'count'"),
    ("fail", b'{"verb": "get", "resource": "x", "status": 500, "percent": 0}', "'percent'"),
    ("fail", b'{"verb": "get", "resource": "x", "status": 500, "percent": 101}', "'percent'"),
    ("fail", b'{"verb": "get", "resource": "x", "status": 500, "percent": "5"}', "'percent'"),
    ("fail", b'{"verb": "get", "resource": "x", "status": 500, "percent": 5, "count": 2}',
     "exclude each other"),
    ("fail", b'{"verb": "get", "resource": "x", "status": 429, "retryAfter": -1}',
     "'retryAfter'"),
    ("fail", b'{"verb": "get", "resource": "x", "status": 429, "retryAfter": "1"}',
     "'retryAfter'"),
    ("fail", b'{"verb": "get", "resource": "x", "status": 500, "message": 5}', "'message'"),
    ("fail", b'{"verb": "get", "resource": "x", "status": 500, "stauts": 500}', "'stauts'"),
    ("latency", b'{"seconds": -0.5}', "'seconds'"),
    ("latency", b'{"seconds": 3600}', "'seconds'"),
    ("latency", b"{}", "'seconds'"),
    ("delay-watches", b'{"seconds": -1}', "'seconds'"),
    ("delay-watches", b'{"seconds": 10, "resource": 7}', "'resource'"),
    ("drop-watches", b'{"abrupt": "yes"}', "'abrupt'"),
    ("seed", b'{"seed": "x"}', "'seed'"),
    ("seed", b'{"seed": 1.5}', "'seed'"),
    ("seed", b'{"seed": 1e30}', "'seed'"),
    ("clear", b'{"everything": true}', "'everything'"),
]


@pytest.mark.parametrize(("action", "body", "named"), [
    pytest.param(action, body, named, id=f"{action}-{body.decode()[:50]}")
    for action, body, named in HOSTILE
])
def test_a_malformed_or_out_of_range_fault_request_is_a_400_naming_the_field(
    embedded_apiserver: EmbeddedApiServer, action: str, body: bytes, named: str,
) -> None:
    status, answer, _ = send(f"{embedded_apiserver.url}/_embedded/faults/{action}", body)
    assert status == 400, answer
    assert (answer["kind"], answer["code"], answer["reason"]) == ("Status", 400, "BadRequest")
    assert named in answer["message"]
    assert "Traceback" not in answer["message"]
    # Nothing changed: requests are served, not failed, paused or delayed.
    assert create_cm(embedded_apiserver, "after") == 201
    assert read_cm(embedded_apiserver, "after") == 200


def test_a_refused_pause_never_stops_the_listener(embedded_apiserver: EmbeddedApiServer) -> None:
    url = embedded_apiserver.url
    for seconds in (-1, 1e9, "inf"):
        assert post(f"{url}/_embedded/faults/pause", {"seconds": seconds})[0] == 400
    time.sleep(0.3)  # a pause would begin 50 ms after its answer: give it time to misbehave
    assert listens(url)
    assert read_cm(embedded_apiserver, "missing") == 404


def test_the_journal_endpoint_reads_in_turns_and_refuses_a_bad_number(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    journal = f"{embedded_apiserver.url}/_embedded/journal"
    create_cm(embedded_apiserver, "a")
    status, first, _ = send(journal, method="GET")
    assert status == 200
    last = first["entries"][-1]["seq"]
    read_cm(embedded_apiserver, "a")
    _, later, _ = send(f"{journal}?since={last}", method="GET")
    assert [(e["method"], e["name"]) for e in later["entries"]] == [("GET", "a"), ("GET", None)]
    assert later["total"] == later["entries"][-1]["seq"]
    status, answer, _ = send(f"{journal}?since=-1", method="GET")
    assert (status, answer["code"]) == (400, 400)
    assert "since" in answer["message"]
