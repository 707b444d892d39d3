"""Reads and watches of the embedded API server, through the official ``kubernetes`` client.

What an informer relies on (lists with a global resourceVersion, selectors, consistent pages,
watch resumption, 410 inside the stream, bookmarks, WatchList, selector transitions) plus
discovery, each checked the way a client sees it. Writes happen before a watch starts (and are
replayed from its resourceVersion) or from inside the loop that consumes it, so no test needs a
second thread; every watch has a server-side timeout, so nothing can hang.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import kubernetes
import pytest
import urllib3
from kubernetes.client import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from kopf_informers.testing.apiserver import EmbeddedApiServer

Event = dict[str, Any]
WATCH_TIMEOUT = 10  # seconds: the server ends every watch of these tests by then at the latest
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


# -- helpers --------------------------------------------------------------------------------------


def create_cm(
    core_v1: kubernetes.client.CoreV1Api, name: str, *, namespace: str = "default",
    labels: dict[str, str] | None = None, data: dict[str, str] | None = None,
) -> kubernetes.client.V1ConfigMap:
    body = {"metadata": {"name": name, "labels": labels or {}}, "data": data or {}}
    return core_v1.create_namespaced_config_map(namespace, body)


def rv_of(obj: Any) -> str:
    """The resourceVersion of a typed object or of a raw dict."""
    if isinstance(obj, dict):
        return str(obj["metadata"]["resourceVersion"])
    return str(obj.metadata.resource_version)


def names(items: list[Any]) -> list[str]:
    return [item.metadata.name for item in items]


def summary(events: list[Event]) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of each event, bookmarks included (with name "")."""
    return [
        (e["type"], e["raw_object"]["metadata"].get("name", ""), rv_of(e["raw_object"]))
        for e in events
    ]


def is_named(name: str) -> Callable[[list[Event]], bool]:
    """Stop condition: the latest event is about the object with this name."""
    return lambda events: events[-1]["raw_object"]["metadata"].get("name") == name


def first_bookmark(events: list[Event]) -> bool:
    return events[-1]["type"] == "BOOKMARK"


def watch_until(
    func: Callable[..., Any], *args: Any, until: Callable[[list[Event]], bool],
    on_event: Callable[[Event], None] | None = None, **kwargs: Any,
) -> list[Event]:
    """The events of one watch, up to and including the one that satisfies ``until``.

    ``on_event`` runs after each event is recorded, to write while the watch is open. The
    server ends the stream after ``WATCH_TIMEOUT`` seconds at the latest; ending earlier
    than ``until`` is a failure.
    """
    watch = kubernetes.watch.Watch()
    events: list[Event] = []
    stream = watch.stream(func, *args, timeout_seconds=WATCH_TIMEOUT, **kwargs)
    with contextlib.closing(stream):
        for event in stream:
            events.append(event)
            if until(events):
                return events
            if on_event is not None:
                on_event(event)
    pytest.fail(f"the watch ended before the expected event; got {summary(events)}")


def raw_watch_lines(response: urllib3.HTTPResponse) -> list[dict[str, Any]]:
    """Every JSON line of a raw watch response, read until the server ends the stream."""
    with contextlib.closing(response):
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


@pytest.fixture
def namespaces(core_v1: kubernetes.client.CoreV1Api) -> Callable[..., None]:
    def create(*names: str) -> None:
        for name in names:
            core_v1.create_namespace({"metadata": {"name": name}})
    return create


# -- list -----------------------------------------------------------------------------------------


