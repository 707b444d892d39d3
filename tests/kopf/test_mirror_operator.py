"""The mirror operator (operators/mirror.py) under ``kopf run``, against the embedded server.

One ConfigMirror copies a ConfigMap from ``src`` into the namespaces labelled ``env=prod``; the
test moves namespaces in and out of the selector, edits and deletes copies, changes the source,
puts an object of the same name in the way, and finally deletes the mirror: every step is read
back from the server with the official client.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiextensionsV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from kopf_informers.testing import EmbeddedApiServer, Operator, wait_until

OPERATORS = Path(__file__).parents[2] / "operators"
GROUP, VERSION, PLURAL = "mirror.kopf-informers.dev", "v1", "configmirrors"
LABEL = "mirror.kopf-informers.dev/mirror"
TIMEOUT = 30.0


@pytest.fixture
def mirror_crd(api_client: Any) -> None:
    crd = yaml.safe_load((OPERATORS / "mirror-crd.yaml").read_text())
    ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    custom = CustomObjectsApi(api_client)
    wait_until(lambda: _lists(custom), "the ConfigMirror CRD served", timeout=TIMEOUT)


def _lists(custom: CustomObjectsApi) -> bool:
    try:
        custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    except ApiException:
        return False
    return True


def namespace(core: CoreV1Api, name: str, **labels: str) -> None:
    core.create_namespace({"metadata": {"name": name, "labels": labels}})


def relabel(core: CoreV1Api, name: str, **labels: str) -> None:
    core.patch_namespace(name, {"metadata": {"labels": labels}})


def mirror(custom: CustomObjectsApi, name: str, kind: str, selector: dict[str, Any]) -> None:
    custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ConfigMirror", "metadata": {"name": name},
        "spec": {"source": {"kind": kind, "namespace": "src", "name": "shared"},
                 "namespaceSelector": selector},
    })


def read_mirror(custom: CustomObjectsApi, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    return found


def ready(custom: CustomObjectsApi, name: str) -> tuple[str, str] | None:
    body = read_mirror(custom, name) or {}
    for condition in (body.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition["status"], condition["reason"]
    return None


def copies(core: CoreV1Api, mirror_name: str) -> dict[str, Any]:
    """The mirror's ConfigMaps by namespace: their data."""
    items = core.list_config_map_for_all_namespaces(label_selector=f"{LABEL}={mirror_name}")
    return {cm.metadata.namespace: cm.data for cm in items.items}


def warnings(core: CoreV1Api, name: str) -> list[str]:
    events = core.list_namespaced_event("default").items
    return [e.message for e in events if e.involved_object.name == name and e.type == "Warning"]


def test_a_mirror_copies_follows_restores_respects_others_and_cleans_up(
        mirror_crd: None, embedded_apiserver: EmbeddedApiServer, core_v1: CoreV1Api,
        custom_objects: CustomObjectsApi, operator: Callable[..., Operator]) -> None:
    namespace(core_v1, "src", env="prod")
    for name in ("t1", "t2"):
        namespace(core_v1, name, env="prod")
    namespace(core_v1, "t3", env="dev")
    core_v1.create_namespaced_config_map("src", {"metadata": {"name": "shared"},
                                                 "data": {"a": "1"}})
    core_v1.create_namespaced_config_map("t2", {"metadata": {"name": "shared"},
                                                "data": {"theirs": "yes"}})
    running = operator(OPERATORS / "mirror.py")

    def wait(check: Callable[[], Any], what: str) -> Any:
        try:
            return wait_until(check, what, timeout=TIMEOUT)
        except AssertionError as e:
            pytest.fail(f"{e}\n--- operator log ---\n{running.log_tail(5000)}")

    mirror(custom_objects, "shared", "ConfigMap", {"matchLabels": {"env": "prod"}})
    # t1 gets a copy; t2's own ConfigMap is left alone and reported; src and t3 are skipped.
    wait(lambda: copies(core_v1, "shared") == {"t1": {"a": "1"}}, "a copy in t1")
    wait(lambda: ready(custom_objects, "shared") == ("False", "Conflict"), "the conflict")
    assert core_v1.read_namespaced_config_map("shared", "t2").data == {"theirs": "yes"}
    wait(lambda: any("namespaces: t2" in m for m in warnings(core_v1, "shared")),
         "a Warning Event naming t2")

    core_v1.patch_namespaced_config_map("shared", "src", {"data": {"a": "2"}})
    wait(lambda: copies(core_v1, "shared") == {"t1": {"a": "2"}}, "the copy follows the source")
    core_v1.patch_namespaced_config_map("shared", "t1", {"data": {"a": "hacked"}})
    wait(lambda: copies(core_v1, "shared") == {"t1": {"a": "2"}}, "an edited copy restored")
    core_v1.delete_namespaced_config_map("shared", "t1")
    wait(lambda: copies(core_v1, "shared") == {"t1": {"a": "2"}}, "a deleted copy restored")

    relabel(core_v1, "t3", env="prod")  # starts matching
    relabel(core_v1, "t1", env="dev")  # stops matching
    namespace(core_v1, "t4", env="prod")  # new, matching
    wait(lambda: copies(core_v1, "shared") == {"t3": {"a": "2"}, "t4": {"a": "2"}},
         "copies follow the namespaces")

    core_v1.delete_namespaced_config_map("shared", "t2")  # the object in the way goes
    wait(lambda: set(copies(core_v1, "shared")) == {"t2", "t3", "t4"}, "a copy in t2")
    wait(lambda: ready(custom_objects, "shared") == ("True", "Synced"), "Ready")
    assert (read_mirror(custom_objects, "shared") or {})["status"]["copies"] == 3

    custom_objects.delete_cluster_custom_object(GROUP, VERSION, PLURAL, "shared")
    wait(lambda: read_mirror(custom_objects, "shared") is None, "the mirror gone")
    assert copies(core_v1, "shared") == {}  # deleted before its finalizer was removed
    assert core_v1.read_namespaced_config_map("shared", "src").data == {"a": "2"}
    assert running.running


def test_a_secret_mirror_copies_type_and_data_and_waits_for_its_source(
        mirror_crd: None, core_v1: CoreV1Api, custom_objects: CustomObjectsApi,
        operator: Callable[..., Operator]) -> None:
    namespace(core_v1, "src")
    namespace(core_v1, "team", tier="app")
    operator(OPERATORS / "mirror.py")
    mirror(custom_objects, "creds", "Secret", {"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["app"]}]})
    wait_until(lambda: ready(custom_objects, "creds") == ("False", "SourceNotFound"),
               "no source yet", timeout=TIMEOUT)

    token = base64.b64encode(b"s3cret").decode()
    core_v1.create_namespaced_secret("src", {"metadata": {"name": "shared"},
                                             "type": "Opaque", "data": {"token": token}})

    def copied() -> Any:
        try:
            return core_v1.read_namespaced_secret("shared", "team")
        except ApiException:
            return None

    secret = wait_until(copied, "the Secret copied", timeout=TIMEOUT)
    assert secret.type == "Opaque"
    assert secret.data == {"token": token}
    assert secret.metadata.labels == {LABEL: "creds"}
    wait_until(lambda: ready(custom_objects, "creds") == ("True", "Synced"), "Ready",
               timeout=TIMEOUT)
