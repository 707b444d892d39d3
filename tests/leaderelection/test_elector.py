"""The leader elector's state machine: client-go's semantics, on a virtual clock (looptime).

The Lease lives in memory (:class:`Leases`); each candidate reads and writes it through its own
:class:`FakeLock`, which keeps the version it last saw, as the API lock does, so that a write
over a changed Lease is a 409. Failures and hanging requests are switched on per lock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import itertools

import pytest

from kopf_informers._leaderelection import (
    ElectionRecord,
    LeaderElectionConfig,
    LeaderElector,
    micro_time,
)
from kopf_informers.errors import (
    AlreadyExistsError,
    ApiConnectionError,
    ConflictError,
    InvalidArgumentError,
)
from kopf_informers.metrics import LeaderElectionMetrics

pytestmark = pytest.mark.looptime

LEASE, RENEW, RETRY = 15.0, 10.0, 2.0
EPOCH = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)


@dataclasses.dataclass
class Leases:
    """The server's side: one Lease and its version."""

    record: ElectionRecord | None = None
    version: int = 0
    writes: list[tuple[float, ElectionRecord]] = dataclasses.field(default_factory=list)

    def put(self, record: ElectionRecord) -> None:
        self.record = record
        self.version += 1
        self.writes.append((asyncio.get_running_loop().time(), record))


class FakeLock:
    def __init__(self, leases: Leases) -> None:
        self.leases = leases
        self.seen: int | None = None
        self.failing = False  # every request fails, as with a server out of reach
        self.hanging = False  # every request hangs

    async def _request(self) -> None:
        if self.hanging:
            await asyncio.Event().wait()
        if self.failing:
            raise ApiConnectionError("connection refused")

    async def get(self) -> ElectionRecord | None:
        await self._request()
        self.seen = self.leases.version
        return self.leases.record

    async def create(self, record: ElectionRecord) -> None:
        await self._request()
        if self.leases.record is not None:
            raise AlreadyExistsError(409, "exists")
        self.leases.put(record)
        self.seen = self.leases.version

    async def update(self, record: ElectionRecord) -> None:
        await self._request()
        if self.seen != self.leases.version:
            raise ConflictError(409, "the object has been modified")
        self.leases.put(record)
        self.seen = self.leases.version


def now() -> float:
    return asyncio.get_running_loop().time()


def wall_clock() -> datetime.datetime:
    """A wall clock that follows the virtual one (only written into the Lease, never read)."""
    return EPOCH + datetime.timedelta(seconds=now())


def candidate(leases: Leases, identity: str, **kwargs: object) -> LeaderElector:
    config = LeaderElectionConfig(name="op", namespace="ns", identity=identity,
                                  lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY)
    return LeaderElector(lock=FakeLock(leases), config=config, wall=wall_clock,
                         rng=lambda: 0.0, **kwargs)  # type: ignore[arg-type]


def held_by(holder: str, *, renewed: str = "2000-01-01T00:00:00.000000Z",
            duration: int = 15, transitions: int = 0) -> ElectionRecord:
    return ElectionRecord(holder=holder, lease_duration_seconds=duration,
                          acquire_time=renewed, renew_time=renewed, transitions=transitions)


async def test_a_missing_lease_is_created_with_the_candidate_as_holder() -> None:
    leases = Leases()
    elector = candidate(leases, "a")
    assert await elector.try_acquire_or_renew()
    assert leases.record == ElectionRecord(
        holder="a", lease_duration_seconds=15, acquire_time=micro_time(EPOCH),
        renew_time=micro_time(EPOCH), transitions=0)
    assert elector.is_leader


async def test_a_held_lease_is_taken_only_a_lease_duration_after_it_was_last_seen_changing(
) -> None:
    # The record's timestamps are from long ago: they are not trusted, only their change is.
    leases = Leases(record=held_by("other"), version=1)
    elector = candidate(leases, "a")
    assert not await elector.try_acquire_or_renew()  # first seen at t=0
    await asyncio.sleep(LEASE - 0.5)
    assert not await elector.try_acquire_or_renew()
    await asyncio.sleep(0.5)
    assert await elector.try_acquire_or_renew()
    assert leases.record is not None
    assert (leases.record.holder, leases.record.transitions) == ("a", 1)
    assert leases.record.acquire_time == micro_time(wall_clock())