def test_list_is_a_configmaplist_whose_resource_version_is_the_newest_write(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    first = create_cm(core_v1, "first")
    second = create_cm(core_v1, "second")
    patched = core_v1.patch_namespaced_config_map("first", "default", {"data": {"k": "v"}})
    result = core_v1.list_namespaced_config_map("default")
    assert result.kind == "ConfigMapList"
    assert result.api_version == "v1"
    assert result.metadata.resource_version == rv_of(patched)
    assert int(rv_of(first)) < int(rv_of(second)) < int(rv_of(patched))


def test_list_items_carry_their_own_resource_versions(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    written = {name: rv_of(create_cm(core_v1, name)) for name in ("a", "b", "c")}
    written["b"] = rv_of(core_v1.patch_namespaced_config_map("b", "default", {"data": {"x": "1"}}))
    result = core_v1.list_namespaced_config_map("default")
    assert {item.metadata.name: rv_of(item) for item in result.items} == written


def test_list_resource_version_is_global_across_resources(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    create_cm(core_v1, "before")
    secret = core_v1.create_namespaced_secret("default", {"metadata": {"name": "newest"}})
    result = core_v1.list_namespaced_config_map("default")
    assert result.metadata.resource_version == rv_of(secret)


@pytest.fixture
def labelled(core_v1: kubernetes.client.CoreV1Api) -> str:
    """Four config maps with assorted labels; returns the resourceVersion before them."""
    start = core_v1.list_namespaced_config_map("default").metadata.resource_version
    create_cm(core_v1, "a", labels={"env": "prod", "tier": "web"})
    create_cm(core_v1, "b", labels={"env": "dev", "tier": "web"})
    create_cm(core_v1, "c", labels={"env": "prod"})
    create_cm(core_v1, "d")
    return str(start)


LABEL_SELECTORS = [
    pytest.param("env=prod", ["a", "c"], id="equals"),
    pytest.param("env==prod", ["a", "c"], id="double-equals"),
    pytest.param("env!=prod", ["b", "d"], id="not-equals-includes-unlabelled"),
    pytest.param("env in (prod,dev)", ["a", "b", "c"], id="in"),
    pytest.param("env notin (prod)", ["b", "d"], id="notin-includes-unlabelled"),
    pytest.param("tier", ["a", "b"], id="exists"),
    pytest.param("!tier", ["c", "d"], id="not-exists"),
    pytest.param("env=prod,tier", ["a"], id="conjunction"),
    pytest.param("env=staging", [], id="nothing"),
]


@pytest.mark.parametrize(("selector", "expected"), LABEL_SELECTORS)
def test_list_filters_by_label_selector(
    core_v1: kubernetes.client.CoreV1Api, labelled: str, selector: str, expected: list[str],
) -> None:
    result = core_v1.list_namespaced_config_map("default", label_selector=selector)
    assert names(result.items) == expected


@pytest.mark.parametrize(("selector", "expected"), LABEL_SELECTORS)
def test_watch_filters_by_label_selector(
    core_v1: kubernetes.client.CoreV1Api, labelled: str, selector: str, expected: list[str],
) -> None:
    # The replay is sent before the first bookmark: everything up to it is the whole answer.
    events = watch_until(
        core_v1.list_namespaced_config_map, "default", label_selector=selector,
        resource_version=labelled, allow_watch_bookmarks=True, until=first_bookmark,
    )
    assert [(e["type"], e["raw_object"]["metadata"]["name"]) for e in events[:-1]] == [
        ("ADDED", name) for name in expected
    ]


def test_list_filters_by_name_field_selector(core_v1: kubernetes.client.CoreV1Api) -> None:
    for name in ("a", "b", "c"):
        create_cm(core_v1, name)
    assert names(core_v1.list_namespaced_config_map(
        "default", field_selector="metadata.name=b").items) == ["b"]
    assert names(core_v1.list_namespaced_config_map(
        "default", field_selector="metadata.name!=b").items) == ["a", "c"]


def test_list_filters_by_namespace_field_selector_across_namespaces(
    core_v1: kubernetes.client.CoreV1Api, namespaces: Callable[..., None],
) -> None:
    namespaces("ns-a", "ns-b")
    create_cm(core_v1, "one", namespace="ns-a")
    create_cm(core_v1, "two", namespace="ns-b")
    create_cm(core_v1, "three", namespace="ns-a")
    result = core_v1.list_config_map_for_all_namespaces(field_selector="metadata.namespace=ns-a")
    assert [(i.metadata.namespace, i.metadata.name) for i in result.items] == [
        ("ns-a", "one"), ("ns-a", "three"),
    ]


def test_list_filters_pods_by_status_phase(core_v1: kubernetes.client.CoreV1Api) -> None:
    spec = {"containers": [{"name": "main", "image": "busybox"}]}
    for name in ("idle", "busy"):
        core_v1.create_namespaced_pod("default", {"metadata": {"name": name}, "spec": spec})
    core_v1.patch_namespaced_pod_status("busy", "default", {"status": {"phase": "Running"}})
    running = core_v1.list_namespaced_pod("default", field_selector="status.phase=Running")
    not_running = core_v1.list_namespaced_pod("default", field_selector="status.phase!=Running")
    assert names(running.items) == ["busy"]
    assert names(not_running.items) == ["idle"]


def test_list_filters_secrets_by_type(core_v1: kubernetes.client.CoreV1Api) -> None:
    core_v1.create_namespaced_secret("default", {"metadata": {"name": "plain"}})
    core_v1.create_namespaced_secret(
        "default", {"metadata": {"name": "token"}, "type": "example.com/token"})
    tokens = core_v1.list_namespaced_secret("default", field_selector="type=example.com/token")
    opaque = core_v1.list_namespaced_secret("default", field_selector="type=Opaque")
    assert names(tokens.items) == ["token"]
    assert names(opaque.items) == ["plain"]


def test_unsupported_field_selector_is_a_clear_bad_request(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    with pytest.raises(ApiException) as listed:
        core_v1.list_namespaced_config_map("default", field_selector="data.key=value")
    with pytest.raises(ApiException) as watched:
        next(kubernetes.watch.Watch().stream(
            core_v1.list_namespaced_config_map, "default", field_selector="data.key=value",
            timeout_seconds=WATCH_TIMEOUT,
        ))
    for error in (listed.value, watched.value):
        assert error.status == 400
        body = json.loads(error.body)
        assert body["kind"] == "Status"
        assert body["reason"] == "BadRequest"
        assert body["message"] == "field label not supported: data.key"


# -- pagination -----------------------------------------------------------------------------------


def test_pages_are_a_consistent_snapshot_despite_writes_between_them(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    originals = [f"cm-{i:02}" for i in range(10)]
    for name in originals:
        create_cm(core_v1, name, data={"state": "original"})

    first = core_v1.list_namespaced_config_map("default", limit=4)
    # Between the pages: one object added, one seen and one unseen deleted, one unseen changed.
    create_cm(core_v1, "cm-10")
    core_v1.delete_namespaced_config_map("cm-01", "default")
    core_v1.delete_namespaced_config_map("cm-07", "default")
    core_v1.patch_namespaced_config_map("cm-05", "default", {"data": {"state": "changed"}})
    second = core_v1.list_namespaced_config_map(
        "default", limit=4, _continue=first.metadata._continue)
    third = core_v1.list_namespaced_config_map(
        "default", limit=4, _continue=second.metadata._continue)

    pages = [first, second, third]
    assert [names(p.items) for p in pages] == [originals[0:4], originals[4:8], originals[8:10]]
    assert {p.metadata.resource_version for p in pages} == {first.metadata.resource_version}
    assert all(item.data == {"state": "original"} for p in pages for item in p.items)
    assert third.metadata._continue is None

    latest = core_v1.list_namespaced_config_map("default")
    assert names(latest.items) == [n for n in [*originals, "cm-10"] if n not in ("cm-01", "cm-07")]


@pytest.mark.parametrize("all_namespaces", [False, True], ids=["namespaced", "cluster-wide"])
def test_remaining_item_count_tells_how_many_objects_later_pages_hold(
    core_v1: kubernetes.client.CoreV1Api, all_namespaces: bool,
) -> None:
    for i in range(7):
        create_cm(core_v1, f"cm-{i}")
    counts: list[int | None] = []
    token = None
    while True:
        if all_namespaces:
            page = core_v1.list_config_map_for_all_namespaces(limit=3, _continue=token)
        else:
            page = core_v1.list_namespaced_config_map("default", limit=3, _continue=token)
        counts.append(page.metadata.remaining_item_count)
        token = page.metadata._continue
        if token is None:
            break
    assert counts == [4, 1, None]


def test_remaining_item_count_is_absent_with_a_selector(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    # The real server does not count what a selector would match: it leaves the count out.
    for i in range(5):
        create_cm(core_v1, f"cm-{i}", labels={"app": "x"})
    page = core_v1.list_namespaced_config_map("default", limit=2, label_selector="app=x")
    assert page.metadata._continue is not None
    assert page.metadata.remaining_item_count is None


@pytest.mark.parametrize("writes_in_between", [False, True], ids=["quiet", "busy"])
def test_continue_token_expires_with_the_history(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
    writes_in_between: bool,
) -> None:
    for i in range(5):
        create_cm(core_v1, f"cm-{i}")
    first = core_v1.list_namespaced_config_map("default", limit=2)
    if writes_in_between:
        create_cm(core_v1, "late")
    embedded_apiserver.faults.expire_history()
    with pytest.raises(ApiException) as error:
        core_v1.list_namespaced_config_map("default", limit=2, _continue=first.metadata._continue)
    assert error.value.status == 410
    body = json.loads(error.value.body)
    assert body["reason"] == "Expired"
    assert "continue" in body["message"]

    # A fresh list pages through again, from a token issued after the compaction.
    again = core_v1.list_namespaced_config_map("default", limit=2)
    rest = core_v1.list_namespaced_config_map(
        "default", limit=10, _continue=again.metadata._continue)
    assert len(again.items) + len(rest.items) == 5 + writes_in_between


def test_list_at_an_exact_older_resource_version_shows_the_old_state(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    create_cm(core_v1, "kept", data={"v": "1"})
    create_cm(core_v1, "gone")
    then = core_v1.list_namespaced_config_map("default").metadata.resource_version
    core_v1.patch_namespaced_config_map("kept", "default", {"data": {"v": "2"}})
    core_v1.delete_namespaced_config_map("gone", "default")
    create_cm(core_v1, "new")

    old = core_v1.list_namespaced_config_map(
        "default", resource_version=then, resource_version_match="Exact")
    assert old.metadata.resource_version == then
    assert names(old.items) == ["gone", "kept"]
    assert old.items[1].data == {"v": "1"}


@pytest.mark.parametrize(("resource_version", "match"), [
    pytest.param("0", None, id="rv-0-any"),
    pytest.param("", None, id="rv-unset-latest"),
    pytest.param("older", "NotOlderThan", id="not-older-than"),
])
def test_list_without_an_exact_match_shows_the_current_state(
    core_v1: kubernetes.client.CoreV1Api, resource_version: str, match: str | None,
) -> None:
    older = rv_of(create_cm(core_v1, "kept", data={"v": "1"}))
    patched = core_v1.patch_namespaced_config_map("kept", "default", {"data": {"v": "2"}})
    kwargs: dict[str, Any] = {}
    if resource_version:
        kwargs["resource_version"] = older if resource_version == "older" else resource_version
    if match:
        kwargs["resource_version_match"] = match
    result = core_v1.list_namespaced_config_map("default", **kwargs)
    assert result.metadata.resource_version == rv_of(patched)
    assert [item.data for item in result.items] == [{"v": "2"}]


def test_list_at_an_exact_compacted_resource_version_is_expired(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    then = rv_of(create_cm(core_v1, "a"))
    create_cm(core_v1, "b")
    embedded_apiserver.faults.expire_history()
    with pytest.raises(ApiException) as error:
        core_v1.list_namespaced_config_map(
            "default", resource_version=then, resource_version_match="Exact")
    assert error.value.status == 410
    assert json.loads(error.value.body)["reason"] == "Expired"


# -- watch: resumption ----------------------------------------------------------------------------


def test_watch_from_a_list_resource_version_sees_exactly_the_later_events_in_order(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    create_cm(core_v1, "a")
    create_cm(core_v1, "b")
    listed = core_v1.list_namespaced_config_map("default").metadata.resource_version

    # Before the watch (replayed from its resourceVersion) ...
    expected = [("ADDED", "c", rv_of(create_cm(core_v1, "c")))]
    patched = core_v1.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    expected.append(("MODIFIED", "a", rv_of(patched)))
    core_v1.delete_namespaced_config_map("b", "default")
    deleted_rv = core_v1.list_namespaced_config_map("default").metadata.resource_version
    expected.append(("DELETED", "b", deleted_rv))

    # ... and while it is open (live), once the replay has arrived.
    def write_live(event: Event) -> None:
        if event["raw_object"]["metadata"]["name"] == "b":
            patched = core_v1.patch_namespaced_config_map("c", "default", {"data": {"k": "v"}})
            expected.append(("MODIFIED", "c", rv_of(patched)))
            expected.append(("ADDED", "sentinel", rv_of(create_cm(core_v1, "sentinel"))))

    events = watch_until(
        core_v1.list_namespaced_config_map, "default", resource_version=listed,
        until=is_named("sentinel"), on_event=write_live,
    )
    assert summary(events) == expected


@pytest.mark.parametrize("abrupt", [False, True], ids=["clean", "abrupt"])
def test_watch_resumed_after_dropped_watches_loses_nothing(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer, abrupt: bool,
) -> None:
    listed = core_v1.list_namespaced_config_map("default").metadata.resource_version
    create_cm(core_v1, "a")
    watch = kubernetes.watch.Watch()
    seen: list[Event] = []
    stream = watch.stream(core_v1.list_namespaced_config_map, "default",
                          resource_version=listed, timeout_seconds=WATCH_TIMEOUT)
    # A dropped connection is an error to the client; a cleanly ended stream just ends.
    errors = (urllib3.exceptions.ProtocolError,) if abrupt else ()
    with contextlib.closing(stream), contextlib.suppress(*errors):
        for event in stream:
            seen.append(event)
            if len(seen) == 1:
                assert embedded_apiserver.faults.drop_watches(abrupt=abrupt) == 1
    assert summary(seen) == [("ADDED", "a", rv_of(seen[0]["raw_object"]))]

    # Missed while disconnected: replayed on resumption from the last resourceVersion seen.
    missed = [("ADDED", "b", rv_of(create_cm(core_v1, "b")))]
    patched = core_v1.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    missed.append(("MODIFIED", "a", rv_of(patched)))
    missed.append(("ADDED", "sentinel", rv_of(create_cm(core_v1, "sentinel"))))
    resumed = watch_until(core_v1.list_namespaced_config_map, "default",
                          resource_version=watch.resource_version, until=is_named("sentinel"))
    assert summary(resumed) == missed


def test_watch_resumed_from_expired_history_gets_410_inside_a_200_stream(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    old = rv_of(create_cm(core_v1, "a"))
    create_cm(core_v1, "b")
    embedded_apiserver.faults.expire_history()

    response = core_v1.list_namespaced_config_map(
        "default", watch=True, resource_version=old, timeout_seconds=WATCH_TIMEOUT,
        _preload_content=False,
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    lines = raw_watch_lines(response)
    assert len(lines) == 1
    assert lines[0]["type"] == "ERROR"
    status = lines[0]["object"]
    assert status["kind"] == "Status"
    assert status["code"] == 410
    assert status["reason"] == "Expired"
    assert status["message"].startswith(f"too old resource version: {old} (")

    # The official client turns it into an ApiException(410) when it must not retry.
    with pytest.raises(ApiException) as error:
        watch_until(core_v1.list_namespaced_config_map, "default", resource_version=old,
                    until=lambda events: True)
    assert error.value.status == 410


def test_watch_resumed_from_the_current_resource_version_after_expiry_is_not_expired(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    current = rv_of(create_cm(core_v1, "a"))
    embedded_apiserver.faults.expire_history()
    created = rv_of(create_cm(core_v1, "sentinel"))
    events = watch_until(core_v1.list_namespaced_config_map, "default",
                         resource_version=current, until=is_named("sentinel"))
    assert summary(events) == [("ADDED", "sentinel", created)]


# -- watch: bookmarks, timeouts, WatchList --------------------------------------------------------


def test_bookmarks_advance_even_when_no_event_matches_the_selector(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    start = rv_of(create_cm(core_v1, "before"))
    unrelated: list[str] = []

    def write_unrelated(event: Event) -> None:
        if not unrelated:  # once, after the first bookmark
            unrelated.append(rv_of(create_cm(core_v1, "unrelated", labels={"app": "other"})))

    events = watch_until(
        core_v1.list_namespaced_config_map, "default", label_selector="app=mine",
        resource_version=start, allow_watch_bookmarks=True, on_event=write_unrelated,
        until=lambda evs: bool(unrelated) and int(rv_of(evs[-1]["raw_object"])) >= int(
            unrelated[0]),
    )
    assert {e["type"] for e in events} == {"BOOKMARK"}
    assert rv_of(events[0]["raw_object"]) == start
    assert rv_of(events[-1]["raw_object"]) == unrelated[0]
    bookmark = events[-1]["raw_object"]
    assert bookmark["kind"] == "ConfigMap"
    assert bookmark["apiVersion"] == "v1"


def test_watch_without_bookmarks_gets_none(core_v1: kubernetes.client.CoreV1Api) -> None:
    start = rv_of(create_cm(core_v1, "before"))
    response = core_v1.list_namespaced_config_map(
        "default", watch=True, resource_version=start, timeout_seconds=1,
        _preload_content=False,
    )
    assert raw_watch_lines(response) == []


def test_watch_with_timeout_seconds_ends_cleanly(core_v1: kubernetes.client.CoreV1Api) -> None:
    start = rv_of(create_cm(core_v1, "a"))
    # urllib3 raises on a connection closed mid-stream, and on no end within the read timeout.
    response = core_v1.list_namespaced_config_map(
        "default", watch=True, resource_version=start, timeout_seconds=1,
        allow_watch_bookmarks=True, _preload_content=False, _request_timeout=(5, 10),
    )
    assert response.status == 200
    assert {line["type"] for line in raw_watch_lines(response)} <= {"BOOKMARK"}

    # The official client's watch then simply stops iterating.
    events = list(kubernetes.watch.Watch().stream(
        core_v1.list_namespaced_config_map, "default", resource_version=start,
        timeout_seconds=1))
    assert events == []


def test_watch_list_sends_initial_objects_then_an_end_bookmark(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    for name in ("b", "a", "c"):
        create_cm(core_v1, name, labels={"app": "x"})
    create_cm(core_v1, "other")
    current = core_v1.list_namespaced_config_map("default").metadata.resource_version
    live: list[str] = []

    def write_live(event: Event) -> None:
        if event["type"] == "BOOKMARK" and not live:
            live.append(rv_of(create_cm(core_v1, "d", labels={"app": "x"})))

    events = watch_until(
        core_v1.list_namespaced_config_map, "default", label_selector="app=x",
        send_initial_events=True, resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True, on_event=write_live, until=is_named("d"),
    )
    assert [(e["type"], e["raw_object"]["metadata"].get("name")) for e in events] == [
        ("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c"), ("BOOKMARK", None), ("ADDED", "d"),
    ]
    end = events[3]["raw_object"]
    assert end["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
    assert int(rv_of(end)) >= int(current)
    assert rv_of(events[4]["raw_object"]) == live[0]


def test_watch_list_without_not_older_than_is_refused(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    with pytest.raises(ApiException) as error:
        next(kubernetes.watch.Watch().stream(
            core_v1.list_namespaced_config_map, "default", send_initial_events=True,
            allow_watch_bookmarks=True, timeout_seconds=WATCH_TIMEOUT,
        ))
    assert error.value.status == 422
    assert "resourceVersionMatch=NotOlderThan" in json.loads(error.value.body)["message"]


# -- watch: selectors, deletions, scopes ----------------------------------------------------------


def test_watch_turns_selector_transitions_into_added_and_deleted(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    start = rv_of(create_cm(core_v1, "x", labels={"team": "b"}))

    def relabel(team: str) -> str:
        return rv_of(core_v1.patch_namespaced_config_map(
            "x", "default", {"metadata": {"labels": {"team": team}}}))

    joined = relabel("a")
    changed = rv_of(core_v1.patch_namespaced_config_map("x", "default", {"data": {"k": "v"}}))
    left = relabel("c")
    relabel("b")
    core_v1.delete_namespaced_config_map("x", "default")
    sentinel = rv_of(create_cm(core_v1, "sentinel", labels={"team": "a"}))

    events = watch_until(core_v1.list_namespaced_config_map, "default", label_selector="team=a",
                         resource_version=start, until=is_named("sentinel"))
    assert summary(events) == [
        ("ADDED", "x", joined), ("MODIFIED", "x", changed), ("DELETED", "x", left),
        ("ADDED", "sentinel", sentinel),
    ]
    # Leaving the selector: the last state that matched, at the resourceVersion of the change.
    assert events[2]["raw_object"]["metadata"]["labels"] == {"team": "a"}
    assert events[2]["raw_object"]["data"] == {"k": "v"}


def test_deleted_event_carries_the_last_state(core_v1: kubernetes.client.CoreV1Api) -> None:
    start = rv_of(create_cm(core_v1, "x", data={"k": "first"}))
    uid = core_v1.patch_namespaced_config_map(
        "x", "default", {"data": {"k": "last"}}).metadata.uid
    core_v1.delete_namespaced_config_map("x", "default")
    deleted_rv = core_v1.list_namespaced_config_map("default").metadata.resource_version

    events = watch_until(core_v1.list_namespaced_config_map, "default", resource_version=start,
                         until=lambda evs: evs[-1]["type"] == "DELETED")
    last = events[-1]["raw_object"]
    assert last["data"] == {"k": "last"}
    assert last["metadata"]["uid"] == uid
    assert rv_of(last) == deleted_rv


def test_deleted_event_after_the_last_finalizer_carries_the_deletion_timestamp(
    core_v1: kubernetes.client.CoreV1Api,
) -> None:
    start = rv_of(core_v1.create_namespaced_config_map("default", {
        "metadata": {"name": "x", "finalizers": ["example.com/hold"]}}))
    core_v1.delete_namespaced_config_map("x", "default")
    released = core_v1.patch_namespaced_config_map(
        "x", "default", {"metadata": {"finalizers": None}})

    events = watch_until(core_v1.list_namespaced_config_map, "default", resource_version=start,
                         until=lambda evs: evs[-1]["type"] == "DELETED")
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    marked, gone = (e["raw_object"] for e in events)
    assert marked["metadata"]["deletionTimestamp"]
    assert gone["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    assert not gone["metadata"].get("finalizers")
    assert rv_of(gone) == rv_of(released)


def test_namespace_watch_sees_its_namespace_and_cluster_watch_sees_all(
    core_v1: kubernetes.client.CoreV1Api, namespaces: Callable[..., None],
) -> None:
    namespaces("ns-a", "ns-b")
    start = core_v1.list_config_map_for_all_namespaces().metadata.resource_version
    writes = []
    for namespace, name in [("ns-a", "one"), ("ns-b", "two"), ("ns-b", "three"),
                            ("ns-a", "sentinel")]:
        writes.append(("ADDED", namespace, name, rv_of(create_cm(core_v1, name,
                                                                 namespace=namespace))))

    def seen(events: list[Event]) -> list[tuple[str, str, str, str]]:
        return [(e["type"], e["raw_object"]["metadata"]["namespace"],
                 e["raw_object"]["metadata"]["name"], rv_of(e["raw_object"])) for e in events]

    in_namespace = watch_until(core_v1.list_namespaced_config_map, "ns-a",
                               resource_version=start, until=is_named("sentinel"))
    everywhere = watch_until(core_v1.list_config_map_for_all_namespaces,
                             resource_version=start, until=is_named("sentinel"))
    assert seen(in_namespace) == [w for w in writes if w[1] == "ns-a"]
    assert seen(everywhere) == writes


def test_watch_of_a_named_object_through_the_dynamic_client(
    core_v1: kubernetes.client.CoreV1Api, dynamic_client: Any,
) -> None:
    configmaps = dynamic_client.resources.get(api_version="v1", kind="ConfigMap")
    start = core_v1.list_namespaced_config_map("default").metadata.resource_version
    create_cm(core_v1, "other")
    created = rv_of(create_cm(core_v1, "target"))
    create_cm(core_v1, "another")
    core_v1.patch_namespaced_config_map("other", "default", {"data": {"k": "v"}})
    patched = rv_of(core_v1.patch_namespaced_config_map("target", "default", {"data": {"k": "v"}}))

    events: list[Event] = []
    stream = configmaps.watch(namespace="default", name="target", resource_version=start,
                              timeout=WATCH_TIMEOUT)
    with contextlib.closing(stream):
        for event in stream:
            events.append(event)
            if event["type"] == "MODIFIED":
                break
    assert [(e["type"], e["object"].metadata.name, e["object"].metadata.resourceVersion)
            for e in events] == [("ADDED", "target", created), ("MODIFIED", "target", patched)]
    assert events[-1]["object"].data.k == "v"


def test_watch_of_custom_objects_through_the_custom_objects_api(
    custom_objects: kubernetes.client.CustomObjectsApi, widgets_crd: str,
) -> None:
    group, version, plural = "example.com", "v1", "widgets"
    start = custom_objects.list_namespaced_custom_object(
        group, version, "default", plural)["metadata"]["resourceVersion"]
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"},
            "spec": {"size": 1}}
    created = custom_objects.create_namespaced_custom_object(
        group, version, "default", plural, body)
    patched = custom_objects.patch_namespaced_custom_object(
        group, version, "default", plural, "w1", {"spec": {"size": 2}})

    events = watch_until(custom_objects.list_namespaced_custom_object, group, version,
                         "default", plural, resource_version=start,
                         until=lambda evs: evs[-1]["type"] == "MODIFIED")
    assert summary(events) == [("ADDED", "w1", rv_of(created)), ("MODIFIED", "w1", rv_of(patched))]
    assert events[-1]["object"]["spec"] == {"size": 2}
    assert events[-1]["object"]["kind"] == "Widget"


# -- discovery ------------------------------------------------------------------------------------


def test_dynamic_client_discovers_builtin_resources(dynamic_client: Any) -> None:
    configmaps = dynamic_client.resources.get(api_version="v1", kind="ConfigMap")
    assert configmaps.name == "configmaps"
    assert configmaps.namespaced is True
    assert {"get", "list", "watch", "create", "patch", "update", "delete"} <= set(configmaps.verbs)

    deployments = dynamic_client.resources.get(api_version="apps/v1", kind="Deployment")
    assert (deployments.group, deployments.name) == ("apps", "deployments")
    assert {"status", "scale"} <= set(deployments.subresources)

    listed = configmaps.get(namespace="default")
    assert listed.kind == "ConfigMapList"


def test_version_endpoint_names_a_kubernetes_version(
    api_client: kubernetes.client.ApiClient,
) -> None:
    info = kubernetes.client.VersionApi(api_client).get_code()
    assert info.major == "1"
    assert info.minor.isdigit()
    assert info.git_version.startswith(f"v{info.major}.{info.minor}.")
    assert info.platform


WIDGETS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                  "shortNames": ["wd"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {"type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True},
                               "status": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True}},
            }},
            "subresources": {"status": {}},
        }],
    },
}


@pytest.fixture
def widgets_crd(apiextensions_v1: kubernetes.client.ApiextensionsV1Api) -> str:
    apiextensions_v1.create_custom_resource_definition(WIDGETS_CRD)
    return str(WIDGETS_CRD["metadata"]["name"])  # type: ignore[index]


def test_crd_is_discoverable_right_after_creation_and_gone_after_deletion(
    apiextensions_v1: kubernetes.client.ApiextensionsV1Api, dynamic_client: Any,
    custom_objects: kubernetes.client.CustomObjectsApi, raw: Callable[..., Any],
    wait_until: Callable[..., Any],
) -> None:
    with pytest.raises(ResourceNotFoundError):
        dynamic_client.resources.get(api_version="example.com/v1", kind="Widget")

    apiextensions_v1.create_custom_resource_definition(WIDGETS_CRD)
    # No waiting: discovery is current once the create has returned.
    widgets = dynamic_client.resources.get(api_version="example.com/v1", kind="Widget")
    assert (widgets.name, widgets.namespaced, widgets.short_names) == ("widgets", True, ["wd"])
    assert "status" in widgets.subresources
    assert raw("GET", "/apis/example.com/v1").status == 200
    custom_objects.create_namespaced_custom_object("example.com", "v1", "default", "widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}})
    listed = widgets.get(namespace="default")
    assert (listed.kind, [i.metadata.name for i in listed.items]) == ("WidgetList", ["w1"])

    apiextensions_v1.delete_custom_resource_definition("widgets.example.com")
    # The CRD goes once its objects are deleted (asynchronously, as the real controller does).
    wait_until(lambda: raw("GET", "/apis/example.com/v1").status == 404,
               what="the group version to vanish from discovery")
    assert raw("GET", "/apis/example.com").status == 404
    groups = raw("GET", "/apis").body["groups"]
    assert "example.com" not in {g["name"] for g in groups}
    dynamic_client.resources.invalidate_cache()
    with pytest.raises(ResourceNotFoundError):
        dynamic_client.resources.get(api_version="example.com/v1", kind="Widget")

