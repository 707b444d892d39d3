"""Benchmarks of the informer cache (``Store`` and ``StoreWriter``): ``python bench/store.py``.

Prints, for a store of 10,000 pods in 100 namespaces (owners of 10 pods each) with 3 indexers
(the built-in ``namespace`` and ``owner``, and a label index):

1. reads: ``get`` and ``by_index`` in µs per call;
2. the mutation policies, per ~1 KB pod, as ratios against the unprotected store:
   (b) none, (a) freeze on insert, (c) deep copy on every read;
3. updates (µs per ``apply``, and end to end with the JSON decode of a watch event, in events
   per second) and memory per object (tracemalloc, as a ratio to the object's JSON size), for
   pods as the API server serves them (with managedFields and kubectl's last-applied
   annotation), with and without the transform and the protection.

The results go to ``bench/README.md``. Timings are the best of several runs, in CPU time of this
process, so they show what the code costs, not what other load on the machine adds (the garbage
collector's share is included: the store holds many container objects, as a real cache does).
"""

from __future__ import annotations

import copy
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson

from kopf_informers import Store, StoreWriter, object_key, store, strip_managed_fields, thaw

Obj = dict[str, Any]

PODS = 10_000
NAMESPACES = 100
PODS_PER_OWNER = 10
MEMORY_SAMPLE = 2_000
REPEATS = 7


# -- objects --------------------------------------------------------------------------------------


def make_pod(i: int, *, rv: int = 1) -> Obj:
    """A pod of about 1 KB of JSON, without the API server's bookkeeping."""
    owner = i // PODS_PER_OWNER
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": f"web-{owner:05d}-{i:06d}", "namespace": f"ns-{i % NAMESPACES:03d}",
            "uid": f"0f8b3c1e-{i:04d}-4222-8333-444455556666", "resourceVersion": str(rv),
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"app": f"web-{owner % 50}", "pod-template-hash": f"{owner:08x}",
                       "tier": "frontend"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"web-{owner:05d}",
                "uid": f"aaaa0000-{owner:04d}-4bbb-8ccc-dddd0000eeee",
                "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": {
            "containers": [{
                "name": "web", "image": "nginx:1.25",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                              "requests": {"cpu": "100m", "memory": "64Mi"}},
                "env": [{"name": "MODE", "value": "production"}, {"name": "PORT", "value": "80"}],
            }],
            "restartPolicy": "Always", "nodeName": f"node-{i % 7}",
            "serviceAccountName": "default",
        },
        "status": {
            "phase": "Running", "podIP": f"10.0.{i // 250 % 250}.{i % 250}",
            "conditions": [
                {"type": "Ready", "status": "True",
                 "lastTransitionTime": f"2024-01-01T00:{rv:02d}:05Z"},  # updates change status
                {"type": "ContainersReady", "status": "True",
                 "lastTransitionTime": "2024-01-01T00:00:05Z"},
            ],
        },
    }


def _fields_v1(value: Any) -> Any:
    """The shape of a ``fieldsV1`` set that owns every field of ``value``."""
    if isinstance(value, dict):
        return {".": {}, **{f"f:{key}": _fields_v1(item) for key, item in value.items()}}
    named = all(isinstance(item, dict) and "name" in item for item in value or [None])
    if isinstance(value, list) and named:
        return {
            f"k:{orjson.dumps({'name': item['name']}).decode()}": _fields_v1(item)
            for item in value
        }
    return {}


def as_served(pod: Obj) -> Obj:
    """The pod as the API server serves it: with managedFields and a last-applied annotation."""
    metadata = pod["metadata"]
    applied = {"apiVersion": pod["apiVersion"], "kind": pod["kind"],
               "metadata": {"labels": metadata["labels"], "name": metadata["name"],
                            "namespace": metadata["namespace"]},
               "spec": pod["spec"]}
    spec_fields = {"f:metadata": {"f:labels": _fields_v1(metadata["labels"]),
                                  "f:ownerReferences": {}},
                   "f:spec": _fields_v1(pod["spec"])}
    return {
        **pod,
        "metadata": {
            **metadata,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                            orjson.dumps(applied).decode() + "\n"},
            "managedFields": [
                {"manager": "kubectl-client-side-apply", "operation": "Update",
                 "apiVersion": "v1", "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": spec_fields},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                 "time": "2024-01-01T00:00:05Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:status": _fields_v1(pod["status"])}, "subresource": "status"},
            ],
        },
    }


