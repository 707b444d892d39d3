"""The Foo operator: kubernetes/sample-controller's Foo → Deployment, on Kopf with kopf-informers.

Run it with ``kopf run operators/foo.py`` after applying ``operators/foo-crd.yaml``.

For each Foo it keeps a Deployment named ``spec.deploymentName`` with ``spec.replicas``
replicas, owned by the Foo (so it is garbage-collected with it), and writes the Deployment's
available replicas to ``status.availableReplicas``. The loop is level-triggered: it reads the
Foo and the Deployment from informer caches (no API GET), and a change to the Deployment —
an edit, a deletion, a status update — re-runs its Foo's reconcile through owner watching.

As sample-controller does, it never adopts or overwrites a Deployment of that name that some
other owner controls: it posts a Warning Event ``ErrResourceExists`` and retries with backoff.
A Foo without a usable ``spec.deploymentName`` gets a ``Ready=False`` condition and a Warning
Event, and the operator goes on serving the others.
"""

from __future__ import annotations

import datetime
from typing import Any

import kopf_informers
from kopf_informers import ApiClient

FOOS = "samplecontroller.k8s.io/v1alpha1/foos"
DEPLOYMENTS = "apps/v1/deployments"
COMPONENT = "foo-controller"

# The same shared informer the controller's owner watching uses: one cache of Deployments.
deployments = kopf_informers.shared_informer(DEPLOYMENTS)


class ResourceExistsError(Exception):
    """A Deployment of the wanted name exists and is controlled by something else."""


def new_deployment(foo: Any, name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": "nginx", "controller": foo["metadata"]["name"]}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": foo["metadata"]["namespace"]},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]},
            },
        },
    }
    return kopf_informers.set_controller_reference(foo, deployment)


async def set_ready(api: ApiClient, foo: Any, ready: bool, reason: str, message: str) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = {"type": "Ready", "status": "True" if ready else "False", "reason": reason,
                 "message": message, "lastTransitionTime": now}
    current = [c for c in (foo.get("status") or {}).get("conditions") or ()
               if c.get("type") == "Ready"]
    if current and all(current[0].get(k) == condition[k] for k in ("status", "reason")):
        return
    meta = foo["metadata"]
    await api.patch_status(FOOS, meta["name"], {"status": {"conditions": [condition]}},
                           namespace=meta["namespace"])


@kopf_informers.reconcile(FOOS, owns=[DEPLOYMENTS], id="foo")
async def reconcile_foo(name: str, namespace: str, body: Any, api: ApiClient, logger: Any,
                        **_: Any) -> None:
    spec = body.get("spec") or {}
    deployment_name = spec.get("deploymentName")
    replicas = spec.get("replicas", 1)
    if not isinstance(deployment_name, str) or not deployment_name:
        message = "spec.deploymentName must be set to the name of the Deployment to manage"
        await set_ready(api, body, False, "InvalidSpec", message)
        await kopf_informers.post_event(api, body, type="Warning", reason="InvalidSpec",
                                        message=message, reporting_component=COMPONENT)
        return  # nothing to retry until the Foo changes; its edit re-runs this

    changed = False
    deployment = deployments.lister.get(deployment_name, namespace)
    if deployment is None:
        deployment = await api.create(DEPLOYMENTS, new_deployment(body, deployment_name, replicas),
                                      namespace=namespace)
        changed = True
    elif not kopf_informers.is_owned_by(deployment, body, controller=True):
        message = f'Resource "{deployment_name}" already exists and is not managed by Foo'
        await kopf_informers.post_event(api, body, type="Warning", reason="ErrResourceExists",
                                        message=message, reporting_component=COMPONENT)
        raise ResourceExistsError(message)
    elif (deployment.get("spec") or {}).get("replicas") != replicas:
        logger.info("Foo %s/%s wants %s replicas of %s", namespace, name, replicas,
                    deployment_name)
        deployment = await api.patch(DEPLOYMENTS, deployment_name,
                                     {"spec": {"replicas": replicas}}, namespace=namespace)
        changed = True

    available = (deployment.get("status") or {}).get("availableReplicas", 0)
    if (body.get("status") or {}).get("availableReplicas") != available:
        await api.patch_status(FOOS, name, {"status": {"availableReplicas": available}},
                               namespace=namespace)
        changed = True
    await set_ready(api, body, True, "Synced", "Foo synced successfully")
    if changed:
        await kopf_informers.post_event(api, body, type="Normal", reason="Synced",
                                        message="Foo synced successfully",
                                        reporting_component=COMPONENT)
