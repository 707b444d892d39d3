"""Writes that pass the admission webhooks: create, update, patch and delete, as the HTTP
layer runs them.

Where it sits: ``_http``'s verbs call :class:`AdmittedWrites`, which calls the registry's
synchronous verbs (``ApiCore``) around the asynchronous webhook calls of
``admission._webhooks``. Without a webhook configuration that covers a request, a write is the
core's verb and nothing else.

With one, kube-apiserver's order is kept: mutating webhooks see the object as the request would
store it (a create's before its ``uid``, generated name and timestamps; a patch's as patched)
and may patch it; the registry then prepares and validates the mutated object in a dry run;
validating webhooks see that object (with the old one for UPDATE, only the old for DELETE); only
then is it written, through the same verb, which checks everything again.

Caveats, on purpose: each verb runs synchronously, but webhook calls take time, so a write is
not atomic across them: a concurrent write meanwhile makes an update or a patch fail with 409
Conflict where kube-apiserver would retry a patch. The ``uid`` and timestamps that validating
webhooks see on a create are those of the dry run, not of the stored object (its generated
name is kept). Mutators do not see a custom resource's schema defaults (applied when the
object is prepared). ``deletecollection`` and the ``scale`` subresource skip webhooks.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from ..admission._webhooks import WebhookAttributes, Webhooks, options_of
from ..apimachinery._status import ApiStatusError, qualified_resource
from ..auth._rbac import GROUP as RBAC_GROUP
from ..auth._rbac import RbacAuthorizer
from ..auth._user import UserInfo
from ..registry import _patching
from ..registry._core import NAMESPACES, ApiCore, deepcopy
from ..registry._resources import ResourceInfo
from ..storage._store import Obj


@dataclasses.dataclass(frozen=True)
class WriteOptions:
    """What a write request asks besides its object: how to validate, and who asks."""

    user: UserInfo
    dry_run: bool = False
    field_validation: str = "Strict"
    field_manager: str | None = None


@contextlib.contextmanager
def _warned(warnings: list[str]) -> Iterator[None]:
    """A refusal carries the warnings gathered so far to the client."""
    try:
        yield
    except ApiStatusError as e:
        e.warnings = [*warnings, *(w for w in e.warnings if w not in warnings)]
        raise


class AdmittedWrites:
    """The writes of the API, with the admission webhooks of ``webhooks`` called around
    ``core``'s verbs."""

    def __init__(self, *, core: ApiCore, webhooks: Webhooks) -> None:
        self.core = core
        self.webhooks = webhooks

    def _attributes(
        self, res: ResourceInfo, operation: str, namespace: str | None, name: str, *,
        obj: Obj | None, old: Obj | None, subresource: str | None, options: WriteOptions,
        options_kind: str, extra: Mapping[str, Any] | None = None,
    ) -> WebhookAttributes:
        values: dict[str, Any] = {"fieldManager": options.field_manager}
        if options.dry_run:
            values["dryRun"] = ["All"]
        values.update(extra or {})
        is_namespace = not res.group and res.plural == "namespaces"
        return WebhookAttributes(
            operation=operation, group=res.group, version=res.version, plural=res.plural,
            kind=res.kind, subresource=subresource or "",
            namespace=(name if is_namespace else namespace) or "", name=name,
            obj=obj, old=old, dry_run=options.dry_run,
            options=options_of(options_kind, values), user=options.user.to_json(),
        )

    def _as_stored(self, res: ResourceInfo, namespace: str | None, body: Any) -> Obj | None:
        """The body as a create or an update stores it, for mutators; None if the core is
        to refuse it anyway."""
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            return None
        if body.get("kind") not in (None, "", res.kind) or \
                body.get("apiVersion") not in (None, "", res.api_version):
            return None
        obj: Obj = deepcopy(body)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        meta = obj.setdefault("metadata", {})
        if res.namespaced and namespace:
            if meta.get("namespace") not in (None, "", namespace):
                return None
            meta["namespace"] = namespace
        return obj

    async def _mutate(self, attrs: WebhookAttributes, warnings: list[str]) -> Obj | None:
        outcome = await self.webhooks.mutate(attrs)
        warnings.extend(outcome.warnings)
        return outcome.obj

    async def _validate(self, attrs: WebhookAttributes, warnings: list[str]) -> None:
        warnings.extend(await self.webhooks.validate(attrs))

    def _check_grants(self, res: ResourceInfo, namespace: str | None, obj: Any,
                      user: UserInfo) -> None:
        """Refuse a Role, ClusterRole or binding that grants more than its writer holds (RBAC's
        escalation prevention, when RBAC is enforced)."""
        authorizer = self.core.authorizer
        if res.group != RBAC_GROUP or not isinstance(authorizer, RbacAuthorizer) \
                or not isinstance(obj, Mapping):
            return
        why = authorizer.escalation(res.plural, namespace or "", obj, user)
        if why is not None:
            name = (obj.get("metadata") or {}).get("name") or ""
            raise ApiStatusError(
                403, f'{qualified_resource(res.group, res.plural)} "{name}" is forbidden: {why}',
                reason="Forbidden", name=name, group=res.group, kind=res.plural)

    # -- the verbs --------------------------------------------------------------------------

    async def create(
        self, res: ResourceInfo, namespace: str | None, body: Any, *, options: WriteOptions,
        warnings: list[str],
    ) -> Obj:
        def create(obj: Any, dry_run: bool, into: list[str] | None) -> Obj:
            return self.core.create(
                res, namespace, obj, dry_run=dry_run, field_validation=options.field_validation,
                warnings=into, user=options.user,
            )

        self._check_grants(res, namespace, body, options.user)
        if not self.webhooks.wants():  # asked first: the usual case, and by far the cheapest
            return create(body, options.dry_run, warnings)
        obj = self._as_stored(res, namespace, body)
        missing_namespace = res.namespaced and (
            not namespace or self.core.store.resource(NAMESPACES).get("", namespace) is None)
        if obj is None or res.strategy.reviewer is not None or missing_namespace:
            return create(body, options.dry_run, warnings)
        name = obj["metadata"].get("name") or ""
        attrs = self._attributes(res, "CREATE", namespace, name, obj=obj, old=None,
                                 subresource=None, options=options, options_kind="CreateOptions")
        with _warned(warnings):
            obj = await self._mutate(attrs, warnings)
            attrs = dataclasses.replace(attrs, obj=obj)
            if self.webhooks.has_validators(attrs):
                final = create(deepcopy(obj), True, None)
                name = final["metadata"]["name"]
                assert obj is not None
                obj["metadata"]["name"] = name  # a generated name is the one validated
                await self._validate(dataclasses.replace(attrs, obj=final, name=name), warnings)
            return create(obj, options.dry_run, warnings)

    async def update(
        self, res: ResourceInfo, namespace: str | None, name: str, body: Any, *,
        subresource: str | None, options: WriteOptions, warnings: list[str],
    ) -> Obj:
        def update(obj: Any, dry_run: bool, into: list[str] | None) -> Obj:
            return self.core.update(
                res, namespace, name, obj, subresource=subresource, dry_run=dry_run,
                field_validation=options.field_validation, warnings=into,
            )

        self._check_grants(res, namespace, body, options.user)
        if not self.webhooks.wants():
            return update(body, options.dry_run, warnings)
        obj = self._as_stored(res, namespace, body)
        if obj is None:
            return update(body, options.dry_run, warnings)
        current = self.core.get(res, namespace, name)
        attrs = self._attributes(res, "UPDATE", namespace, name, obj=obj, old=current,
                                 subresource=subresource, options=options,
                                 options_kind="UpdateOptions")
        with _warned(warnings):
            obj = await self._mutate(attrs, warnings)
            attrs = dataclasses.replace(attrs, obj=obj)
            if self.webhooks.has_validators(attrs):
                final = update(deepcopy(obj), True, None)
                await self._validate(dataclasses.replace(attrs, obj=final), warnings)
            return update(obj, options.dry_run, warnings)

    async def patch(
        self, res: ResourceInfo, namespace: str | None, name: str,
        patch_type: _patching.PatchType, raw: bytes, *, subresource: str | None,
        force: bool, options: WriteOptions, warnings: list[str],
    ) -> tuple[Obj, bool]:
        if res.group == RBAC_GROUP and isinstance(self.core.authorizer, RbacAuthorizer):
            _, patched = self.core.patch_result(res, namespace, name, patch_type, raw,
                                                manager=options.field_manager, force=force)
            self._check_grants(res, namespace, patched, options.user)
        if not self.webhooks.wants():
            return self.core.patch(
                res, namespace, name, patch_type, raw, subresource=subresource,
                manager=options.field_manager, dry_run=options.dry_run,
                field_validation=options.field_validation, warnings=warnings, force=force,
            )
        current, new = self.core.patch_result(res, namespace, name, patch_type, raw,
                                              manager=options.field_manager, force=force)

        def write(obj: Obj, dry_run: bool, into: list[str] | None) -> Obj:
            if current is None:
                return self.core.create(res, namespace, obj, dry_run=dry_run,
                                        field_validation=options.field_validation,
                                        warnings=into)
            return self.core.replace(res, current, obj, subresource=subresource,
                                     dry_run=dry_run,
                                     field_validation=options.field_validation, warnings=into)

        new = self._as_stored(res, namespace, new) or new
        attrs = self._attributes(
            res, "CREATE" if current is None else "UPDATE", namespace, name, obj=new,
            old=current, subresource=subresource, options=options, options_kind="PatchOptions",
            extra={"force": force or None},
        )
        with _warned(warnings):
            mutated = await self._mutate(attrs, warnings)
            assert mutated is not None
            attrs = dataclasses.replace(attrs, obj=mutated)
            if self.webhooks.has_validators(attrs):
                final = write(deepcopy(mutated), True, None)
                await self._validate(dataclasses.replace(attrs, obj=final), warnings)
            return write(mutated, options.dry_run, warnings), current is None

    async def delete(
        self, res: ResourceInfo, namespace: str | None, name: str, delete_options: Obj, *,
        options: WriteOptions, warnings: list[str],
    ) -> tuple[Obj, bool]:
        if self.webhooks.wants():
            current = self.core.get(res, namespace, name)
            extra = {k: v for k, v in delete_options.items() if k not in ("kind", "apiVersion")}
            attrs = self._attributes(res, "DELETE", namespace, name, obj=None, old=current,
                                     subresource=None, options=options,
                                     options_kind="DeleteOptions", extra=extra)
            with _warned(warnings):
                await self._mutate(attrs, warnings)
                await self._validate(attrs, warnings)
        with _warned(warnings):
            return self.core.delete(res, namespace, name, delete_options,
                                    dry_run=options.dry_run)
