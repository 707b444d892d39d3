"""Admission webhooks: calls to the webhooks of stored ``admissionregistration.k8s.io/v1``
``MutatingWebhookConfiguration``s and ``ValidatingWebhookConfiguration``s.

Where it sits: the HTTP layer's writes (create, update, patch, delete) ask :meth:`Webhooks.wants`
whether any webhook is configured at all (without one, nothing here runs), then
:meth:`Webhooks.mutate` with the object as the request would store it, and, after the registry
has prepared and validated the (mutated) object in a dry run, :meth:`Webhooks.validate`. Either
raises :class:`ApiStatusError` to refuse the write, worded as kube-apiserver words it. Which
webhooks a request goes to is :mod:`._webhook_rules`'.

What kube-apiserver (1.32) does and this does too:

* mutating webhooks one after another, configurations sorted by name, webhooks in their order;
  a ``JSONPatch`` response (``patchType: JSONPatch``, ``patch`` base64) is applied before the
  next one is called; validating webhooks concurrently, the first refusal (in that order) wins;
* ``admissionReviewVersions`` must name ``v1`` (the only version sent): ``AdmissionReview``
  with ``uid``, ``kind``, ``resource``, ``subResource``, ``requestKind``, ``requestResource``,
  ``requestSubResource``, ``name``, ``namespace``, ``operation``, ``userInfo``, ``object``,
  ``oldObject``, ``dryRun`` and ``options``; a response must echo the ``uid``;
* ``clientConfig.url``, or ``clientConfig.service`` (``namespace``, ``name``, ``path``,
  ``port`` 443 by default), always HTTPS, verified with ``caBundle`` (the system's roots without
  one); a service's certificate is verified for ``<name>.<namespace>.svc``;
* ``timeoutSeconds`` (10 by default) bounds each call, appended to the URL as ``?timeout=10s``;
* ``failurePolicy``: ``Fail`` (the default) answers a webhook that cannot be called, times out
  or answers nonsense with 500 ``Internal error occurred: failed calling webhook "name": ...``;
  ``Ignore`` goes on as if it had allowed the request;
* a dry-run request to a webhook whose ``sideEffects`` is neither ``None`` nor
  ``NoneOnDryRun`` is refused with 400 ``admission webhook "name" does not support dry run``;
* a refusal answers with the webhook's ``status``: ``code`` (400 if below 400), ``reason`` and
  ``admission webhook "name" denied the request: <message>`` (or ``: <reason>``, or
  ``without explanation``);
* ``warnings`` reach the client as ``Warning: 299`` headers, on success and on refusal.

Differences, on purpose (no pods run here): a Service resolves through the server's
``webhook_hosts`` (``"<name>.<namespace>.svc"`` → ``"host"`` or ``"host:port"``), else through
its own ``spec.externalName`` when its type is ``ExternalName`` (as kube-apiserver's cluster
resolver does); a ClusterIP Service with neither is a call failure. ``matchPolicy:
Equivalent`` calls a webhook registered for another served version of a custom resource in
that version (see ``_webhook_rules``). Not implemented: ``matchConditions``, CONNECT, and the
audit annotations of webhook responses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import ssl
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import jsonpatch
import orjson

from ..apimachinery._status import ApiStatusError, bad_request
from ..storage._store import Obj, ResourceKey, Store
from ._webhook_rules import WebhookAttributes, matching_version

MUTATING: ResourceKey = ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
VALIDATING: ResourceKey = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")
CRDS: ResourceKey = ("apiextensions.k8s.io", "customresourcedefinitions")
SERVICES: ResourceKey = ("", "services")
DEFAULT_TIMEOUT = 10
MAX_TIMEOUT = 30
MAX_RESPONSE_BYTES = 3 * 1024 * 1024
SIDE_EFFECT_FREE = ("None", "NoneOnDryRun")


class CallError(Exception):
    """A webhook could not be called or answered nonsense: its ``failurePolicy`` decides."""


@dataclasses.dataclass(frozen=True)
class Webhook:
    """One entry of a configuration's ``webhooks``, and the kind of configuration it is in."""

    spec: Mapping[str, Any]
    mutating: bool
    version: str  # what it is called in: the request's version, or an equivalent one

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def ignores_failures(self) -> bool:
        return self.spec.get("failurePolicy") == "Ignore"

    @property
    def timeout(self) -> int:
        value = self.spec.get("timeoutSeconds")
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_TIMEOUT:
            return value
        return DEFAULT_TIMEOUT


