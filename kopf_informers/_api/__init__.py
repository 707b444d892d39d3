"""The library's async Kubernetes API client (private: the public names are re-exported by
:mod:`kopf_informers`).

Modules, in the order a request meets them: ``credentials`` (where a ``kopf.ConnectionInfo``
comes from), ``resources`` (``"group/version/plural"`` and discovery), ``client`` (the
``ApiClient`` and its session), ``watch`` (the JSON-lines stream of a watch) and ``errors``
(HTTP answers and transport failures as :mod:`kopf_informers.errors`).
"""

from .client import ApiClient, PatchType, PropagationPolicy
from .resources import ApiResource, parse_resource
from .watch import WatchEvent

__all__ = [
    "ApiClient",
    "ApiResource",
    "PatchType",
    "PropagationPolicy",
    "WatchEvent",
    "parse_resource",
]
