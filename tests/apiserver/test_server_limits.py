"""Limits that keep one client from taking the server down: a label selector longer than the
server accepts is a 400, watches beyond the per-user limit are a 429; neither loses data, and
the server answers everyone afterwards.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from kopf_informers.testing import EmbeddedApiServer, wait_until


@pytest.fixture
def server() -> Iterator[EmbeddedApiServer]:
    with EmbeddedApiServer(max_watches_per_user=3) as s:
        yield s


def get(server: EmbeddedApiServer, path: str) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    return response.status, body


def test_a_too_long_label_selector_is_a_400_and_the_server_still_answers(
        server: EmbeddedApiServer) -> None:
    selector = ",".join(f"k{i}=v" for i in range(1000))  # 6,889 characters
    status, body = get(server, f"/api/v1/namespaces/default/configmaps?labelSelector={selector}")
    assert status == 400
    assert body["message"] == ("labelSelector is 6889 characters long, more than the 4096 "
                               "this server accepts")
    assert get(server, "/api/v1/namespaces")[0] == 200


def test_watches_beyond_the_per_user_limit_are_a_429_until_one_ends(
        server: EmbeddedApiServer) -> None:
    path = "/api/v1/namespaces/default/configmaps?watch=true"
    open_watches = []
    for _ in range(3):
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        conn.request("GET", path)
        assert conn.getresponse().status == 200
        open_watches.append(conn)
    status, body = get(server, path)
    assert status == 429
    assert body["message"] == ('too many watches: user "kubernetes-admin" has 3 open, the most '
                               'this server allows; close some or retry later')
    assert body["details"] == {"retryAfterSeconds": 1}
    assert get(server, "/api/v1/namespaces")[0] == 200  # other requests still go through
    open_watches.pop().close()

    def a_watch_is_allowed_again() -> bool:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        conn.request("GET", path + "&timeoutSeconds=1")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok

    wait_until(a_watch_is_allowed_again, "a watch slot to free up", timeout=10)
    for conn in open_watches:
        conn.close()
