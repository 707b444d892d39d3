"""Authentication: which user a request or a token is.

kube-apiserver runs its authenticators in turn (client certificate, static tokens,
service-account tokens, then anonymous) and answers 401 ``Unauthorized`` to a request that
offers a credential nobody accepts or, with anonymous requests off, none at all. With
``strict`` on (``EmbeddedApiServer(rbac=True)`` or ``authentication=True``) so does this one:

* a client certificate the server's CA signed: its common name, its organizations as groups;
* a static bearer token: the kubeconfig's administrator token, and those a test adds;
* a service-account token: issued by the TokenRequest API (``serviceaccounts/token``,
  ``kubectl create token``) or put into a ``kubernetes.io/service-account-token`` Secret. They
  are JWTs signed (HS256) with a key made at start; one names its ServiceAccount by uid too, so
  it stops working when the ServiceAccount (or the Secret) is deleted, and when it expires;
* otherwise ``system:anonymous`` in ``system:unauthenticated`` if ``anonymous`` is allowed,
  else 401.

With ``strict`` off (the default, for speed and for the tests written before), any request is
the administrator (``kubernetes-admin`` in ``system:masters``) unless it presents a credential
this authenticator knows: an unknown token, or none, is the administrator still. Either way a
request may impersonate with ``Impersonate-User``/``Impersonate-Group`` headers (``kubectl
--as``); with RBAC the HTTP layer first asks the authorizer for ``impersonate``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SERVICEACCOUNT_PREFIX = "system:serviceaccount:"
ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_TOKEN_SECONDS = 3600


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
ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(UNAUTHENTICATED,))

# (kind, namespace, name) -> uid of a ServiceAccount or Secret, or None if there is none.
UidLookup = Callable[[str, str, str], "str | None"]


def serviceaccount_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    """The user a ServiceAccount's token authenticates as (``serviceaccount.UserInfo``)."""
    return UserInfo(f"{SERVICEACCOUNT_PREFIX}{namespace}:{name}", uid=uid, groups=(
        "system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED))


class Authenticator:
    """Decides who a request is (:meth:`user_of`) and who a token is (:meth:`user_of_token`).

    ``uids`` finds the uid of a ServiceAccount or Secret, so that their tokens die with them;
    None trusts every well-signed service-account token.
    """

    def __init__(self, *, strict: bool = False, anonymous: bool = False,
                 uids: UidLookup | None = None) -> None:
        self.strict = strict
        self.anonymous = anonymous
        self.admin_token = secrets.token_urlsafe(24) if strict else "embedded-apiserver-token"
        self._tokens: dict[str, UserInfo] = {self.admin_token: ADMIN}
        self._key = secrets.token_bytes(32)
        self._uids = uids

    def add_token(self, token: str, user: UserInfo) -> None:
        """Accept ``token`` as ``user`` (kube-apiserver's ``--token-auth-file``)."""
        self._tokens[token] = user

    def user_of(self, headers: Mapping[str, str],
                peer: UserInfo | None = None) -> UserInfo | None:
        """The user a request authenticates as, before impersonation; None means 401.

        ``peer`` is the user of the client certificate, if one was verified."""
        token = _bearer(headers)
        if token:
            user = self.user_of_token(token)
            if user is not None:
                return user
            return None if self.strict else ADMIN
        if peer is not None:
            return peer
        if not self.strict:
            return ADMIN
        return ANONYMOUS_USER if self.anonymous else None

    def user_of_token(self, token: str) -> UserInfo | None:
        """Who ``token`` belongs to; None if nobody. Lenient, any token is the administrator."""
        user = self._tokens.get(token) or self._serviceaccount_of(token)
        if user is None and not self.strict and token:
            return ADMIN
        return user

    # -- service-account tokens -----------------------------------------------------------------

    def issue(self, namespace: str, name: str, uid: str, *, seconds: int = DEFAULT_TOKEN_SECONDS,
              audiences: Sequence[str] = (), secret: tuple[str, str] | None = None,
              ) -> tuple[str, int]:
        """A token for the ServiceAccount ``namespace/name`` (uid ``uid``) and its expiry
        (seconds since the epoch); a legacy ``secret`` (name, uid) token never expires."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER, "sub": f"{SERVICEACCOUNT_PREFIX}{namespace}:{name}",
            "aud": list(audiences) or [ISSUER], "iat": now, "nbf": now,
            "kubernetes.io": {"namespace": namespace,
                              "serviceaccount": {"name": name, "uid": uid}},
        }
        expiry = 0
        if secret is not None:
            claims["kubernetes.io"]["secret"] = {"name": secret[0], "uid": secret[1]}
        else:
            expiry = claims["exp"] = now + seconds
        header = _b64({"alg": "HS256", "typ": "JWT"})
        signed = f"{header}.{_b64(claims)}"
        return f"{signed}.{self._sign(signed)}", expiry

    def _serviceaccount_of(self, token: str) -> UserInfo | None:
        signed, _, signature = token.rpartition(".")
        if not signed or not hmac.compare_digest(self._sign(signed), signature):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(signed.split(".")[1] + "=="))
            ki = claims["kubernetes.io"]
            namespace, name = ki["namespace"], ki["serviceaccount"]["name"]
            uid = ki["serviceaccount"]["uid"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        if "exp" in claims and claims["exp"] < time.time():
            return None
        if self._uids is not None:
            if self._uids("serviceaccounts", namespace, name) != uid:
                return None
            secret = ki.get("secret")
            if secret and self._uids("secrets", namespace, secret["name"]) != secret["uid"]:
                return None
        return serviceaccount_user(namespace, name, uid)

    def _sign(self, signed: str) -> str:
        digest = hmac.new(self._key, signed.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _b64(data: Any) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _bearer(headers: Mapping[str, str]) -> str:
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def impersonated(headers: Any) -> UserInfo | None:
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
    if username.startswith(SERVICEACCOUNT_PREFIX) and not all_groups:
        namespace = username[len(SERVICEACCOUNT_PREFIX):].partition(":")[0]
        all_groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")
    if AUTHENTICATED not in all_groups and username != ANONYMOUS:
        all_groups += (AUTHENTICATED,)
    return UserInfo(username, uid=headers.get("Impersonate-Uid", ""), groups=all_groups,
                    extra=extra)