async def test_a_renewal_seen_by_a_standby_restarts_its_wait() -> None:
    leases = Leases(record=held_by("other"), version=1)
    elector = candidate(leases, "a")
    assert not await elector.try_acquire_or_renew()
    await asyncio.sleep(10)
    leases.put(held_by("other", renewed="2000-01-01T00:00:10.000000Z"))  # renewed by its holder
    assert not await elector.try_acquire_or_renew()  # seen at t=10
    await asyncio.sleep(LEASE - 1)
    assert not await elector.try_acquire_or_renew()  # t=24 < 10 + 15
    await asyncio.sleep(1)
    assert await elector.try_acquire_or_renew()


async def test_a_renewal_keeps_the_acquire_time_and_the_transitions() -> None:
    leases = Leases(record=held_by("other", transitions=4, duration=0), version=1)
    elector = candidate(leases, "a")
    assert await elector.try_acquire_or_renew()  # a lease of 0 s: expired at once
    acquired = leases.record
    assert acquired is not None
    assert acquired.transitions == 5
    await asyncio.sleep(RETRY)
    assert await elector.try_acquire_or_renew()
    assert leases.record is not None
    assert leases.record.acquire_time == acquired.acquire_time
    assert leases.record.transitions == 5
    assert leases.record.renew_time == micro_time(EPOCH + datetime.timedelta(seconds=RETRY))


async def test_a_released_lease_is_taken_at_once() -> None:
    leases = Leases(record=ElectionRecord(lease_duration_seconds=1, transitions=2), version=1)
    elector = candidate(leases, "a")
    assert await elector.try_acquire_or_renew()
    assert leases.record is not None
    assert leases.record.transitions == 3


async def test_of_two_candidates_racing_for_an_expired_lease_exactly_one_wins() -> None:
    leases = Leases(record=held_by("gone", duration=0), version=1)
    a, b = candidate(leases, "a"), candidate(leases, "b")
    # Both read the same version, then both write: the second write is a 409.
    assert await a.lock.get() == await b.lock.get()
    results = await asyncio.gather(a.try_acquire_or_renew(), b.try_acquire_or_renew())
    assert sorted(results) == [False, True]
    assert leases.record is not None
    assert leases.record.holder == ("a" if results[0] else "b")


async def test_candidates_campaigning_together_elect_one_leader_and_it_keeps_the_lead() -> None:
    leases = Leases()
    electors = [candidate(leases, name) for name in "abc"]
    tasks = [asyncio.create_task(e.run()) for e in electors]
    await asyncio.sleep(60)
    leading = [e.identity for e in electors if e.leading.is_set()]
    assert len(leading) == 1
    assert {r.holder for _, r in leases.writes} == set(leading)
    assert leases.record is not None
    assert leases.record.transitions == 0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_leader_that_cannot_renew_gives_up_at_the_renew_deadline() -> None:
    leases = Leases()
    elector = candidate(leases, "a")
    await elector.acquire()
    assert elector.leading.is_set()
    await asyncio.sleep(RETRY * 3)  # three renewals later
    renewing = asyncio.create_task(elector.renew())
    await asyncio.sleep(RETRY / 2)
    last_renewal = elector.renewed_at
    assert last_renewal is not None
    elector.lock.failing = True  # type: ignore[attr-defined]
    await renewing
    assert now() == pytest.approx(last_renewal + RENEW)
    assert not elector.leading.is_set()
    assert now() < last_renewal + LEASE  # before any standby may take over


async def test_a_leader_whose_requests_hang_gives_up_at_the_renew_deadline() -> None:
    leases = Leases()
    elector = candidate(leases, "a")
    await elector.acquire()
    acquired = now()
    elector.lock.hanging = True  # type: ignore[attr-defined]
    await elector.renew()
    assert now() == pytest.approx(acquired + RENEW)
    assert not elector.leading.is_set()


async def test_a_failed_renewal_followed_by_a_good_one_keeps_the_lead() -> None:
    leases = Leases()
    elector = candidate(leases, "a")
    await elector.acquire()
    renewing = asyncio.create_task(elector.renew())
    elector.lock.failing = True  # type: ignore[attr-defined]
    await asyncio.sleep(RENEW - RETRY - 1)  # the try at RENEW - RETRY then succeeds
    elector.lock.failing = False  # type: ignore[attr-defined]
    await asyncio.sleep(RENEW * 3)
    assert not renewing.done()
    assert elector.leading.is_set()
    renewing.cancel()


