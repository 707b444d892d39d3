"""Helpers of the e2e suite (``tests/e2e``) that are not fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes.client import CoreV1Api, CustomObjectsApi

OPERATORS = Path(__file__).parents[2] / "operators"


def events_of(core: CoreV1Api, namespace: str, name: str, reason: str) -> list[Any]:
    """The core/v1 Events about the object ``name`` in ``namespace`` with this reason."""
    return [e for e in core.list_namespaced_event(namespace).items
            if e.involved_object.name == name and e.reason == reason]


class CustomObjects:
    """Custom objects of one kind, in one namespace (or cluster-scoped: ``namespace=None``),
    through the official client, as a user's script would handle them."""

    def __init__(self, custom: CustomObjectsApi, group: str, version: str, plural: str,
                 kind: str, namespace: str | None = None) -> None:
        self.custom = custom
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespace = namespace

    def _call(self, verb: str, *args: Any) -> Any:
        """``<verb>_namespaced_custom_object`` or ``<verb>_cluster_custom_object``."""
        if self.namespace is None:
            method = getattr(self.custom, f"{verb}_cluster_custom_object")
            return method(self.group, self.version, self.plural, *args)
        method = getattr(self.custom, f"{verb}_namespaced_custom_object")
        return method(self.group, self.version, self.namespace, self.plural, *args)

    def create(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        made: dict[str, Any] = self._call("create", {
            "apiVersion": f"{self.group}/{self.version}", "kind": self.kind,
            "metadata": {"name": name}, "spec": spec})
        return made

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("get", name)
        return found

    def list(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call("list")["items"]
        return items

    def patch(self, name: str, spec: dict[str, Any]) -> None:
        self._call("patch", name, {"spec": spec})

    def delete(self, name: str) -> None:
        self._call("delete", name)

    def status(self, name: str) -> dict[str, Any]:
        return self.get(name).get("status") or {}

    def ready(self, name: str) -> dict[str, Any] | None:
        """The object's Ready condition, if any."""
        conditions = self.status(name).get("conditions") or []
        return next((c for c in conditions if c.get("type") == "Ready"), None)
