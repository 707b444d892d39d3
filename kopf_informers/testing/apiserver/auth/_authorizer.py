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
