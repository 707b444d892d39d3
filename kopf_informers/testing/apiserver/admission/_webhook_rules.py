"""Which admission webhooks a request goes to: rules, scope, namespace and object selectors.

Where it sits: :mod:`._webhooks` asks :func:`matches` of every webhook of every stored
``Mutating``/``ValidatingWebhookConfiguration`` (``admissionregistration.k8s.io/v1``) before it
calls one. The semantics are those of kube-apiserver's ``webhook/predicates`` (1.32):

* a rule matches when each of ``operations``, ``apiGroups``, ``apiVersions`` and ``resources``
  holds the request's value or ``*``; a resource is ``plural`` or ``plural/subresource``, and
  ``*`` matches every resource but no subresource (``*/*`` matches all, ``*/status`` every
  status; ``pods/*`` matches pods and all their subresources, as the Go code has it);
* ``scope``: ``Cluster`` matches cluster-scoped objects and Namespaces, ``Namespaced`` the
  others, ``*`` (the default) both;
* ``namespaceSelector`` is matched against the labels of the request's namespace (of the
  Namespace itself for a Namespace); a cluster-scoped object other than a Namespace always
  matches it; an empty or missing selector matches everything;
* ``objectSelector`` matches when the new object's labels or the old object's match it.

Configurations themselves (and policies) never go to webhooks, as kube-apiserver exempts them:
a broken webhook could otherwise never be removed.

``matchPolicy: Equivalent`` (the default): when no rule matches the request's own version, a
rule matching another served version of the same custom resource (earlier rules first, then
the CRD's versions in order) calls the webhook in that version, with the object in it
(conversion ``None``: its ``apiVersion``), and ``requestKind``/``requestResource`` saying what
the client sent. Built-in kinds are served in one version each here, so they have no
equivalents. CEL ``matchConditions`` are not implemented: conditions are ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ....errors import SelectorError
from ....selectors import LabelSelector
from ..storage._store import Obj, ResourceKey, Store

NAMESPACES: ResourceKey = ("", "namespaces")
ADMISSIONREGISTRATION = "admissionregistration.k8s.io"
# kube-apiserver's IsExemptAdmissionConfigurationResource: never sent to webhooks.
EXEMPT_PLURALS = frozenset({
    "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
    "validatingadmissionpolicies", "validatingadmissionpolicybindings",
    "mutatingadmissionpolicies", "mutatingadmissionpolicybindings",
})


@dataclasses.dataclass(frozen=True)
class WebhookAttributes:
    """What admission webhooks are told of one write (an ``AdmissionRequest`` in the making)."""

    operation: str  # "CREATE", "UPDATE" or "DELETE"
    group: str
    version: str
    plural: str
    kind: str
    subresource: str  # "" for the object itself
    namespace: str  # "" for a cluster-scoped object; a Namespace's own name for a Namespace
    name: str  # "" when a create has only a generateName
    obj: Obj | None  # None for DELETE
    old: Obj | None  # None for CREATE
    dry_run: bool
    options: Mapping[str, Any]  # CreateOptions, UpdateOptions, PatchOptions or DeleteOptions
    user: Mapping[str, Any]  # authentication.k8s.io/v1 UserInfo
    request_version: str = ""  # what the client sent, when a webhook sees another version

    @property
    def exempt(self) -> bool:
        return self.group == ADMISSIONREGISTRATION and self.plural in EXEMPT_PLURALS

    def in_version(self, version: str) -> WebhookAttributes:
        """The request as a webhook called in an equivalent ``version`` sees it."""
        if version == self.version:
            return self
        api_version = f"{self.group}/{version}" if self.group else version
        return dataclasses.replace(
            self, version=version, request_version=self.request_version or self.version,
            obj=_in_api_version(self.obj, api_version), old=_in_api_version(self.old, api_version))


def _in_api_version(obj: Obj | None, api_version: str) -> Obj | None:
    return None if obj is None else {**obj, "apiVersion": api_version}


def rule_matches(rule: Mapping[str, Any], attrs: WebhookAttributes) -> bool:
    """Whether one of a webhook's ``rules`` (a ``RuleWithOperations``) covers the request."""
    def has(field: str, value: str) -> bool:
        values = rule.get(field) or ()
        return "*" in values or value in values

    if not (has("operations", attrs.operation) and has("apiGroups", attrs.group)
            and has("apiVersions", attrs.version)):
        return False
    if not any(_resource_matches(r, attrs.plural, attrs.subresource)
               for r in rule.get("resources") or () if isinstance(r, str)):
        return False
    return _scope_matches(rule.get("scope") or "*", attrs)


def _resource_matches(pattern: str, plural: str, subresource: str) -> bool:
    resource, _, sub = pattern.partition("/")
    return resource in ("*", plural) and sub in ("*", subresource)


def _scope_matches(scope: str, attrs: WebhookAttributes) -> bool:
    is_namespace = not attrs.group and attrs.plural == "namespaces"
    if scope == "Namespaced":
        return not is_namespace and bool(attrs.namespace)
    if scope == "Cluster":
        return is_namespace or not attrs.namespace
    return True


def _labels(obj: Obj | None) -> Mapping[str, str] | None:
    if not isinstance(obj, dict):
        return None
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _selector(webhook: Mapping[str, Any], field: str) -> LabelSelector:
    return LabelSelector.from_dict(webhook.get(field) or {})


def namespace_matches(store: Store, webhook: Mapping[str, Any], attrs: WebhookAttributes,
                      ) -> bool:
    """The ``namespaceSelector`` test (a missing namespace matches nothing: the write then
    fails on its own, with the namespace's 404)."""
    selector = _selector(webhook, "namespaceSelector")
    is_namespace = not attrs.group and attrs.plural == "namespaces"
    if selector.is_empty or (not attrs.namespace and not is_namespace):
        return True
    if is_namespace and not attrs.subresource:
        labels = _labels(attrs.obj if attrs.obj is not None else attrs.old)
    else:
        labels = _labels(store.resource(NAMESPACES).get("", attrs.namespace))
    return labels is not None and selector.matches(labels)


def object_matches(webhook: Mapping[str, Any], attrs: WebhookAttributes) -> bool:
    """The ``objectSelector`` test: the new object's labels or the old one's."""
    selector = _selector(webhook, "objectSelector")
    if selector.is_empty:
        return True
    return any(labels is not None and selector.matches(labels)
               for labels in (_labels(attrs.obj), _labels(attrs.old)))


def matching_version(store: Store, webhook: Mapping[str, Any], attrs: WebhookAttributes,
                     equivalents: Sequence[str] = ()) -> str | None:
    """The version in which ``webhook`` (one entry of a configuration's ``webhooks``) is called
    for the request, or None if it is not: the request's own, else (``matchPolicy:
    Equivalent``) the first of the ``equivalents`` that a rule matches, earlier rules first.
    A selector that does not parse matches nothing (the API validates them)."""
    if attrs.exempt:
        return None
    rules = [r for r in webhook.get("rules") or () if isinstance(r, dict)]
    version: str | None = None
    if any(rule_matches(r, attrs) for r in rules):
        version = attrs.version
    elif webhook.get("matchPolicy", "Equivalent") == "Equivalent":
        version = next((v for r in rules for v in equivalents if v != attrs.version
                        and rule_matches(r, dataclasses.replace(attrs, version=v))), None)
    if version is None:
        return None
    try:
        if namespace_matches(store, webhook, attrs) and object_matches(webhook, attrs):
            return version
    except SelectorError:
        pass
    return None
