"""Chaos soak: does the Foo operator converge, and stay calm, under churn and injected faults?

Usage::

    python bench/chaos_soak.py                       # 200 Foos, 5 actions/s for 6 min
    python bench/chaos_soak.py --foos 30 --churn 30  # the short version the test suite runs
    python bench/chaos_soak.py --seed 7 --json soak.json --keep-logs soak-logs/

Everything runs on this machine, on loopback, in child processes this script starts and stops:

1. **The server**: ``python -m kopf_informers apiserver --port 0 --kubeconfig …`` (with its
   workload simulation, so a Deployment's status follows its spec); this script applies
   ``operators/foo-crd.yaml`` and makes three namespaces.
2. **The operator**: ``python -m kopf run --standalone -A operators/foo.py`` with ``KUBECONFIG``
   set, its log appended to ``operator.log``; restarted whenever it is killed (or dies).
3. **Set-up**: N Foos over the three namespaces, and a wait (bounded) until all are right.
4. **Churn** (``--churn`` seconds at ``--rate`` actions/s, seeded): create a deleted Foo, change
   a Foo's replicas, rename its ``deploymentName``, delete it, delete and at once re-create it
   under the same name (and the same ``deploymentName``), delete a Foo's Deployment, edit a
   Deployment's replicas. Meanwhile, through the server's fault endpoint
   (``POST /_embedded/faults/…``): steady failure rates on writes (``--fail-500`` % answer 500,
   ``--fail-429`` % answer 429 with Retry-After), bursts of 500s and 429s, dropped watches,
   watch outages that end in 410 Gone on resume (Deployments deleted during an outage belong
   to Foos the churn then leaves alone, so only the operator can bring them back), pauses of
   the listener, server restarts that keep state, windows in which Foo watches lag
   ``--foo-delay`` seconds behind the store (and Foos are re-created six times as often), and
   ``--kills`` kill -9 of the operator, ``--kills-in-pause`` of them while the server refuses
   connections. See ``_soak_churn.plan_faults`` for when each happens.
5. **Quiet**: faults cleared, no more actions. Wait (at most ``--converge-timeout`` s) until
   every Foo has its Deployment (named by ``spec.deploymentName``, ``spec.replicas`` replicas,
   controlled by the Foo's current uid), no Deployment is owned by a Foo that no longer exists,
   no Foo is stuck with a deletionTimestamp, and every Foo's ``status.availableReplicas`` has
   caught up; then watch the operator for ``--quiet`` more seconds.

Measured: the server's journal (``GET /_embedded/journal?since=N``, read every second) gives the
operator's requests by User-Agent — ``kopf-informers/…`` (its API client) and ``kopf/…`` (Kopf's
own); this script sends ``chaos-soak/1`` —, hence its writes (create, update, patch, delete)
during churn and after, and the busiest second. ``/proc/<pid>/status`` gives the operator's RSS
every second. The table: faults injected by kind, objects checked, divergent Foos at the end,
time to converge, writes, peak writes/s, RSS. Every phase and every wait is bounded in time;
``--json PATH`` also writes every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from _harness import Child, apiserver
from _soak_churn import (
    DRAIN_TIMEOUT,
    FOOS,
    NAMESPACES,
    Chaos,
    Driver,
    State,
    observe,
    plan_faults,
)
from _soak_harness import STOP_TIMEOUT, Api, Supervisor, Traffic, Unavailable, session_for

HERE = Path(__file__).resolve().parent
OPERATOR = HERE.parent / "operators" / "foo.py"
CRD_FILE = HERE.parent / "operators" / "foo-crd.yaml"
STARTUP_TIMEOUT = 60.0  # the server, the CRD, the operator's first watches
CHECK_INTERVAL = 1.0  # state checks while converging
# Kopf's words when a startup activity (here: starting the informers) raised; it retries in 60 s.
STARTUP_FAILED = "Activity 'kopf_informers/startup' failed"


# -- one run --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    args: dict[str, Any]
    faults: dict[str, int] = dataclasses.field(default_factory=dict)
    plan: list[tuple[float, str]] = dataclasses.field(default_factory=list)  # (s, kind)
    fault_errors: list[str] = dataclasses.field(default_factory=list)
    children_deleted_in_outages: int = 0
    actions: dict[str, int] = dataclasses.field(default_factory=dict)
    actions_failed: dict[str, int] = dataclasses.field(default_factory=dict)
    actions_skipped: int = 0
    setup_seconds: float | None = None
    foos: int = 0
    deployments: int = 0
    divergent: int = 0
    divergent_examples: dict[str, str] = dataclasses.field(default_factory=dict)
    divergent_at_churn_end: int = 0
    last_to_converge: dict[str, str] = dataclasses.field(default_factory=dict)
    orphans: int = 0
    stuck: int = 0
    status_behind: int = 0
    converge_seconds: float | None = None  # after the churn stopped (None: not within bound)
    settle_seconds: float | None = None  # ... and every status caught up
    writes_setup: int = 0
    writes_churn: int = 0
    writes_quiet: int = 0  # from the end of the churn to the end of the run
    writes_after_settled: int | None = None  # in the --quiet window after settling
    peak_writes_per_second: int = 0
    peak_at_seconds: float | None = None  # after the churn started
    rss_min_mib: float | None = None
    rss_max_mib: float | None = None
    rss_end_mib: float | None = None
    rss_over_time: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # (s, MiB)
    kills: int = 0
    unexpected_exits: int = 0
    operator_startup_failures: int = 0  # startups that raised (Kopf retries them in 60 s)
    operator_log_errors: int = 0
    operator_requests: dict[str, int] = dataclasses.field(default_factory=dict)
    other_clients: dict[str, int] = dataclasses.field(default_factory=dict)
    journal_lost: int = 0
    driver_retries: int = 0
    wall_seconds: float = 0.0


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.2)


async def prepare(api: Api) -> None:
    """The CRD, served; the namespaces."""
    await api.ok("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                 yaml.safe_load(CRD_FILE.read_text()))

    async def served() -> bool:
        return (await api.call("GET", FOOS, params={"limit": "1"}))[0] == 200

    await wait_until(served, STARTUP_TIMEOUT, "the Foo CRD to be served")
    for namespace in NAMESPACES:
        await api.ok("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})


async def converge(api: Api, since: float, timeout: float, until: Callable[[State], bool],
                   ) -> tuple[float | None, list[State]]:
    """Observe the state every second until ``until`` says so (bounded): the seconds after
    ``since`` (monotonic) when it first did (None: not in time), and the states that did not."""
    deadline, before = since + timeout, list[State]()
    while True:
        try:
            state = await observe(api)
        except (Unavailable, RuntimeError):
            state = None
        if state is not None and until(state):
            return time.monotonic() - since, before
        if state is not None:
            before.append(state)
        if time.monotonic() > deadline:
            return None, before
        await asyncio.sleep(CHECK_INTERVAL)


@dataclasses.dataclass
class Marks:
    """Wall-clock times (as in the journal) that divide the run into its phases."""

    setup: float = 0.0
    churn: float = 0.0
    quiet: float = 0.0
    settled: float | None = None
    end: float = 0.0


async def run_phases(args: argparse.Namespace, api: Api, traffic: Traffic,
                     supervisor: Supervisor, report: Report) -> tuple[State, Marks]:
    """Set-up, churn under faults, quiet: the final state and when each phase began."""
    rng, marks = random.Random(args.seed), Marks()
    driver = Driver(api, args.foos, rng)
    started, marks.setup = time.monotonic(), time.time()
    await driver.create_all()
    report.setup_seconds, _ = await converge(api, started, args.converge_timeout,
                                             lambda s: s.settled)

    chaos = Chaos(api, driver, supervisor, churn=args.churn, foo_delay=args.foo_delay,
                  fail_500=args.fail_500, fail_429=args.fail_429, rng=rng)
    plan = plan_faults(args.churn, args.kills, args.kills_in_pause, rng)
    report.plan = [(fault.at, fault.kind) for fault in plan]
    marks.churn = time.time()
    await asyncio.gather(driver.churn(args.churn, args.rate), chaos.run(plan))
    ended, marks.quiet = time.monotonic(), time.time()
    report.faults, report.fault_errors = dict(chaos.injected), chaos.errors
    report.children_deleted_in_outages = chaos.children_deleted_in_outages
    report.actions, report.actions_failed = dict(driver.done), dict(driver.failed)
    report.actions_skipped = driver.skipped

    await api.fault("clear")
    report.converge_seconds, unconverged = await converge(api, ended, args.converge_timeout,
                                                          lambda s: s.converged)
    if unconverged:  # which Foos were wrong when the churn stopped, and which took longest
        report.divergent_at_churn_end = len(unconverged[0].divergent)
        report.last_to_converge = dict(list(unconverged[-1].divergent.items())[:10])
    if report.converge_seconds is not None:
        report.settle_seconds, _ = await converge(api, ended, args.converge_timeout,
                                                  lambda s: s.settled)
    if report.settle_seconds is not None:
        marks.settled = time.time()
    await asyncio.sleep(args.quiet)
    final = await observe(api)
    await traffic.read()
    marks.end = time.time()
    return final, marks


def measure(report: Report, final: State, marks: Marks, traffic: Traffic) -> None:
    """The end state's and the journal's figures, into the report."""
    report.foos, report.deployments = final.foos, final.deployments
    report.divergent = len(final.divergent)
    report.divergent_examples = dict(list(final.divergent.items())[:10])
    report.orphans, report.stuck = len(final.orphans), len(final.stuck)
    report.status_behind = len(final.status_behind)
    report.writes_setup = traffic.writes_between(marks.setup, marks.churn)
    report.writes_churn = traffic.writes_between(marks.churn, marks.quiet)
    report.writes_quiet = traffic.writes_between(marks.quiet, marks.end)
    if marks.settled is not None:
        report.writes_after_settled = traffic.writes_between(marks.settled, marks.end)
    report.peak_writes_per_second, peak_at = traffic.peak(marks.churn, marks.end)
    report.peak_at_seconds = None if peak_at is None else round(peak_at - marks.churn, 1)
    report.operator_requests = dict(traffic.requests.most_common())
    report.other_clients = dict(traffic.others)
    report.journal_lost = traffic.lost


def measure_operator(report: Report, supervisor: Supervisor, started: float) -> None:
    """The operator's RSS, kills, exits and log, into the report (``started``: wall time)."""
    rss = [kib / 1024 for _, kib in supervisor.rss]
    if rss:
        report.rss_min_mib, report.rss_max_mib = round(min(rss), 1), round(max(rss), 1)
        report.rss_end_mib = round(rss[-1], 1)
        every = max(1, len(rss) // 60)  # about 60 samples over the whole run
        report.rss_over_time = [(round(t - started, 1), round(kib / 1024, 1))
                                for t, kib in supervisor.rss[::every]]
    report.kills, report.unexpected_exits = supervisor.kills, len(supervisor.unexpected_exits)
    log = supervisor.child.log.read_text(errors="replace").splitlines()
    report.operator_log_errors = sum(1 for line in log if "[ERROR" in line)
    report.operator_startup_failures = sum(1 for line in log if STARTUP_FAILED in line)


async def soak(args: argparse.Namespace, workdir: Path) -> Report:
    """One whole run, with its processes started and, whatever happens, stopped."""
    report = Report(args={k: str(v) if isinstance(v, Path) else v
                          for k, v in vars(args).items()})
    kubeconfig = workdir / "soak.kubeconfig"
    server = apiserver(kubeconfig, workdir / "server.log", stop_timeout=STOP_TIMEOUT)
    operator = Child([sys.executable, "-m", "kopf", "run", "--standalone", "-A", str(OPERATOR)],
                     workdir / "operator.log", {**os.environ, "KUBECONFIG": str(kubeconfig)},
                     stdout=False, stop_timeout=STOP_TIMEOUT)
    supervisor = Supervisor(operator)
    background: list[asyncio.Task[None]] = []
    started = time.time()
    await server.start()
    try:
        if not server.url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the server says {server.url!r}, not a loopback URL")
        async with session_for(kubeconfig) as session:
            api = Api(session)
            traffic = Traffic(api)
            await api.fault("seed", {"seed": args.seed})
            await prepare(api)
            background.append(asyncio.create_task(traffic.follow()))
            await operator.start()

            async def watching() -> bool:
                await traffic.read()
                return {"foos", "deployments"} <= traffic.watching

            await wait_until(watching, STARTUP_TIMEOUT, "the operator to watch")
            background.append(asyncio.create_task(supervisor.watch()))
            final, marks = await run_phases(args, api, traffic, supervisor, report)
            measure(report, final, marks, traffic)
            report.driver_retries = api.retries
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await operator.stop()
        await server.stop()
    measure_operator(report, supervisor, started)
    return report


# -- the table ------------------------------------------------------------------------------------


def table(report: Report) -> list[tuple[str, str]]:
    def seconds(value: float | None, bound: float) -> str:
        return f"{value:.1f} s" if value is not None else f"not within {bound:g} s"

    bound = report.args["converge_timeout"]
    faults = ", ".join(f"{kind} x{n}" for kind, n in sorted(report.faults.items()))
    actions = ", ".join(f"{kind} {n}" for kind, n in sorted(report.actions.items()))
    rows = [
        ("faults injected", faults or "none"),
        ("Deployments deleted during watch outages", str(report.children_deleted_in_outages)),
        ("churn actions", f"{actions}; failed {sum(report.actions_failed.values())}, "
                          f"skipped {report.actions_skipped}"),
        ("objects checked", f"{report.foos} Foos, {report.deployments} Deployments"),
        ("divergent when the churn stopped / at end",
         f"{report.divergent_at_churn_end} / {report.divergent}"),
        ("orphan Deployments / Foos stuck deleting", f"{report.orphans} / {report.stuck}"),
        ("Foos whose status is behind", str(report.status_behind)),
        ("time to converge after churn", seconds(report.converge_seconds, bound)),
        ("... and for every status to catch up", seconds(report.settle_seconds, bound)),
        ("operator writes: set-up / churn / quiet",
         f"{report.writes_setup:,} / {report.writes_churn:,} / {report.writes_quiet:,}"),
        (f"operator writes in the {report.args['quiet']:g} s after settling",
         "-" if report.writes_after_settled is None else f"{report.writes_after_settled:,}"),
        ("peak operator writes/s (1 s buckets)",
         f"{report.peak_writes_per_second:,}"
         + ("" if report.peak_at_seconds is None else f" at {report.peak_at_seconds:g} s")),
        ("operator RSS min / max / end (after 10 s up)",
         f"{report.rss_min_mib} / {report.rss_max_mib} / {report.rss_end_mib} MiB"),
        ("operator kills (-9) / unexpected exits", f"{report.kills} / {report.unexpected_exits}"),
        ("operator startups that failed (retried in 60 s)",
         str(report.operator_startup_failures)),
        ("ERROR lines in the operator's log", f"{report.operator_log_errors:,}"),
        ("journal entries lost", str(report.journal_lost)),
        ("wall time", f"{report.wall_seconds:.0f} s"),
    ]
    return rows


def print_report(report: Report) -> None:
    args = report.args
    print(f"# chaos soak: {args['foos']} Foos in {len(NAMESPACES)} namespaces, "
          f"{args['rate']:g} actions/s for {args['churn']:g} s, seed {args['seed']}")
    rows = table(report)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")
    if report.divergent_examples:
        print("# divergent at the end, for example:")
        for key, why in report.divergent_examples.items():
            print(f"#   {key}: {why}")
    elif report.last_to_converge:
        print("# the last to converge:")
        for key, why in report.last_to_converge.items():
            print(f"#   {key}: {why}")
    print("# fault plan (s into the churn): "
          + ", ".join(f"{at:g} {kind}" for at, kind in report.plan))
    if report.fault_errors:
        print(f"# faults not injected: {'; '.join(report.fault_errors)}")
    top = list(report.operator_requests.items())[:8]
    print(f"# operator requests, most frequent: {', '.join(f'{k} {n:,}' for k, n in top)}")


# -- the command line -----------------------------------------------------------------------------


def positive(kind: type[float] | type[int]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return value
    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--foos", type=positive(int), default=200, help="Foos (default 200)")
    p.add_argument("--rate", type=positive(float), default=5.0,
                   help="churn actions per second (default 5)")
    p.add_argument("--churn", type=positive(float), default=360.0,
                   help="seconds of churn under faults (default 360)")
    p.add_argument("--seed", type=int, default=1, help="seed of actions and faults (default 1)")
    p.add_argument("--kills", type=int, default=3, choices=range(0, 11), metavar="0-10",
                   help="kill -9 of the operator during the churn (default 3)")
    p.add_argument("--kills-in-pause", type=int, default=1, choices=range(0, 11),
                   metavar="0-10", help="how many of the kills land in a pause of the server, "
                   "so that the operator starts while it refuses connections (default 1)")
    p.add_argument("--foo-delay", type=positive(float), default=10.0,
                   help="seconds Foo watches lag in their windows (default 10)")
    p.add_argument("--fail-500", type=float, default=5.0,
                   help="percent of writes answered 500 throughout the churn (default 5)")
    p.add_argument("--fail-429", type=float, default=2.0,
                   help="percent of writes answered 429 throughout the churn (default 2)")
    p.add_argument("--converge-timeout", type=positive(float), default=120.0,
                   help="the longest wait for convergence, after set-up and churn (default 120)")
    p.add_argument("--quiet", type=positive(float), default=10.0,
                   help="seconds the settled operator is watched for writes (default 10)")
    p.add_argument("--json", type=Path, default=None, help="also write every figure here")
    p.add_argument("--keep-logs", type=Path, default=None,
                   help="keep the server's and the operator's logs in this directory")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for name in ("fail_500", "fail_429"):
        if not 0 <= getattr(args, name) <= 100:
            parser().error(f"--{name.replace('_', '-')} must be from 0 to 100")
    if args.kills_in_pause > args.kills:
        parser().error("--kills-in-pause cannot be more than --kills")
    if args.churn > 3600 or args.foos > 5000:
        parser().error("--churn is at most 3600 s and --foos at most 5000")
    # Everything is bounded: set-up, churn, drain, two convergence waits, the quiet window.
    limit = (3 * STARTUP_TIMEOUT + args.churn + DRAIN_TIMEOUT + 3 * args.converge_timeout
             + args.quiet + 2 * STOP_TIMEOUT + 60)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.keep_logs is not None:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            workdir = args.keep_logs
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-soak-")))
        try:
            report = asyncio.run(asyncio.wait_for(soak(args, workdir), limit))
        except Exception:
            for log in ("operator.log", "server.log"):
                path = workdir / log
                if path.exists():
                    print(f"# the tail of {log}:\n{path.read_text(errors='replace')[-3000:]}",
                          file=sys.stderr)
            raise
    report.wall_seconds = time.monotonic() - started
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(dataclasses.asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