@dataclasses.dataclass
class Outcome:
    """What the webhooks did to a write: the object as mutated, and their warnings."""

    obj: Obj | None
    warnings: list[str] = dataclasses.field(default_factory=list)


class Webhooks:
    """Calls the configured admission webhooks of one store's configurations.

    Args:
        store: where the configurations, Services and Namespaces are read.
        hosts: where a Service's webhooks listen: ``"<name>.<namespace>.svc"`` → ``"host"``
            (the Service's port) or ``"host:port"``.
    """

    def __init__(self, store: Store, *, hosts: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.hosts = dict(hosts or {})

    def wants(self) -> bool:
        """Whether any webhook configuration is stored (cheap: the write path asks each time,
        so it counts them rather than lists them)."""
        return bool(self.store.resource(MUTATING).count or self.store.resource(VALIDATING).count)

    def _webhooks(self, key: ResourceKey, attrs: WebhookAttributes) -> list[Webhook]:
        configs = sorted(self.store.resource(key).items(""), key=lambda c: c["metadata"]["name"])
        equivalents = self._equivalent_versions(attrs)
        found: list[Webhook] = []
        for config in configs:
            for spec in config.get("webhooks") or ():
                if not isinstance(spec, dict):
                    continue
                version = matching_version(self.store, spec, attrs, equivalents)
                if version is not None:
                    found.append(Webhook(spec, mutating=key == MUTATING, version=version))
        return found

    def _equivalent_versions(self, attrs: WebhookAttributes) -> list[str]:
        """The served versions of the request's custom resource, in the CRD's order."""
        crd = self.store.resource(CRDS).get("", f"{attrs.plural}.{attrs.group}")
        if crd is None:
            return []
        return [str(v.get("name")) for v in (crd.get("spec") or {}).get("versions") or ()
                if isinstance(v, dict) and v.get("served")]

    def has_validators(self, attrs: WebhookAttributes) -> bool:
        return bool(self._webhooks(VALIDATING, attrs))

    async def mutate(self, attrs: WebhookAttributes) -> Outcome:
        """Call the matching mutating webhooks in turn, applying each one's patch.

        Then, once, as kube-apiserver's reinvocation does: a webhook with
        ``reinvocationPolicy: IfNeeded`` is called again if a later one changed the object
        after it was called (its own change does not count), in the same order.
        """
        outcome = Outcome(attrs.obj)
        webhooks = self._webhooks(MUTATING, attrs)
        again: set[int] = set()
        await self._mutate_in_turn(webhooks, attrs, outcome, again)
        if again:
            await self._mutate_in_turn(webhooks, attrs, outcome, set(), only=again)
        return outcome

    async def _mutate_in_turn(self, webhooks: Sequence[Webhook], attrs: WebhookAttributes,
                              outcome: Outcome, again: set[int], *,
                              only: set[int] | None = None) -> None:
        """One pass over ``webhooks`` (those numbered in ``only``, if given); ``again`` gets
        the reinvocable ones called before a change."""
        called: list[int] = []  # reinvocable, and called since the last change
        for i, webhook in enumerate(webhooks):
            if only is not None and i not in only:
                continue
            current = dataclasses.replace(attrs, obj=outcome.obj)
            seen = current.in_version(webhook.version)
            response = await self._admit(webhook, seen, outcome.warnings)
            if response is not None and outcome.obj is not None and seen.obj is not None:
                patched = _patched(webhook, seen.obj, response)
                if seen is not current:  # back into the version the client sent
                    patched = {**patched, "apiVersion": outcome.obj.get("apiVersion")}
                before, outcome.obj = outcome.obj, patched
                if outcome.obj != before:
                    again.update(called)
                    called.clear()
            if webhook.spec.get("reinvocationPolicy") == "IfNeeded":
                called.append(i)

    async def validate(self, attrs: WebhookAttributes) -> list[str]:
        """Call the matching validating webhooks concurrently; returns their warnings."""
        webhooks = self._webhooks(VALIDATING, attrs)
        each: list[list[str]] = [[] for _ in webhooks]
        results = await asyncio.gather(
            *(self._admit(w, attrs.in_version(w.version), warnings)
              for w, warnings in zip(webhooks, each, strict=True)),
            return_exceptions=True,
        )
        warnings = [w for ws in each for w in ws]
        for result in results:
            if isinstance(result, ApiStatusError):
                result.warnings = warnings + [w for w in result.warnings if w not in warnings]
                raise result
            if isinstance(result, BaseException):
                raise result
        return warnings

    async def _admit(self, webhook: Webhook, attrs: WebhookAttributes, warnings: list[str],
                     ) -> Mapping[str, Any] | None:
        """Call one webhook; its response if it allowed the request (None: ignored failure)."""
        if attrs.dry_run and webhook.spec.get("sideEffects") not in SIDE_EFFECT_FREE:
            raise bad_request(f'admission webhook "{webhook.name}" does not support dry run')
        try:
            response = await self._call(webhook, attrs)
        except CallError as e:
            if webhook.ignores_failures:
                return None
            error = ApiStatusError(
                500, f'Internal error occurred: failed calling webhook "{webhook.name}": {e}',
                reason="InternalError",
                causes=[{"message": f'failed calling webhook "{webhook.name}": {e}'}],
            )
            error.warnings = list(warnings)
            raise error from e
        warnings.extend(w for w in response.get("warnings") or () if isinstance(w, str))
        if response.get("allowed") is not True:
            error = denied(webhook.name, response.get("status"))
            error.warnings = list(warnings)
            raise error
        return response

    async def _call(self, webhook: Webhook, attrs: WebhookAttributes) -> Mapping[str, Any]:
        versions = webhook.spec.get("admissionReviewVersions") or ()
        if "v1" not in versions:
            raise CallError("webhook does not accept v1 AdmissionReview")
        url, server_hostname, context = self._endpoint(webhook)
        url = f"{url}{'&' if '?' in url else '?'}timeout={webhook.timeout}s"
        uid = str(uuid.uuid4())
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                  "request": review_request(uid, attrs)}
        post = f'Post "{url}"'
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=webhook.timeout),
            ) as session, session.post(
                url, data=orjson.dumps(review), ssl=context, server_hostname=server_hostname,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            ) as resp:
                body = await resp.content.read(MAX_RESPONSE_BYTES + 1)
                status = resp.status
        except TimeoutError as e:
            raise CallError(f"failed to call webhook: {post}: context deadline exceeded") from e
        except (aiohttp.ClientError, OSError, ssl.SSLError) as e:
            raise CallError(f"failed to call webhook: {post}: {e}") from e
        if len(body) > MAX_RESPONSE_BYTES:
            raise CallError(f"failed to call webhook: {post}: the response is too large")
        if status != 200:
            raise CallError(
                f"failed to call webhook: the server responded with the status code {status} "
                "but did not return more information"
            )
        return _response_of(uid, body)

    def _endpoint(self, webhook: Webhook) -> tuple[str, str | None, ssl.SSLContext]:
        """The URL to post to, the TLS server name to verify, and the verifying context."""
        config = webhook.spec.get("clientConfig") or {}
        context = _ssl_context(config.get("caBundle"))
        url = config.get("url")
        if isinstance(url, str) and url:
            if not url.startswith("https://"):
                raise CallError(f'failed to call webhook: the URL "{url}" is not https')
            return url, None, context
        service = config.get("service")
        if not isinstance(service, dict):
            raise CallError("failed to call webhook: the clientConfig has no url and no service")
        name, namespace = service.get("name", ""), service.get("namespace", "")
        port = service.get("port") or 443
        path = service.get("path") or ""
        server_name = f"{name}.{namespace}.svc"
        host = self.hosts.get(server_name)
        if host is None:
            svc = self.store.resource(SERVICES).get(namespace, name)
            if svc is None:
                raise CallError(f'failed to call webhook: service "{name}" not found')
            svc_spec = svc.get("spec") or {}
            if svc_spec.get("type") != "ExternalName" or not svc_spec.get("externalName"):
                raise CallError(
                    f'failed to call webhook: service "{namespace}/{name}" cannot be reached '
                    "from the embedded server: make it type ExternalName, or map "
                    f'"{server_name}" in the server\'s webhook_hosts'
                )
            host = str(svc_spec["externalName"])
        if ":" not in host.rsplit("]", 1)[-1]:
            host = f"{host}:{port}"
        return f"https://{host}{path}", server_name, context


