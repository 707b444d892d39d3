"""Path segments of API requests: which names, namespaces and subresources may be in a path.

The rules are apimachinery's ``IsValidPathSegmentName`` plus what URL normalisation does to
dot segments; the client's own checks are proven against the server in test_api_client.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from kopf_informers._api.resources import ApiResource
from kopf_informers._api.segments import check_segment
from kopf_informers.errors import InvalidArgumentError

CONFIGMAPS = ApiResource(group="", version="v1", plural="configmaps", kind="ConfigMap",
                         namespaced=True)


@pytest.mark.parametrize(("value", "problem"), [
    pytest.param("", "may not be empty", id="empty"),
    pytest.param(".", "may not be '.'", id="dot"),
    pytest.param("..", "may not be '..'", id="dot-dot"),
    pytest.param("a/b", "may not contain '/'", id="slash"),
    pytest.param("/", "may not contain '/'", id="only-a-slash"),
    pytest.param("a%2Fb", "may not contain '%'", id="percent"),
    pytest.param(None, "is not a string but NoneType", id="none"),
    pytest.param(b"cm", "is not a string but bytes", id="bytes"),
])
def test_a_value_that_cannot_be_a_path_segment_is_refused_naming_parameter_and_value(
    value: Any, problem: str,
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_segment(value, "name", request="delete v1/configmaps")
    assert str(info.value) == (f"delete v1/configmaps: name={value!r} cannot be a segment of "
                               f"the request's path: it {problem}")


@pytest.mark.parametrize("value", ["cm1", "...", ".hidden", "a..b", "system:node:x", "a b",
                                   "ünï", "a?b#c"])
def test_names_that_some_kind_may_have_are_segments(value: str) -> None:
    assert check_segment(value, "name", request="get v1/configmaps") == value


def test_a_path_quotes_what_is_allowed() -> None:
    path = CONFIGMAPS.path(namespace="ns", name="a?b#c d", subresource="status")
    assert path == "/api/v1/namespaces/ns/configmaps/a%3Fb%23c%20d/status"


@pytest.mark.parametrize("kwargs", [
    pytest.param({"namespace": "default", "name": "."}, id="dot-name"),
    pytest.param({"namespace": "..", "name": "x"}, id="dot-dot-namespace"),
    pytest.param({"namespace": "default", "name": ""}, id="empty-name"),
    pytest.param({"namespace": "", "name": "x"}, id="empty-namespace"),
    pytest.param({"namespace": "default", "name": "x", "subresource": ".."}, id="subresource"),
    pytest.param({"namespace": "default", "subresource": "status"}, id="subresource-alone"),
])
def test_no_path_is_built_with_a_segment_that_a_url_would_drop(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match=r"the path of v1/configmaps"):
        CONFIGMAPS.path(**kwargs)
