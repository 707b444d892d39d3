"""Fixtures of the chart tests: a real helm, and charts rendered by it.

helm comes from ``.tools/bin`` (``python tools/install_test_tools.py``) or PATH; without it,
the tests that need it skip and say how to install it. The ``helm`` fixture builds each chart's
dependency, the library chart of the shared templates, once per session. Schema validation needs
``kubernetes-validate`` (the ``charts`` extra: ``pip install -e '.[test,charts]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from _helpers.charts import HELM_HINT, Render, build_dependencies, find_helm, run_helm


@pytest.fixture(scope="session")
def helm() -> str:
    """A real helm, with every chart's dependency (the library chart) built from the tree."""
    found = find_helm()
    if found is None:
        pytest.skip(f"helm is not installed: {HELM_HINT}")
    build_dependencies(found)
    return found


@pytest.fixture(scope="session")
def render(helm: str) -> Render:
    """``render(chart, *args)``: the documents of ``helm template`` (CRDs included), as dicts,
    for a release ``release`` in the namespace ``ops``."""
    def render(chart: Path, *args: str) -> list[dict[str, Any]]:
        out = run_helm(helm, "template", "release", str(chart), "--namespace", "ops",
                       "--include-crds", *args).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]
    return render
