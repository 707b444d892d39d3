"""Leader election that cannot start says why, and the operator stops (a retry would not help)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _helpers.replicas import OPERATORS

from kopf_informers._ha import SERVICE_ACCOUNT_NAMESPACE
from kopf_informers.testing import EmbeddedApiServer


def test_without_a_lease_namespace_outside_a_pod_the_operator_exits_saying_what_to_set(
        embedded_apiserver: EmbeddedApiServer, tmp_path: Path) -> None:
    assert not SERVICE_ACCOUNT_NAMESPACE.exists()  # not in a pod
    env = {**os.environ, "KUBECONFIG": str(embedded_apiserver.kubeconfig),
           "KOPF_INFORMERS_LEADER_ELECTION": "true"}
    env.pop("KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE", None)
    result = subprocess.run(
        [sys.executable, "-m", "kopf", "run", "--standalone", "-A", str(OPERATORS / "foo.py")],
        env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE" in result.stdout + result.stderr
