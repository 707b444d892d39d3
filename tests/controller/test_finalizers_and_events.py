"""Finalizer helpers and Events against the embedded API server, over real HTTP.

The finalizer helpers must stay correct among other writers: a write between their read and
their patch (Kopf adding its own finalizer, a label change) makes the server refuse the patch's
``test``; the helper re-reads and tries again, and nobody's finalizer is lost.
"""

from __future__ import annotations

from typing import Any

import pytest

from kopf_informers import ApiClient
from kopf_informers._events import post_event
from kopf_informers._finalizers import (
    add_finalizer,
    has_finalizer,
    is_deletion_ongoing,
    remove_finalizer,
)
from kopf_informers.errors import (
    ConflictError,
    DeletionOngoingError,
    InvalidArgumentError,
    InvalidError,
    NotFoundError,
)
from kopf_informers.testing import EmbeddedApiServer

pytestmark = pytest.mark.embedded_apiserver(bookmark_interval=1.0)

CM = "v1/configmaps"
OURS = "example.com/cleanup"
KOPF = "kopf.zalando.org/KopfFinalizerMarker"
Obj = dict[str, Any]


async def make_cm(api: ApiClient, name: str = "cm1", *finalizers: str) -> Obj:
    metadata: Obj = {"name": name, "namespace": "default"}
    if finalizers:
        metadata["finalizers"] = list(finalizers)
    return await api.create(CM, {"metadata": metadata, "data": {"k": "v"}})


async def read(api: ApiClient, name: str = "cm1") -> Obj:
    return await api.get(CM, name, namespace="default")


def patches(server: EmbeddedApiServer) -> int:
    return len(server.journal.filter(verb="patch", resource="configmaps"))


def gets(server: EmbeddedApiServer) -> int:
    return len(server.journal.filter(verb="get", resource="configmaps"))


class InterposingClient:
    """An ``ApiClient`` whose first patch lets another writer write just before it is sent:
    a concurrent writer between the helper's read and its patch."""

    def __init__(self, api: ApiClient, writer: Any) -> None:
        self._api = api
        self._writer = writer
        self.interposed = False

    async def get(self, *args: Any, **kwargs: Any) -> Obj:
        return await self._api.get(*args, **kwargs)

    async def patch(self, *args: Any, **kwargs: Any) -> Obj:
        if not self.interposed:
            self.interposed = True
            await self._writer()
        return await self._api.patch(*args, **kwargs)


# -- adding and removing --------------------------------------------------------------------------


async def test_adding_a_finalizer_adds_it_once_and_then_reports_no_change(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api)
    assert await add_finalizer(api, CM, cm, OURS) is True
    fresh = await read(api)
    assert fresh["metadata"]["finalizers"] == [OURS]
    assert has_finalizer(fresh, OURS)

    server.journal.clear()
    assert await add_finalizer(api, CM, fresh, OURS) is False
    assert patches(server) == 0  # nothing to do: no write at all
    assert (await read(api))["metadata"]["finalizers"] == [OURS]


