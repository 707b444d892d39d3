"""The embedded Kubernetes API server: a faithful test double of kube-apiserver, in Python.

See :class:`EmbeddedApiServer`. It runs in-process (on the current loop or a background thread)
or as ``kopf-informers apiserver``.
"""

from ._faults import Faults, Journal, JournalEntry
from ._resources import ResourceInfo, ScaleInfo
from ._server import EmbeddedApiServer
from ._strategy import ResourceStrategy

__all__ = [
    "EmbeddedApiServer", "Faults", "Journal", "JournalEntry", "ResourceInfo", "ResourceStrategy",
    "ScaleInfo",
]
