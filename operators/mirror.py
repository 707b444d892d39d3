"""The mirror operator: one ConfigMap or Secret copied into every namespace a selector matches.

Run it with ``kopf run operators/mirror.py`` after applying ``operators/mirror-crd.yaml``.

A ``ConfigMirror`` (cluster-scoped, ``mirror.kopf-informers.dev/v1``) names a source
(``spec.source: {kind: ConfigMap|Secret, namespace, name}``) and a ``spec.namespaceSelector``
(``matchLabels``/``matchExpressions``; empty: every namespace). The operator keeps a copy of
the source, under the source's name, in every matching namespace but the source's own:

- copies follow the source's changes; a namespace that starts matching gets a copy, one that
  stops matching (or is deleted) loses it; a copy edited or deleted by hand is restored;
- an object of that name in a target namespace that the mirror did not make is never touched:
  the mirror gets ``Ready=False`` (``Conflict``, naming the namespaces) and a Warning Event, and
  is reconciled again the moment that object changes or goes;
- a source that does not exist (yet) gives ``Ready=False`` (``SourceNotFound``); the copies
  made so far stay, so a source deleted and re-created does not disrupt their readers;
- deleting the mirror deletes every copy. Owner references cannot cross namespaces (and a
  cluster-scoped owner of namespaced copies would do, but then any copy is deleted with its
  owner only by the garbage collector, and a conflicting object could never be told from a
  copy): a named finalizer, ``mirror.kopf-informers.dev/copies``, holds the mirror until its
  cleanup has deleted them.

What the library gives it: the caches of Namespaces, ConfigMaps, Secrets and mirrors (no GET);
an index of copies by their mirror (the label ``mirror.kopf-informers.dev/mirror``) and of
mirrors by their source's kind and name; watches with map functions — a ConfigMap or Secret
event re-runs its mirror (a copy) and every mirror whose source has that name (the source, or
an object in the way), a Namespace event re-runs every mirror; the finalizer flow.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Mapping
from typing import Any

import kopf_informers
from kopf_informers import ApiClient
from kopf_informers.selectors import LabelSelector, parse_label_selector

MIRRORS = "mirror.kopf-informers.dev/v1/configmirrors"
NAMESPACES = "v1/namespaces"
KINDS = {"ConfigMap": "v1/configmaps", "Secret": "v1/secrets"}
MIRROR_LABEL = "mirror.kopf-informers.dev/mirror"
SOURCE_ANNOTATION = "mirror.kopf-informers.dev/source"
FINALIZER = "mirror.kopf-informers.dev/copies"
COMPONENT = "mirror-controller"
BY_MIRROR = "mirror"  # index of ConfigMaps/Secrets: the name of the mirror that made the copy
BY_SOURCE_NAME = "source-name"  # index of mirrors: "Kind/name" of their source


def _mirror_of(obj: Any) -> list[str]:
    mirror = ((obj.get("metadata") or {}).get("labels") or {}).get(MIRROR_LABEL)
    return [mirror] if mirror else []


def _source_name_of(mirror: Any) -> list[str]:
    source = (mirror.get("spec") or {}).get("source") or {}
    kind, name = source.get("kind"), source.get("name")
    return [f"{kind}/{name}"] if isinstance(kind, str) and isinstance(name, str) else []


namespaces = kopf_informers.shared_informer(NAMESPACES)
objects = {kind: kopf_informers.shared_informer(resource, indexers={BY_MIRROR: _mirror_of})
           for kind, resource in KINDS.items()}
mirrors = kopf_informers.shared_informer(MIRRORS, indexers={BY_SOURCE_NAME: _source_name_of})


def _mirrors_touching(kind: str) -> Any:
    def map_fn(obj: Any) -> list[tuple[None, str]]:
        """A copy's mirror, and every mirror whose source has this object's kind and name."""
        names = set(_mirror_of(obj))
        key = f"{kind}/{obj['metadata']['name']}"
        names.update(m["metadata"]["name"] for m in mirrors.lister.by_index(BY_SOURCE_NAME, key))
        return [(None, name) for name in sorted(names)]
    return map_fn


def _every_mirror(_: Any) -> list[tuple[None, str]]:
    return [(None, m["metadata"]["name"]) for m in mirrors.lister.list()]


def _copy_of(source: Any, kind: str, mirror: str) -> dict[str, Any]:
    """The copy of ``source`` the mirror keeps (without a namespace)."""
    meta = source["metadata"]
    copy: dict[str, Any] = {
        "apiVersion": "v1", "kind": kind,
        "metadata": {
            "name": meta["name"],
            "labels": {MIRROR_LABEL: mirror},
            "annotations": {SOURCE_ANNOTATION: f"{kind}/{meta['namespace']}/{meta['name']}"},
        },
    }
    for field in _content_fields(kind):
        if source.get(field) is not None:
            copy[field] = kopf_informers.thaw(source[field])
    return copy


def _content_fields(kind: str) -> tuple[str, ...]:
    return ("type", "data") if kind == "Secret" else ("data", "binaryData")


def _same_content(kind: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(kopf_informers.thaw(a.get(f)) == kopf_informers.thaw(b.get(f))
               for f in _content_fields(kind))


def _condition(mirror: Any, ready: bool, reason: str, message: str) -> list[Any] | None:
    """The mirror's new ``conditions``, or None if its Ready condition already says so."""
    current = [c for c in (mirror.get("status") or {}).get("conditions") or ()
               if c.get("type") == "Ready"]
    status = "True" if ready else "False"
    if current and (current[0].get("status"), current[0].get("reason"),
                    current[0].get("message")) == (status, reason, message):
        return None
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [{"type": "Ready", "status": status, "reason": reason, "message": message,
             "lastTransitionTime": now}]