def index_by_app(obj: Obj) -> list[str]:
    return [obj["metadata"].get("labels", {}).get("app", "")]


def new_store(
    *, freeze: bool, transform: Callable[[Obj], Obj] | None = None,
) -> tuple[Store[Obj], StoreWriter[Obj]]:
    return store(indexers={"app": index_by_app}, transform=transform, freeze=freeze)


# -- measuring ------------------------------------------------------------------------------------


def per_call_us(fn: Callable[[], object], number: int) -> float:
    """The best of several runs of ``number`` calls, in µs per call."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, time.process_time() - start)
    return best / number * 1e6


def per_item_us(fn: Callable[[Any], object], items: list[Any]) -> float:
    """The best of several runs of ``fn`` over ``items``, in µs per item."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.process_time()
        for item in items:
            fn(item)
        best = min(best, time.process_time() - start)
    return best / len(items) * 1e6


def memory_per_object(
    payloads: list[bytes], *, freeze: bool, transform: Callable[[Obj], Obj] | None,
) -> float:
    """Bytes that the store holds per object, decoded from ``payloads`` and applied."""
    reader, writer = new_store(freeze=freeze, transform=transform)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for payload in payloads:
        writer.apply(orjson.loads(payload))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(reader) == len(payloads)
    return (after - before) / len(payloads)


def decoding_into(writer: StoreWriter[Obj]) -> Callable[[bytes], object]:
    """What the reflector does with a watch event's bytes, as far as the store is concerned."""
    def decode_and_apply(event: bytes) -> object:
        return writer.apply(orjson.loads(event)["object"])
    return decode_and_apply


def filled(
    objects: list[Obj], *, freeze: bool, transform: Callable[[Obj], Obj] | None = None,
) -> tuple[Store[Obj], StoreWriter[Obj]]:
    reader, writer = new_store(freeze=freeze, transform=transform)
    writer.replace(objects)
    return reader, writer


# -- the report -----------------------------------------------------------------------------------


def bench_reads(pods: list[Obj]) -> None:
    reader, _ = filled(pods, freeze=True)
    pod = pods[4242]
    key, name, namespace = object_key(pod), pod["metadata"]["name"], pod["metadata"]["namespace"]
    owner = pod["metadata"]["ownerReferences"][0]["uid"]
    assert len(reader.by_index("owner", owner)) == PODS_PER_OWNER
    print(f"## reads (a frozen store of {PODS:,} pods, 3 indexers)")
    rows: list[tuple[str, Callable[[], object]]] = [
        ("get(key)", lambda: reader.get(key)),
        ("get_by_name(name, namespace)", lambda: reader.get_by_name(name, namespace)),
        ("key in store", lambda: key in reader),
        (f"by_index('owner', uid) -> {PODS_PER_OWNER} objects",
         lambda: reader.by_index("owner", owner)),
        (f"by_index('namespace', ns) -> {PODS // NAMESPACES} objects",
         lambda: reader.by_index("namespace", namespace)),
        ("index_keys('owner', uid)", lambda: reader.index_keys("owner", owner)),
    ]
    for title, fn in rows:
        print(f"  {title:45s} {per_call_us(fn, 100_000):7.3f} µs")
    print()