async def test_adding_with_a_stale_object_that_lacks_it_rereads_and_reports_no_change(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    stale = await make_cm(api)
    assert await add_finalizer(api, CM, stale, OURS) is True
    assert await add_finalizer(api, CM, stale, OURS) is False
    assert (await read(api))["metadata"]["finalizers"] == [OURS]


async def test_removing_a_finalizer_removes_it_once_and_then_reports_no_change(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api, "cm1", OURS)
    assert await remove_finalizer(api, CM, cm, OURS) is True
    fresh = await read(api)
    assert "finalizers" not in fresh["metadata"]
    assert not has_finalizer(fresh, OURS)

    server.journal.clear()
    assert await remove_finalizer(api, CM, fresh, OURS) is False
    assert patches(server) == 0


async def test_an_object_without_resource_version_is_read_first(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    await make_cm(api)
    server.journal.clear()
    built = {"metadata": {"name": "cm1", "namespace": "default"}}
    assert await add_finalizer(api, CM, built, OURS) is True
    assert gets(server) == 1
    assert patches(server) == 1


async def test_the_patch_pins_the_resource_version_and_the_finalizers_list(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api, "cm1", KOPF)
    sent: list[Any] = []

    class Recording(InterposingClient):
        async def patch(self, *args: Any, **kwargs: Any) -> Obj:
            sent.append((args[2], kwargs.get("type")))
            return await super().patch(*args, **kwargs)

    async def nobody() -> None:
        pass

    client: Any = Recording(api, nobody)
    assert await add_finalizer(client, CM, cm, OURS) is True
    ops, patch_type = sent[0]
    assert patch_type == "json"
    assert ops == [
        {"op": "test", "path": "/metadata/resourceVersion",
         "value": cm["metadata"]["resourceVersion"]},
        {"op": "test", "path": "/metadata/finalizers", "value": [KOPF]},
        {"op": "add", "path": "/metadata/finalizers/-", "value": OURS},
    ]


# -- other writers --------------------------------------------------------------------------------


async def test_a_write_between_read_and_patch_is_retried_with_fresh_state(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api)

    async def label_it() -> None:
        await api.patch(CM, "cm1", {"metadata": {"labels": {"touched": "yes"}}},
                        namespace="default")

    client: Any = InterposingClient(api, label_it)
    server.journal.clear()
    assert await add_finalizer(client, CM, cm, OURS) is True
    assert client.interposed
    fresh = await read(api)
    assert fresh["metadata"]["finalizers"] == [OURS]
    assert fresh["metadata"]["labels"] == {"touched": "yes"}
    assert patches(server) == 3  # the label, our refused patch, our retried patch
    assert gets(server) == 2  # our re-read, and the read above


async def test_kopf_adding_its_finalizer_concurrently_keeps_both(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api)

    async def kopf_adds_its_own() -> None:
        fresh = await read(api)
        await api.patch(CM, "cm1", [
            {"op": "test", "path": "/metadata/resourceVersion",
             "value": fresh["metadata"]["resourceVersion"]},
            {"op": "add", "path": "/metadata/finalizers", "value": [KOPF]},
        ], namespace="default", type="json")

    client: Any = InterposingClient(api, kopf_adds_its_own)
    assert await add_finalizer(client, CM, cm, OURS) is True
    assert (await read(api))["metadata"]["finalizers"] == [KOPF, OURS]


async def test_kopf_removing_its_finalizer_concurrently_loses_nothing(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api, "cm1", KOPF, OURS, "other.example.com/keep")

    async def kopf_removes_its_own() -> None:
        fresh = await read(api)
        kept = [f for f in fresh["metadata"]["finalizers"] if f != KOPF]
        await api.patch(CM, "cm1", [
            {"op": "test", "path": "/metadata/resourceVersion",
             "value": fresh["metadata"]["resourceVersion"]},
            {"op": "replace", "path": "/metadata/finalizers", "value": kept},
        ], namespace="default", type="json")

    client: Any = InterposingClient(api, kopf_removes_its_own)
    assert await remove_finalizer(client, CM, cm, OURS) is True
    assert (await read(api))["metadata"]["finalizers"] == ["other.example.com/keep"]


async def test_kopf_finalizer_on_the_object_is_left_untouched(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api, "cm1", KOPF)
    assert await add_finalizer(api, CM, cm, OURS) is True
    assert (await read(api))["metadata"]["finalizers"] == [KOPF, OURS]
    assert await remove_finalizer(api, CM, await read(api), OURS) is True
    assert (await read(api))["metadata"]["finalizers"] == [KOPF]


# -- refused patches ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [
    pytest.param(409, id="409-conflict"),
    pytest.param(422, id="422-invalid"),
])
async def test_an_injected_refusal_is_retried_after_a_fresh_read(
    api: ApiClient, server: EmbeddedApiServer, status: int,
) -> None:
    cm = await make_cm(api, "cm1", OURS)
    server.faults.fail("patch", "configmaps", status)
    server.journal.clear()
    assert await remove_finalizer(api, CM, cm, OURS) is True
    assert "finalizers" not in (await read(api))["metadata"]
    assert patches(server) == 2
    assert gets(server) == 2  # the helper's re-read, and the read above


