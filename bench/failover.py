"""How long a Foo operator with leader election is leaderless when its leader goes away.

Two replicas of ``operators/foo.py`` (``kopf run --standalone -A``, leader election on) run
against the embedded API server, each a separate process. Once one leads and the other stands
by, the leader is either killed (SIGKILL: its Lease must expire) or stopped (SIGTERM: it
releases its Lease), and at that moment a new Foo is created. Measured, from the signal:

- ``takeover``: until the Lease names the standby (polled every 20 ms);
- ``reconciled``: until the new Foo's Deployment exists (the new leader's first work).

Each figure is also given as a ratio of the lease duration; the table shows the median of
``--runs`` runs, for warm standbys (informers synced while standing by, the default) and cold
ones (``KOPF_INFORMERS_LEADER_ELECTION_WARM_STANDBY=false``, which list everything only once
they lead: ``--foos N`` gives them something to list)::

    python bench/failover.py                      # client-go's durations: 15 s / 10 s / 2 s
    python bench/failover.py --runs 5 --lease-duration 5 --renew-deadline 3 --retry-period 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _harness import Child, apiserver

from kopf_informers import ApiClient, NotFoundError

ROOT = Path(__file__).parents[1]
FOOS = "samplecontroller.k8s.io/v1alpha1/foos"
DEPLOYMENTS = "apps/v1/deployments"
LEASES = "coordination.k8s.io/v1/leases"
LEASE = "kopf-informers-foo"
POLL = 0.02  # seconds between polls
TIMEOUT = 120.0


def replica(name: str, kubeconfig: Path, logs: Path, args: argparse.Namespace,
            warm: bool) -> Child:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOSTNAME": name,
           "KOPF_INFORMERS_LEADER_ELECTION": "true",
           "KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE": "default",
           "KOPF_INFORMERS_LEADER_ELECTION_LEASE_DURATION": str(args.lease_duration),
           "KOPF_INFORMERS_LEADER_ELECTION_RENEW_DEADLINE": str(args.renew_deadline),
           "KOPF_INFORMERS_LEADER_ELECTION_RETRY_PERIOD": str(args.retry_period),
           "KOPF_INFORMERS_LEADER_ELECTION_WARM_STANDBY": "true" if warm else "false"}
    argv = [sys.executable, "-m", "kopf", "run", "--standalone", "-A",
            str(ROOT / "operators" / "foo.py")]
    return Child(argv, logs / f"{name}.log", env, stdout=False)


async def holder(api: ApiClient) -> str:
    try:
        lease = await api.get(LEASES, LEASE, namespace="default")
    except NotFoundError:
        return ""
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


async def until(check: Any, what: str) -> float:
    """Poll ``check()`` until true; the monotonic time it first was."""
    deadline = time.monotonic() + TIMEOUT
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL)
    return time.monotonic()


async def one_failover(api: ApiClient, kubeconfig: Path, logs: Path, args: argparse.Namespace,
                       *, warm: bool, kill: bool, run: int) -> tuple[float, float]:
    tag = f"{'warm' if warm else 'cold'}-{'kill' if kill else 'term'}-{run}"
    children = {name: replica(name, kubeconfig, logs, args, warm)
                for name in (f"a-{tag}", f"b-{tag}")}
    for child in children.values():
        await child.start()
    try:
        async def someone_leads() -> bool:
            return (await holder(api)).split("_")[0] in children
        await until(someone_leads, "a leader")
        await asyncio.sleep(args.settle)  # the standby's caches sync, the leader's workers run
        old = await holder(api)
        leader = children[old.rsplit("_", 1)[0]]
        for child in children.values():
            child.check_running()

        started = time.monotonic()
        await (leader.kill() if kill else leader.stop())
        foo = f"gap-{tag}"
        await api.create(FOOS, {"metadata": {"name": foo}, "spec": {
            "deploymentName": foo, "replicas": 1}}, namespace="default")

        async def taken() -> bool:
            return (await holder(api)) not in ("", old)

        async def reconciled() -> bool:
            try:
                await api.get(DEPLOYMENTS, foo, namespace="default")
            except NotFoundError:
                return False
            return True

        takeover = await until(taken, "the takeover") - started
        done = await until(reconciled, "the first reconcile") - started
        return takeover, done
    finally:
        for child in children.values():
            await child.stop()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="failover-") as tmp:
        work = Path(tmp)
        kubeconfig = work / "kubeconfig"
        logs = Path(args.logs) if args.logs else work
        logs.mkdir(parents=True, exist_ok=True)
        async with (apiserver(kubeconfig, logs / "apiserver.log"),
                    ApiClient.from_kubeconfig(kubeconfig) as api):
            crd = yaml.safe_load((ROOT / "operators" / "foo-crd.yaml").read_text())
            await api.create("apiextensions.k8s.io/v1/customresourcedefinitions", crd)
            await asyncio.sleep(1)  # established, served
            for i in range(args.foos):  # what a cold standby must list before it can work
                await api.create(FOOS, {"metadata": {"name": f"existing-{i}"}, "spec": {
                    "deploymentName": f"existing-{i}", "replicas": 1}}, namespace="default")
            results: dict[str, Any] = {}
            for warm in (True, False):
                for kill in (True, False):
                    key = (f"{'warm' if warm else 'cold'} standby, "
                           f"{'kill -9' if kill else 'SIGTERM'}")
                    runs = [await one_failover(api, kubeconfig, logs, args, warm=warm,
                                               kill=kill, run=i) for i in range(args.runs)]
                    results[key] = runs
                    report_row(key, runs, args.lease_duration)
            return results


def report_row(key: str, runs: list[tuple[float, float]], lease: float) -> None:
    takeover = statistics.median(t for t, _ in runs)
    done = statistics.median(d for _, d in runs)
    print(f"{key:<26} {takeover:7.2f} s {takeover / lease:6.2f}x   {done:7.2f} s "
          f"{done / lease:6.2f}x   (runs: {', '.join(f'{t:.2f}/{d:.2f}' for t, d in runs)})",
          flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lease-duration", type=float, default=15.0)
    parser.add_argument("--renew-deadline", type=float, default=10.0)
    parser.add_argument("--retry-period", type=float, default=2.0)
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds between the election and the failover")
    parser.add_argument("--foos", type=int, default=0,
                        help="Foos created (and reconciled by the first leader) beforehand")
    parser.add_argument("--logs", help="keep the processes' logs in this folder")
    parser.add_argument("--json", help="also write the runs here")
    arguments = parser.parse_args()
    print(f"lease {arguments.lease_duration:g} s, renew deadline {arguments.renew_deadline:g} s, "
          f"retry {arguments.retry_period:g} s; {arguments.foos} Foos beforehand; medians of "
          f"{arguments.runs} runs\n"
          f"{'failover':<26} {'takeover':>9} {'/lease':>7}   {'reconciled':>9} {'/lease':>7}")
    figures = asyncio.run(main(arguments))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(
            {"args": vars(arguments), "date": time.strftime("%Y-%m-%d"), "runs": figures},
            indent=2))
