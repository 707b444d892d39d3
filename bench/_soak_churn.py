"""The chaos soak's churn and faults, and its judgement of the end state.

See ``chaos_soak.py``. A :class:`Driver` acts on the Foos and their Deployments at a set rate;
:func:`plan_faults` decides when each fault happens and :class:`Chaos` injects them through the
server's fault endpoint (and kills the operator); :func:`judge` says which Foos are wrong.
Every random choice comes from one seeded generator, so a run can be repeated.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import random
import time
from collections.abc import Awaitable, Sequence

from _soak_harness import Api, Obj, Supervisor, Unavailable

GROUP_VERSION = "samplecontroller.k8s.io/v1alpha1"
FOOS = f"/apis/{GROUP_VERSION}/foos"
DEPLOYMENTS = "/apis/apps/v1/deployments"
NAMESPACES = ("soak-a", "soak-b", "soak-c")
MERGE = "application/merge-patch+json"
MAX_IN_FLIGHT = 32  # churn actions at once; more are skipped (and counted)
DRAIN_TIMEOUT = 20.0  # for churn actions still running when the churn ends
OUTAGE = 3.0  # seconds a watch outage lasts before history expires and watches may resume
OUTAGE_DELETIONS = 3  # Deployments deleted during each watch outage
PAUSE = 2.0  # seconds a pause lasts
KILL_GUARD = 5.0  # seconds between a kill and a pause, restart or burst (but on purpose)


def foo_path(namespace: str, name: str = "") -> str:
    return f"/apis/{GROUP_VERSION}/namespaces/{namespace}/foos" + (f"/{name}" if name else "")


def deployment_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


# -- the fleet and the churn ----------------------------------------------------------------------


@dataclasses.dataclass
class Foo:
    """This script's idea of one Foo (the server's word is checked at the end, not this)."""

    namespace: str
    name: str
    exists: bool = False
    deployment: str = ""
    renames: int = 0
    replicas: int = 1
    busy: bool = False  # an action on it is under way
    hands_off: bool = False  # its Deployment went in a watch outage: left to the operator

    def body(self) -> Obj:
        return {"apiVersion": GROUP_VERSION, "kind": "Foo",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {"deploymentName": self.deployment, "replicas": self.replicas}}


class Driver:
    """Churns the Foos and their Deployments at a set rate, from a seeded random generator."""

    def __init__(self, api: Api, foos: int, rng: random.Random) -> None:
        self.api, self.rng = api, rng
        self.foos = [Foo(NAMESPACES[i % len(NAMESPACES)], f"foo-{i:04d}") for i in range(foos)]
        for foo in self.foos:
            foo.deployment, foo.replicas = f"{foo.name}-d0", rng.randint(1, 5)
        self.done: collections.Counter[str] = collections.Counter()
        self.failed: collections.Counter[str] = collections.Counter()
        self.skipped = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.lagging = False  # Foo watches lag now: re-create more (see Chaos._foo_watch_lag)

    async def create_all(self) -> None:
        async def create(foo: Foo) -> None:
            await self.api.ok("POST", foo_path(foo.namespace), foo.body())
            foo.exists = True
        await asyncio.gather(*(create(foo) for foo in self.foos))

    def _pick(self) -> tuple[str, Foo] | None:
        idle = [foo for foo in self.foos if not (foo.busy or foo.hands_off)]
        present = [foo for foo in idle if foo.exists]
        absent = [foo for foo in idle if not foo.exists]
        share = len(absent) / max(1, len(self.foos))
        weights = {"create": 5 + 60 * share if absent else 0, "scale": 25, "rename": 10,
                   "delete": 10, "recreate": 90 if self.lagging else 15, "delete-child": 15,
                   "edit-child": 15}
        if not present:
            weights = {"create": 1} if absent else {}
        if not weights:
            return None
        action = self.rng.choices(list(weights), list(weights.values()))[0]
        return action, self.rng.choice(absent if action == "create" else present)

    async def churn(self, seconds: float, rate: float) -> None:
        """``rate`` actions a second for ``seconds``, then wait (bounded) for those in flight."""
        started = time.monotonic()
        for n in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            picked = self._pick()
            if picked is None or len(self.tasks) >= MAX_IN_FLIGHT:
                self.skipped += 1
                continue
            picked[1].busy = True  # before the next pick: one action per Foo at a time
            task = asyncio.create_task(self._act(*picked))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        await self.drain()

    async def drain(self) -> None:
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=DRAIN_TIMEOUT)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _act(self, action: str, foo: Foo) -> None:
        try:
            await getattr(self, "_" + action.replace("-", "_"))(foo)
            self.done[action] += 1
        except Unavailable:
            self.failed[action] += 1
        finally:
            foo.busy = False

    async def _create(self, foo: Foo) -> None:
        status, _ = await self.api.call("POST", foo_path(foo.namespace), foo.body())
        foo.exists = status in (201, 409)

    async def _scale(self, foo: Foo) -> None:
        replicas = self.rng.choice([r for r in range(1, 6) if r != foo.replicas])
        status, _ = await self.api.call("PATCH", foo_path(foo.namespace, foo.name),
                                        {"spec": {"replicas": replicas}}, content_type=MERGE)
        if status == 200:
            foo.replicas = replicas
        foo.exists = status != 404

    async def _rename(self, foo: Foo) -> None:
        name = f"{foo.name}-d{foo.renames + 1}"
        status, _ = await self.api.call("PATCH", foo_path(foo.namespace, foo.name),
                                        {"spec": {"deploymentName": name}}, content_type=MERGE)
        if status == 200:
            foo.renames, foo.deployment = foo.renames + 1, name
        foo.exists = status != 404

    async def _delete(self, foo: Foo) -> None:
        await self.api.call("DELETE", foo_path(foo.namespace, foo.name))
        foo.exists = False

    async def _recreate(self, foo: Foo) -> None:
        """Delete and re-create at once: same name, same ``deploymentName``, a new uid."""
        await self._delete(foo)
        await self._create(foo)

    async def _delete_child(self, foo: Foo) -> None:
        await self.api.call("DELETE", deployment_path(foo.namespace, foo.deployment))

    async def _edit_child(self, foo: Foo) -> None:
        await self.api.call("PATCH", deployment_path(foo.namespace, foo.deployment),
                            {"spec": {"replicas": foo.replicas + 3}}, content_type=MERGE)


# -- the faults -----------------------------------------------------------------------------------


@dataclasses.dataclass(order=True)
class Fault:
    at: float  # seconds into the churn
    kind: str


def plan_faults(seconds: float, kills: int, kills_in_pause: int,
                rng: random.Random) -> list[Fault]:
    """When each fault happens: each kind spread evenly over the churn, with seeded jitter.

    Counts grow with the churn's length (a 6-minute churn: 18 bursts, 12 dropped watches, 4
    outages ending in 410, 3 pauses, 4 restarts, 6 windows of lagging Foo watches), and every
    kind happens at least once (bursts, drops and lag windows at least twice) however short.

    The kills fall evenly in the first 80% of the churn, and the outages in the last 80%, the
    last at 90%: a restarted operator relists everything, which would hide what an outage did.
    ``kills_in_pause`` of the kills (the second, fourth, … first) land in a pause of their own:
    the operator must start while the server refuses connections. The other kills are kept
    :data:`KILL_GUARD` seconds clear of pauses, restarts and bursts, so that each tests one
    thing: recovery from a kill.
    """
    counts = {
        "burst": max(2, int(seconds // 20)), "drop-watches": max(2, int(seconds // 30)),
        "pause": max(1, int(seconds // 120)), "restart": max(1, int(seconds // 90)),
        "foo-watch-lag": max(2, int(seconds // 60)),
    }
    plan = []
    for kind, count in counts.items():
        spacing = seconds / (count + 1)
        plan += [Fault(spacing * (i + 1) + rng.uniform(-spacing / 4, spacing / 4), kind)
                 for i in range(count)]
    order = [*range(1, kills, 2), *range(0, kills, 2)]  # the second, the fourth, ..., the first
    in_pause = set(order[:kills_in_pause])
    kill_times = [0.8 * seconds * (i + 1) / (kills + 1) for i in range(kills)]
    plan += [Fault(at, "kill-9 in pause" if i in in_pause else "kill-9")
             for i, at in enumerate(kill_times)]
    outages = max(1, int(seconds // 90))
    plan += [Fault(seconds * (0.2 + 0.7 * (i + 1) / outages), "outage-410")
             for i in range(outages)]
    plain = [at for i, at in enumerate(kill_times) if i not in in_pause]
    for fault in plan:
        if fault.kind in ("pause", "restart", "burst"):
            fault.at = _clear_of(fault.at, plain, seconds)
        fault.at = round(fault.at, 2)
    return sorted(plan)


def _clear_of(at: float, kills: Sequence[float], seconds: float) -> float:
    """``at``, or the nearest time (in steps of 1 s) at least KILL_GUARD from every kill."""
    for step in range(int(seconds) + 1):
        for candidate in (at + step, at - step):
            if 0.5 <= candidate <= seconds - 0.5 and all(
                    abs(candidate - kill) >= KILL_GUARD for kill in kills):
                return candidate
    return at  # a churn too short to keep clear: let them meet


class Chaos:
    """Carries out the fault plan through the fault endpoint, and the kills of the operator."""

    def __init__(self, api: Api, driver: Driver, operator: Supervisor, *, churn: float,
                 foo_delay: float, fail_500: float, fail_429: float, rng: random.Random) -> None:
        self.api, self.driver, self.operator, self.rng = api, driver, operator, rng
        self.churn, self.foo_delay = churn, foo_delay
        rules: list[Obj] = [
            {"verb": "write", "resource": "*", "status": 500, "percent": fail_500},
            {"verb": "write", "resource": "*", "status": 429, "percent": fail_429,
             "retryAfter": 1},
        ]
        self.steady = [rule for rule in rules if rule["percent"] > 0]
        self.lagging = False
        self.injected: collections.Counter[str] = collections.Counter()
        self.children_deleted_in_outages = 0
        self.errors: list[str] = []
        self._background: set[asyncio.Task[None]] = set()

    async def run(self, plan: Sequence[Fault]) -> None:
        started = time.monotonic()
        await self._reapply()
        for rule in self.steady:
            self.injected[f"steady {rule['status']} ({rule['percent']:g}% of writes)"] += 1
        for fault in plan:
            await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
            try:
                await getattr(self, "_" + fault.kind.replace("-", "_").replace(" ", "_"))()
                self.injected[fault.kind] += 1
            except (Unavailable, RuntimeError) as e:
                self.errors.append(f"{fault.kind} at {fault.at}s: {e}")
        await asyncio.gather(*self._background, return_exceptions=True)

    def _later(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reapply(self) -> None:
        """Clear every fault, then set the steady ones again (and the Foo lag, if in a window)."""
        await self.api.fault("clear")
        for rule in self.steady:
            await self.api.fault("fail", rule)
        if self.lagging:
            await self.api.fault("delay-watches", {"seconds": self.foo_delay, "resource": "foos"})

    async def _burst(self) -> None:
        status = self.rng.choice([500, 429])
        rule: Obj = {"verb": "*", "resource": "*", "status": status, "count": 30}
        if status == 429:
            rule["retryAfter"] = 1
        await self.api.fault("fail", rule)

    async def _drop_watches(self) -> None:
        await self.api.fault("drop-watches", {"abrupt": self.rng.random() < 0.5})

    async def _outage_410(self) -> None:
        """Watches fail for a while, Deployments are deleted meanwhile, then history expires:
        every watch's resume gets 410 Gone, and only a relist can tell what went."""
        await self.api.fault("fail", {"verb": "watch", "resource": "*", "status": 503,
                                      "percent": 100})
        await self.api.fault("drop-watches", {"abrupt": True})

        async def meanwhile() -> None:
            await asyncio.sleep(OUTAGE / 3)
            await self._delete_children(OUTAGE_DELETIONS)
            await asyncio.sleep(OUTAGE * 2 / 3)
            try:
                await self.api.fault("expire-history")
                await self._reapply()  # ends the watch failures
            except (Unavailable, RuntimeError) as e:
                self.errors.append(f"outage end: {e}")

        self._later(meanwhile())

    async def _delete_children(self, wanted: int) -> None:
        """Delete the Deployments of ``wanted`` Foos, which the churn then leaves alone for
        good: only the operator can bring their Deployments back, once it relists."""
        candidates = [foo for foo in self.driver.foos
                      if foo.exists and not (foo.busy or foo.hands_off)]
        self.rng.shuffle(candidates)
        deleted = 0
        for foo in candidates[:3 * wanted]:  # some have no Deployment yet: skip those
            if deleted == wanted:
                break
            if foo.busy:  # the churn took it up meanwhile
                continue
            foo.hands_off = True  # from now: no churn action starts on it
            with contextlib.suppress(Unavailable):
                status, _ = await self.api.call(
                    "DELETE", deployment_path(foo.namespace, foo.deployment))
                if status == 200:
                    deleted += 1
                    continue
            foo.hands_off = False
        self.children_deleted_in_outages += deleted

    async def _pause(self) -> None:
        await self.api.fault("pause", {"seconds": PAUSE})

    async def _restart(self) -> None:
        await self.api.fault("restart")

    async def _foo_watch_lag(self) -> None:
        """Foo watches lag ``foo_delay`` seconds behind the store for a window of the churn
        (twice the lag, at most a quarter of the churn), in which Foos are deleted and
        re-created more often: a lagging cache still shows the Foo of the old uid."""
        self.lagging = self.driver.lagging = True
        await self.api.fault("delay-watches", {"seconds": self.foo_delay, "resource": "foos"})
        window = min(2 * self.foo_delay, self.churn / 4)

        async def end() -> None:
            await asyncio.sleep(window)
            self.lagging = self.driver.lagging = False
            try:
                await self.api.fault("delay-watches", {"seconds": 0, "resource": "foos"})
            except (Unavailable, RuntimeError) as e:
                self.errors.append(f"lag end: {e}")

        self._later(end())

    async def _kill_9(self) -> None:
        await self.operator.kill_and_restart()

    async def _kill_9_in_pause(self) -> None:
        """The server stops listening; half a second later the operator is killed and started
        again, and must get going once the server is back."""
        await self.api.fault("pause", {"seconds": PAUSE + 1})
        await asyncio.sleep(0.5)
        await self.operator.kill_and_restart()


