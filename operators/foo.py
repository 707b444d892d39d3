"""The Foo operator: kubernetes/sample-controller's Foo → Deployment, on Kopf with kopf-informers.

Run it with ``kopf run operators/foo.py`` after applying ``operators/foo-crd.yaml``.

For each Foo it keeps a Deployment named ``spec.deploymentName`` with ``spec.replicas``
replicas, owned by the Foo (so it is garbage-collected with it), and writes the Deployment's
available replicas to ``status.availableReplicas``. The loop is level-triggered: it reads the
Foo and the Deployment from informer caches (no API GET), and a change to the Deployment —
an edit, a deletion, a status update — re-runs its Foo's reconcile through owner watching.
A ``Synced`` Event marks a change of the Deployment or of the Foo's readiness, not a mere copy
of the available replicas.

As sample-controller does, it never adopts or overwrites a Deployment of that name that some
other owner controls: the Foo gets ``Ready=False`` (reason ``ErrResourceExists``) and a Warning
Event. It does not retry on a timer: it watches Deployments by the names Foos want, so the
moment the conflicting Deployment is deleted (or renamed away), the Foo is reconciled again.

A Foo without a usable ``spec.deploymentName`` gets ``Ready=False`` (``InvalidSpec``) and a
Warning Event; one whose Deployment the server refuses (an invalid name, say) gets the server's
message the same way. Neither is retried until the Foo changes, and the operator goes on
serving the others.

Unlike sample-controller, which leaves it behind, a Deployment that a Foo controls under a name
it no longer wants (``spec.deploymentName`` was changed) is deleted: the Foo owns exactly one.
"""

from __future__ import annotations

import contextlib
import datetime
from typing import Any

import kopf_informers
from kopf_informers import ApiClient

FOOS = "samplecontroller.k8s.io/v1alpha1/foos"
DEPLOYMENTS = "apps/v1/deployments"
COMPONENT = "foo-controller"
BY_DEPLOYMENT = "deployment"  # index of Foos: "namespace/deploymentName"

# The same shared informers the controller uses: one cache of Deployments, one of Foos.
deployments = kopf_informers.shared_informer(DEPLOYMENTS)
foos = kopf_informers.shared_informer(FOOS, indexers={
    BY_DEPLOYMENT: lambda foo: [f"{foo['metadata'].get('namespace')}/{name}"
                                for name in [(foo.get("spec") or {}).get("deploymentName")]
                                if isinstance(name, str) and name],
})


def foos_wanting(deployment: Any) -> list[tuple[str, str]]:
    """The Foos that want a Deployment of this name (owned by them or not): a Foo blocked by
    a conflicting Deployment is reconciled again as soon as that Deployment changes or goes."""
    meta = deployment["metadata"]
    key = f"{meta.get('namespace')}/{meta.get('name')}"
    return [(foo["metadata"]["namespace"], foo["metadata"]["name"])
            for foo in foos.lister.by_index(BY_DEPLOYMENT, key)]


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


def ready_condition(foo: Any, ready: bool, reason: str, message: str) -> list[Any] | None:
    """The Foo's new ``conditions``, or None if its Ready condition already says so."""
    current = [c for c in (foo.get("status") or {}).get("conditions") or ()
               if c.get("type") == "Ready"]
    status = "True" if ready else "False"
    if (current and current[0].get("status") == status and current[0].get("reason") == reason
            and current[0].get("message") == message):
        return None
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [{"type": "Ready", "status": status, "reason": reason, "message": message,
             "lastTransitionTime": now}]


async def not_ready(api: ApiClient, foo: Any, reason: str, message: str) -> None:
    """Report a Foo that cannot be served as it is: ``Ready=False`` and a Warning Event, both
    only when the condition changes (the Foo's own status write re-runs the reconcile)."""
    conditions = ready_condition(foo, False, reason, message)
    if conditions is None:
        return
    meta = foo["metadata"]
    await api.patch_status(FOOS, meta["name"], {"status": {"conditions": conditions}},
                           namespace=meta["namespace"])
    await kopf_informers.post_event(api, foo, type="Warning", reason=reason, message=message,
                                    reporting_component=COMPONENT)


