"""An operator for testing kopf-informers inside the real Kopf: a controller and plain handlers.

- ``@kopf_informers.reconcile``: a ConfigMap with ``data.replicas`` owns the Deployment
  ``<name>-deploy`` with as many replicas; a deleted or edited Deployment is restored through
  owner watching. The Deployment is read from the cache, never with a GET.
- ``kopf_informers.shared_informer``: Secrets, read by a plain ``@kopf.on.create`` handler of
  ConfigMaps labelled ``example.com/reads-secret``: the Secret of the same name is found in the
  cache, since Kopf runs its own handlers only after the caches synced.
- ``@kopf_informers.backoff`` on a plain handler of ConfigMaps labelled ``example.com/flaky``: it
  fails until its fourth attempt, and Kopf retries it after ``0.25 * 2**retry`` seconds.

What the handlers see is appended as JSON lines to the file named by
``$INFORMERS_OPERATOR_OBSERVATIONS`` (if set), with ``time.monotonic()``: the tests read it,
and it is the same file however many times this module is imported.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import kopf

import kopf_informers

OBSERVATIONS = "INFORMERS_OPERATOR_OBSERVATIONS"
DEPLOY = "apps/v1/deployments"

configmaps = kopf_informers.shared_informer("v1/configmaps")
deployments = kopf_informers.shared_informer(DEPLOY)
secrets = kopf_informers.shared_informer("v1/secrets")


def observe(event: str, **fields: Any) -> None:
    path = os.environ.get(OBSERVATIONS)
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps({"event": event, "at": time.monotonic(), **fields}) + "\n")


def synced() -> bool:
    return all(informer.has_synced for informer in (configmaps, deployments, secrets))


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Retry 5xx and connection errors quickly (Kopf's default backoffs reach 21 s).
    settings.networking.error_backoffs = [0.1, 0.2, 0.5, 1.0]
    settings.queueing.error_delays = [0.1, 0.2, 0.5, 1.0, 2.0]


def _deployment(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}},
        },
    }


@kopf_informers.reconcile("v1/configmaps", owns=[DEPLOY])
async def configmap_deployment(
    name: str, namespace: str, body: Any, api: kopf_informers.ApiClient, retry: int, **_: Any,
) -> None:
    replicas = (body.get("data") or {}).get("replicas")
    if replicas is None:
        return
    current = deployments.lister.get(f"{name}-deploy", namespace)
    if current is None:
        child = _deployment(f"{name}-deploy", namespace, int(replicas))
        await api.create(DEPLOY, kopf_informers.set_controller_reference(body, child),
                         namespace=namespace)
        action = "created"
    elif current["spec"]["replicas"] != int(replicas):
        await api.patch(DEPLOY, f"{name}-deploy", {"spec": {"replicas": int(replicas)}},
                        namespace=namespace)
        action = "restored"
    else:
        action = "unchanged"
    observe("reconcile", name=name, action=action, retry=retry, synced=synced())


@kopf.on.create("v1", "configmaps", labels={"example.com/reads-secret": "yes"})
def read_the_secret(name: str, namespace: str | None, **_: Any) -> None:
    secret = secrets.lister.get(name, namespace)
    observe("reads-secret", name=name, cached=secret is not None, synced=synced())


@kopf.on.create("v1", "configmaps", labels={"example.com/flaky": "yes"})
@kopf_informers.backoff(base=0.25, cap=10.0, jitter=0)
def flaky(name: str, retry: int, **_: Any) -> None:
    observe("flaky", name=name, retry=retry)
    if retry < 3:
        raise RuntimeError(f"attempt {retry + 1} fails")


@kopf.on.cleanup()
async def report_what_is_left(**_: Any) -> None:
    # Kopf runs cleanup handlers one by one, in order: kopf-informers' came first (at import).
    left = [task.get_name() for task in asyncio.all_tasks()
            if task.get_name().startswith(("worker:", "reflector:", "resync:"))]
    observe("cleanup", tasks=left)
