"""Fixtures of the Kopf tests: the example operators under ``kopf run``, as subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _helpers.operator_process import OPERATORS, Operator

from kopf_informers.testing import EmbeddedApiServer


@pytest.fixture
def run_operator(embedded_apiserver: EmbeddedApiServer,
                 tmp_path: Path) -> Iterator[Callable[..., Operator]]:
    started: list[Operator] = []

    def run(*options: str, env: dict[str, str] | None = None,
            operator: str = "foo.py") -> Operator:
        """``kopf run --standalone <options> operators/<operator>`` against the server."""
        environment = {**os.environ, "KUBECONFIG": str(embedded_apiserver.kubeconfig)}
        environment.pop("KOPF_INFORMERS_NAMESPACES", None)
        environment.update(env or {})
        environment.pop("KUBERNETES_SERVICE_HOST", None)
        log_path = tmp_path / f"operator-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "kopf", "run", "--standalone", *options,
                 str(OPERATORS / operator)],
                env=environment, stdout=log, stderr=subprocess.STDOUT)
        started.append(Operator(process, log_path))
        return started[-1]

    yield run
    for operator in started:
        if operator.process.poll() is None:
            operator.process.send_signal(signal.SIGTERM)
            try:
                operator.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                operator.process.kill()
                operator.process.wait()


