"""A sample Kopf operator for the integration tests: each Foo owns a Deployment.

It is not ``operators/foo.py``, on purpose: that one is built on kopf-informers (a reconcile
loop over informer caches), and ``tests/kopf/test_foo_operator.py`` runs it as it is.
This one is deliberately an ordinary operator, written the way Kopf's documentation shows, with
nothing of kopf-informers, so that the tests prove the embedded API server runs plain Kopf
operators too, with Kopf's own requests (adoption, handler progress in ``status``, its
finalizer, its events). It serves the same Foo CRD, ``operators/foo-crd.yaml``, with its status
left open for Kopf's fields (see ``test_kopf.foo_crd_for_plain_kopf``):

- on create, it builds a Deployment, adopts it (``kopf.adopt``: an ownerReference with the Foo's
  uid, the Foo's labels and namespace) and creates it through the official ``kubernetes`` client;
  it writes ``status.availableReplicas`` and posts a Kopf event; its return value lands in
  ``status.create``;
- on a change, it patches the Deployment's replicas (a strategic-merge patch);
- on delete, it only posts an event: the Deployment goes by garbage collection. Having a delete
  handler makes Kopf put its finalizer on every Foo.

The official client is configured per call from ``$KUBECONFIG``, read when a handler runs: the
client's own default location is computed once, when ``kubernetes`` is imported, which is too
early for tests that run this operator in-process.

The settings in the startup handler only make the operator snappier under test (retries after
server errors within a second, not after minutes); they change no semantics.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf
import kubernetes

GROUP, VERSION, PLURAL = "samplecontroller.k8s.io", "v1alpha1", "foos"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Reconnect the watches now and then, as against a real cluster, resuming from the last
    # resourceVersion seen (the server ends a watch after timeoutSeconds).
    settings.watching.server_timeout = 10
    # Retry 5xx and connection errors quickly (Kopf's default backoffs reach 21 s).
    settings.networking.error_backoffs = [0.1, 0.2, 0.5, 1.0]
    settings.posting.default_backoffs = [0.1, 0.2, 0.5, 1.0]
    settings.posting.level = logging.INFO  # kopf.info() events are posted (the default, explicit)
    settings.queueing.error_delays = [0.1, 0.2, 0.5, 1.0, 2.0]


def _apps_api() -> kubernetes.client.AppsV1Api:
    client = kubernetes.config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))
    return kubernetes.client.AppsV1Api(client)


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    }


@kopf.on.create(GROUP, VERSION, PLURAL, id="create")
def create_foo(
    spec: kopf.Spec, namespace: str, body: kopf.Body, patch: kopf.Patch,
    logger: kopf.Logger, **_: Any,
) -> dict[str, Any]:
    name = spec["deploymentName"]
    deployment = _deployment(name, spec.get("replicas", 1))
    kopf.adopt(deployment, owner=body)
    apps = _apps_api()
    with apps.api_client:
        created = apps.create_namespaced_deployment(namespace, deployment)
    patch.status["availableReplicas"] = 0
    kopf.info(body, reason="DeploymentCreated", message=f"Created the deployment {name}")
    logger.info(f"Created the deployment {name} ({created.metadata.uid})")
    return {"deployment": name, "uid": created.metadata.uid}


@kopf.on.update(GROUP, VERSION, PLURAL, id="scale")
def scale_foo(spec: kopf.Spec, namespace: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
    name, replicas = spec["deploymentName"], spec.get("replicas", 1)
    apps = _apps_api()
    with apps.api_client:
        apps.patch_namespaced_deployment(name, namespace, {"spec": {"replicas": replicas}})
    kopf.info(body, reason="DeploymentScaled", message=f"Scaled {name} to {replicas}")
    return {"replicas": replicas}


@kopf.on.delete(GROUP, VERSION, PLURAL, id="delete")
def delete_foo(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    kopf.info(body, reason="FooDeleting", message="The deployment goes by garbage collection")
    logger.info("Deleting: the deployment goes by garbage collection")
