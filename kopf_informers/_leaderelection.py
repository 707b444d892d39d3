"""Leader election on ``coordination.k8s.io/v1`` Leases, with client-go's semantics.

Its place in the process::

    LeaderElector --get / create / update (resourceVersion CAS)--> Lease  <-- other replicas
        |  acquire: retry every RetryPeriod (jittered x1.2) until the Lease is free or expired
        |  renew:   every RetryPeriod; not renewed within RenewDeadline → lost
        v
    leading (asyncio.Event) ── the Kopf integration gates its startup on it (see ``_ha``)

The Lease's ``spec`` is the election record: ``holderIdentity`` (empty: nobody holds it),
``leaseDurationSeconds``, ``acquireTime``, ``renewTime`` (MicroTime, UTC) and
``leaseTransitions`` (incremented at each change of holder). ``leaseDurationSeconds`` is the
configured lease duration rounded up to whole seconds.

Guarantees (client-go ``tools/leaderelection/leaderelection.go``):
  - **Optimistic concurrency.** Every write of the Lease is a PUT carrying the
    ``resourceVersion`` that was read: of two candidates racing for it, one gets 409 Conflict and
    loses that round.
  - **Local clocks only.** Expiry is judged from when *this* process last saw the record change
    (its monotonic clock), never from the timestamps written in the Lease: a holder's clock may
    be skewed. A candidate takes the Lease over only after it has seen the same record for
    ``leaseDurationSeconds`` (the record's own, so a released Lease's 1 s counts), or at once if
    the holder is empty.
  - **Stopping in time.** A leader that cannot renew within ``renew_deadline`` of its last
    successful renewal stops leading; with ``renew_deadline < lease_duration``, it gives up
    before any other candidate can consider the Lease expired. Hanging requests are cut off at
    that deadline.
  - **Release.** :meth:`LeaderElector.release` (client-go's ``ReleaseOnCancel``) writes an empty
    holder with ``leaseDurationSeconds: 1``, so that a standby takes over at its next try
    instead of after a whole lease duration. Only a leader releases.

Defaults: ``LeaseDuration`` 15 s, ``RenewDeadline`` 10 s, ``RetryPeriod`` 2 s ("Core clients
default this value to …", client-go ``LeaderElectionConfig``; controller-runtime
``pkg/manager/internal.go`` ``defaultLeaseDuration`` etc., taken from component-base).
The checks of client-go's ``NewLeaderElector`` apply: ``lease_duration > renew_deadline >
1.2 * retry_period > 0``.

Caveats, as client-go's: this is not fencing. A leader whose event loop is blocked past its
renew deadline, or whose last request reaches the server late, can act after another replica
took over; keep the loop responsive and ``lease_duration - renew_deadline`` comfortably larger
than a request's latency.

Differences from client-go, on purpose:
  - The renew deadline counts from the last *successful* renewal (the moment its request was
    sent), not from the start of the failing round: client-go's leader may keep acting for up to
    RetryPeriod + RenewDeadline (12 s of a 15 s lease by default); this one for RenewDeadline.
  - No fast path (client-go 1.31+ renews without a GET while it leads); each try is a GET and a
    PUT, which keeps the state machine one function.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import math
import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ._api import ApiClient
from .errors import ConflictError, InvalidArgumentError, KopfInformersError, NotFoundError
from .metrics import LeaderElectionMetrics

__all__ = [
    "DEFAULT_LEASE_DURATION",
    "DEFAULT_RENEW_DEADLINE",
    "DEFAULT_RETRY_PERIOD",
    "LEASES",
    "ApiLeaseLock",
    "ElectionRecord",
    "LeaderElectionConfig",
    "LeaderElector",
    "LeaseLock",
]

logger = logging.getLogger("kopf_informers.lease")  # fits Kopf's log format

LEASES = "coordination.k8s.io/v1/leases"
DEFAULT_LEASE_DURATION = 15.0  # seconds
DEFAULT_RENEW_DEADLINE = 10.0
DEFAULT_RETRY_PERIOD = 2.0
JITTER_FACTOR = 1.2  # client-go's: acquire tries are RetryPeriod * (1 + 1.2 * random) apart
RELEASED_LEASE_DURATION = 1  # seconds written by a release, as client-go's


@dataclasses.dataclass(frozen=True)
class LeaderElectionConfig:
    """What to elect on and how fast.

    Raises:
        InvalidArgumentError: an empty name, namespace or identity, or durations that break
            ``lease_duration > renew_deadline > 1.2 * retry_period > 0``.
    """

    name: str
    namespace: str
    identity: str
    lease_duration: float = DEFAULT_LEASE_DURATION
    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    retry_period: float = DEFAULT_RETRY_PERIOD

    def __post_init__(self) -> None:
        for what in ("name", "namespace", "identity"):
            if not getattr(self, what):
                raise InvalidArgumentError(f"leader election needs a Lease {what}")
        if not self.retry_period > 0:
            raise InvalidArgumentError(
                f"the retry period must be more than 0 s, got {self.retry_period}")
        if not self.lease_duration > self.renew_deadline:
            raise InvalidArgumentError(
                f"the lease duration ({self.lease_duration} s) must be longer than the renew "
                f"deadline ({self.renew_deadline} s): a leader must give up before others may "
                f"take over")
        if not self.renew_deadline > JITTER_FACTOR * self.retry_period:
            raise InvalidArgumentError(
                f"the renew deadline ({self.renew_deadline} s) must be longer than "
                f"{JITTER_FACTOR} * the retry period ({self.retry_period} s)")

    @property
    def description(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclasses.dataclass(frozen=True)
class ElectionRecord:
    """A Lease's ``spec``, as the election reads and writes it (client-go's
    ``LeaderElectionRecord``). Times are MicroTime strings, kept as written: only their change
    matters, never their value."""

    holder: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> ElectionRecord:
        spec = spec or {}
        return cls(holder=spec.get("holderIdentity") or "",
                   lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
                   acquire_time=spec.get("acquireTime"), renew_time=spec.get("renewTime"),
                   transitions=int(spec.get("leaseTransitions") or 0))

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"leaseDurationSeconds": self.lease_duration_seconds,
                                "leaseTransitions": self.transitions}
        if self.holder:
            spec["holderIdentity"] = self.holder
        if self.acquire_time is not None:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time is not None:
            spec["renewTime"] = self.renew_time
        return spec


class LeaseLock(Protocol):
    """Where the record lives (client-go's ``resourcelock.Interface``).

    ``get`` returns the record, or None if there is no Lease; ``create`` fails if one exists;
    ``update`` writes over the version last read or written, and fails (``ConflictError``) if
    the Lease changed since. Any :class:`~kopf_informers.errors.KopfInformersError` is a failed
    try, never fatal.
    """

    async def get(self) -> ElectionRecord | None: ...

    async def create(self, record: ElectionRecord) -> None: ...

    async def update(self, record: ElectionRecord) -> None: ...


class ApiLeaseLock:
    """A :class:`LeaseLock` on a ``coordination.k8s.io/v1`` Lease through an :class:`ApiClient`.

    It keeps the Lease as last read or written, and replaces it whole (PUT) with that
    ``resourceVersion``, so that labels and annotations others put on it survive.
    """

    def __init__(self, api: ApiClient, *, name: str, namespace: str) -> None:
        self._api = api
        self.name, self.namespace = name, namespace
        self._lease: dict[str, Any] | None = None

    async def get(self) -> ElectionRecord | None:
        try:
            self._lease = await self._api.get(LEASES, self.name, namespace=self.namespace)
        except NotFoundError:
            self._lease = None
            return None
        return ElectionRecord.from_spec(self._lease.get("spec"))

    async def create(self, record: ElectionRecord) -> None:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": record.to_spec()}
        self._lease = await self._api.create(LEASES, body, namespace=self.namespace)

    async def update(self, record: ElectionRecord) -> None:
        if self._lease is None:
            raise RuntimeError("update of a Lease that was never read")
        body = {**self._lease, "spec": record.to_spec()}
        self._lease = await self._api.replace(LEASES, body, namespace=self.namespace)


def micro_time(moment: datetime.datetime) -> str:
    """Kubernetes' MicroTime: RFC 3339 in UTC with microseconds."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LeaderElector:
    """One candidate's view of one election; :meth:`run` campaigns and keeps the lead.

    ``clock`` is monotonic seconds (default: the running loop's, so looptime drives it in
    tests); ``wall`` is only for the timestamps written into the Lease. ``leading`` is set while
    this candidate leads. ``metrics`` (optional) gets controller-runtime's
    ``leader_election_master_status``. Not thread-safe: use it from one event loop.
    """

    def __init__(
        self, *, lock: LeaseLock, config: LeaderElectionConfig,
        clock: Callable[[], float] | None = None,
        wall: Callable[[], datetime.datetime] = _utc_now,
        rng: Callable[[], float] = random.random,
        metrics: LeaderElectionMetrics | None = None,
    ) -> None:
        self.lock, self.config = lock, config
        self._clock = clock
        self._wall, self._rng = wall, rng
        self._metrics = metrics
        self.observed = ElectionRecord()
        self.observed_time: float | None = None  # when the record last changed, our clock
        self.renewed_at: float | None = None  # when the last successful write was sent
        self.leading = asyncio.Event()
        if metrics is not None:
            metrics.set_leading(False)

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def leader(self) -> str:
        """The holder last observed ("" if none or not known yet), for logs and probes."""
        return self.observed.holder

    @property
    def is_leader(self) -> bool:
        """Whether the last observed record names this candidate (client-go's ``IsLeader``)."""
        return self.observed.holder == self.identity

    def _observe(self, record: ElectionRecord) -> None:
        if record != self.observed or self.observed_time is None:
            if record.holder != self.observed.holder:
                logger.info("leader election %s: the leader is now %s",
                            self.config.description, record.holder or "nobody")
            self.observed = record
            self.observed_time = self.now()

    async def try_acquire_or_renew(self) -> bool:
        """One round: read the Lease, then create it, take it over or renew it if allowed.

        Returns whether this candidate holds the Lease afterwards. A failed request, a 409 (the
        Lease changed since it was read) or a Lease held by another candidate that has not
        expired (on this process's clock) all return False.
        """
        sent, stamp = self.now(), micro_time(self._wall())
        desired = ElectionRecord(
            holder=self.identity,
            lease_duration_seconds=math.ceil(self.config.lease_duration),
            acquire_time=stamp, renew_time=stamp)
        try:
            current = await self.lock.get()
            if current is None:
                await self.lock.create(desired)
                return self._won(desired, sent)
            self._observe(current)
            assert self.observed_time is not None
            if (current.holder and not self.is_leader
                    and self.observed_time + current.lease_duration_seconds > self.now()):
                return False
            if self.is_leader:
                desired = dataclasses.replace(desired, acquire_time=current.acquire_time,
                                              transitions=current.transitions)
            else:
                desired = dataclasses.replace(desired, transitions=current.transitions + 1)
            await self.lock.update(desired)
        except ConflictError:
            logger.debug("leader election %s: the Lease changed meanwhile",
                         self.config.description)
            return False
        except KopfInformersError as e:
            logger.warning("leader election %s: %s", self.config.description, e)
            return False
        return self._won(desired, sent)

    def _won(self, record: ElectionRecord, sent: float) -> bool:
        self._observe(record)
        self.renewed_at = sent
        return True

    async def acquire(self) -> None:
        """Try every retry period (jittered) until this candidate holds the Lease."""
        logger.info("leader election %s: %s is a candidate", self.config.description,
                    self.identity)
        while not await self._try(deadline=None):
            period = self.config.retry_period
            await asyncio.sleep(period * (1 + JITTER_FACTOR * self._rng()))
        logger.info("leader election %s: %s acquired the Lease", self.config.description,
                    self.identity)
        self._set_leading(True)

    async def renew(self) -> None:
        """Renew every retry period; return once the Lease was not renewed within the renew
        deadline of the last renewal (or another candidate took it): leadership is lost."""
        config = self.config
        while True:
            await asyncio.sleep(config.retry_period)
            assert self.renewed_at is not None
            deadline = self.renewed_at + config.renew_deadline
            while not await self._try(deadline=deadline):
                if not self.is_leader and self.observed.holder:
                    logger.error("leader election %s: the Lease was taken by %s",
                                 config.description, self.observed.holder)
                    return self._lost()
                left = deadline - self.now()
                if left <= 0:
                    logger.error("leader election %s: not renewed within the renew deadline "
                                 "(%g s)", config.description, config.renew_deadline)
                    return self._lost()
                await asyncio.sleep(min(config.retry_period, left))

    async def _try(self, *, deadline: float | None) -> bool:
        """One round, cut off at ``deadline`` (our clock) if given."""
        if deadline is None:
            return await self.try_acquire_or_renew()
        left = deadline - self.now()
        if left <= 0:
            return False
        try:
            async with asyncio.timeout(left):
                return await self.try_acquire_or_renew()
        except TimeoutError:
            return False

    def _lost(self) -> None:
        self._set_leading(False)

    def _set_leading(self, leading: bool) -> None:
        if leading:
            self.leading.set()
        else:
            self.leading.clear()
        if self._metrics is not None:
            self._metrics.set_leading(leading)

    async def run(self) -> None:
        """Campaign, then keep the lead; returns when leadership is lost (never as a standby).

        Cancel it to stop campaigning; a leader then still holds the Lease until it expires,
        unless :meth:`release` is called.
        """
        await self.acquire()
        await self.renew()

    async def release(self) -> bool:
        """Give the Lease up if this candidate holds it: an empty holder and a 1 s duration
        (client-go's ``ReleaseOnCancel``). Returns whether nothing is held any more.

        Call it only once nothing guarded by the Lease runs any more.
        """
        self._set_leading(False)
        if not self.is_leader:
            return True
        stamp = micro_time(self._wall())
        record = ElectionRecord(lease_duration_seconds=RELEASED_LEASE_DURATION,
                                acquire_time=stamp, renew_time=stamp,
                                transitions=self.observed.transitions)
        try:
            async with asyncio.timeout(self.config.renew_deadline):
                await self.lock.update(record)
        except (KopfInformersError, TimeoutError) as e:
            logger.warning("leader election %s: could not release the Lease: %s",
                           self.config.description, e)
            return False
        self._observe(record)
        logger.info("leader election %s: %s released the Lease", self.config.description,
                    self.identity)
        return True

