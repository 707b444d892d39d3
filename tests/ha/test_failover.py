"""High availability, end to end: three replicas of the Foo operator with leader election.

Real ``kopf run`` processes against one embedded server, killed for real (SIGKILL) or stopped
(SIGTERM); the server's journal tells which replica sent each request (the library's
User-Agent carries the replica's identity). Election durations are short (5 s lease, 3 s renew
deadline, 0.5 s retry) to keep the tests quick; durations asserted are generous upper bounds,
or orderings the election guarantees whatever the load (timings belong to bench/failover.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _helpers.replicas import (
    GROUP,
    LEASE,
    OPERATORS,
    PLURAL,
    VERSION,
    Durations,
    Replica,
    foo_body,
    handovers,
    identity_of,
    lease_renewals,
    operator_writes,
    replica_of,
    start_replica,
)
from kubernetes.client import (
    ApiClient,
    ApiextensionsV1Api,
    AppsV1Api,
    CoordinationV1Api,
    CustomObjectsApi,
)
from kubernetes.client.exceptions import ApiException

from kopf_informers.testing import EmbeddedApiServer, wait_until

DURATIONS = Durations()
TIMEOUT = 30.0  # seconds for any one thing to happen on a loaded machine
# Takeover after a kill -9: the lease runs out a lease duration after the standby last saw it
# renewed, and the standby notices at a try up to 2.2 retry periods apart (client-go's jitter);
# the bound doubles that for a busy machine.
KILL_TAKEOVER_BOUND = 2 * (DURATIONS.lease + 2.2 * DURATIONS.retry)


@pytest.fixture
def cluster(embedded_apiserver: EmbeddedApiServer, api_client: ApiClient) -> EmbeddedApiServer:
    crd = yaml.safe_load((OPERATORS / "foo-crd.yaml").read_text())
    ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    return embedded_apiserver


# For a test that tells a takeover after a release from one after expiry by time: the longer the
# lease, the more of a busy machine's stalls fit between the two.
LONG_LEASE = Durations(lease=20.0, renew=15.0, retry=0.5)


@pytest.fixture
def replicas(cluster: EmbeddedApiServer, tmp_path: Path,
             request: pytest.FixtureRequest) -> Iterator[list[Replica]]:
    durations: Durations = getattr(request, "param", DURATIONS)
    started = [start_replica(cluster, f"replica-{i}", tmp_path, durations) for i in range(3)]
    try:
        yield started
    finally:
        for replica in started:  # all at once: a leader stopped first would hand over
            replica.terminate()
        for replica in started:
            replica.stop()
    for replica in started:  # shown by pytest only when the test failed
        print(f"===== {replica.name} (exit {replica.process.returncode})\n{replica.tail()}")


def holder(coordination: CoordinationV1Api) -> str | None:
    try:
        lease = coordination.read_namespaced_lease(LEASE, "default")
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    return lease.spec.holder_identity or None


def elected(replicas: list[Replica], coordination: CoordinationV1Api, *,
            besides: str | None = None) -> tuple[Replica, str]:
    """Wait until a replica (not the identity ``besides``) holds the Lease and its probe says
    it leads (startup is over: its workers run); return it and its identity."""
    def leader() -> tuple[Replica, str] | None:
        identity = holder(coordination)
        if identity is None or identity == besides:
            return None
        return next(r for r in replicas if r.name == replica_of(identity)), identity

    found: tuple[Replica, str] = wait_until(leader, "a replica to hold the Lease",
                                            timeout=TIMEOUT)
    wait_until(lambda: _probe_or_none(found[0]), "the leader's liveness", timeout=TIMEOUT)
    return found


def at_work(replicas: list[Replica], coordination: CoordinationV1Api,
            custom: CustomObjectsApi, apps: AppsV1Api) -> tuple[Replica, str]:
    """The leader, once it has reconciled a first Foo."""
    leader, identity = elected(replicas, coordination)
    create_foos(custom, ["first"])
    wait_for_deployments(apps, ["first"], "the first Deployment")
    return leader, identity


def _probe_or_none(replica: Replica) -> dict[str, Any] | None:
    with contextlib.suppress(OSError):
        answer = replica.probe()
        election = answer.get("kopf_informers", {}).get("leader_election", {})
        return answer if election.get("leading") else None
    return None


def _election_naming(replica: Replica, identity: str | None) -> dict[str, Any] | None:
    election: dict[str, Any] = replica.probe()["kopf_informers"]["leader_election"]
    return election if election["leader"] == identity else None


def create_foos(custom: CustomObjectsApi, names: list[str]) -> None:
    for name in names:
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, foo_body(name))


def wait_for_deployments(apps: AppsV1Api, names: list[str], what: str) -> None:
    wanted = {f"{name}-deploy" for name in names}

    def all_there() -> bool:
        have = {d.metadata.name for d in apps.list_namespaced_deployment("default").items}
        return wanted <= have

    wait_until(all_there, what, timeout=TIMEOUT, interval=0.2)


def takeover_time(cluster: EmbeddedApiServer, since: float, old: str) -> float:
    """When the server took the first write of the Lease by another replica after ``since``."""
    def taken() -> float | None:
        return min((e.time for e in cluster.journal
                    if e.resource == "leases" and e.verb == "update" and e.status == 200
                    and e.time > since and identity_of(e) not in (None, old)), default=None)
    found: float = wait_until(taken, "another replica to take the Lease", timeout=TIMEOUT)
    return found


def assert_one_writer_at_a_time(cluster: EmbeddedApiServer) -> list[str]:
    """No two replicas ever wrote within the same second; returns the writers, in turn."""
    writes = operator_writes(cluster.journal)
    for last, first in handovers(writes):
        assert first - last >= 1.0, f"two replicas wrote {first - last:.3f} s apart"
    turns: list[str] = []
    for _, identity, _ in writes:
        if not turns or turns[-1] != identity:
            turns.append(identity)
    assert len(turns) == len(set(turns)), f"a replica wrote again after another: {turns}"
    return turns


@pytest.fixture
def coordination(api_client: ApiClient) -> CoordinationV1Api:
    return CoordinationV1Api(api_client)


def test_one_of_three_replicas_leads_and_creates_every_deployment_exactly_once(
        cluster: EmbeddedApiServer, replicas: list[Replica], coordination: CoordinationV1Api,
        custom_objects: CustomObjectsApi, apps_v1: AppsV1Api) -> None:
    leader, _ = elected(replicas, coordination)
    names = [f"foo-{i:03d}" for i in range(100)]
    create_foos(custom_objects, names)
    wait_for_deployments(apps_v1, names, "100 Deployments")

    created = [e for e in cluster.journal.filter(verb="create", resource="deployments")
               if e.status == 201]
    assert len(created) == len(names)  # and all 100 are there: once each
    writers = {identity for _, identity, _ in operator_writes(cluster.journal)}
    assert writers == {holder(coordination)}
    assert replica_of(writers.pop()) == leader.name

    # Every replica is alive to its liveness probe, and says who leads; standbys are warm.
    # A standby that lost the race to create the Lease learns the holder at its next try.
    identity = holder(coordination)
    for replica in replicas:
        election = wait_until(lambda r=replica: _election_naming(r, identity),
                              f"{replica.name} to name the leader", timeout=TIMEOUT)
        assert election["leading"] == (replica is leader)
        assert replica.process.poll() is None
    foo_watchers = {identity_of(e) for e in cluster.journal.filter(verb="watch", resource="foos")}
    assert len(foo_watchers - {None}) == 3


def test_a_killed_leader_is_replaced_and_foos_created_meanwhile_are_reconciled(
        cluster: EmbeddedApiServer, replicas: list[Replica], coordination: CoordinationV1Api,
        custom_objects: CustomObjectsApi, apps_v1: AppsV1Api) -> None:
    leader, old = at_work(replicas, coordination, custom_objects, apps_v1)

    killed = time.time()
    leader.process.kill()  # SIGKILL: no cleanup, the Lease is not released
    leader.process.wait()
    gap = [f"gap-{i}" for i in range(10)]
    create_foos(custom_objects, gap)

    successor, new = elected(replicas, coordination, besides=old)
    assert successor is not leader
    assert takeover_time(cluster, killed, old) - killed < KILL_TAKEOVER_BOUND
    wait_for_deployments(apps_v1, gap, "the Deployments of Foos created during the gap")
    assert assert_one_writer_at_a_time(cluster) == [old, new]


@pytest.mark.parametrize("replicas", [LONG_LEASE], indirect=True, ids=["20s-lease"])
def test_a_stopped_leader_releases_the_lease_for_an_immediate_takeover(
        cluster: EmbeddedApiServer, replicas: list[Replica], coordination: CoordinationV1Api,
        custom_objects: CustomObjectsApi, apps_v1: AppsV1Api) -> None:
    leader, old = elected(replicas, coordination)

    stopped = time.time()
    assert leader.stop() == 0  # SIGTERM: Kopf's cleanup drains the workers, releases the Lease
    released = [e for e in cluster.journal.filter(verb="update", resource="leases")
                if identity_of(e) == old and e.time >= stopped and e.status == 200]
    assert released, "the leader did not release its Lease"
    successor, _ = elected(replicas, coordination, besides=old)
    # Without the release, no replica could take the Lease before it expired: a lease duration
    # after its last renewal. (Measured from that renewal, not from the SIGTERM: Kopf's own
    # graceful stop takes seconds on a busy machine.)
    release = min(e.time for e in released)
    renewed = max(e.time for e in cluster.journal.filter(resource="leases")  # or created
                  if e.verb in ("create", "update") and identity_of(e) == old
                  and e.status in (200, 201) and e.time < release)
    taken = takeover_time(cluster, stopped, old)
    assert taken - renewed < LONG_LEASE.lease, (taken - renewed, taken - release)
    create_foos(custom_objects, ["after"])
    wait_for_deployments(apps_v1, ["after"], "the new leader's Deployment")
    assert successor.process.poll() is None


def test_a_leader_cut_off_from_its_lease_stops_before_the_lease_expires(
        cluster: EmbeddedApiServer, replicas: list[Replica], coordination: CoordinationV1Api,
        custom_objects: CustomObjectsApi, apps_v1: AppsV1Api) -> None:
    leader, old = at_work(replicas, coordination, custom_objects, apps_v1)

    # Foos keep coming while the leader's renewals fail: it would go on reconciling them if it
    # did not stop at its renew deadline.
    names: list[str] = []
    stop_creating = threading.Event()

    def keep_creating(make: Callable[[list[str]], None]) -> None:
        while not stop_creating.wait(0.2):
            name = f"cut-{len(names)}"
            make([name])
            names.append(name)

    creator = threading.Thread(target=keep_creating, args=(
        lambda batch: create_foos(custom_objects, batch),), daemon=True)
    cluster.faults.fail("update", "leases", 503, percent=100)  # no Lease write succeeds
    creator.start()
    try:
        wait_until(lambda: leader.process.poll() is not None, "the cut-off leader to exit",
                   timeout=TIMEOUT)
    finally:
        cluster.faults.clear()
    assert leader.process.returncode == 1  # lost, as controller-runtime: exit non-zero

    elected(replicas, coordination, besides=old)
    stop_creating.set()
    creator.join()
    wait_for_deployments(apps_v1, names, "every Foo's Deployment, by the new leader")

    last_renewal = max(lease_renewals(cluster.journal, old))
    last_write = max(t for t, identity, _ in operator_writes(cluster.journal) if identity == old)
    assert last_write < last_renewal + DURATIONS.lease  # stopped before its Lease could expire
    assert len(assert_one_writer_at_a_time(cluster)) == 2
