"""The Foo operator in plain Kopf: the baseline of ``bench/fanout.py``.

It does the job of ``operators/foo.py`` (kubernetes/sample-controller's Foo → Deployment) the
way Kopf's documentation shows, with the official ``kubernetes`` client:

- ``@kopf.on.create``, ``@kopf.on.update`` and ``@kopf.on.resume`` on Foos run one handler: it
  GETs the Deployment named ``spec.deploymentName``; if there is none, it builds one, adopts it
  (``kopf.adopt``: an ownerReference with ``controller: true``, the Foo's namespace and labels)
  and creates it; if it is controlled by this Foo and its replicas differ, it PATCHes them; if
  something else controls it, it posts a Warning ``ErrResourceExists`` and retries later, never
  adopting it. It posts a ``Synced`` event when it changed something.
- Plain Kopf has no owner watching, so a Deployment's status would never reach its Foo. An
  ``@kopf.on.event`` handler on Deployments controlled by a Foo maps each Deployment back to its
  owner (the ownerReference) and merge-patches the Foo's ``status.availableReplicas`` from the
  Deployment's status. It is the only writer of that field: were the Foo handler to write it too,
  from its GET, that older value could land after a newer one from the Deployment (Kopf applies a
  handler's patch after the handler returns), and nothing would correct it. ``on.event`` and not
  ``on.field``: an event handler keeps no state, while ``on.field`` on Deployments would annotate
  every Deployment with Kopf's last-handled state (and Kopf's diff-base leaves status out).
  A timer polling each Deployment was the other choice: it costs a GET per Foo per interval and
  reacts only at the next tick.

Known gaps, inherent in plain Kopf: a deleted or edited Deployment is restored only at the Foo's
next change or the operator's next start (nothing re-runs the Foo's handler on the Deployment's
change), and retries follow Kopf's fixed delays.

Settings: all Kopf defaults (the thread pool for synchronous handlers is Python's default,
``min(32, CPUs + 4)`` threads; events are posted at ``INFO`` level and above). The official
client is configured once, at startup, from ``$KUBECONFIG`` (or in-cluster), and one
``ApiClient`` (one connection pool) serves every handler, as users of the client do.
"""

from __future__ import annotations

from typing import Any

import kopf
import kubernetes
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "samplecontroller.k8s.io", "v1alpha1", "foos"


@kopf.on.startup()
def configure_client(memo: kopf.Memo, **_: Any) -> None:
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    client = kubernetes.client.ApiClient()
    memo.apps = kubernetes.client.AppsV1Api(client)
    memo.custom = kubernetes.client.CustomObjectsApi(client)


def new_deployment(foo: kopf.Body, name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": "nginx", "controller": foo["metadata"]["name"]}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]},
            },
        },
    }
    kopf.adopt(deployment, owner=foo)
    return deployment


def is_controlled_by(owner_references: list[Any] | None, uid: str) -> bool:
    return any(ref.uid == uid and ref.controller for ref in owner_references or ())


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def sync_foo(spec: kopf.Spec, name: str, namespace: str, body: kopf.Body, uid: str,
             memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    deployment_name = spec.get("deploymentName")
    replicas = spec.get("replicas", 1)
    if not isinstance(deployment_name, str) or not deployment_name:
        kopf.warn(body, reason="InvalidSpec", message="spec.deploymentName must be set")
        raise kopf.PermanentError("spec.deploymentName must be set")

    apps: kubernetes.client.AppsV1Api = memo.apps
    try:
        deployment = apps.read_namespaced_deployment(deployment_name, namespace)
    except ApiException as e:
        if e.status != 404:
            raise
        apps.create_namespaced_deployment(namespace,
                                          new_deployment(body, deployment_name, replicas))
        kopf.info(body, reason="Synced", message="Foo synced successfully")
        return

    if not is_controlled_by(deployment.metadata.owner_references, uid):
        message = f'Resource "{deployment_name}" already exists and is not managed by Foo'
        kopf.warn(body, reason="ErrResourceExists", message=message)
        raise kopf.TemporaryError(message)
    if deployment.spec.replicas != replicas:
        logger.info(f"Foo wants {replicas} replicas of {deployment_name}")
        apps.patch_namespaced_deployment(deployment_name, namespace,
                                         {"spec": {"replicas": replicas}})
        kopf.info(body, reason="Synced", message="Foo synced successfully")


def foo_controller(body: kopf.Body) -> dict[str, Any] | None:
    """The Foo that controls this object, as its ownerReference, if any."""
    for ref in body.metadata.get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == "Foo" and (
                ref.get("apiVersion") == f"{GROUP}/{VERSION}"):
            return dict(ref)
    return None


def is_controlled_by_a_foo(body: kopf.Body, **_: Any) -> bool:
    return foo_controller(body) is not None


@kopf.on.event("apps", "v1", "deployments", when=is_controlled_by_a_foo)
def report_available_replicas(event: kopf.RawEvent, body: kopf.Body, namespace: str,
                              memo: kopf.Memo, **_: Any) -> None:
    if event["type"] == "DELETED":
        return
    owner = foo_controller(body)
    assert owner is not None  # the filter
    available = body.status.get("availableReplicas", 0)
    custom: kubernetes.client.CustomObjectsApi = memo.custom
    try:
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, owner["name"],
            {"status": {"availableReplicas": available}})
    except ApiException as e:
        if e.status != 404:  # the Foo is gone; garbage collection takes the Deployment
            raise
