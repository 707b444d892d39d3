"""Kubernetes ``Status`` objects, and the exception the server raises to answer with one.

Every error the embedded API server returns is a ``Status`` shaped as kube-apiserver shapes it:
``kind``, ``apiVersion``, ``metadata``, ``status: Failure``, ``message``, ``reason``, ``details``
(``name``, ``group``, ``kind``, ``uid``, ``causes``, ``retryAfterSeconds``) and ``code``, in
that order: the order of the fields of apimachinery's ``metav1.Status`` and ``StatusDetails``
structs, which Go's ``encoding/json`` writes them in, so that bodies are byte for byte the real
server's (``_json.encode`` adds the rest: Go's HTML escapes and the encoder's final newline).
Clients (Kopf, kubectl, the official client) decide what to do from ``code`` and ``reason``, so
both must be right.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REASONS: Mapping[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_body(
    code: int,
    message: str,
    *,
    reason: str | None = None,
    name: str | None = None,
    group: str | None = None,
    kind: str | None = None,
    causes: Iterable[Mapping[str, Any]] = (),
    retry_after: int | None = None,
) -> dict[str, Any]:
    """A ``Status`` object as the real server sends it (``details`` only when there are any).

    ``reason`` defaults to the code's; an empty one is left out, as the real server leaves out
    the reason of an error that carries none (``StatusReasonUnknown``).
    """
    details: dict[str, Any] = {}
    if name is not None:
        details["name"] = name
    if group is not None:
        details["group"] = group
    if kind is not None:
        details["kind"] = kind
    causes = list(causes)
    if causes:
        details["causes"] = causes
    if retry_after is not None:
        details["retryAfterSeconds"] = retry_after
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": REASONS.get(code, "Unknown") if reason is None else reason,
    }
    if not body["reason"]:
        del body["reason"]
    if details:
        body["details"] = details
    body["code"] = code  # last, as in the Go struct: after the details
    return body


def success_status(*, name: str, group: str, plural: str, uid: str | None) -> dict[str, Any]:
    """What DELETE answers for a kind whose store does not return the deleted object.

    kube-apiserver's generic registry (``Store.finalizeDelete``) fills only the details: the
    name, the group (left out for the core group: ``omitempty``), the resource's plural as the
    ``kind``, and the uid; no ``code`` and no ``message``.
    """
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}


class ApiStatusError(Exception):
    """Raised inside the server to answer the current request with a ``Status``."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        name: str | None = None,
        group: str | None = None,
        kind: str | None = None,
        causes: Iterable[Mapping[str, Any]] = (),
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        # Warnings for the client that the refused request had gathered (admission webhooks').
        self.warnings: list[str] = []
        self.body = status_body(
            code, message, reason=reason, name=name, group=group, kind=kind,
            causes=causes, retry_after=retry_after,
        )


def qualified_resource(group: str, plural: str) -> str:
    """``deployments.apps`` or ``configmaps``: how the real server names a resource in messages."""
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiStatusError:
    return ApiStatusError(
        404, f'{qualified_resource(group, plural)} "{name}" not found',
        name=name, group=group or None, kind=plural,
    )


def already_exists(group: str, plural: str, name: str) -> ApiStatusError:
    return ApiStatusError(
        409, f'{qualified_resource(group, plural)} "{name}" already exists',
        reason="AlreadyExists", name=name, group=group or None, kind=plural,
    )


def conflict(group: str, plural: str, name: str, detail: str) -> ApiStatusError:
    return ApiStatusError(
        409,
        f'Operation cannot be fulfilled on {qualified_resource(group, plural)} "{name}": {detail}',
        reason="Conflict", name=name, group=group or None, kind=plural,
    )


def bad_request(message: str) -> ApiStatusError:
    return ApiStatusError(400, message)


def request_entity_too_large(message: str) -> ApiStatusError:
    return ApiStatusError(413, f"Request entity too large: {message}")


class StorageTooLargeError(ApiStatusError):
    """etcd refused to store an object beyond its request limit.

    kube-apiserver does not translate etcd's error: it answers 500 with etcd's message and no
    reason (kubernetes/kubernetes#112152), and a PATCH that gets it tries once more without the
    object's ``managedFields``.
    """

    def __init__(self) -> None:
        super().__init__(500, "etcdserver: request is too large", reason="")


def method_not_allowed() -> ApiStatusError:
    """A verb the URL does not take (PATCH of a collection, POST to an object), as go-restful's
    405 reaches clients through apimachinery's generic server response: ``details`` is there,
    but empty, and the method is not named."""
    error = ApiStatusError(
        405, "the server does not allow this method on the requested resource",
        reason="MethodNotAllowed",
    )
    code = error.body.pop("code")
    error.body["details"] = {}  # empty, but there, and before the code like any details
    error.body["code"] = code
    return error


def gone(message: str) -> ApiStatusError:
    return ApiStatusError(410, message, reason="Expired")
