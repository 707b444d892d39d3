"""An operator that starts while the API server is unreachable, in the real Kopf.

The server is paused (it refuses connections) before ``kopf run`` starts, and resumed a few
seconds later. kopf-informers' startup handler retries discovery inside the library, with the
reflector's backoff, so the first reconcile follows the server's return within one backoff step,
instead of Kopf retrying the whole handler a minute later. Every wait is a bounded poll; the one
duration asserted is an upper bound: a quarter of Kopf's retry delay, over twice the longest
backoff step that can follow a 3 s outage (6.4 s), so that a busy host does not reach it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kopf
import kopf.testing
import kubernetes
import pytest
from kubernetes.client import V1ConfigMap, V1ObjectMeta

from kopf_informers.testing import (
    EmbeddedApiServer,
    isolated_kopf,
    kopf_logging_undone,
    wait_until,
)

OPERATOR = Path(__file__).parent / "operators" / "startup_operator.py"
OBSERVATIONS_ENV = "STARTUP_OPERATOR_OBSERVATIONS"
KOPF_TIMEOUT = 30.0  # seconds: the longest wait for the operator to start, act, or stop
OUTAGE = 3.0  # seconds the server refuses connections after the operator started
KOPF_RETRY_DELAY = 60.0  # seconds: Kopf's delay before it re-runs a failed startup handler


@dataclasses.dataclass
class Operator:
    server: EmbeddedApiServer
    observations: Path
    registry: kopf.OperatorRegistry

    def runner(self) -> kopf.testing.KopfRunner:
        args = ["run", "-A", "--standalone", "--verbose", str(OPERATOR)]
        return kopf.testing.KopfRunner(args, registry=self.registry, timeout=KOPF_TIMEOUT)

    def reconciles(self) -> list[dict[str, Any]]:
        if not self.observations.exists():
            return []
        return [json.loads(line) for line in self.observations.read_text().splitlines()]


@pytest.fixture
def operator(embedded_apiserver: EmbeddedApiServer, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Operator]:
    """A fresh Kopf registry and kopf-informers runtime, as in test_controller.py."""
    observations = tmp_path / "observations.jsonl"
    monkeypatch.setenv(OBSERVATIONS_ENV, str(observations))
    with isolated_kopf(str(embedded_apiserver.kubeconfig), monkeypatch) as registry:
        yield Operator(embedded_apiserver, observations, registry)


def wait(check: Callable[[], Any], what: str) -> Any:
    return wait_until(check, what, timeout=KOPF_TIMEOUT)


def test_an_outage_at_startup_delays_the_first_reconcile_by_about_the_outage(
        operator: Operator, core_v1: kubernetes.client.CoreV1Api) -> None:
    core_v1.create_namespaced_config_map(
        "default", V1ConfigMap(metadata=V1ObjectMeta(name="web")))
    operator.server.faults.pause()
    paused = True
    try:
        with kopf_logging_undone(), operator.runner() as runner:
            started = time.monotonic()
            time.sleep(OUTAGE)  # the outage itself (runner.output is readable only at the end)
            resumed = time.monotonic()
            operator.server.faults.resume()
            paused = False
            [first, *_] = wait(operator.reconciles, "the first reconcile")
    finally:
        if paused:
            operator.server.faults.resume()

    exception: BaseException | None = runner.exception  # (Kopf types it as never None)
    assert exception is None
    assert runner.exit_code == 0
    delay = first["at"] - resumed
    print(f"outage {resumed - started:.1f} s; first reconcile {delay:.2f} s after the server "
          f"came back, {first['at'] - started:.2f} s after the start")
    assert delay < KOPF_RETRY_DELAY / 4, delay
    output = runner.output
    assert output.count("Activity 'kopf_informers/startup' succeeded") == 1
    assert "Activity 'kopf_informers/startup' failed" not in output
    retries = [line for line in output.splitlines() if "retrying in" in line]
    print(*retries, sep="\n")
    assert 1 <= len(retries) <= 4, retries  # 0.8 s doubling: 3 s are 2 or 3 retries
    assert all("discovery of v1/configmaps failed: discover v1/configmaps: failed to talk to "
               in line and "(giving up in " in line for line in retries), retries
