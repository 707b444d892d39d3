"""kopf-informers: client-go and controller-runtime machinery for Kopf operators.

The public API is re-exported here; everything in ``_``-prefixed modules is private.
The test harness lives in :mod:`kopf_informers.testing`.
"""

from ._api import ApiClient, ApiResource, PatchType, PropagationPolicy, WatchEvent
from .backoff import ExponentialBackoff
from .errors import (
    AlreadyExistsError,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    BadRequestError,
    CacheSyncTimeoutError,
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
    UnknownIndexError,
    UnknownResourceError,
)
from .informer import HandlerRegistration, InformerFactory, SharedIndexInformer
from .listers import Lister, NamespaceLister
from .reflector import DeletedFinalStateUnknown
from .selectors import FieldSelector, LabelSelector
from .store import Store, StoreWriter, frozen, object_key, strip_managed_fields, thaw

__version__ = "0.1.0.dev0"

__all__ = [
    "AlreadyExistsError",
    "ApiClient",
    "ApiConnectionError",
    "ApiError",
    "ApiResource",
    "ApiTimeoutError",
    "BadRequestError",
    "CacheSyncTimeoutError",
    "ConflictError",
    "CredentialsError",
    "DeletedFinalStateUnknown",
    "ExponentialBackoff",
    "FieldSelector",
    "ForbiddenError",
    "GoneError",
    "HandlerRegistration",
    "InformerFactory",
    "InvalidArgumentError",
    "InvalidError",
    "KopfInformersError",
    "LabelSelector",
    "Lister",
    "NamespaceLister",
    "NotFoundError",
    "PatchType",
    "PropagationPolicy",
    "SelectorError",
    "ServerError",
    "SharedIndexInformer",
    "StatusCause",
    "Store",
    "StoreWriter",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnknownIndexError",
    "UnknownResourceError",
    "WatchEvent",
    "__version__",
    "frozen",
    "object_key",
    "strip_managed_fields",
    "thaw",
]
