"""The smallest operator with a ``@kopf_informers.reconcile`` controller, for startup tests.

Each reconcile of a ConfigMap appends ``{"name": ..., "at": time.monotonic()}`` as a JSON line to
the file named by ``$STARTUP_OPERATOR_OBSERVATIONS`` (if set): the tests read when the first one
happened.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import kopf_informers

OBSERVATIONS = "STARTUP_OPERATOR_OBSERVATIONS"


def observe(name: str) -> None:
    path = os.environ.get(OBSERVATIONS)
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps({"name": name, "at": time.monotonic()}) + "\n")


@kopf_informers.reconcile("v1/configmaps", id="startup_operator.record")
async def record(name: str, **_: Any) -> None:
    observe(name)