async def delete_renamed_away(api: ApiClient, foo: Any, wanted: str, logger: Any) -> None:
    """Delete Deployments this Foo controls under a name it no longer wants."""
    meta = foo["metadata"]
    for old in deployments.lister.by_index("owner", meta["uid"]):
        name = old["metadata"]["name"]
        if name == wanted or not kopf_informers.is_owned_by(old, foo, controller=True):
            continue
        logger.info("now wants Deployment %s: deleting its Deployment %s", wanted, name)
        with contextlib.suppress(kopf_informers.NotFoundError, kopf_informers.ConflictError):
            await api.delete(DEPLOYMENTS, name, namespace=meta["namespace"],
                             preconditions={"uid": old["metadata"]["uid"]})


# Reconciles mostly wait on API requests: several asyncio workers keep the server busy (one
# never handles the same Foo twice at once). bench/fanout.py measured 1 worker at 1.5-2.5x
# plain Kopf's speed and 8 workers at 3.6-5.5x.
@kopf_informers.reconcile(FOOS, owns=[DEPLOYMENTS], watches={DEPLOYMENTS: foos_wanting},
                          id="foo", max_concurrent=8)
async def reconcile_foo(name: str, namespace: str, body: Any, api: ApiClient, logger: Any,
                        **_: Any) -> None:
    spec = body.get("spec") or {}
    deployment_name = spec.get("deploymentName")
    replicas = spec.get("replicas", 1)
    if not isinstance(deployment_name, str) or not deployment_name:
        await not_ready(api, body, "InvalidSpec",
                        "spec.deploymentName must be set to the name of the Deployment to manage")
        return  # nothing to retry until the Foo changes; its edit re-runs this

    await delete_renamed_away(api, body, deployment_name, logger)
    changed = False
    deployment = deployments.lister.get(deployment_name, namespace)
    if deployment is None:
        try:
            deployment = await api.create(
                DEPLOYMENTS, new_deployment(body, deployment_name, replicas), namespace=namespace)
        except kopf_informers.InvalidError as e:  # refused as it is: retrying will not help
            await not_ready(api, body, "InvalidSpec", f"the Deployment is invalid: {e.message}")
            return
        except kopf_informers.AlreadyExistsError:
            raise  # the cache is behind: retry with backoff, by then it knows the Deployment
        # Whether first made or made again (deleted by someone): the logger names the Foo.
        logger.info("created its Deployment %s", deployment_name)
        # The status is written now, as sample-controller does: a Foo the server no longer
        # has (deleted, or made again with another uid while its cache lagged) then answers
        # 404 or another uid, so the controller knows the cached Foo is stale and stops
        # acting on it; without a request about the Foo, a Deployment made for the old uid,
        # deleted by the garbage collector, would bring the stale Foo back again and again.
        changed = True
    elif not kopf_informers.is_owned_by(deployment, body, controller=True):
        message = f'Resource "{deployment_name}" already exists and is not managed by Foo'
        await not_ready(api, body, "ErrResourceExists", message)
        return  # a change to that Deployment (or its deletion) re-runs this: see foos_wanting
    elif (deployment.get("spec") or {}).get("replicas") != replicas:
        logger.info("scaling its Deployment %s to %s replicas", deployment_name, replicas)
        deployment = await api.patch(DEPLOYMENTS, deployment_name,
                                     {"spec": {"replicas": replicas}}, namespace=namespace)
        changed = True

    status: dict[str, Any] = {}
    available = (deployment.get("status") or {}).get("availableReplicas", 0)
    if (body.get("status") or {}).get("availableReplicas") != available:
        status["availableReplicas"] = available
    conditions = ready_condition(body, True, "Synced", "Foo synced successfully")
    if conditions is not None:
        status["conditions"] = conditions
        changed = True
    if status:  # one status write for both
        await api.patch_status(FOOS, name, {"status": status}, namespace=namespace)
    # The Event tells of a change to the Deployment or to the Foo's readiness; the Deployment's
    # available replicas, copied into the status, are no news of their own (each Foo would
    # otherwise get one more Event, a request, once its Deployment is available).
    if changed:
        await post_synced(api, body)


async def post_synced(api: ApiClient, foo: Any) -> None:
    await kopf_informers.post_event(api, foo, type="Normal", reason="Synced",
                                    message="Foo synced successfully",
                                    reporting_component=COMPONENT)