@pytest.mark.parametrize(("status", "error"), [
    pytest.param(409, ConflictError, id="409-conflict"),
    pytest.param(422, InvalidError, id="422-invalid"),
])
async def test_retries_are_bounded_and_the_last_refusal_is_raised(
    api: ApiClient, server: EmbeddedApiServer, status: int, error: type[Exception],
) -> None:
    cm = await make_cm(api)
    server.faults.fail("patch", "configmaps", status, count=10)
    server.journal.clear()
    with pytest.raises(error) as info:
        await add_finalizer(api, CM, cm, OURS, attempts=3)
    assert patches(server) == 3
    assert gets(server) == 2  # no pointless read after the last attempt
    assert any("gave up after 3" in note for note in info.value.__notes__)
    assert "finalizers" not in (await read(api))["metadata"]


async def test_a_single_attempt_means_no_retry(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api)
    server.faults.fail("patch", "configmaps", 409)
    with pytest.raises(ConflictError):
        await add_finalizer(api, CM, cm, OURS, attempts=1)


# -- deletion -------------------------------------------------------------------------------------


async def test_removing_the_last_finalizer_of_a_deleting_object_lets_it_disappear(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    await make_cm(api, "cm1", OURS)
    await api.delete(CM, "cm1", namespace="default")
    deleting = await read(api)
    assert is_deletion_ongoing(deleting)
    assert await remove_finalizer(api, CM, deleting, OURS) is True
    with pytest.raises(NotFoundError):
        await read(api)


async def test_removing_ours_from_a_deleting_object_waits_for_kopf_finalizer(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    await make_cm(api, "cm1", KOPF, OURS)
    await api.delete(CM, "cm1", namespace="default")
    assert await remove_finalizer(api, CM, await read(api), OURS) is True
    remaining = await read(api)
    assert remaining["metadata"]["finalizers"] == [KOPF]
    assert is_deletion_ongoing(remaining)


async def test_removing_from_an_object_that_is_gone_is_nothing_to_do(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api, "cm1", OURS)
    await api.patch(CM, "cm1", {"metadata": {"finalizers": None}}, namespace="default")
    await api.delete(CM, "cm1", namespace="default")
    assert await remove_finalizer(api, CM, cm, OURS) is False


async def test_removing_when_the_object_vanishes_during_the_retry_is_nothing_to_do(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api, "cm1", OURS)

    async def someone_else_finishes_the_deletion() -> None:
        await api.patch(CM, "cm1", {"metadata": {"finalizers": None}}, namespace="default")
        await api.delete(CM, "cm1", namespace="default")

    client: Any = InterposingClient(api, someone_else_finishes_the_deletion)
    assert await remove_finalizer(client, CM, cm, OURS) is False


async def test_a_recreated_namesake_keeps_its_finalizer_when_the_original_is_gone(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    original = await make_cm(api, "cm1", OURS)

    async def delete_and_recreate() -> None:
        await api.patch(CM, "cm1", {"metadata": {"finalizers": None}}, namespace="default")
        await api.delete(CM, "cm1", namespace="default")
        await make_cm(api, "cm1", OURS)

    client: Any = InterposingClient(api, delete_and_recreate)
    assert await remove_finalizer(client, CM, original, OURS) is False
    namesake = await read(api)
    assert namesake["metadata"]["uid"] != original["metadata"]["uid"]
    assert namesake["metadata"]["finalizers"] == [OURS]


async def test_adding_to_an_object_replaced_by_a_namesake_raises_not_found(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    original = await make_cm(api)

    async def delete_and_recreate() -> None:
        await api.delete(CM, "cm1", namespace="default")
        await make_cm(api)

    client: Any = InterposingClient(api, delete_and_recreate)
    with pytest.raises(NotFoundError, match="another object"):
        await add_finalizer(client, CM, original, OURS)
    assert "finalizers" not in (await read(api))["metadata"]


async def test_adding_to_a_deleting_object_is_refused_without_a_write(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    await make_cm(api, "cm1", KOPF)
    await api.delete(CM, "cm1", namespace="default")
    deleting = await read(api)
    server.journal.clear()
    with pytest.raises(DeletionOngoingError, match="being deleted"):
        await add_finalizer(api, CM, deleting, OURS)
    assert patches(server) == 0


async def test_adding_to_an_object_that_is_gone_raises_not_found(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api)
    await api.delete(CM, "cm1", namespace="default")
    with pytest.raises(NotFoundError):
        await add_finalizer(api, CM, cm, OURS)


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    pytest.param("cleanup", id="no-prefix"),
    pytest.param("Example.com/cleanup", id="uppercase-prefix"),
    pytest.param("example.com/", id="empty-name"),
    pytest.param("/cleanup", id="empty-prefix"),
    pytest.param("example.com/-cleanup", id="name-starts-with-dash"),
    pytest.param("example.com/" + "x" * 64, id="name-too-long"),
    pytest.param("a/b/c", id="two-slashes"),
])
async def test_adding_a_finalizer_that_is_not_domain_qualified_is_refused_before_any_request(
    api: ApiClient, server: EmbeddedApiServer, name: str,
) -> None:
    server.journal.clear()
    with pytest.raises(InvalidArgumentError, match="invalid finalizer name"):
        await add_finalizer(api, CM, {"metadata": {"name": "cm1"}}, name)
    assert len(server.journal) == 0


async def test_a_legacy_finalizer_without_prefix_can_still_be_removed(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api, "cm1", "cleanup")
    assert await remove_finalizer(api, CM, cm, "cleanup") is True
    with pytest.raises(InvalidArgumentError, match="invalid finalizer name"):
        await remove_finalizer(api, CM, cm, "not a name")


async def test_an_object_without_a_name_is_refused(api: ApiClient) -> None:
    with pytest.raises(InvalidArgumentError, match=r"no metadata\.name"):
        await add_finalizer(api, CM, {"metadata": {}}, OURS)


@pytest.mark.parametrize("metadata", [
    pytest.param({"name": ".", "namespace": "default"}, id="dot-name"),
    pytest.param({"name": "cm1", "namespace": ".."}, id="dot-dot-namespace"),
    pytest.param({"name": "a/b", "namespace": "default", "resourceVersion": "1"},
                 id="slash-name"),
])
async def test_an_object_whose_name_cannot_be_in_a_path_is_refused_before_any_request(
    api: ApiClient, server: EmbeddedApiServer, metadata: Obj,
) -> None:
    await make_cm(api)
    server.journal.clear()
    for change in (add_finalizer, remove_finalizer):
        with pytest.raises(InvalidArgumentError, match="cannot be a segment"):
            await change(api, CM, {"metadata": {**metadata, "finalizers": [OURS]}}, OURS)
    assert [e.path for e in server.journal if e.resource] == []


# -- events ---------------------------------------------------------------------------------------


async def test_a_posted_event_is_readable_and_refers_to_its_object(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api)
    event = await post_event(api, cm, type="Normal", reason="Synced",
                             message="Foo synced successfully", reporting_component="foo-ctl")
    stored = await api.get("v1/events", event["metadata"]["name"], namespace="default")
    assert stored["metadata"]["name"].startswith("cm1-")
    assert stored["involvedObject"] == {
        "apiVersion": "v1", "kind": "ConfigMap", "name": "cm1", "namespace": "default",
        "uid": cm["metadata"]["uid"], "resourceVersion": cm["metadata"]["resourceVersion"],
    }
    assert stored["type"] == "Normal"
    assert stored["reason"] == "Synced"
    assert stored["message"] == "Foo synced successfully"
    assert stored["count"] == 1
    assert stored["source"] == {"component": "foo-ctl"}
    assert stored["firstTimestamp"] == stored["lastTimestamp"]
    assert stored["firstTimestamp"].endswith("Z")


async def test_the_reporting_instance_is_recorded_when_given(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api)
    event = await post_event(api, cm, reason="Synced", message="ok",
                             reporting_component="foo-ctl", reporting_instance="foo-ctl-7d9f")
    assert event["source"] == {"component": "foo-ctl", "host": "foo-ctl-7d9f"}
    assert event["reportingComponent"] == "foo-ctl"
    assert event["reportingInstance"] == "foo-ctl-7d9f"


async def test_events_of_an_object_are_found_by_its_uid_as_kubectl_describe_does(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api)
    other = await make_cm(api, "cm2")
    await post_event(api, cm, type="Warning", reason="ErrResourceExists", message="not ours")
    await post_event(api, other, reason="Synced", message="fine")
    found = await api.list("v1/events", namespace="default",
                           field_selector=f"involvedObject.uid={cm['metadata']['uid']}")
    assert [(e["type"], e["reason"]) for e in found["items"]] == [("Warning", "ErrResourceExists")]


async def test_an_event_about_a_cluster_scoped_object_goes_to_the_default_namespace(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    ns = await api.create("v1/namespaces", {"metadata": {"name": "team-a"}})
    event = await post_event(api, ns, reason="Provisioned", message="quota set")
    assert event["metadata"]["namespace"] == "default"
    assert "namespace" not in event["involvedObject"]
    assert event["involvedObject"]["kind"] == "Namespace"


async def test_a_long_message_is_cut_to_1024_bytes_without_splitting_a_character(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api)
    message = "é" * 2000  # 2 bytes each
    event = await post_event(api, cm, reason="Failed", message=message, type="Warning")
    stored = event["message"]
    assert len(stored.encode()) <= 1024
    assert stored.endswith(" ...")
    assert stored.startswith("é" * 500)


async def test_a_message_of_exactly_1024_bytes_is_kept_whole(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    cm = await make_cm(api)
    event = await post_event(api, cm, reason="Long", message="x" * 1024)
    assert event["message"] == "x" * 1024


@pytest.mark.parametrize(("kwargs", "match"), [
    pytest.param({"type": "Error", "reason": "R", "message": "m"}, "'Normal' or 'Warning'",
                 id="unknown-type"),
    pytest.param({"reason": "", "message": "m"}, "needs a reason", id="empty-reason"),
    pytest.param({"reason": "R" * 129, "message": "m"}, "at most 128", id="long-reason"),
])
async def test_an_invalid_event_is_refused_before_any_request(
    api: ApiClient, server: EmbeddedApiServer, kwargs: dict[str, Any], match: str,
) -> None:
    cm = await make_cm(api)
    server.journal.clear()
    with pytest.raises(InvalidArgumentError, match=match):
        await post_event(api, cm, **kwargs)
    assert len(server.journal) == 0


async def test_an_event_about_an_object_in_a_dot_dot_namespace_is_refused(
    api: ApiClient, server: EmbeddedApiServer,
) -> None:
    server.journal.clear()
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": ".."}}
    with pytest.raises(InvalidArgumentError, match=r"namespace='\.\.'"):
        await post_event(api, obj, reason="R", message="m")
    assert [e.path for e in server.journal if e.resource] == []


async def test_an_event_about_an_object_without_kind_is_refused(api: ApiClient) -> None:
    with pytest.raises(InvalidArgumentError, match="kind"):
        await post_event(api, {"apiVersion": "v1", "metadata": {"name": "x"}},
                         reason="R", message="m")
