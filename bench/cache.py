"""The informer cache without a server: sync, watch, reads and memory, each against its floor.

``bench/informers.py`` measures the same figures through the embedded server, where the server's
share and the machine's load blur them; this script feeds the cache recorded bytes in-process, so
that what is left is the cache's own cost. Every figure is paired with a floor measured in the same
process, taking turns with it:

- **sync**: N ConfigMaps as the server serves them (~1 KB applied, with their ``managedFields``
  entry), in pages of 500 bytes-for-bytes as the API client gets them. The floor decodes each page
  (``orjson.loads``); the informer's path decodes it and adds it to a store replacement with three
  indexers, as the reflector does (the collector paused per page), then commits.
- **watch**: N MODIFIED events of those objects, recorded as watch bytes, replayed through a synced
  :class:`~kopf_informers.SharedIndexInformer` (the API client's stream parser, the reflector,
  the store with three indexers, one ``on_update`` handler). Floor: the parser alone.
- **reads**: every cached Deployment's spec and status fields read once after the sync (cold:
  lazily frozen parts are frozen then) and again (warm); floor: the same reads of plain dicts.
- **lister.get**: per call, against ``dict.get``.
- **memory**: tracemalloc's bytes per cached object (right after the sync, and after every field
  was read), against the object's JSON as served.
- **store's own CPU**: ``Replacement.add`` per listed object and ``StoreWriter.apply`` per watch
  event, on objects decoded beforehand, with the collector paused (best of the turns): what
  the cache's code costs, without the decoding and the collections that the rows above include.

``--baseline DIR`` runs the same measurements in a child process on the package found in ``DIR``
(e.g. ``git archive main kopf_informers | tar -x -C /tmp/base``), alternating with this tree's,
and reports each figure's ratio new/old per pair.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from informers import INDEXERS, OBJECT_SIZE, configmap, load_average, replay_informer

from kopf_informers import store, strip_managed_fields

Obj = dict[str, Any]
PAGE_SIZE = 500
RESOURCE = "v1/configmaps"


# -- the objects, as served ----------------------------------------------------------------------


def served(raw: bytes, i: int, rv: int) -> Obj:
    """An applied object as the server answers it: uid, resourceVersion, managedFields."""
    obj: Obj = orjson.loads(raw)
    metadata = obj["metadata"]
    metadata.update({
        "uid": f"5b6d8a52-{i:04x}-4c1e-9d6f-{i:012x}",
        "resourceVersion": str(rv),
        "creationTimestamp": "2026-12-03T23:00:00Z",
        "managedFields": [{
            "manager": "bench-informers", "operation": "Apply", "apiVersion": "v1",
            "time": "2026-12-03T23:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {f"f:{key}": {} for key in obj.get("data") or ()},
                "f:metadata": {"f:labels": {f"f:{key}": {} for key in metadata["labels"]}},
            },
        }],
    })
    return obj


def configmaps(n: int) -> list[Obj]:
    return [served(configmap(i, 0), i, 1000 + i) for i in range(n)]


def deployment(i: int) -> Obj:
    """A Deployment with the spec and status fields a reconciler reads."""
    labels = {"app": f"app-{i // 10:05d}"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"deploy-{i:06d}", "namespace": f"bench-{i % 10}",
                     "uid": f"uid-{i}", "resourceVersion": str(i + 1), "labels": labels},
        "spec": {
            "replicas": 1 + i % 3, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                {"name": "main", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                 "resources": {"requests": {"cpu": "10m"}}},
            ]}},
        },
        "status": {"replicas": 1 + i % 3, "availableReplicas": 1 + i % 3,
                   "observedGeneration": 1, "conditions": [
                       {"type": "Available", "status": "True", "reason": "MinimumReplicas"},
                   ]},
    }


def pages(objects: list[Obj]) -> list[bytes]:
    return [orjson.dumps({"apiVersion": "v1", "kind": "ConfigMapList",
                          "metadata": {"resourceVersion": "99999"},
                          "items": objects[start:start + PAGE_SIZE]})
            for start in range(0, len(objects), PAGE_SIZE)]


def watch_chunks(objects: list[Obj]) -> list[bytes]:
    """One MODIFIED event per object (a new resourceVersion), in chunks of 64 events."""
    lines = []
    for n, obj in enumerate(objects):
        changed = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(200_000 + n)}}
        lines.append(orjson.dumps({"type": "MODIFIED", "object": changed}) + b"\n")
    return [b"".join(lines[start:start + 64]) for start in range(0, len(lines), 64)]


# -- the measurements -----------------------------------------------------------------------------


@dataclasses.dataclass
class Timing:
    wall: float
    cpu: float


def timed(fn: Callable[[], object]) -> Timing:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def decode_pages(raw_pages: list[bytes]) -> list[Obj]:
    items: list[Obj] = []
    for raw in raw_pages:
        items.extend(orjson.loads(raw)["items"])
    return items


def sync_store(raw_pages: list[bytes], transform: Callable[[Obj], Obj] | None = None) -> Any:
    """What the reflector does with a list: decode, add page by page (collector paused), commit.
    Returns the writer, which holds the store and its bookkeeping, as the reflector does."""
    reader, writer = store(indexers=INDEXERS, transform=transform)
    replacement = writer.replacement()
    adopt = _adopt_supported(replacement.add)
    for raw in raw_pages:
        items = orjson.loads(raw)["items"]
        gc.disable()
        try:
            replacement.add(items, **({"adopt": True} if adopt else {}))
        finally:
            gc.enable()
        del items
    replacement.commit()
    assert writer.store is reader
    return writer


def _adopt_supported(method: Callable[..., object]) -> bool:
    return "adopt" in method.__code__.co_varnames  # the code before lazy freezing has no adopt


def own_cpu_us(raw_pages: list[bytes], chunks: list[bytes], turns: int) -> dict[str, float]:
    """The store's own CPU per object, decoding excluded and the collector paused (best of
    the turns): ``Replacement.add`` of the decoded pages, and ``StoreWriter.apply`` of the
    decoded watch events, with the 3 indexers, adopting, as the reflector does."""
    from informers import WATCH_CONTEXT

    from kopf_informers._api.watch import WatchStreamParser, watch_event

    adds, applies = [], []
    count = 0
    for _ in range(max(turns, 3)):
        decoded = [orjson.loads(raw)["items"] for raw in raw_pages]
        parser = WatchStreamParser(WATCH_CONTEXT)
        events = [watch_event(raw, WATCH_CONTEXT).object
                  for chunk in chunks for raw in parser.feed(chunk)]
        count = len(events)
        reader, writer = store(indexers=INDEXERS)
        adopt = {"adopt": True} if _adopt_supported(writer.apply) else {}
        gc.collect()
        gc.disable()
        try:
            started = time.process_time()
            replacement = writer.replacement()
            for items in decoded:
                replacement.add(items, **adopt)
            replacement.commit()
            adds.append(time.process_time() - started)
            started = time.process_time()
            for obj in events:
                writer.apply(obj, **adopt)
            applies.append(time.process_time() - started)
        finally:
            gc.enable()
        del decoded, events, reader, writer, replacement
    # One MODIFIED event per listed object: the same count for both.
    return {"add_us": min(adds) / count * 1e6, "apply_us": min(applies) / count * 1e6}


def read_fields(objects: Iterable[Obj]) -> int:
    """What a reconciler reads of a Deployment: spec, template, containers, status."""
    total = 0
    for obj in objects:
        spec, status = obj["spec"], obj.get("status") or {}
        total += spec["replicas"] + status.get("availableReplicas", 0)
        total += len(spec["selector"]["matchLabels"]["app"])
        for container in spec["template"]["spec"]["containers"]:
            total += len(container["image"]) + len(container["resources"]["requests"])
        for condition in status.get("conditions") or ():
            total += condition["status"] == "True"
        total += len(obj["metadata"]["labels"])
    return total


def per_call_us(fn: Callable[[], object], number: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, time.process_time() - started)
    return best / number * 1e6


def memory_per_object(raw_pages: list[bytes], transform: Callable[[Obj], Obj] | None,
                      count: int) -> tuple[float, float]:
    """Bytes per object: right after the sync, and after every object was fully read.

    Measured first in a fresh process (see :func:`measure`): the interpreter's own tables grow
    with the cache (its table of interned strings by up to ~190 B per object at a resize), and
    whether a resize falls inside the traced sync depends on what the process did before.
    """
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        writer = sync_store(raw_pages, transform)  # kept: a live informer's reflector holds it
        reader = writer.store
        gc.collect()
        synced = tracemalloc.get_traced_memory()[0]
        for obj in reader.list():
            json.dumps(obj)  # the C encoder reads every part through items()
        gc.collect()
        read = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(reader) == count
    return (synced - before) / count, (read - before) / count


def replay_floor(chunks: list[bytes]) -> Timing:
    from informers import WATCH_CONTEXT

    from kopf_informers._api.watch import WatchStreamParser

    def parse() -> None:
        parser = WatchStreamParser(WATCH_CONTEXT)
        for chunk in chunks:
            parser.feed(chunk)
    return timed(parse)


def measure_reads(n: int) -> dict[str, float]:
    """Reads of spec and status, cold then warm, against plain dicts; lister gets."""
    deployments = [deployment(i) for i in range(n)]
    raw_deployments = pages(deployments)
    reader = sync_store(raw_deployments).store
    cached = reader.list()
    plain = decode_pages(raw_deployments)
    out = {
        "read_cold": timed(lambda: read_fields(cached)).cpu / n * 1e6,
        "read_warm": min(timed(lambda: read_fields(cached)).cpu for _ in range(3)) / n * 1e6,
        "read_plain": min(timed(lambda: read_fields(plain)).cpu for _ in range(3)) / n * 1e6,
    }
    name, namespace = deployments[n // 2]["metadata"]["name"], f"bench-{n // 2 % 10}"
    by_key = {f"{obj['metadata']['namespace']}/{obj['metadata']['name']}": obj for obj in plain}
    out["get"] = per_call_us(lambda: reader.get_by_name(name, namespace), 100_000)
    out["get_floor"] = per_call_us(lambda: by_key.get(f"{namespace}/{name}"), 100_000)
    return out


def measure(n: int, turns: int) -> dict[str, Any]:
    """Every figure of this tree's package (or the baseline's, in a child), as a dict."""
    objects = configmaps(n)
    raw_pages = pages(objects)
    json_size = statistics.fmean(len(orjson.dumps(obj)) for obj in objects)
    chunks = watch_chunks(objects)
    del objects  # only bytes from here on: the collector scans what an informer's process holds
    # Memory first, in the process as fresh as an operator's that fills its first cache.
    memory = {"memory_stripped": memory_per_object(raw_pages, strip_managed_fields, n),
              "memory_plain": memory_per_object(raw_pages, None, n)}
    floors, syncs = [], []
    for turn in range(turns):
        for which in ("floor", "sync") if turn % 2 == 0 else ("sync", "floor"):
            if which == "floor":
                floors.append(timed(lambda: decode_pages(raw_pages)))
            else:
                syncs.append(timed(lambda: sync_store(raw_pages)))
    out: dict[str, Any] = {
        "objects": n, "json_bytes": json_size,
        "sync_floor": [dataclasses.asdict(t) for t in floors],
        "sync": [dataclasses.asdict(t) for t in syncs],
    }
    out.update(measure_reads(n))
    out.update(own_cpu_us(raw_pages, chunks, turns))
    # watch events through a synced informer
    events, events_floor = [], []
    for _ in range(max(turns // 2, 2)):
        rate = asyncio.run(replay_informer(decode_pages(raw_pages), chunks, n))
        events.append(Timing(rate.timing.wall, rate.timing.cpu))
        events_floor.append(replay_floor(chunks))
    out["watch"] = [dataclasses.asdict(t) for t in events]
    out["watch_floor"] = [dataclasses.asdict(t) for t in events_floor]
    del chunks
    out.update(memory)
    return out


# -- the report ------------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def report(runs: list[dict[str, Any]], label: str) -> list[tuple[str, str]]:
    """Figures of one side (this tree or the baseline): medians over runs and pairs."""
    n = runs[0]["objects"]
    pairs = [(s, f) for r in runs for s, f in zip(r["sync"], r["sync_floor"], strict=True)]
    wall = [s["wall"] / f["wall"] for s, f in pairs]
    cpu = [s["cpu"] / f["cpu"] for s, f in pairs]
    sync_ms = statistics.median(s["wall"] for r in runs for s in r["sync"]) * 1e3
    floor_ms = statistics.median(f["wall"] for r in runs for f in r["sync_floor"]) * 1e3
    rates = [n / w["wall"] for r in runs for w in r["watch"]]
    floor_rates = [n / w["wall"] for r in runs for w in r["watch_floor"]]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    mem = lambda key, i: statistics.median(r[key][i] for r in runs)  # noqa: E731
    json_size = runs[0]["json_bytes"]
    return [
        (f"{label}: sync of {n:,}, 3 indexers: wall / floor (pairs)",
         f"{spread(wall)}; {sync_ms:.0f} ms against {floor_ms:.0f} ms"),
        (f"{label}: sync, CPU / floor CPU (pairs)", spread(cpu)),
        (f"{label}: store's own CPU per object, collector paused: add / apply",
         f"{med('add_us'):.2f} / {med('apply_us'):.2f} µs"),
        (f"{label}: watch events/s, informer (median)",
         f"{statistics.median(rates):,.0f}/s "
         f"(decode only {statistics.median(floor_rates):,.0f}/s)"),
        (f"{label}: reads of spec+status per object: cold / warm / plain",
         f"{med('read_cold'):.2f} / {med('read_warm'):.2f} / {med('read_plain'):.2f} µs"),
        (f"{label}: lister get / dict.get", f"{med('get'):.3f} / {med('get_floor'):.3f} µs"),
        (f"{label}: memory/object stripped: synced / fully read (JSON {json_size:.0f} B)",
         f"{mem('memory_stripped', 0):,.0f} B ({mem('memory_stripped', 0) / json_size:.2f}x) / "
         f"{mem('memory_stripped', 1):,.0f} B ({mem('memory_stripped', 1) / json_size:.2f}x)"),
        (f"{label}: memory/object not stripped: synced / fully read",
         f"{mem('memory_plain', 0):,.0f} B ({mem('memory_plain', 0) / json_size:.2f}x) / "
         f"{mem('memory_plain', 1):,.0f} B ({mem('memory_plain', 1) / json_size:.2f}x)"),
    ]


def child(n: int, turns: int, package_dir: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if package_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(package_dir), env.get("PYTHONPATH", "")])
    argv = [sys.executable, __file__, "--objects", str(n), "--turns", str(turns), "--emit"]
    done = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=5, help="floor/sync pairs per process")
    parser.add_argument("--pairs", type=int, default=3,
                        help="processes of this tree (and of the baseline, alternating)")
    parser.add_argument("--baseline", type=Path, help="a directory holding the old package")
    parser.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emit:
        print(json.dumps(measure(args.objects, args.turns)))
        return
    load_before = load_average()
    new_runs, old_runs = [], []
    for _ in range(args.pairs):
        new_runs.append(child(args.objects, args.turns, None))
        if args.baseline is not None:
            old_runs.append(child(args.objects, args.turns, args.baseline))
    print(f"# cache: N={args.objects:,} ConfigMaps (~{OBJECT_SIZE} B applied), "
          f"{args.turns} turns x {args.pairs} processes; {os.cpu_count()} CPUs; load average "
          f"{load_before} before, {load_average()} after; Python {sys.version.split()[0]}")
    rows = report(new_runs, "new")
    if old_runs:
        rows += report(old_runs, "old")
        sync_change = [
            statistics.median(n["wall"] for n in new["sync"])
            / statistics.median(o["wall"] for o in old["sync"])
            for new, old in zip(new_runs, old_runs, strict=True)]
        rows.append(("sync wall, new / old (per process pair)", spread(sync_change)))
        for key, what in (("add_us", "add"), ("apply_us", "apply")):
            rows.append((f"store's own CPU, {what}, new / old (per process pair)", spread(
                [new[key] / old[key] for new, old in zip(new_runs, old_runs, strict=True)])))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
