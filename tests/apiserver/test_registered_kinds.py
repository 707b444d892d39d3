"""A built-in kind the server does not ship, registered with its strategy and driven by kubectl.

Adding a kind is one :class:`ResourceStrategy` and one ``register()`` call: discovery, routing,
defaults, ``kubectl get`` columns, merge patches, DELETE's answer and the ``/status`` and
``/scale`` subresources all follow from them.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import pytest
import yaml

from kopf_informers.testing.apiserver import (
    EmbeddedApiServer,
    ResourceInfo,
    ResourceStrategy,
    ScaleInfo,
)
from kopf_informers.testing.apiserver.registry._printers import (
    AGE_COLUMN,
    NAME_COLUMN,
    age,
    column_def,
)

pytestmark = pytest.mark.kubectl


def _default_widget(obj: dict[str, Any], creating: bool) -> None:
    obj.setdefault("spec", {}).setdefault("size", 1)


def _widget_cells(obj: Mapping[str, Any], now: datetime.datetime) -> list[Any]:
    return [obj["metadata"]["name"], str(obj["spec"]["size"]), age(obj, now)]


WIDGETS = ResourceInfo(
    group="widgets.example.com", version="v1", plural="widgets", kind="Widget",
    singular="widget", namespaced=True, short_names=("wg",), has_generation=True,
    strategy=ResourceStrategy(
        defaulter=_default_widget,
        printer=((NAME_COLUMN, column_def("Size", "string", "How big it is."), AGE_COLUMN),
                 _widget_cells),
        returns_deleted=True,
    ),
)

WIDGET = {
    "apiVersion": "widgets.example.com/v1", "kind": "Widget",
    "metadata": {"name": "w1", "namespace": "default"},
}

# A kind with both subresources; its Scale reads its selector where the strategy says.
GADGETS = ResourceInfo(
    group="gadgets.example.com", version="v1", plural="gadgets", kind="Gadget",
    singular="gadget", namespaced=True, has_generation=True,
    strategy=ResourceStrategy(
        status_subresource=True,
        scale_subresource=ScaleInfo(spec_replicas_path=".spec.count",
                                    status_replicas_path=".status.count",
                                    label_selector_path=".status.selector"),
    ),
)

GADGET = {
    "apiVersion": "gadgets.example.com/v1", "kind": "Gadget",
    "metadata": {"name": "g1", "namespace": "default"},
    "spec": {"count": 1},
    "status": {"count": 7},  # dropped: a create does not write the status of such a kind
}


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


def test_a_registered_kind_is_created_listed_patched_and_deleted_with_kubectl(
        embedded_apiserver: EmbeddedApiServer, kubectl: Any) -> None:
    embedded_apiserver.register(WIDGETS)

    kubectl("create", "-f", "-", input=yaml.safe_dump(WIDGET))
    table = rows(kubectl("get", "wg").stdout)
    assert table[0] == ["NAME", "SIZE", "AGE"]
    assert table[1][:2] == ["w1", "1"]  # the strategy's default

    kubectl("patch", "widget", "w1", "--type=merge", "-p", '{"spec": {"size": 3}}')
    assert rows(kubectl("get", "widgets", "w1").stdout)[1][:2] == ["w1", "3"]
    generation = kubectl("get", "widget", "w1", "-o", "jsonpath={.metadata.generation}").stdout
    assert generation == "2"

    deleted = kubectl("delete", "widget", "w1").stdout
    assert 'widget.widgets.example.com "w1" deleted' in deleted
    assert [e.status for e in embedded_apiserver.journal.filter(verb="delete")] == [200]
    assert kubectl("get", "widgets", "-o", "name").stdout.strip() == ""


def test_registering_a_served_resource_again_is_refused(
        embedded_apiserver: EmbeddedApiServer) -> None:
    embedded_apiserver.register(WIDGETS)
    with pytest.raises(ValueError, match="served already"):
        embedded_apiserver.register(WIDGETS)


def test_a_registered_kind_takes_kubectls_default_strategic_merge_patch(
        embedded_apiserver: EmbeddedApiServer, kubectl: Any) -> None:
    embedded_apiserver.register(WIDGETS)
    kubectl("create", "-f", "-", input=yaml.safe_dump(WIDGET))

    kubectl("patch", "widget", "w1", "-p", '{"spec": {"size": 5}}')  # no --type: strategic

    assert rows(kubectl("get", "widgets", "w1").stdout)[1][:2] == ["w1", "5"]
    [patch] = embedded_apiserver.journal.filter(verb="patch")
    assert (patch.content_type, patch.status) == ("application/strategic-merge-patch+json", 200)


def test_a_registered_kind_with_subresources_is_scaled_and_its_status_updated_with_kubectl(
        embedded_apiserver: EmbeddedApiServer, kubectl: Any) -> None:
    embedded_apiserver.register(GADGETS)
    kubectl("create", "-f", "-", input=yaml.safe_dump(GADGET))
    assert "status" not in kubectl.json("get", "gadget", "g1")

    assert kubectl("scale", "gadget", "g1", "--replicas=3").stdout.strip() == (
        "gadget.gadgets.example.com/g1 scaled")
    gadget = kubectl.json("get", "gadget", "g1")
    assert (gadget["spec"], gadget["metadata"]["generation"]) == ({"count": 3}, 2)

    gadget["status"] = {"count": 3, "selector": "app=g1"}
    gadget["spec"] = {"count": 100}  # not written through /status
    kubectl("replace", "--subresource=status", "-f", "-", input=yaml.safe_dump(gadget))
    gadget = kubectl.json("get", "gadget", "g1")
    assert (gadget["spec"], gadget["status"]) == ({"count": 3}, {"count": 3, "selector": "app=g1"})
    assert gadget["metadata"]["generation"] == 2  # a status change is no spec change

    kubectl("patch", "gadget", "g1", "--type=merge", "-p", '{"status": {"count": 0}}')
    assert kubectl.json("get", "gadget", "g1")["status"]["count"] == 3  # not through /status

    scale = kubectl.json("get", "gadget", "g1", "--subresource=scale")
    assert (scale["kind"], scale["spec"], scale["status"]) == (
        "Scale", {"replicas": 3}, {"replicas": 3, "selector": "app=g1"})
    writes = [(e.method, e.resource, e.status) for e in embedded_apiserver.journal
              if e.method in ("PATCH", "PUT")]
    assert writes == [("PATCH", "gadgets/scale", 200), ("PUT", "gadgets/status", 200),
                      ("PATCH", "gadgets", 200)]
