"""kopf-informers: client-go and controller-runtime machinery for Kopf operators.

The public API is re-exported here; everything in ``_``-prefixed modules is private.
The test harness lives in :mod:`kopf_informers.testing`.
"""

from ._api import ApiClient, ApiResource, PatchType, PropagationPolicy, WatchEvent
from .errors import (
    AlreadyExistsError,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    BadRequestError,
    ConflictError,
    CredentialsError,
    ForbiddenError,
    GoneError,
    InvalidArgumentError,
    InvalidError,
    KopfInformersError,
    NotFoundError,
    SelectorError,
    ServerError,
    StatusCause,
    TooManyRequestsError,
    UnauthorizedError,
    UnknownResourceError,
)
from .selectors import FieldSelector, LabelSelector

__version__ = "0.1.0.dev0"

__all__ = [
    "AlreadyExistsError",
    "ApiClient",
    "ApiConnectionError",
    "ApiError",
    "ApiResource",
    "ApiTimeoutError",
    "BadRequestError",
    "ConflictError",
    "CredentialsError",
    "FieldSelector",
    "ForbiddenError",
    "GoneError",
    "InvalidArgumentError",
    "InvalidError",
    "KopfInformersError",
    "LabelSelector",
    "NotFoundError",
    "PatchType",
    "PropagationPolicy",
    "SelectorError",
    "ServerError",
    "StatusCause",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnknownResourceError",
    "WatchEvent",
    "__version__",
]
