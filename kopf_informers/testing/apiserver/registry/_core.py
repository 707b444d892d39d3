"""The API semantics of the embedded server: what each verb does to the store, without HTTP.

``ApiCore`` implements create, get, list, watch subscriptions, update, patch, delete and
deletecollection for any served resource: metadata stamping (uid, resourceVersion,
creationTimestamp, generation, generateName), namespaces, optimistic concurrency, the generic
side of the status and scale subresources, finalizers and deletionTimestamp, consistent paginated
lists, and whatever each kind's strategy adds (which subresources it has and what each may
change, its Scale, defaults, a CRD version's schema, validation, printer columns).
The HTTP layer (``_http``) only parses requests and renders results; controllers
(``_controllers``) react to store events as the real cluster's controllers would.

Every method runs synchronously on the server's loop, so each verb is atomic with respect to the
others and to watchers, as an etcd transaction is.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..admission import _namespace_lifecycle as admission
from ..admission import _validation
from ..admission._typed_decoding import TypeMismatch
from ..apimachinery._decoding import DecodeError, load_json
from ..apimachinery._limits import copy_for_storage
from ..apimachinery._status import (
    ApiStatusError,
    StorageTooLargeError,
    already_exists,
    bad_request,
    conflict,
    not_found,
    qualified_resource,
)
from ..auth._authorizer import ALWAYS_ALLOW, Authorizer
from ..auth._user import ADMIN, Authenticator, UserInfo
from ..storage._store import Obj, ResourceKey, Store
from . import _patching
from ._reads import Reads, Selection, present
from ._resources import ResourceInfo
from ._reviews import Review
from ._served import ServedResources
from ._strategy import Allocator

NAMESPACES: ResourceKey = admission.NAMESPACES
CRDS: ResourceKey = ("apiextensions.k8s.io", "customresourcedefinitions")
_OMITTED_WHEN_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences", "managedFields")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
# Groups whose names need only be path segments: RBAC's (colons), APIServices' ("v1." for core).
_PATH_SEGMENT_NAMED = ("rbac.authorization.k8s.io", "apiregistration.k8s.io")
# What a write may not change: the server's metadata, or the request URL's.
_IMMUTABLE_META = ("name", "namespace", "uid", "creationTimestamp", "generation",
                   "deletionTimestamp", "deletionGracePeriodSeconds")


def now_rfc3339() -> str:
    return _rfc3339(int(time.time()))


@functools.lru_cache(maxsize=1)
def _rfc3339(second: int) -> str:
    # Formatted once per second: strftime was a twentieth of a create's CPU.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


class _Uids:
    """Random (version 4) UUIDs, as the real server gives objects, from the system's random
    source read 4 KiB at a time: reading it for each one was most of ``uuid.uuid4()``'s cost.
    One per core, so never shared between threads."""

    _CHUNK = 16 * 256

    def __init__(self) -> None:
        self._pool = b""
        self._next = 0

    def new(self) -> str:
        start = self._next
        if start >= len(self._pool):
            self._pool, start = os.urandom(self._CHUNK), 0
        self._next = start + 16
        raw = bytearray(self._pool[start:start + 16])
        raw[6] = raw[6] & 0x0F | 0x40  # the version: 4, random
        raw[8] = raw[8] & 0x3F | 0x80  # the variant: RFC 4122
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def deepcopy(obj: Any) -> Any:
    """A deep copy of JSON data; a JSON round trip through orjson beats copy.deepcopy."""
    return orjson.loads(orjson.dumps(obj))


class ApiCore(Reads):
    """The verbs of the Kubernetes API over one store and one registry of served resources."""

    def __init__(
        self, *, store: Store, registry: ServedResources, authorizer: Authorizer = ALWAYS_ALLOW,
        authenticator: Authenticator | None = None,
    ) -> None:
        super().__init__(store)
        self.registry = registry
        # Whom the reviews ask; an RBAC authorizer takes ALWAYS_ALLOW's place here.
        self.authorizer = authorizer
        self.authenticator = authenticator or Authenticator()
        self.write_hooks: list[Callable[[ResourceInfo, Obj, Obj | None], None]] = []
        self._allocators: dict[ResourceKey, Allocator] = {}
        self._uids = _Uids()

    # -- helpers ------------------------------------------------------------------------------

    def storage_info(self, key: ResourceKey) -> ResourceInfo:
        info = self.registry.storage_info(*key)
        if info is None:
            raise ApiStatusError(404, "the server could not find the requested resource")
        return info

    def _admit_create(self, info: ResourceInfo, namespace: str | None, name: str) -> None:
        """A namespaced create needs a namespace; then the admission chain has its say."""
        if info.namespaced and not namespace:
            raise bad_request("the namespace of the object is required")
        admission.admit(self.store, admission.Attributes(
            operation="CREATE", group=info.group, plural=info.plural,
            namespaced=info.namespaced, namespace=namespace or "", name=name,
        ))

    def get(self, info: ResourceInfo, namespace: str | None, name: str) -> Obj:
        obj = self.store.resource(info.key).get(namespace or "", name)
        if obj is None:
            raise not_found(info.group, info.plural, name)
        return obj

    def find(self, info: ResourceInfo, namespace: str | None, name: str) -> Obj | None:
        return self.store.resource(info.key).get(namespace or "", name)

    # -- create ---------------------------------------------------------------------------------

    def create(
        self, info: ResourceInfo, namespace: str | None, body: Any, *,
        dry_run: bool = False, field_validation: str = "Strict",
        warnings: list[str] | None = None, user: UserInfo = ADMIN,
    ) -> Obj:
        """Create an object; for a review kind, answer it as ``user`` asks it, storing nothing."""
        obj = self._check_body(info, body)
        reviewer = info.strategy.reviewer
        if reviewer is not None:
            return reviewer(obj, Review(user=user, namespace=namespace,
                                        authorizer=self.authorizer,
                                        authenticator=self.authenticator))
        meta = obj.setdefault("metadata", {})
        self._admit_create(info, namespace,
                           name=meta.get("name") or meta.get("generateName") or "Unknown")
        self._check_body_namespace(info, namespace, meta)
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise self._invalid(info, "", [_validation.Cause(
                    "FieldValueRequired", "Required value: name or generateName is required",
                    "metadata.name",
                )])
            meta["name"] = prefix + "".join(random.choices(_NAME_CHARS, k=5))
        name = meta["name"]
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        if info.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        meta["uid"] = self._uids.new()
        meta["creationTimestamp"] = now_rfc3339()
        if info.has_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        info.strategy.prepare_for_create(obj)
        try:
            obj = self._prepare(info, obj, None, field_validation, warnings)
        except TypeMismatch as e:
            raise _undecodable(info, e) from None
        self._allocate(info, obj, None)
        rs = self.store.resource(info.key)
        if rs.get(namespace or "", name) is not None:
            raise already_exists(info.group, info.plural, name)
        if dry_run:
            return obj
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self.store.next_rv())
        self.store.put(info.key, obj, None)
        return obj

    def _check_body(self, info: ResourceInfo, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        kind, api_version = body.get("kind"), body.get("apiVersion")
        if kind not in (None, "", info.kind) or api_version not in (None, "", info.api_version):
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({info.api_version})"
                if api_version not in (None, "", info.api_version) else
                f"the kind in the data ({kind}) does not match the expected kind ({info.kind})"
            )
        if not isinstance(body.get("metadata", {}), dict):
            raise bad_request("metadata must be an object")
        obj: Obj = copy_for_storage(body)
        obj["apiVersion"] = info.api_version
        obj["kind"] = info.kind
        return obj

    @staticmethod
    def _check_body_namespace(info: ResourceInfo, namespace: str | None, meta: Obj) -> None:
        body_ns = meta.get("namespace")
        if info.namespaced and body_ns and body_ns != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )

    def _invalid(
        self, info: ResourceInfo, name: str, causes: list[_validation.Cause],
    ) -> ApiStatusError:
        kind = f"{info.kind}.{info.group}" if info.group else info.kind
        return ApiStatusError(
            422, _validation.invalid_message(kind, name, causes),
            name=name, group=info.group or None, kind=info.kind,
            causes=[c.to_json() for c in causes],
        )

    def _prepare(
        self, info: ResourceInfo, obj: Obj, old: Obj | None,
        field_validation: str, warnings: list[str] | None,
    ) -> Obj:
        """Default, prune and validate an object about to be stored (a private copy)."""
        meta = obj["metadata"]
        name = meta.get("name", "")
        causes = _validation.validate_metadata(
            obj, namespaced=info.namespaced, label_names=info.strategy.label_names,
            path_segment_names=info.group in _PATH_SEGMENT_NAMED,
        )
        for field in _OMITTED_WHEN_EMPTY:
            if field in meta and meta[field] in (None, {}, []):
                del meta[field]  # as the real server's typed ObjectMeta (omitempty) drops them
        strategy = info.strategy
        obj, pruned = strategy.decode(obj)
        unknown = [f'unknown field "{p}"' for p in pruned]
        if unknown and field_validation == "Strict":
            raise bad_request(f"strict decoding error: {', '.join(unknown)}")
        if unknown and field_validation == "Warn" and warnings is not None:
            warnings.extend(unknown)
        strategy.default(obj, creating=old is None)
        causes.extend(strategy.validate(obj, old))
        if causes:
            raise self._invalid(info, name, causes)
        return obj

    def _allocate(self, info: ResourceInfo, obj: Obj, old: Obj | None) -> None:
        """Let the kind's allocator (one per server, made on first use) fill ``obj`` in."""
        factory = info.strategy.allocator
        if factory is None:
            return
        allocator = self._allocators.get(info.key)
        if allocator is None:
            allocator = self._allocators[info.key] = factory(self.store)
        causes = allocator.allocate(obj, old)
        if causes:
            raise self._invalid(info, obj["metadata"].get("name", ""), causes)

    # -- update and patch -----------------------------------------------------------------------

    def update(
        self, info: ResourceInfo, namespace: str | None, name: str, body: Any, *,
        subresource: str | None = None, dry_run: bool = False,
        field_validation: str = "Strict", warnings: list[str] | None = None,
    ) -> Obj:
        current = self.get(info, namespace, name)
        new = self._check_body(info, body)
        meta = new.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        self._check_body_namespace(info, namespace, meta)
        uid = current["metadata"].get("uid")
        if meta.get("uid") and meta["uid"] != uid:
            # A uid in a PUT body is a precondition, checked before the resourceVersion.
            raise conflict(
                info.group, info.plural, name,
                f"Precondition failed: UID in precondition: {meta['uid']}, "
                f"UID in object meta: {uid}",
            )
        if not meta.get("resourceVersion"):
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self.replace(
            info, current, new, subresource=subresource, dry_run=dry_run,
            field_validation=field_validation, warnings=warnings,
        )

    def replace(
        self, info: ResourceInfo, current: Obj, new: Obj, *,
        subresource: str | None = None, dry_run: bool = False,
        field_validation: str = "Strict", warnings: list[str] | None = None,
        patched: bool = False,
    ) -> Obj:
        """Store ``new`` (a private copy) in place of ``current``, with the real rules.

        ``patched``: ``new`` is the result of a patch, whose wrong types the real server
        answers with a 422 on ``patch``, not with the 400 of an update's body.
        """
        cur_meta = current["metadata"]
        name = cur_meta["name"]
        new_meta = new.get("metadata")
        if not isinstance(new_meta, dict):
            raise bad_request("metadata must be an object")
        if str(new_meta.get("resourceVersion", "")) != cur_meta["resourceVersion"]:
            raise conflict(
                info.group, info.plural, name,
                "the object has been modified; please apply your changes to the latest "
                "version and try again",
            )
        new = info.strategy.prepare_for_update(new, current, subresource=subresource)
        new_meta = new["metadata"]
        for field in _IMMUTABLE_META:
            if field in cur_meta:
                new_meta[field] = cur_meta[field]
            else:
                new_meta.pop(field, None)
        new["apiVersion"], new["kind"] = info.api_version, info.kind
        try:
            new = self._prepare(info, copy_for_storage(new), current, field_validation, warnings)
        except TypeMismatch as e:
            raise (_unpatchable(new, e) if patched else _undecodable(info, e)) from None
        self._allocate(info, new, current)
        self._check_finalizers(info, current, new)
        # A custom resource without a status subresource counts its status as spec, as
        # apiextensions does: everything but metadata bumps its generation.
        with_status = info.strategy.status_is_spec
        if info.has_generation and _spec_changed(current, new, with_status=with_status):
            new["metadata"]["generation"] = int(cur_meta.get("generation", 1)) + 1
        if new == current:
            return current  # a no-op write: no new resourceVersion and no event, as etcd
        if dry_run:
            return new
        new["metadata"]["resourceVersion"] = str(self.store.next_rv())
        if new["metadata"].get("deletionTimestamp") and not has_finalizers(info.key, new):
            self.store.remove(info.key, new)
        else:
            self.store.put(info.key, new, current)
        return new

    def _check_finalizers(self, info: ResourceInfo, current: Obj, new: Obj) -> None:
        if not current["metadata"].get("deletionTimestamp"):
            return
        old = set(current["metadata"].get("finalizers") or ())
        added = sorted({f for f in new["metadata"].get("finalizers") or () if f not in old})
        if added:
            # Go's %#v of a sorted set's list: []string{"a", "b"}.
            listed = ", ".join(orjson.dumps(f).decode() for f in added)
            raise self._invalid(info, current["metadata"]["name"], [_validation.Cause(
                "FieldValueForbidden",
                f"Forbidden: no new finalizers can be added if the object is being deleted, "
                f"found new finalizers []string{{{listed}}}",
                "metadata.finalizers",
            )])

    def patch(
        self, info: ResourceInfo, namespace: str | None, name: str,
        patch_type: _patching.PatchType, raw: bytes, *, subresource: str | None = None,
        manager: str | None = None, dry_run: bool = False, field_validation: str = "Strict",
        warnings: list[str] | None = None, force: bool = False,
    ) -> tuple[Obj, bool]:
        """Apply a patch of ``patch_type`` (negotiated from ``PATCH_TYPES`` for this resource);
        returns the new object and whether it was created (by apply)."""
        if patch_type.patch is None:  # server-side apply, which the core runs itself
            try:
                return self._apply(
                    info, namespace, name, raw, subresource=subresource,
                    manager=manager, dry_run=dry_run, field_validation=field_validation,
                    warnings=warnings, force=force,
                )
            except _patching.PatchError as e:
                raise ApiStatusError(e.status, e.message, reason=e.reason,
                                     causes=e.causes) from e
        current, new = self.patch_result(info, namespace, name, patch_type, raw)
        assert current is not None
        meta = new["metadata"]
        replace = functools.partial(
            self.replace, info, current, subresource=subresource, dry_run=dry_run,
            field_validation=field_validation, warnings=warnings, patched=True,
        )
        try:
            return replace(new), False
        except StorageTooLargeError:
            if not meta.get("managedFields"):
                raise
            # As kube-apiserver: managedFields can be large, and a patch (not an apply) that
            # etcd refuses is tried once more without them.
            del meta["managedFields"]
            return replace(new), False

    def patch_result(
        self, info: ResourceInfo, namespace: str | None, name: str,
        patch_type: _patching.PatchType, raw: bytes, *, manager: str | None = None,
        force: bool = False,
    ) -> tuple[Obj | None, Obj]:
        """What a patch makes of the object, stored nowhere: the current object (None if an
        apply creates it) and the new one, for admission webhooks to see (and change) first;
        then :meth:`replace` (or :meth:`create`) stores it."""
        patch = patch_type.patch
        try:
            if patch is None:
                return self._applied(info, namespace, name, raw, manager=manager, force=force)
            current = self.get(info, namespace, name)
            try:
                body = load_json(raw)
            except DecodeError as e:
                raise bad_request(f"error decoding patch: {e}") from e
            new = self._patched(info, current, patch_type, patch, body)
        except _patching.PatchError as e:
            raise ApiStatusError(e.status, e.message, reason=e.reason, causes=e.causes) from e
        meta = new.get("metadata")
        if isinstance(meta, dict):
            # The patched object may share what the patch left alone with the stored one
            # (PatchFunction), and the metadata is what the core sets fields of in place.
            new["metadata"] = dict(meta)
        new.setdefault("metadata", {}).setdefault(
            "resourceVersion", current["metadata"]["resourceVersion"])
        return current, new

    @staticmethod
    def _patched(
        info: ResourceInfo, current: Obj, patch_type: _patching.PatchType,
        patch: _patching.PatchFunction, body: Any,
    ) -> Obj:
        if patch_type.object_body and not isinstance(body, dict):
            raise bad_request(f"{patch_type.name} must be a JSON object")
        target = _patching.PatchTarget(info.kind, info.group, info.strategy.merge_schema)
        new = patch(current, body, target)
        if not isinstance(new, dict):
            raise ApiStatusError(422, "the patch produced something other than an object")
        return new

    def _apply(
        self, info: ResourceInfo, namespace: str | None, name: str, raw: bytes, *,
        subresource: str | None, manager: str | None, dry_run: bool,
        field_validation: str, warnings: list[str] | None, force: bool = False,
    ) -> tuple[Obj, bool]:
        current, new = self._applied(info, namespace, name, raw, manager=manager, force=force)
        if current is None:
            return self.create(
                info, namespace, new, dry_run=dry_run, field_validation=field_validation,
                warnings=warnings,
            ), True
        return self.replace(
            info, current, new, subresource=subresource, dry_run=dry_run,
            field_validation=field_validation, warnings=warnings,
        ), False

    def _applied(
        self, info: ResourceInfo, namespace: str | None, name: str, raw: bytes, *,
        manager: str | None, force: bool,
    ) -> tuple[Obj | None, Obj]:
        if not manager:
            raise ApiStatusError(
                422, "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                "is required for apply patch",
            )
        applied = _patching.decode_apply_body(raw)
        current = self.find(info, namespace, name)
        meta = applied.get("metadata") if isinstance(applied, dict) else None
        if isinstance(meta, dict) and meta.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        new = _patching.apply_patch(
            current, applied, manager=manager, kind=info.kind, group=info.group,
            now=now_rfc3339(), force=force, schema=info.strategy.merge_schema,
        )
        if current is None:
            new.setdefault("metadata", {})["name"] = name
        else:
            new.setdefault("metadata", {})["resourceVersion"] = \
                current["metadata"]["resourceVersion"]
        return current, new

    # -- scale ----------------------------------------------------------------------------------

    def update_scale(
        self, info: ResourceInfo, namespace: str | None, name: str, scale: Any, *,
        dry_run: bool = False,
    ) -> Obj:
        """Store the replicas of a ``Scale``; returns the scaled object (not its Scale)."""
        current = self.get(info, namespace, name)
        if not isinstance(scale, dict):
            raise bad_request("the body of the request must be a Scale object")
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiStatusError(
                422, f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                f"{orjson.dumps(replicas).decode()}: must be greater than or equal to 0",
            )
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        new = info.strategy.scaled(current, replicas)
        if rv:
            new["metadata"]["resourceVersion"] = rv
        return self.replace(info, current, new, dry_run=dry_run)

    def patch_scale(
        self, info: ResourceInfo, namespace: str | None, name: str,
        patch_type: _patching.PatchType, raw: bytes, *, dry_run: bool = False,
    ) -> Obj:
        current = self.get(info, namespace, name)
        scale = info.strategy.scale_of(current)
        try:
            body = load_json(raw)
            patch = patch_type.patch
            if patch is None:  # an apply: merged as a JSON merge patch
                patched = _patching.merge_patch(scale, body)
            else:
                patched = patch(scale, body, _SCALE)
        except DecodeError as e:
            raise bad_request(f"error decoding patch: {e}") from e
        except _patching.PatchError as e:
            raise ApiStatusError(e.status, e.message, reason=e.reason) from e
        return self.update_scale(info, namespace, name, patched, dry_run=dry_run)

    # -- delete ---------------------------------------------------------------------------------

    def delete(
        self, info: ResourceInfo, namespace: str | None, name: str, options: Mapping[str, Any],
        *, dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete or start deleting; returns the object and whether it is gone now."""
        current = self.get(info, namespace, name)
        meta = current["metadata"]
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != meta.get("uid"):
            raise conflict(
                info.group, info.plural, name,
                f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                f"UID in object meta: {meta.get('uid')}",
            )
        if preconditions.get("resourceVersion") and \
                preconditions["resourceVersion"] != meta.get("resourceVersion"):
            raise conflict(
                info.group, info.plural, name,
                f"Precondition failed: ResourceVersion in precondition: "
                f"{preconditions['resourceVersion']}, ResourceVersion in object meta: "
                f"{meta.get('resourceVersion')}",
            )
        policy = propagation_policy(options)
        finalizers = list(meta.get("finalizers") or ())
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        pending = bool(finalizers) or info.key == NAMESPACES
        if meta.get("deletionTimestamp") and finalizers == list(meta.get("finalizers") or ()):
            return current, False  # already being deleted: nothing more to do
        if dry_run:
            return current, not pending
        new = deepcopy(current)
        new_meta = new["metadata"]
        new_meta["resourceVersion"] = str(self.store.next_rv())
        if not pending:
            self.store.remove(info.key, new)
            return new, True
        if finalizers:
            new_meta["finalizers"] = finalizers
        if not meta.get("deletionTimestamp"):
            new_meta["deletionTimestamp"] = now_rfc3339()
            new_meta["deletionGracePeriodSeconds"] = 0
            if info.has_generation:
                new_meta["generation"] = int(meta.get("generation", 1)) + 1
        if info.key == NAMESPACES:
            new.setdefault("status", {})["phase"] = "Terminating"
        self.store.put(info.key, new, current)
        return new, False

    def delete_collection(
        self, info: ResourceInfo, selection: Selection, options: Mapping[str, Any],
        *, dry_run: bool = False,
    ) -> list[Obj]:
        result = []
        for obj in list(self.store.resource(info.key).items(selection.namespace)):
            if selection.matches(obj):
                meta = obj["metadata"]
                try:
                    deleted, _ = self.delete(
                        info, meta.get("namespace"), meta["name"], options, dry_run=dry_run,
                    )
                except ApiStatusError as e:
                    if e.code != 404:
                        raise
                else:
                    result.append(deleted)
        return result

    # -- internal writes (controllers) ----------------------------------------------------------

    def internal_update(
        self, key: ResourceKey, current: Obj, mutate: Callable[[Obj], None],
        *, subresource: str | None = None,
    ) -> Obj | None:
        """Change an object as a controller would; None if it is gone meanwhile."""
        info = self.storage_info(key)
        meta = current["metadata"]
        latest = self.find(info, meta.get("namespace"), meta["name"])
        if latest is None or latest["metadata"].get("uid") != meta.get("uid"):
            return None
        new = deepcopy(latest)
        mutate(new)
        try:
            return self.replace(info, latest, new, subresource=subresource,
                                field_validation="Ignore")
        except ApiStatusError:
            return None

    def internal_delete(self, key: ResourceKey, obj: Obj, policy: str = "Background") -> None:
        info = self.storage_info(key)
        meta = obj["metadata"]
        with contextlib.suppress(ApiStatusError):  # gone or replaced meanwhile: nothing to do
            self.delete(info, meta.get("namespace"), meta["name"], {
                "propagationPolicy": policy, "preconditions": {"uid": meta["uid"]},
            })




_SCALE = _patching.PatchTarget("Scale", "autoscaling")


def _undecodable(info: ResourceInfo, error: TypeMismatch) -> ApiStatusError:
    """A body the kind's Go type cannot hold: kube-apiserver's 400 from its decoder."""
    return bad_request(
        f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: {error}'
    )


def _unpatchable(patched: Obj, error: TypeMismatch) -> ApiStatusError:
    """A patch whose result the kind's Go type cannot hold: kube-apiserver's 422, which names
    neither kind nor object and quotes the whole patched object as the invalid value."""
    cause = _validation.invalid("patch", orjson.dumps(patched).decode(), str(error))
    return ApiStatusError(
        422, _validation.invalid_message("", "", [cause]), name="", kind="",
        causes=[cause.to_json()],
    )


def has_finalizers(key: ResourceKey, obj: Obj) -> bool:
    """Whether anything still holds the object back from removal."""
    if obj["metadata"].get("finalizers"):
        return True
    return key == NAMESPACES and bool((obj.get("spec") or {}).get("finalizers"))


def propagation_policy(options: Mapping[str, Any]) -> str:
    policy = options.get("propagationPolicy")
    if policy in ("Foreground", "Background", "Orphan"):
        return str(policy)
    if policy:
        raise bad_request(
            f'propagationPolicy: Unsupported value: "{policy}": supported values: '
            '"Foreground", "Background", "Orphan"'
        )
    if options.get("orphanDependents") is True:
        return "Orphan"
    return "Background"


def _spec_changed(old: Obj, new: Obj, *, with_status: bool = False) -> bool:
    skip = ("metadata", "apiVersion", "kind") if with_status else (
        "metadata", "status", "apiVersion", "kind")
    keys = (set(old) | set(new)).difference(skip)
    return any(old.get(k) != new.get(k) for k in keys)


__all__ = ["ApiCore", "Selection", "deepcopy", "now_rfc3339", "present", "qualified_resource"]
