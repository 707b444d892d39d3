"""An operator whose reconcile fails a set number of times, for the Events and logs tests.

A ConfigMap's ``data.failures`` (default 0) is how many times its reconcile fails (with the same
error each time) before it succeeds; each attempt logs one info line on the reconcile's logger.
The success annotates the ConfigMap ``example.com/done: "yes"``, after which it is left alone.
Retries are quick (10 ms doubling to 50 ms), so that a dozen failures take a fraction of a
second. ``$EVENTS_OPERATOR_POSTING`` sets Kopf's posting settings at startup: ``loggers``
(post log records too), ``disabled`` (post nothing), anything else: Kopf's defaults.
"""

from __future__ import annotations

import os
from typing import Any

import kopf

import kopf_informers

POSTING = "EVENTS_OPERATOR_POSTING"
DONE = "example.com/done"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    posting = os.environ.get(POSTING, "")
    settings.posting.loggers = posting == "loggers"
    settings.posting.enabled = posting != "disabled"


@kopf_informers.reconcile(
    "v1/configmaps", id="events_operator.flaky",
    rate_limiter=kopf_informers.ItemExponentialFailureRateLimiter(base=0.01, cap=0.05),
)
async def flaky(name: str, namespace: str, body: Any, retry: int, logger: Any,
                api: kopf_informers.ApiClient, **_: Any) -> None:
    if (body["metadata"].get("annotations") or {}).get(DONE) == "yes":
        return
    failures = int((body.get("data") or {}).get("failures", "0"))
    logger.info("attempt %d of %d", retry + 1, failures + 1)
    if retry < failures:
        raise RuntimeError("the same every time")
    await api.patch("v1/configmaps", name, {"metadata": {"annotations": {DONE: "yes"}}},
                    namespace=namespace)