def _ssl_context(ca_bundle: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_bundle:
        try:
            context.load_verify_locations(
                cadata=base64.b64decode(str(ca_bundle), validate=True).decode("ascii"),
            )
        except (binascii.Error, UnicodeDecodeError, ssl.SSLError, ValueError) as e:
            raise CallError(f"failed to call webhook: the caBundle is invalid: {e}") from e
    return context


def _response_of(uid: str, body: bytes) -> Mapping[str, Any]:
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise CallError(f"received invalid webhook response: {e}") from e
    if not isinstance(review, dict) or not isinstance(review.get("response"), dict):
        raise CallError("received invalid webhook response: the response is missing")
    if review.get("apiVersion") != "admission.k8s.io/v1" or review.get("kind") != \
            "AdmissionReview":
        raise CallError(
            f'expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got '
            f'{review.get("apiVersion")}, Kind={review.get("kind")}'
        )
    response: Mapping[str, Any] = review["response"]
    if response.get("uid") != uid:
        raise CallError(f'expected response.uid="{uid}", got "{response.get("uid")}"')
    return response


def _patched(webhook: Webhook, obj: Obj, response: Mapping[str, Any]) -> Obj:
    """``obj`` with the response's JSONPatch applied (a fresh copy); as it was without one."""
    raw = response.get("patch")
    if not raw:
        return obj
    if response.get("patchType") != "JSONPatch":
        raise CallError(f'unsupported patch type "{response.get("patchType")}"')
    try:
        patch = orjson.loads(base64.b64decode(raw, validate=True))
        patched = jsonpatch.apply_patch(obj, patch, in_place=False)
    except (binascii.Error, ValueError, TypeError, jsonpatch.JsonPatchException,
            jsonpatch.JsonPointerException) as e:
        raise ApiStatusError(
            500, f'Internal error occurred: admission webhook "{webhook.name}" returned an '
            f"invalid patch: {e}", reason="InternalError",
        ) from e
    if not isinstance(patched, dict):
        raise ApiStatusError(500, f'Internal error occurred: admission webhook "{webhook.name}" '
                             "patched the object into something else", reason="InternalError")
    return patched


def denied(name: str, status: Any) -> ApiStatusError:
    """A refusal as ``webhookerrors.ToStatusErr`` words it."""
    status = status if isinstance(status, dict) else {}
    denied_by = f'admission webhook "{name}" denied the request'
    code = status.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) and code >= 400 else 400
    message, reason = status.get("message"), status.get("reason")
    if message:
        text = f"{denied_by}: {message}"
    elif reason:
        text = f"{denied_by}: {reason}"
    else:
        text = f"{denied_by} without explanation"
    details = status.get("details") if isinstance(status.get("details"), dict) else {}
    return ApiStatusError(
        code, text, reason=str(reason) if reason else "",
        name=details.get("name"), group=details.get("group"), kind=details.get("kind"),
        causes=[c for c in details.get("causes") or () if isinstance(c, dict)],
    )


