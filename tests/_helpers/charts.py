"""Helpers of the chart tests (``tests/charts``): where the charts and helm are, running helm."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
# The library chart of the shared templates, which every operator chart depends on.
LIBRARY = ROOT / "charts" / "kopf-operator-lib"
# The operator charts (the library renders nothing of its own).
CHARTS = sorted(path.parent for path in (ROOT / "charts").glob("*/Chart.yaml")
                if path.parent != LIBRARY)
Render = Callable[..., list[dict[str, Any]]]  # the ``render`` fixture
HELM_HINT = "run `python tools/install_test_tools.py` (it puts helm into .tools/bin)"


def find_helm() -> str | None:
    """The helm of ``tools/install_test_tools.py`` (``.tools/bin``), else the one on PATH."""
    local = ROOT / ".tools" / "bin" / "helm"
    return str(local) if local.exists() else shutil.which("helm")


def run_helm(helm: str, *args: str, env: dict[str, str] | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm; with ``check``, fail the test with helm's output if it fails."""
    result = subprocess.run([helm, *args], capture_output=True, text=True, env=env, timeout=180)
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed ({result.returncode}):\n"
                    f"{result.stdout}{result.stderr}")
    return result


def build_dependencies(helm: str) -> None:
    """``helm dependency build`` of every operator chart: the library chart, packaged afresh
    from ``charts/kopf-operator-lib`` into ``charts/<name>-operator/charts/`` (git-ignored),
    as a clone needs it before its first ``helm install``."""
    for chart in CHARTS:
        run_helm(helm, "dependency", "build", str(chart))


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def rules_of(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) of a Role or ClusterRole, without resourceNames limits."""
    return {(group, resource, verb) for rule in doc["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def stop_operator(process: subprocess.Popen[str], log: Path) -> str:
    """SIGTERM a ``kopf run`` subprocess (killed after 20 s), print its log (shown by pytest
    if the test fails) and return it."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    text = log.read_text()
    sys.stdout.write(text)
    return text