async def _report(api: ApiClient, mirror: Any, status: dict[str, Any], *, ready: bool,
                  reason: str, message: str) -> None:
    """Write the status (if it changed) and, when the Ready condition changes, an Event."""
    conditions = _condition(mirror, ready, reason, message)
    if conditions is not None:
        status["conditions"] = conditions
    current = mirror.get("status") or {}
    changed = {k: v for k, v in status.items() if kopf_informers.thaw(current.get(k)) != v}
    if changed:
        await api.patch_status(MIRRORS, mirror["metadata"]["name"], {"status": changed})
    if conditions is not None:
        await kopf_informers.post_event(api, mirror, type="Normal" if ready else "Warning",
                                        reason=reason, message=message,
                                        reporting_component=COMPONENT)


async def _delete_copies(api: ApiClient, mirror: str, logger: Any,
                         keep: set[tuple[str, str, str]] | None = None) -> None:
    """Delete this mirror's copies but those in ``keep`` ((kind, namespace, name))."""
    keep = keep or set()
    for kind, informer in objects.items():
        for copy in informer.lister.by_index(BY_MIRROR, mirror):
            meta = copy["metadata"]
            if (kind, meta["namespace"], meta["name"]) in keep:
                continue
            with contextlib.suppress(kopf_informers.NotFoundError,
                                     kopf_informers.ConflictError):
                await api.delete(KINDS[kind], meta["name"], namespace=meta["namespace"],
                                 preconditions={"uid": meta["uid"]})
                logger.info("deleted its copy %s %s/%s", kind, meta["namespace"], meta["name"])


def _targets(selector: LabelSelector, source_namespace: str, kind: str) -> list[str]:
    """The namespaces to copy into: matching, not the source's, not being deleted, and served
    by this operator (under ``kopf run -n``, only those)."""
    served = objects[kind].namespaces
    names = []
    for namespace in namespaces.lister.list():
        meta = namespace["metadata"]
        if (meta["name"] != source_namespace and selector.matches(meta.get("labels"))
                and (namespace.get("status") or {}).get("phase") != "Terminating"
                and meta.get("deletionTimestamp") is None
                and (served is None or meta["name"] in served)):
            names.append(meta["name"])
    return sorted(names)


