"""The watch stream parser: JSON lines reassembled from chunks split anywhere, and ERROR events
raised as typed errors (410 → GoneError, so the caller knows to re-list)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kopf_informers import (
    ApiConnectionError,
    ForbiddenError,
    GoneError,
    InvalidError,
    ServerError,
    TooManyRequestsError,
    WatchEvent,
)
from kopf_informers._api.errors import RequestContext
from kopf_informers._api.watch import WatchStreamParser, watch_event

CONTEXT = RequestContext("watch", "v1/configmaps", "default")


def configmap(name: str, rv: int, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": data or {},
            "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)}}


def line(event_type: str, obj: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": event_type, "object": obj}) + b"\n"


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message, "reason": reason,
                            "code": code}
    if details:
        body["details"] = details
    return body


def parse(chunks: list[bytes]) -> list[WatchEvent]:
    parser = WatchStreamParser(CONTEXT)
    raws = [raw for chunk in chunks for raw in parser.feed(chunk)] + parser.close()
    return [watch_event(raw, CONTEXT) for raw in raws]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


EVENT_TYPES = st.sampled_from(["ADDED", "MODIFIED", "DELETED", "BOOKMARK"])
VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
EVENTS = st.lists(
    st.tuples(EVENT_TYPES, st.dictionaries(st.text(min_size=1, max_size=5), VALUES, max_size=3)),
    min_size=1, max_size=8,
)


@given(events=EVENTS, cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=20))
def test_events_split_into_chunks_anywhere_parse_to_the_same_events(
    events: list[tuple[str, dict[str, str]]], cuts: list[int],
) -> None:
    objects = [configmap(f"cm{i}", i + 1, data) for i, (_, data) in enumerate(events)]
    stream = b"".join(line(t, obj) for (t, _), obj in zip(events, objects, strict=True))
    parsed = parse(split_at(stream, cuts))
    assert parsed == [WatchEvent(t, obj) for (t, _), obj in zip(events, objects, strict=True)]


@given(cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_multibyte_characters_split_between_chunks_are_reassembled(cuts: list[int]) -> None:
    obj = configmap("unicode", 7, {"greeting": "grüße, 世界, 🎉"})
    assert parse(split_at(line("ADDED", obj), cuts)) == [WatchEvent("ADDED", obj)]


def test_one_byte_chunks_parse_like_one_chunk() -> None:
    stream = line("ADDED", configmap("a", 1)) + line("DELETED", configmap("a", 2))
    one_by_one = [stream[i:i + 1] for i in range(len(stream))]
    assert parse(one_by_one) == parse([stream])
    assert [e.type for e in parse(one_by_one)] == ["ADDED", "DELETED"]


def test_blank_lines_between_and_around_events_are_skipped() -> None:
    stream = (b"\n\n" + line("ADDED", configmap("a", 1)) + b"\n  \r\n"
              + line("MODIFIED", configmap("a", 2)) + b"\n")
    assert [e.type for e in parse([stream])] == ["ADDED", "MODIFIED"]


def test_crlf_line_endings_are_accepted() -> None:
    stream = line("ADDED", configmap("a", 1)).replace(b"\n", b"\r\n")
    assert [e.type for e in parse([stream])] == ["ADDED"]


def test_a_last_event_without_its_newline_is_parsed_when_the_stream_ends() -> None:
    stream = line("ADDED", configmap("a", 1)) + line("BOOKMARK", configmap("a", 3))[:-1]
    assert [e.type for e in parse([stream])] == ["ADDED", "BOOKMARK"]


def test_a_feed_without_a_newline_returns_nothing_and_keeps_the_bytes() -> None:
    parser = WatchStreamParser(CONTEXT)
    assert parser.feed(b'{"type": "ADD') == []
    assert parser.pending == len(b'{"type": "ADD')


def test_a_stream_that_ends_mid_line_is_a_connection_error() -> None:
    parser = WatchStreamParser(CONTEXT)
    parser.feed(line("ADDED", configmap("a", 1))[:25])
    with pytest.raises(ApiConnectionError, match="ended in the middle of a line") as info:
        parser.close()
    assert "watch v1/configmaps in namespace default" in str(info.value)


def test_a_line_that_is_not_json_is_a_connection_error() -> None:
    with pytest.raises(ApiConnectionError, match="not JSON"):
        WatchStreamParser(CONTEXT).feed(b"<html>502 Bad Gateway</html>\n")


@pytest.mark.parametrize("raw", [
    pytest.param([1, 2], id="a-list"),
    pytest.param({"type": "ADDED"}, id="no-object"),
    pytest.param({"object": {}}, id="no-type"),
    pytest.param({"type": "ADDED", "object": "text"}, id="object-not-a-mapping"),
])
def test_a_line_that_is_not_an_event_is_a_connection_error(raw: Any) -> None:
    with pytest.raises(ApiConnectionError, match="not an event"):
        watch_event(raw, CONTEXT)


def test_an_error_event_with_410_raises_gone_error_with_the_servers_message() -> None:
    gone = status(410, "Expired", "too old resource version: 5 (120)")
    stream = line("ADDED", configmap("a", 200)) + line("ERROR", gone)
    parser = WatchStreamParser(CONTEXT)
    first, error = parser.feed(stream)
    assert watch_event(first, CONTEXT).type == "ADDED"
    with pytest.raises(GoneError) as info:
        watch_event(error, CONTEXT)
    assert info.value.status == 410
    assert info.value.reason == "Expired"
    assert info.value.message == "too old resource version: 5 (120)"
    assert info.value.body == gone
    assert str(info.value) == ("watch v1/configmaps in namespace default: 410 Expired: "
                               "too old resource version: 5 (120)")


def test_an_error_event_with_500_raises_server_error() -> None:
    with pytest.raises(ServerError) as info:
        parse([line("ERROR", status(500, "InternalError", "etcd is unhappy"))])
    assert info.value.status == 500
    assert not isinstance(info.value, GoneError)
    assert "etcd is unhappy" in str(info.value)


@pytest.mark.parametrize(("code", "reason", "error_class"), [
    pytest.param(403, "Forbidden", ForbiddenError, id="403"),
    pytest.param(422, "Invalid", InvalidError, id="422"),
    pytest.param(429, "TooManyRequests", TooManyRequestsError, id="429"),
    pytest.param(503, "ServiceUnavailable", ServerError, id="503"),
    pytest.param(410, "Gone", GoneError, id="410-gone"),
])
def test_error_events_raise_the_class_of_their_code(
    code: int, reason: str, error_class: type[Exception],
) -> None:
    with pytest.raises(error_class):
        parse([line("ERROR", status(code, reason, "something"))])


def test_an_error_event_carries_retry_after_seconds_from_its_details() -> None:
    with pytest.raises(TooManyRequestsError) as info:
        parse([line("ERROR", status(429, "TooManyRequests", "slow down", retryAfterSeconds=4))])
    assert info.value.retry_after == 4.0


def test_an_error_event_without_a_code_is_a_server_error() -> None:
    with pytest.raises(ServerError):
        parse([line("ERROR", {"kind": "Status", "message": "no code at all"})])


def test_events_after_an_error_event_are_not_reached() -> None:
    stream = line("ERROR", status(410, "Expired", "gone")) + line("ADDED", configmap("a", 1))
    seen: list[str] = []

    def consume() -> None:
        for raw in WatchStreamParser(CONTEXT).feed(stream):
            seen.append(watch_event(raw, CONTEXT).type)

    with pytest.raises(GoneError):
        consume()
    assert seen == []