# -- checking the end state -----------------------------------------------------------------------


@dataclasses.dataclass
class State:
    """What the server holds, judged: Foos whose Deployment is wrong, orphans, stuck deletions."""

    foos: int = 0
    deployments: int = 0
    divergent: dict[str, str] = dataclasses.field(default_factory=dict)  # "ns/name" -> why
    orphans: list[str] = dataclasses.field(default_factory=list)
    stuck: list[str] = dataclasses.field(default_factory=list)
    status_behind: list[str] = dataclasses.field(default_factory=list)

    @property
    def converged(self) -> bool:
        return not (self.divergent or self.orphans or self.stuck)

    @property
    def settled(self) -> bool:
        return self.converged and not self.status_behind


def judge(foos: Sequence[Obj], deployments: Sequence[Obj]) -> State:
    state = State(foos=len(foos), deployments=len(deployments))
    by_name = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in deployments}
    uids = {foo["metadata"]["uid"] for foo in foos}
    for foo in foos:
        meta, spec = foo["metadata"], foo.get("spec") or {}
        key = f"{meta['namespace']}/{meta['name']}"
        if meta.get("deletionTimestamp"):
            state.stuck.append(key)
            continue
        replicas = spec.get("replicas", 1)
        deployment = by_name.get((meta["namespace"], spec.get("deploymentName")))
        controllers = [ref.get("uid") for ref in
                       ((deployment or {}).get("metadata") or {}).get("ownerReferences") or ()
                       if ref.get("controller")]
        if deployment is None:
            state.divergent[key] = f"no Deployment {spec.get('deploymentName')}"
        elif controllers != [meta["uid"]]:
            state.divergent[key] = f"its Deployment is controlled by {controllers}, not it"
        elif (deployment.get("spec") or {}).get("replicas") != replicas:
            state.divergent[key] = (f"its Deployment has {deployment['spec'].get('replicas')} "
                                    f"replicas, not {replicas}")
        elif (foo.get("status") or {}).get("availableReplicas") != replicas:
            state.status_behind.append(key)
    for (namespace, name), deployment in by_name.items():
        owners = [ref["uid"] for ref in deployment["metadata"].get("ownerReferences") or ()
                  if ref.get("kind") == "Foo"]
        if not owners or not set(owners) & uids:
            state.orphans.append(f"{namespace}/{name}")
    return state


async def observe(api: Api) -> State:
    foos = (await api.ok("GET", FOOS))["items"]
    deployments = (await api.ok("GET", DEPLOYMENTS))["items"]
    return judge(foos, deployments)


