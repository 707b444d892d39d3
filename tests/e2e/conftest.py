"""The e2e suite: the example operators, run as users run them, on any cluster.

Every test here runs unchanged on each backend of the plugin's ``cluster`` fixture: the embedded
server (the default, part of every test run), kind (``pytest tests/e2e --cluster=kind``, or
``tox -e e2e-kind``) and an existing cluster (``--cluster=kubeconfig``), with the operators as
subprocesses or installed by their charts (``--operator-mode=in_cluster``). Each test gets a
fresh namespace, the operator serving that namespace only (the mirror operator, whose objects
are cluster-scoped, serves all and keeps to the test's namespaces by a label), and waits at most
``cluster.timeout``. The CronJob module asks for simulated pods on the embedded server.

One module per example operator (``test_<name>.py``); ``test_example_operators.py`` starts every
``operators/*.py``. The fixtures here are what those modules share;
helpers that are not fixtures are in ``tests/_helpers/e2e.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from _helpers.charts import build_dependencies, find_helm
from _helpers.e2e import OPERATORS
from kubernetes.client import AppsV1Api, CoreV1Api, CustomObjectsApi

from kopf_informers.testing import Cluster, Operator


@pytest.fixture(scope="session", autouse=True)
def chart_dependencies(request: pytest.FixtureRequest) -> None:
    """Installed by their charts (``--operator-mode=in_cluster``), the operators need each
    chart's dependency, the library chart of the shared templates, built from the tree first:
    ``helm install`` of a clone's chart fails without it."""
    mode = (request.config.getoption("operator_mode")
            or os.environ.get("KOPF_INFORMERS_TEST_OPERATOR_MODE"))
    helm = find_helm()
    if mode == "in_cluster" and helm is not None:
        build_dependencies(helm)


@pytest.fixture
def install_crd(cluster: Cluster) -> Callable[[str], None]:
    """``install_crd("foo")``: apply ``operators/foo-crd.yaml`` and wait until it is served.
    CRDs are cluster-wide and left in place (a later test, or run, applies them again)."""

    def install(name: str) -> None:
        cluster.apply(OPERATORS / f"{name}-crd.yaml")

    return install


@pytest.fixture
def example_operator(install_crd: Callable[[str], None], namespace: str,
                     operator: Callable[..., Operator]) -> Callable[..., Operator]:
    """``example_operator("foo")``: apply ``operators/foo-crd.yaml``, start ``operators/foo.py``
    serving the test's namespace (every namespace with ``all_namespaces=True``), and return it
    once synced."""

    def start(name: str, *, all_namespaces: bool = False) -> Operator:
        install_crd(name)
        return operator(OPERATORS / f"{name}.py",
                        namespaces=None if all_namespaces else [namespace])

    return start


@pytest.fixture
def core(cluster: Cluster) -> CoreV1Api:
    return CoreV1Api(cluster.api_client())


@pytest.fixture
def apps(cluster: Cluster) -> AppsV1Api:
    return AppsV1Api(cluster.api_client())


@pytest.fixture
def custom(cluster: Cluster) -> CustomObjectsApi:
    return CustomObjectsApi(cluster.api_client())

