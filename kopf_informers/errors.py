"""The errors that kopf-informers raises, in one small hierarchy.

They are split by what the caller should do next::

    KopfInformersError                  anything raised on purpose by this library
     +-- InvalidArgumentError(ValueError)    the caller passed something malformed: fix the call
     |    +-- SelectorError                  a label or field selector that does not parse
     |    +-- UnknownIndexError              a store index name that the store does not have
     |    +-- UnknownResourceError           the server serves no such resource: fix the name
     |                                       or install its CRD (the message lists what it serves)
     +-- CredentialsError                    no usable credentials: fix the kubeconfig or login
     +-- CacheSyncTimeoutError(TimeoutError) informers not synced in time (``.informers``)
     +-- CacheNotSyncedError(RuntimeError)   a lister read before its informer started or synced:
     |                                       wait for the sync first (``.informer``)
     +-- AlreadyOwnedError                   another controller owns the object (``.controller``):
     |                                       leave it alone, report it (e.g. a Warning event)
     +-- DeletionOngoingError                the object is being deleted, so no finalizer can be
     |                                       added: run the cleanup instead
     +-- QueueShutDown                       the workqueue was shut down: the worker should exit
     +-- ApiConnectionError                  no answer from the server (refused, reset, DNS, TLS,
     |    |                                  a broken stream): retry with backoff
     |    +-- ApiTimeoutError                the request timed out: retry with backoff
     +-- ApiError                            the server answered with an error status
          +-- BadRequestError         400    the request is malformed: fix the call
          +-- UnauthorizedError       401    still refused after one re-authentication
          +-- ForbiddenError          403    RBAC denies it: fix the role, do not retry
          +-- NotFoundError           404    the object (or namespace) is not there
          +-- ConflictError           409    stale resourceVersion: re-read and retry
          |    +-- AlreadyExistsError 409    create of a name that exists: get or replace it
          +-- GoneError               410    resourceVersion or continue token expired: re-list
          +-- InvalidError            422    the object fails validation (``.causes`` say where)
          +-- TooManyRequestsError    429    throttled: wait ``.retry_after`` seconds, retry
          +-- ServerError             5xx    the server failed: retry with backoff

Every error names the problem in its message; the API errors and the connection errors name the
verb, the resource and the object (``get v1/configmaps default/cm1: 404 NotFound: ...``).
They are raised from the underlying cause (``raise ... from``): no exception of the HTTP stack
(aiohttp) ever leaves the public API, and none of these classes derives from one. URLs in
messages show no credentials (``http://***@host``); a cause whose own text would show them is
chained as a redacted stand-in instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = [
    "AlreadyExistsError",
    "AlreadyOwnedError",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "BadRequestError",
    "CacheNotSyncedError",
    "CacheSyncTimeoutError",
    "ConflictError",
    "CredentialsError",
    "DeletionOngoingError",
    "ForbiddenError",
    "GoneError",
    "InvalidArgumentError",
    "InvalidError",
    "KopfInformersError",
    "NotFoundError",
    "QueueShutDown",
    "SelectorError",
    "ServerError",
    "StatusCause",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnknownIndexError",
    "UnknownResourceError",
]


class KopfInformersError(Exception):
    """The base of every error this library raises on purpose."""


class InvalidArgumentError(KopfInformersError, ValueError):
    """An argument to a public function is malformed; the message says which and why."""


class SelectorError(InvalidArgumentError):
    """A label or field selector cannot be parsed or is not valid Kubernetes syntax."""


class UnknownIndexError(InvalidArgumentError):
    """A store or lister was asked for an index it does not have; the message lists those it has."""


class UnknownResourceError(InvalidArgumentError):
    """The server serves no such resource (or group version); the message lists what it serves.

    Either the name is misspelt or the CRD is not installed (or not established) yet.
    """


class CredentialsError(KopfInformersError):
    """No usable credentials: a kubeconfig or context that is missing or malformed, an exec
    plugin that cannot run, TLS material that does not load, or a login function that failed."""


def _describe_request(
    verb: str, resource: str, namespace: str | None = None, name: str | None = None,
) -> str:
    """``get v1/configmaps default/cm1``, ``list apps/v1/deployments in namespace ns1``."""
    if name is not None:
        target = f"{namespace}/{name}" if namespace else name
    elif namespace:
        target = f"in namespace {namespace}"
    else:
        target = ""
    return " ".join(part for part in (verb, resource, target) if part)


class ApiConnectionError(KopfInformersError):
    """The conversation with the API server failed before an answer came: connection refused or
    reset, DNS, TLS, a stream that broke off or a body that does not parse. Retry with backoff.

    ``verb``, ``resource``, ``namespace`` and ``name`` say which request failed.
    """

    def __init__(
        self, message: str, *, verb: str = "", resource: str = "",
        namespace: str | None = None, name: str | None = None,
    ) -> None:
        super().__init__(f"{_describe_request(verb, resource, namespace, name)}: {message}")
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.name = name


class ApiTimeoutError(ApiConnectionError):
    """A request got no (complete) answer in time. Retry with backoff."""


class StatusCause(NamedTuple):
    """One cause of a failed request, from the ``Status``'s ``details.causes``.

    ``field`` is the path of the offending field (``metadata.name``, ``spec.replicas``), or ""
    when the cause concerns no single field.
    """

    field: str
    reason: str
    message: str


class ApiError(KopfInformersError):
    """The API server answered a request with an error status.

    Attributes:
        status: the HTTP status code (404, 409, ...); for an ``ERROR`` event inside a watch
            stream, the ``code`` of the ``Status`` it carried.
        reason: the ``Status``'s machine-readable reason (``NotFound``, ``AlreadyExists``, ...).
        message: the server's human-readable message, as it sent it.
        body: the ``Status`` object as decoded (``{}`` if the body was not a JSON object).
        details: ``body["details"]`` (``name``, ``kind``, ``causes``, ...) or ``{}``.
        retry_after: seconds to wait before retrying, from the ``Retry-After`` header or
            ``details.retryAfterSeconds``; None when the server did not say.
        verb, resource, namespace, name: which request failed (also in ``str(error)``).
    """

    def __init__(
        self, message: str, *, status: int, reason: str = "",
        body: Mapping[str, Any] | None = None, retry_after: float | None = None,
        verb: str = "", resource: str = "", namespace: str | None = None,
        name: str | None = None,
    ) -> None:
        request = _describe_request(verb, resource, namespace, name)
        super().__init__(f"{request}: {status} {reason or 'Error'}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body: Mapping[str, Any] = body if body is not None else {}
        details = self.body.get("details")
        self.details: Mapping[str, Any] = details if isinstance(details, Mapping) else {}
        self.retry_after = retry_after
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.name = name


class BadRequestError(ApiError):
    """400: the request is malformed (a bad body, parameter or patch). Fix the call."""


class UnauthorizedError(ApiError):
    """401: the credentials were refused, even after re-running the login once."""


class ForbiddenError(ApiError):
    """403: RBAC (or an admission policy) forbids it. Retrying will not help."""


class NotFoundError(ApiError):
    """404: the object, or the namespace it would live in, does not exist."""


class ConflictError(ApiError):
    """409: the write lost a race (a stale ``resourceVersion`` or a failed precondition).
    Re-read the object and retry."""


class AlreadyExistsError(ConflictError):
    """409 ``AlreadyExists``: a create of a name that is taken. Get or replace it instead."""


class GoneError(ApiError):
    """410: the ``resourceVersion`` of a watch or list, or a continue token, is too old: the
    history it points into was compacted. Re-list from scratch."""


class InvalidError(ApiError):
    """422: the object fails validation. ``causes`` say which fields and why."""

    @property
    def causes(self) -> tuple[StatusCause, ...]:
        causes = self.details.get("causes")
        if not isinstance(causes, list):
            return ()
        return tuple(
            StatusCause(
                field=str(cause.get("field") or ""), reason=str(cause.get("reason") or ""),
                message=str(cause.get("message") or ""),
            )
            for cause in causes if isinstance(cause, Mapping)
        )


class TooManyRequestsError(ApiError):
    """429: throttled (API priority and fairness, or an eviction budget). Wait ``retry_after``
    seconds (when the server said) and retry."""


class ServerError(ApiError):
    """5xx: the server (or a proxy in front of it) failed. Retry with backoff; a 503 may carry
    ``retry_after``."""


class CacheSyncTimeoutError(KopfInformersError, TimeoutError):
    """Informers did not finish their first list in time; ``informers`` names them.

    Usually the server is slow or unreachable, or RBAC forbids the list (see the logs)."""

    def __init__(self, message: str, *, informers: list[str]) -> None:
        super().__init__(message)
        self.informers = informers


class CacheNotSyncedError(KopfInformersError, RuntimeError):
    """A lister was read before its informer's cache held a complete first list.

    An empty cache that is not synced yet cannot tell "there is no such object" from "it has
    not been listed yet", so a lister raises this instead of answering None or ``[]``. Start
    the informers and wait for their sync before reading (``await factory.start()``, then
    ``await factory.wait_synced()``, or ``await informer.wait_synced()``); in a Kopf operator,
    read listers from handlers, which Kopf runs only after kopf-informers' startup handler has
    synced every cache. ``informer`` is the informer's name; ``started`` whether it was
    started (it is then listing, or retrying a list that failed: see the logs).
    """

    def __init__(self, message: str, *, informer: str, started: bool) -> None:
        super().__init__(message)
        self.informer = informer
        self.started = started


class AlreadyOwnedError(KopfInformersError):
    """The object already has a controller, and it is not the would-be owner.

    Kubernetes allows one controller per object (one ``ownerReferences`` entry with
    ``controller: true``). Taking the object over would fight the other controller, so do not:
    leave the object alone and report it, as kubernetes/sample-controller does with a Warning
    event ``ErrResourceExists``. ``controller`` is the other controller's owner reference as
    found on the object; ``obj`` says which object (``Deployment default/web``).
    """

    def __init__(self, message: str, *, controller: Mapping[str, Any], obj: str) -> None:
        super().__init__(message)
        self.controller = controller
        self.obj = obj


class DeletionOngoingError(KopfInformersError):
    """The object is being deleted (it has a ``deletionTimestamp``) and lacks the finalizer to add.

    The API server forbids new finalizers on an object being deleted, so adding one cannot
    succeed: run the cleanup (or nothing) instead of the normal reconcile.
    """


class QueueShutDown(KopfInformersError):
    """The workqueue is shut down and has nothing more to hand out: the worker should exit.

    Raised by :meth:`~kopf_informers.AsyncRateLimitingQueue.get` (client-go's ``Get``
    returning ``shutdown == true``). Not an error to log: it is how workers learn to stop.
    """
