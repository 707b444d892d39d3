"""The webhook operator (operators/webhook.py) under ``kopf run``, against the embedded server:
Kopf's own webhook server validates and defaults Greetings through the webhook configurations
it manages, and the reconcile makes their ConfigMaps. A stopped operator then blocks Greeting
writes while its webhooks' failurePolicy is Fail, and lets them through once it is Ignore."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import (
    AdmissionregistrationV1Api,
    ApiextensionsV1Api,
    CoreV1Api,
    CustomObjectsApi,
)
from kubernetes.client.exceptions import ApiException

from kopf_informers.testing import EmbeddedApiServer, Kubectl, Operator, wait_until

OPERATORS = Path(__file__).parents[2] / "operators"
GROUP, VERSION, PLURAL = "webhook.kopf-informers.dev", "v1", "greetings"
MANAGED = "webhook.kopf-informers.dev"
DENIED = ('admission webhook "validate-greeting.webhook.kopf-informers.dev" denied the request: '
          "spec.to must name someone to greet")
TIMEOUT = 30.0


@pytest.fixture
def greeting_crd(api_client: Any) -> None:
    crd = yaml.safe_load((OPERATORS / "webhook-crd.yaml").read_text())
    ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    custom = CustomObjectsApi(api_client)
    wait_until(lambda: _lists(custom), "the Greeting CRD served", timeout=TIMEOUT)


def _lists(custom: CustomObjectsApi) -> bool:
    try:
        custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    except ApiException:
        return False
    return True


def greeting(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Greeting",
            "metadata": {"name": name}, "spec": spec}


def create(custom: CustomObjectsApi, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = custom.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, body)
    return created


def webhooks_configured(admission: AdmissionregistrationV1Api) -> bool:
    try:
        mutating = admission.read_mutating_webhook_configuration(MANAGED)
        validating = admission.read_validating_webhook_configuration(MANAGED)
    except ApiException:
        return False
    return all(c.webhooks and all(w.client_config.url and w.client_config.ca_bundle
                                  for w in c.webhooks) for c in (mutating, validating))


def configmap_data(core: CoreV1Api, name: str) -> dict[str, str] | None:
    try:
        data: dict[str, str] = core.read_namespaced_config_map(name, "default").data
    except ApiException:
        return None
    return data


# Over HTTPS too, as a cluster serves it: Kopf logs in with the kubeconfig's CA and client
# certificate, and its webhooks are called by a server that verifies theirs.
@pytest.mark.parametrize("scheme", [
    "http", pytest.param("https", marks=pytest.mark.embedded_apiserver(tls=True))])
def test_the_operator_validates_defaults_and_reconciles_and_its_failure_policy_holds(
        greeting_crd: None, embedded_apiserver: EmbeddedApiServer, api_client: Any,
        core_v1: CoreV1Api, custom_objects: CustomObjectsApi, kubectl: Kubectl,
        operator: Callable[..., Operator], tmp_path: Path, scheme: str) -> None:
    assert embedded_apiserver.url.startswith(f"{scheme}://")
    admission = AdmissionregistrationV1Api(api_client)
    running = operator(OPERATORS / "webhook.py")

    def wait(check: Callable[[], Any], what: str) -> Any:
        try:
            return wait_until(check, what, timeout=TIMEOUT)
        except AssertionError as e:
            pytest.fail(f"{e}\n--- operator log ---\n{running.log_tail(5000)}")

    wait(lambda: webhooks_configured(admission), "Kopf's webhook configurations")

    # Invalid: refused with the handler's message, for the official client and for kubectl.
    with pytest.raises(ApiException) as refused:
        create(custom_objects, greeting("nobody", salutation="Hi"))
    assert refused.value.status == 422
    assert json.loads(refused.value.body)["message"] == DENIED
    manifest = tmp_path / "nobody.yaml"
    manifest.write_text(yaml.safe_dump(greeting("nobody")))
    result = kubectl("apply", "-f", str(manifest), check=False)
    assert result.returncode != 0
    assert DENIED in result.stderr

    # Valid: defaulted by the mutating webhook, then reconciled into its ConfigMap.
    stored = create(custom_objects, greeting("world", to="world"))
    assert stored["spec"] == {"to": "world", "salutation": "Hello"}
    wait(lambda: configmap_data(core_v1, "world-greeting") == {"greeting": "Hello, world!"},
         "the Greeting's ConfigMap")
    custom_objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "world",
                                                  {"spec": {"salutation": "Howdy"}})
    wait(lambda: configmap_data(core_v1, "world-greeting") == {"greeting": "Howdy, world!"},
         "the ConfigMap follows the Greeting")

    # The operator is gone: its webhooks cannot be called. Fail blocks writes, Ignore not.
    running.kill()
    with pytest.raises(ApiException) as failed:
        create(custom_objects, greeting("later", to="later"))
    assert failed.value.status == 500
    assert 'failed calling webhook "' in json.loads(failed.value.body)["message"]
    for kind, config in (("mutatingwebhookconfiguration",
                          admission.read_mutating_webhook_configuration(MANAGED)),
                         ("validatingwebhookconfiguration",
                          admission.read_validating_webhook_configuration(MANAGED))):
        ops = [{"op": "replace", "path": f"/webhooks/{i}/failurePolicy", "value": "Ignore"}
               for i in range(len(config.webhooks))]
        kubectl("patch", kind, MANAGED, "--type=json", "-p", json.dumps(ops))
    stored = create(custom_objects, greeting("later", to="later"))
    assert stored["spec"] == {"to": "later"}  # through, and not defaulted
