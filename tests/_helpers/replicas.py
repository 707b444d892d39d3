"""Replicas of the Foo operator with leader election, as real ``kopf run`` processes.

Each replica is ``kopf run --standalone -A --liveness URL operators/foo.py`` with
``HOSTNAME=replica-N`` (its identity is then ``replica-N_<uuid>``) and short election durations,
against one embedded server. The library's User-Agent carries the identity, so the server's
journal tells which replica sent each request.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kopf_informers.testing import EmbeddedApiServer, JournalEntry

OPERATORS = Path(__file__).parents[2] / "operators"
GROUP, VERSION, PLURAL = "samplecontroller.k8s.io", "v1alpha1", "foos"
LEASE = "kopf-informers-foo"  # the default id of operators/foo.py's controller "foo"
WRITES = frozenset({"create", "update", "patch", "delete"})
ACTED_ON = frozenset({"deployments", "foos", "foos/status", "events"})
_IDENTITY = re.compile(r"^kopf-informers/\S+ \((?P<identity>[^)]+)\)$")


@dataclasses.dataclass(frozen=True)
class Durations:
    lease: float = 5.0
    renew: float = 3.0
    retry: float = 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclasses.dataclass
class Replica:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    liveness: str
    terminated: bool = False

    def probe(self) -> dict[str, Any]:
        """The liveness endpoint's answer (Kopf's, or the standby's own)."""
        with urllib.request.urlopen(self.liveness, timeout=5) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def terminate(self) -> None:
        """SIGTERM, once (Kopf takes a second one for an error)."""
        if self.process.poll() is None and not self.terminated:
            self.terminated = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        """SIGTERM and wait (20 s at most, then SIGKILL); the exit status."""
        self.terminate()
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def start_replica(server: EmbeddedApiServer, name: str, log_dir: Path,
                  durations: Durations = Durations()) -> Replica:
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    env = {
        **os.environ, "KUBECONFIG": str(server.kubeconfig), "HOSTNAME": name,
        "KOPF_INFORMERS_LEADER_ELECTION": "true",
        "KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE": "default",
        "KOPF_INFORMERS_LEADER_ELECTION_LEASE_DURATION": str(durations.lease),
        "KOPF_INFORMERS_LEADER_ELECTION_RENEW_DEADLINE": str(durations.renew),
        "KOPF_INFORMERS_LEADER_ELECTION_RETRY_PERIOD": str(durations.retry),
    }
    env.pop("POD_NAME", None)
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", "-A", "--liveness", liveness,
             str(OPERATORS / "foo.py")],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    return Replica(name, process, log, liveness)


def identity_of(entry: JournalEntry) -> str | None:
    """The replica identity in a request's User-Agent, or None (not a replica's request)."""
    match = _IDENTITY.match(entry.user_agent)
    return match["identity"] if match else None


def replica_of(identity: str) -> str:
    return identity.rsplit("_", 1)[0]


def operator_writes(journal: Iterable[JournalEntry]) -> list[tuple[float, str, JournalEntry]]:
    """Every write a replica made to what it reconciles: (time, identity, entry), in order."""
    writes = []
    for entry in journal:
        identity = identity_of(entry)
        if identity is not None and entry.verb in WRITES and entry.resource in ACTED_ON:
            writes.append((entry.time, identity, entry))
    return sorted(writes, key=lambda w: w[0])


def lease_renewals(journal: Iterable[JournalEntry], identity: str) -> list[float]:
    """When the server took each successful write of the Lease by ``identity``."""
    return [e.time for e in journal
            if identity_of(e) == identity and e.resource == "leases"
            and e.verb in {"create", "update"} and e.status is not None and e.status < 300]


def handovers(writes: list[tuple[float, str, JournalEntry]]) -> Iterator[tuple[float, float]]:
    """(last write of one replica, first write of the next) at each change of writer."""
    for (t1, a, _), (t2, b, _) in itertools.pairwise(writes):
        if a != b:
            yield t1, t2


def foo_body(name: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Foo", "metadata": {"name": name},
            "spec": {"deploymentName": f"{name}-deploy", "replicas": 1}}
