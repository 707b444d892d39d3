"""Every example operator starts with ``kopf run`` and syncs its caches, on any cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _helpers.e2e import OPERATORS

from kopf_informers.testing import Cluster, Operator

EXAMPLES = sorted(OPERATORS.glob("*.py"))
# One cluster for the module, as on kind: each test has a namespace (and an operator) of its own.
pytestmark = pytest.mark.cluster(scope="session")


def test_there_are_example_operators() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in EXAMPLES])
def test_all_example_operators_are_runnable(
        path: Path, cluster: Cluster, namespace: str,
        operator: Callable[..., Operator]) -> None:
    crd = path.with_name(f"{path.stem}-crd.yaml")
    if crd.exists():
        cluster.apply(crd)
    running = operator(path, namespaces=[namespace])  # returns once its caches synced
    assert running.running
    probes = running.probe()
    if running.mode != "in_cluster":  # there, the chart's probes said so
        assert probes is not None
        assert probes["kopf_informers"]["synced"] is True
        assert probes["kopf_informers"]["informers"]
