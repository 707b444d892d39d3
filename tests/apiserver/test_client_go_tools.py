"""Real client-go tools against the embedded API server: their typed writes send protobuf.

kubectl's imperative ``create <kind>`` and Helm's release storage (a Secret per revision) use
client-go's typed clients, which send built-in kinds as ``application/vnd.kubernetes.protobuf``
and never fall back to JSON. kubectl 1.35 and Helm 4 come from ``tools/install_test_tools.py``
(tox runs it) into ``.tools/bin``; kubectl on PATH is tested too (1.32 on the reference
machine). A test whose binary is absent skips, saying how to get it.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kopf_informers.testing.apiserver import EmbeddedApiServer
from kopf_informers.testing.pytest_plugin import Kubectl

TOOLS = Path(__file__).resolve().parents[2] / ".tools" / "bin"
INSTALL_HINT = "run `python tools/install_test_tools.py` (tox does) to install it"
PROTOBUF = "application/vnd.kubernetes.protobuf"


def tool(path: Path | str | None, what: str) -> str:
    if path is None or not os.access(path, os.X_OK):
        pytest.skip(f"{what} is not installed: {INSTALL_HINT}")
    return str(path)


@pytest.fixture(params=["tools", "path"], ids=["kubectl-1.35", "kubectl-on-PATH"])
def kubectl_of(request: pytest.FixtureRequest, embedded_apiserver: EmbeddedApiServer,
               tmp_path: Path) -> Kubectl:
    """kubectl 1.35 from .tools/bin, and whichever kubectl is on PATH."""
    if request.param == "tools":
        binary = tool(TOOLS / "kubectl", f"kubectl 1.35 ({TOOLS / 'kubectl'})")
    else:
        binary = tool(shutil.which("kubectl"), "kubectl (on PATH)")
    return Kubectl(embedded_apiserver.kubeconfig, tmp_path / "kubectl-cache", binary)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CREATES = [
    pytest.param(["namespace", "team"], "namespaces", None,
                 lambda o: o["metadata"]["name"] == "team", id="namespace"),
    pytest.param(["secret", "generic", "creds", "--from-literal=password=s3cr3t"], "secrets",
                 "default", lambda o: o["data"] == {"password": b64("s3cr3t")}
                 and o["type"] == "Opaque", id="secret-generic"),
    pytest.param(["configmap", "settings", "--from-literal=a=1", "--from-literal=b="],
                 "configmaps", "default", lambda o: o["data"] == {"a": "1", "b": ""},
                 id="configmap"),
    pytest.param(["deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80"],
                 "deployments", "default", lambda o: o["spec"]["replicas"] == 2
                 and o["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
                 and o["spec"]["template"]["spec"]["containers"][0]["ports"]
                 == [{"containerPort": 80, "protocol": "TCP"}]
                 and o["spec"]["selector"] == {"matchLabels": {"app": "web"}},
                 id="deployment"),
    pytest.param(["job", "once", "--image=busybox", "--", "echo", "hi"], "jobs", "default",
                 lambda o: o["spec"]["template"]["spec"]["containers"][0]["command"]
                 == ["echo", "hi"], id="job"),
    pytest.param(["service", "clusterip", "web", "--tcp=80:8080"], "services", "default",
                 lambda o: [(p["port"], p["targetPort"]) for p in o["spec"]["ports"]]
                 == [(80, 8080)] and o["spec"]["type"] == "ClusterIP", id="service-clusterip"),
]


@pytest.mark.parametrize(("args", "plural", "namespace", "check"), CREATES)
def test_kubectl_create_of_a_built_in_sends_protobuf_and_makes_the_object(
    kubectl_of: Kubectl, embedded_apiserver: EmbeddedApiServer, args: list[str],
    plural: str, namespace: str | None, check: Any,
) -> None:
    result = kubectl_of("create", *args)
    assert result.stdout.strip().endswith("created")
    posts = embedded_apiserver.journal.filter(resource=plural, method="POST")
    assert [(e.content_type, e.status) for e in posts] == [(PROTOBUF, 201)]
    scope = ["-n", namespace] if namespace else []
    obj = kubectl_of.json("get", plural, args[2] if args[0] in ("secret", "service")
                          else args[1], *scope)
    assert check(obj), obj


def test_kubectl_delete_after_an_imperative_create(kubectl_of: Kubectl) -> None:
    kubectl_of("create", "configmap", "settings", "--from-literal=a=1")
    assert kubectl_of("delete", "configmap", "settings").returncode == 0
    assert kubectl_of("get", "configmaps", "-o", "name").stdout == ""


# -- Helm -----------------------------------------------------------------------------------------


class Helm:
    """Runs helm against one server, with its cache, config and data of its own."""

    def __init__(self, binary: str, kubeconfig: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            **os.environ, "KUBECONFIG": str(kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str) -> str:
        result = subprocess.run([self.binary, *args], env=self.env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return result.stdout


@pytest.fixture
def helm(embedded_apiserver: EmbeddedApiServer, tmp_path: Path) -> Helm:
    binary = tool(TOOLS / "helm", f"helm 4 ({TOOLS / 'helm'})")
    return Helm(binary, embedded_apiserver.kubeconfig, tmp_path / "helm")


@pytest.fixture
def chart(helm: Helm, tmp_path: Path) -> Path:
    """The chart ``helm create`` makes: a Deployment, a Service, a ServiceAccount, and a test
    Pod hook."""
    helm("create", str(tmp_path / "demo"))
    return tmp_path / "demo"


def replicas(kubectl: Kubectl) -> int:
    deployment = kubectl.json("get", "deployment", "rel-demo")
    value: int = deployment["spec"]["replicas"]
    return value


def revisions(helm: Helm) -> list[tuple[int, str, str]]:
    history = yaml.safe_load(helm("history", "rel", "-o", "yaml"))
    return [(r["revision"], r["status"], r["description"]) for r in history]


def test_helm_installs_upgrades_rolls_back_and_uninstalls_a_chart(
    helm: Helm, chart: Path, embedded_apiserver: EmbeddedApiServer, tmp_path: Path,
) -> None:
    kubectl = Kubectl(embedded_apiserver.kubeconfig, tmp_path / "kubectl-cache",
                      tool(TOOLS / "kubectl", "kubectl 1.35"))
    assert "STATUS: deployed" in helm("install", "rel", str(chart))
    assert replicas(kubectl) == 1
    names = kubectl("get", "deployment,service,serviceaccount", "-o", "name").stdout.split()
    assert names == ["deployment.apps/rel-demo", "service/rel-demo", "serviceaccount/rel-demo"]
    release_posts = [e for e in embedded_apiserver.journal.filter(resource="secrets",
                                                                  method="POST")]
    assert [(e.content_type, e.status) for e in release_posts] == [(PROTOBUF, 201)]

    helm("upgrade", "rel", str(chart), "--set", "replicaCount=3")
    assert replicas(kubectl) == 3
    helm("rollback", "rel", "1")
    assert replicas(kubectl) == 1
    assert revisions(helm) == [
        (1, "superseded", "Install complete"),
        (2, "superseded", "Upgrade complete"),
        (3, "deployed", "Rollback to 1"),
    ]
    assert "rel" in helm("list", "-q").split()

    helm("uninstall", "rel")
    assert kubectl("get", "deployment,service,serviceaccount,secret", "-o", "name").stdout == ""
    assert helm("list", "-q").strip() == ""
