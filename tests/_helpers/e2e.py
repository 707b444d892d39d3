"""Helpers of the e2e suite (``tests/e2e``) that are not fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes.client import CoreV1Api

OPERATORS = Path(__file__).parents[2] / "operators"


def events_of(core: CoreV1Api, namespace: str, name: str, reason: str) -> list[Any]:
    """The core/v1 Events about the object ``name`` in ``namespace`` with this reason."""
    return [e for e in core.list_namespaced_event(namespace).items
            if e.involved_object.name == name and e.reason == reason]
