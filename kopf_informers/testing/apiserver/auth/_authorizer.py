"""Authorization: whether a user may do something, decided in one place.

An :class:`Authorizer` is kube-apiserver's ``authorizer.Authorizer`` and ``RuleResolver`` in
one: :meth:`Authorizer.authorize` decides one request's :class:`Attributes`, and
:meth:`Authorizer.rules_for` lists what a user may do in a namespace. The reviews of
``authorization.k8s.io`` ask nothing else, so an authorizer that reads Roles and RoleBindings
changes every answer at once by taking the place of :data:`ALWAYS_ALLOW` (``ApiCore.authorizer``).

:data:`ALWAYS_ALLOW` is what the embedded server has while it has no RBAC: kube-apiserver's
``--authorization-mode=AlwaysAllow``, which allows everything with no reason given and lists
every verb on every resource and every non-resource URL as its rules.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from ..apimachinery._status import ApiStatusError, qualified_resource
from ._user import UserInfo


@dataclasses.dataclass(frozen=True)
class Attributes:
    """What a request (or a review's spec) asks to do, as ``authorizer.Attributes``."""

    user: UserInfo
    verb: str
    resource_request: bool = True
    namespace: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""  # of a non-resource request


@dataclasses.dataclass(frozen=True)
class Decision:
    """An authorizer's answer: allowed, explicitly denied, or neither (no opinion)."""

    allowed: bool
    denied: bool = False
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class Rules:
    """What a user may do in a namespace, as ``SelfSubjectRulesReview`` reports it."""

    resource_rules: tuple[dict[str, Any], ...]
    non_resource_rules: tuple[dict[str, Any], ...]
    incomplete: bool = False
    evaluation_error: str = ""


class Authorizer(Protocol):
    def authorize(self, attributes: Attributes) -> Decision:
        """Whether ``attributes.user`` may do what ``attributes`` describe."""
        ...

    def rules_for(self, user: UserInfo, namespace: str) -> Rules:
        """Everything ``user`` may do in ``namespace``."""
        ...


class AlwaysAllow:
    """Allows every request, as kube-apiserver's ``AlwaysAllow`` authorization mode."""

    def authorize(self, attributes: Attributes) -> Decision:
        return Decision(allowed=True)

    def rules_for(self, user: UserInfo, namespace: str) -> Rules:
        return Rules(
            resource_rules=({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},),
            non_resource_rules=({"verbs": ["*"], "nonResourceURLs": ["*"]},),
        )


ALWAYS_ALLOW: Authorizer = AlwaysAllow()


def forbidden(attributes: Attributes, reason: str = "") -> ApiStatusError:
    """The 403 kube-apiserver answers a denied request with (``responsewriters.Forbidden``):
    ``configmaps is forbidden: User "u" cannot list resource "configmaps" in API group "" in the
    namespace "ns"``, or ``... at the cluster scope``, or ``forbidden: User "u" cannot get path
    "/x"``, with the authorizer's reason after a colon when it gave one."""
    user = attributes.user.username
    if not attributes.resource_request:
        message = f'User "{user}" cannot {attributes.verb} path "{attributes.path}"'
    else:
        resource = attributes.resource
        if attributes.subresource:
            resource = f"{resource}/{attributes.subresource}"
        message = (f'User "{user}" cannot {attributes.verb} resource "{resource}" in API group '
                   f'"{attributes.group}" ')
        message += (f'in the namespace "{attributes.namespace}"' if attributes.namespace
                    else "at the cluster scope")
    if reason:
        message = f"{message}: {reason}"
    qualified = ""
    if attributes.resource_request:
        qualified = qualified_resource(attributes.group, attributes.resource)
    if not qualified:
        full = f"forbidden: {message}"
    elif attributes.name:
        full = f'{qualified} "{attributes.name}" is forbidden: {message}'
    else:
        full = f"{qualified} is forbidden: {message}"
    return ApiStatusError(403, full, reason="Forbidden", name=attributes.name or None,
                          group=attributes.group if attributes.resource_request else None,
                          kind=attributes.resource or None)


def unauthorized() -> ApiStatusError:
    """The 401 of a request no authenticator accepted (``responsewriters.Unauthorized``)."""
    return ApiStatusError(401, "Unauthorized", reason="Unauthorized")


def impersonation_checks(user: UserInfo, target: UserInfo, uid: str,
                         extra: dict[str, tuple[str, ...]]) -> list[Attributes]:
    """What ``user`` must be allowed to impersonate ``target`` (``filters.WithImpersonation``):
    ``impersonate`` on the user (or the ServiceAccount), each group, the uid and each extra."""
    prefix = "system:serviceaccount:"
    checks: list[Attributes] = []
    if target.username.startswith(prefix):
        namespace, _, name = target.username[len(prefix):].partition(":")
        checks.append(Attributes(user=user, verb="impersonate", namespace=namespace,
                                 resource="serviceaccounts", name=name))
    else:
        checks.append(Attributes(user=user, verb="impersonate", resource="users",
                                 name=target.username))
    implied = {"system:authenticated", "system:serviceaccounts"}
    for group in target.groups:
        if group in implied or group.startswith("system:serviceaccounts:"):
            continue
        checks.append(Attributes(user=user, verb="impersonate", resource="groups", name=group))
    if uid:
        checks.append(Attributes(user=user, verb="impersonate", group="authentication.k8s.io",
                                 resource="uids", name=uid))
    for key, values in extra.items():
        for value in values:
            checks.append(Attributes(user=user, verb="impersonate",
                                     group="authentication.k8s.io", resource="userextras",
                                     subresource=key, name=value))
    return checks