async def test_a_leader_whose_lease_was_taken_stops_leading_at_its_next_try() -> None:
    leases = Leases()
    elector = candidate(leases, "a")
    await elector.acquire()
    renewing = asyncio.create_task(elector.renew())
    await asyncio.sleep(RETRY / 2)
    leases.put(held_by("usurper"))
    await renewing
    assert now() == pytest.approx(RETRY)
    assert not elector.leading.is_set()
    assert elector.leader == "usurper"


async def test_a_standby_takes_over_a_lease_duration_after_the_leader_stopped_renewing() -> None:
    leases = Leases()
    leader, standby = candidate(leases, "a"), candidate(leases, "b")
    await leader.acquire()
    leading = asyncio.create_task(leader.renew())
    standing_by = asyncio.create_task(standby.acquire())
    await asyncio.sleep(30)
    assert not standing_by.done()
    leading.cancel()  # as a kill -9: no release
    last_write = leases.writes[-1][0]
    await standing_by
    # Seen last at its next try after the last write, expired LEASE later, taken at the next try.
    assert last_write + LEASE <= now() <= last_write + LEASE + 2 * RETRY
    assert leases.record is not None
    assert (leases.record.holder, leases.record.transitions) == ("b", 1)


async def test_a_release_empties_the_holder_for_a_quick_takeover() -> None:
    leases = Leases()
    leader, standby = candidate(leases, "a"), candidate(leases, "b")
    await leader.acquire()
    assert not await standby.try_acquire_or_renew()
    assert await leader.release()
    assert leases.record is not None
    assert (leases.record.holder, leases.record.lease_duration_seconds) == ("", 1)
    assert leases.record.transitions == 0
    assert not leader.leading.is_set()
    assert await standby.try_acquire_or_renew()
    assert leases.record.transitions == 1


async def test_only_a_leader_releases() -> None:
    leases = Leases(record=held_by("other"), version=1)
    standby = candidate(leases, "a")
    assert not await standby.try_acquire_or_renew()
    writes = len(leases.writes)
    assert await standby.release()
    assert len(leases.writes) == writes
    assert leases.record == held_by("other")


async def test_the_metric_follows_the_lead() -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    leases = Leases()
    elector = candidate(leases, "a",
                        metrics=LeaderElectionMetrics(name="op", registry=registry))

    def status() -> float | None:
        return registry.get_sample_value("leader_election_master_status", {"name": "op"})

    assert status() == 0.0
    await elector.acquire()
    assert status() == 1.0
    await elector.release()
    assert status() == 0.0


async def test_acquire_tries_are_a_jittered_retry_period_apart() -> None:
    leases = Leases(record=held_by("other"), version=1)
    jitters = itertools.cycle([0.0, 0.5, 1.0])
    config = LeaderElectionConfig(name="op", namespace="ns", identity="a")
    elector = LeaderElector(lock=FakeLock(leases), config=config, wall=wall_clock,
                            rng=lambda: next(jitters))
    tries: list[float] = []
    original = elector.try_acquire_or_renew

    async def counted() -> bool:
        tries.append(now())
        return await original()

    elector.try_acquire_or_renew = counted  # type: ignore[method-assign]
    await elector.acquire()
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(tries)]
    assert gaps[:3] == [2.0, 2.0 * (1 + 1.2 * 0.5), 2.0 * (1 + 1.2)]


@pytest.mark.parametrize(("lease", "renew", "retry"), [
    pytest.param(10, 10, 2, id="lease-not-longer-than-renew"),
    pytest.param(15, 2.4, 2, id="renew-not-longer-than-1.2-retries"),
    pytest.param(15, 10, 0, id="no-retry-period"),
])
def test_durations_that_break_client_gos_rules_are_refused(
        lease: float, renew: float, retry: float) -> None:
    with pytest.raises(InvalidArgumentError):
        LeaderElectionConfig(name="op", namespace="ns", identity="a", lease_duration=lease,
                             renew_deadline=renew, retry_period=retry)


def test_the_defaults_are_client_gos() -> None:
    config = LeaderElectionConfig(name="op", namespace="ns", identity="a")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)


def test_a_lease_duration_is_written_in_whole_seconds_rounded_up() -> None:
    record = ElectionRecord.from_spec({"holderIdentity": "x", "leaseDurationSeconds": 4})
    assert record.to_spec() == {"holderIdentity": "x", "leaseDurationSeconds": 4,
                                "leaseTransitions": 0}
    assert ElectionRecord.from_spec(None) == ElectionRecord()
