"""A built-in kind the server does not ship, registered with its strategy and driven by kubectl.

Adding a kind is one :class:`ResourceStrategy` and one ``register()`` call: discovery, routing,
defaults, ``kubectl get`` columns, merge patches and DELETE's answer all follow from them.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import pytest
import yaml

from kopf_informers.testing.apiserver import EmbeddedApiServer, ResourceInfo, ResourceStrategy
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