def review_request(uid: str, attrs: WebhookAttributes) -> dict[str, Any]:
    """The ``request`` of a v1 ``AdmissionReview``."""
    kind = {"group": attrs.group, "version": attrs.version, "kind": attrs.kind}
    resource = {"group": attrs.group, "version": attrs.version, "resource": attrs.plural}
    request: dict[str, Any] = {"uid": uid, "kind": kind, "resource": resource}
    if attrs.subresource:
        request["subResource"] = attrs.subresource
    sent = attrs.request_version or attrs.version
    request["requestKind"] = {**kind, "version": sent}
    request["requestResource"] = {**resource, "version": sent}
    if attrs.subresource:
        request["requestSubResource"] = attrs.subresource
    if attrs.name:
        request["name"] = attrs.name
    if attrs.namespace:
        request["namespace"] = attrs.namespace
    request.update({
        "operation": attrs.operation, "userInfo": dict(attrs.user),
        "object": attrs.obj, "oldObject": attrs.old, "dryRun": attrs.dry_run,
        "options": dict(attrs.options),
    })
    return request


def options_of(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``CreateOptions``/``UpdateOptions``/``PatchOptions``/``DeleteOptions`` as sent."""
    return {"kind": kind, "apiVersion": "meta.k8s.io/v1",
            **{k: v for k, v in values.items() if v not in (None, "", False)}}


__all__: Sequence[str] = [
    "CallError", "Outcome", "WebhookAttributes", "Webhooks", "denied", "options_of",
    "review_request",
]