def bench_mutation_policies(pods: list[Obj]) -> None:
    size = len(orjson.dumps(pods[0]))
    updates = [make_pod(i, rv=2) for i in range(PODS)]
    events = [orjson.dumps({"type": "MODIFIED", "object": pod}) for pod in updates]
    key = object_key(pods[4242])
    payloads = [orjson.dumps(pod) for pod in pods[:MEMORY_SAMPLE]]
    costs: dict[str, tuple[float, float, float, float]] = {}
    for title, freeze in [("(b) none, documented only", False), ("(a) freeze on insert", True)]:
        reader, writer = filled(pods, freeze=freeze)
        costs[title] = (
            per_item_us(writer.apply, updates),
            per_item_us(decoding_into(writer), events),
            per_call_us(lambda reader=reader: reader.get(key), 100_000),  # type: ignore[misc]
            memory_per_object(payloads, freeze=freeze, transform=None),
        )
    base = costs["(b) none, documented only"]
    reader, _ = filled(pods, freeze=False)
    copies: list[tuple[str, Callable[[Any], Any]]] = [
        ("(c) copy on read: copy.deepcopy", copy.deepcopy),
        ("(c) copy on read: thaw", thaw),
        ("(c) copy on read: orjson round trip", lambda obj: orjson.loads(orjson.dumps(obj))),
    ]
    for title, copier in copies:
        read = per_call_us(lambda copier=copier: copier(reader.get(key)), 10_000)  # type: ignore[misc]
        costs[title] = (base[0], base[1], read, base[3])
    print(f"## mutation policy, per pod of {size} bytes of JSON, in a store of {PODS:,} "
          f"with 3 indexers (ratios against no protection)")
    print(f"  {'policy':38s} {'apply µs':>8s} {'ratio':>5s} {'decode+apply':>12s} {'ratio':>5s} "
          f"{'get µs':>7s} {'ratio':>6s} {'bytes':>6s} {'ratio':>5s}")
    for title, (apply_us, end_to_end, read, memory) in costs.items():
        print(f"  {title:38s} {apply_us:8.2f} {apply_us / base[0]:5.2f} {end_to_end:12.2f} "
              f"{end_to_end / base[1]:5.2f} {read:7.3f} {read / base[2]:6.1f} {memory:6.0f} "
              f"{memory / base[3]:5.2f}")
    print()


def bench_updates_and_memory(pods: list[Obj]) -> None:
    served = [as_served(pod) for pod in pods]
    size = len(orjson.dumps(served[0]))
    stripped = len(orjson.dumps(strip_managed_fields(served[0])))
    updates = [as_served(make_pod(i, rv=2)) for i in range(PODS)]
    events = [orjson.dumps({"type": "MODIFIED", "object": obj}) for obj in updates]
    payloads = [orjson.dumps(obj) for obj in served[:MEMORY_SAMPLE]]
    print(f"## updates and memory, pods as served: {size} bytes of JSON "
          f"({stripped} without managedFields and last-applied)")
    print(f"  {'store':28s} {'apply µs':>8s} {'decode+apply µs':>15s} {'events/s':>9s} "
          f"{'bytes/object':>12s} {'x JSON':>6s}")
    variants: list[tuple[str, bool, Callable[[Obj], Obj] | None]] = [
        ("no protection", False, None),
        ("frozen (the default)", True, None),
        ("no protection + strip", False, strip_managed_fields),
        ("frozen + strip", True, strip_managed_fields),
    ]
    for title, freeze, transform in variants:
        _, writer = filled(served, freeze=freeze, transform=transform)
        apply_us = per_item_us(writer.apply, updates)
        end_to_end = per_item_us(decoding_into(writer), events)
        memory = memory_per_object(payloads, freeze=freeze, transform=transform)
        print(f"  {title:28s} {apply_us:8.2f} {end_to_end:15.2f} {1e6 / end_to_end:9,.0f} "
              f"{memory:12,.0f} {memory / size:6.2f}")
    decode = per_item_us(orjson.loads, events)
    print(f"  (orjson.loads of the watch event alone: {decode:.2f} µs)")
    print()


def main() -> None:
    pods = [make_pod(i) for i in range(PODS)]
    bench_reads(pods)
    bench_mutation_policies(pods)
    bench_updates_and_memory(pods)


if __name__ == "__main__":
    main()
