"""kopf-informers: client-go and controller-runtime machinery for Kopf operators.

The public API is re-exported here; everything in ``_``-prefixed modules is private.
The test harness lives in :mod:`kopf_informers.testing`.
"""

from .errors import InvalidArgumentError, KopfInformersError, SelectorError
from .selectors import FieldSelector, LabelSelector

__version__ = "0.1.0.dev0"

__all__ = [
    "FieldSelector",
    "InvalidArgumentError",
    "KopfInformersError",
    "LabelSelector",
    "SelectorError",
    "__version__",
]
