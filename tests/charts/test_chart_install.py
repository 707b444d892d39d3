"""``helm install``, ``upgrade`` and ``uninstall`` of each chart into the embedded server, with a
real helm (client-go: built-in kinds are sent as protobuf, the chart's objects server-side
applied). The objects are stored and read back; no pod runs on the embedded server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from _helpers.charts import CHARTS, run_helm
from kubernetes.client import ApiClient, ApiextensionsV1Api, AppsV1Api, RbacAuthorizationV1Api

from kopf_informers.testing import EmbeddedApiServer


@pytest.mark.parametrize("chart", CHARTS, ids=lambda chart: chart.name)
def test_the_chart_installs_upgrades_and_uninstalls(
        helm: str, chart: Path, embedded_apiserver: EmbeddedApiServer, api_client: ApiClient,
        tmp_path: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(embedded_apiserver.kubeconfig),
           "HELM_CACHE_HOME": str(tmp_path / "cache"), "HELM_CONFIG_HOME": str(tmp_path),
           "HELM_DATA_HOME": str(tmp_path / "data")}
    run_helm(helm, "install", "release", str(chart), "--namespace", "default", env=env)

    crds = {crd.metadata.name for crd in ApiextensionsV1Api(api_client)
            .list_custom_resource_definition().items}
    [crd] = (chart / "crds").glob("*.yaml")
    assert yaml.safe_load(crd.read_text())["metadata"]["name"] in crds
    deployment = AppsV1Api(api_client).read_namespaced_deployment(
        f"release-{chart.name}", "default")
    # Two (one active, one standing by), but one for a webhook server (see its values.yaml).
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert deployment.spec.replicas == values["replicaCount"]
    assert values["replicaCount"] == (1 if values.get("webhook", {}).get("enabled") else 2)

    run_helm(helm, "upgrade", "release", str(chart), "--namespace", "default",
             "--set", "replicaCount=1", "--set", "watch.scope=release", env=env)
    deployment = AppsV1Api(api_client).read_namespaced_deployment(
        f"release-{chart.name}", "default")
    assert deployment.spec.replicas == 1
    rbac = RbacAuthorizationV1Api(api_client)
    assert [r.metadata.name for r in rbac.list_namespaced_role("default").items
            if r.metadata.name == f"release-{chart.name}"]

    run_helm(helm, "uninstall", "release", "--namespace", "default", "--wait", env=env)
    assert not AppsV1Api(api_client).list_namespaced_deployment("default").items