@kopf_informers.reconcile(
    MIRRORS, finalizer=FINALIZER, id="mirror", max_concurrent=4,
    watches={NAMESPACES: _every_mirror,
             **{resource: _mirrors_touching(kind) for kind, resource in KINDS.items()}},
)
async def reconcile_mirror(name: str, body: Any, api: ApiClient, logger: Any, cleanup: bool,
                           **_: Any) -> None:
    if cleanup:  # the mirror is being deleted: its copies go, then its finalizer
        await _delete_copies(api, name, logger)
        return

    spec = body.get("spec") or {}
    source_spec = spec.get("source") or {}
    kind, src_ns, src_name = (source_spec.get(k) for k in ("kind", "namespace", "name"))
    status: dict[str, Any] = {"observedGeneration": body["metadata"].get("generation")}
    if kind not in KINDS or not isinstance(src_ns, str) or not isinstance(src_name, str):
        await _report(api, body, status, ready=False, reason="InvalidSpec",
                      message="spec.source needs kind (ConfigMap or Secret), namespace and name")
        return
    try:
        selector = parse_label_selector(spec.get("namespaceSelector") or None)
    except kopf_informers.SelectorError as e:
        await _report(api, body, status, ready=False, reason="InvalidSpec",
                      message=f"spec.namespaceSelector: {e}")
        return
    status["sourceRef"] = f"{src_ns}/{src_name}"

    informer = objects[kind]
    try:
        source = informer.lister.get(src_name, src_ns)
    except kopf_informers.InvalidArgumentError:  # a namespace this operator does not serve
        source = None
    if source is None:
        await _report(api, body, status, ready=False, reason="SourceNotFound",
                      message=f"{kind} {src_ns}/{src_name} does not exist (or is not served)")
        return

    wanted = _copy_of(source, kind, name)
    conflicts: list[str] = []
    kept: set[tuple[str, str, str]] = set()
    for namespace in _targets(selector, src_ns, kind):
        existing = informer.lister.get(src_name, namespace)
        if existing is None:
            await api.create(KINDS[kind], {**wanted, "metadata": {
                **wanted["metadata"], "namespace": namespace}}, namespace=namespace)
            logger.info("copied %s %s/%s into namespace %s", kind, src_ns, src_name, namespace)
        elif _mirror_of(existing) != [name]:
            conflicts.append(namespace)
            continue
        elif not _same_content(kind, existing, wanted):
            replacement = {**wanted, "metadata": {
                **wanted["metadata"], "namespace": namespace,
                "resourceVersion": existing["metadata"]["resourceVersion"]}}
            if kind == "Secret" and existing.get("type") != wanted.get("type"):
                await api.delete(KINDS[kind], src_name, namespace=namespace,  # type is immutable
                                 preconditions={"uid": existing["metadata"]["uid"]})
                del replacement["metadata"]["resourceVersion"]
                await api.create(KINDS[kind], replacement, namespace=namespace)
            else:  # a 409 (the cache is behind) retries with backoff
                await api.replace(KINDS[kind], replacement, namespace=namespace)
            logger.info("updated its copy in namespace %s", namespace)
        kept.add((kind, namespace, src_name))
    await _delete_copies(api, name, logger, keep=kept)

    status["copies"] = len(kept)
    if conflicts:
        await _report(api, body, status, ready=False, reason="Conflict",
                      message=f"{kind} {src_name} exists but was not made by this mirror in "
                              f"namespaces: {', '.join(conflicts)}")
    else:
        await _report(api, body, status, ready=True, reason="Synced",
                      message=f"{len(kept)} copies of {kind} {src_ns}/{src_name}")
