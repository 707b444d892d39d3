"""Authentication: which user a request or a token is.

The embedded server has no credentials to check: its kubeconfig carries a token only because
clients insist on one. Every request is therefore the cluster's administrator, the user a
kubeadm-made ``admin.conf`` names (``kubernetes-admin`` in ``system:masters``, the group RBAC
always allows), unless it impersonates someone else with ``Impersonate-User`` and
``Impersonate-Group`` headers, as ``kubectl --as`` and ``--as-group`` send; the administrator
may impersonate anyone. A token, for ``TokenReview``, is the administrator too.

What kube-apiserver does beyond this (client certificates, service-account tokens, OIDC,
anonymous requests, the authorization check of impersonation) waits for RBAC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

AUTHENTICATED = "system:authenticated"


@dataclasses.dataclass(frozen=True)
class UserInfo:
    """A user as ``user.Info`` describes one, and as ``authentication.k8s.io/v1`` writes it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``UserInfo`` of ``authentication.k8s.io/v1`` (empty fields left out)."""
        body: dict[str, Any] = {"username": self.username}
        if self.uid:
            body["uid"] = self.uid
        if self.groups:
            body["groups"] = list(self.groups)
        if self.extra:
            body["extra"] = {key: list(values) for key, values in self.extra.items()}
        return body


ADMIN = UserInfo("kubernetes-admin", groups=("system:masters", AUTHENTICATED))


class Authenticator:
    """Decides who a request is (:meth:`user_of`) and who a token is (:meth:`user_of_token`)."""

    def user_of(self, headers: Mapping[str, str]) -> UserInfo:
        """The user a request acts as: the administrator, or whom it impersonates."""
        return _impersonated(headers) or self.user_of_token(_bearer(headers)) or ADMIN

    def user_of_token(self, token: str) -> UserInfo | None:
        """Who ``token`` belongs to; None if nobody. Every token is the administrator's."""
        return ADMIN if token else None


def _bearer(headers: Mapping[str, str]) -> str:
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _impersonated(headers: Any) -> UserInfo | None:
    """The user of ``Impersonate-*`` headers, as kube-apiserver's impersonation filter makes it:
    the named user, in the named groups and ``system:authenticated``."""
    username = headers.get("Impersonate-User")
    if not username:
        return None
    groups: Sequence[str] = (headers.getall("Impersonate-Group", [])
                             if hasattr(headers, "getall") else ())
    extra: dict[str, tuple[str, ...]] = {}
    prefix = "impersonate-extra-"
    for name in headers:
        if name.lower().startswith(prefix):
            key = name[len(prefix):].lower()
            extra[key] = tuple(headers.getall(name)) if hasattr(headers, "getall") else (
                headers[name],)
    all_groups = tuple(groups)
    if AUTHENTICATED not in all_groups and username != "system:anonymous":
        all_groups += (AUTHENTICATED,)
    return UserInfo(username, uid=headers.get("Impersonate-Uid", ""), groups=all_groups,
                    extra=extra)
