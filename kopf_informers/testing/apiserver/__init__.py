"""The embedded Kubernetes API server: a faithful test double of kube-apiserver, in Python.

See :class:`EmbeddedApiServer`. It runs in-process (on the current loop or a background thread)
or as ``kopf-informers apiserver``.

Its layers, named after kube-apiserver's and checked by the "embedded server layers" import
contract (each imports only those below it)::

    _server        EmbeddedApiServer: wires the layers, runs them on a loop or a thread
    endpoints      HTTP: request info, handlers, watch streams, Tables, discovery, OpenAPI,
    | controllers    journal and faults  |  GC, namespaces, CRDs, workload simulation
    registry       served resources, per-kind strategies, the generic core, patch types, reviews
    admission      metadata and schema validation, defaulting and pruning of custom resources,
    |              built-ins' types from their real schemas (the optional kubernetes-validate)
    | auth           who a request is, and the one authorizer that decides what it may do
    storage        the store: objects, resourceVersions, history, watch fan-out
    apimachinery   Status, field errors, names, body media types and decoding, JSONPath

Where a newcomer adds:

* a built-in kind: one entry in ``registry/_builtins.py``, its ``ResourceInfo`` and
  ``ResourceStrategy`` written together (``EmbeddedApiServer.register()`` adds one from outside);
* a kind's ``/status`` or ``/scale``: its strategy's ``status_subresource`` and
  ``scale_subresource`` (a :class:`ScaleInfo`); ``_builtins``' ``status=`` and ``scale=`` set
  them, a CRD version's ``subresources`` do for custom resources. What each subresource may
  change, and the Scale it shows, are ``ResourceStrategy`` methods the generic core calls;
* addresses a kind takes from a cluster-wide range (a Service's cluster IP and node ports): its
  strategy's ``allocator`` (``registry/_services``), made once per server by the core;
* a workload controller: a class in ``controllers/`` with a ``sync(namespace, name)``, routed by
  kind (and by its dependents' controller references) in ``controllers/_controllers``;
* a patch type: a row of ``registry/_patching.PATCH_TYPES``;
* a media type of create and update bodies: a row of ``apimachinery/_negotiation.BODY_TYPES``,
  its decoder and whether custom resources take it (protobuf's decoder is
  ``apimachinery/_protobuf``, driven by a field table that ``tools/proto_table.py`` derives from
  the upstream .proto files); POST, PUT and PATCH all negotiate through ``_negotiation``, which
  answers anything else with kube-apiserver's 415;
* a fault: a method of ``endpoints/_faults.Faults`` declared with ``@fault_action``.
* an authorization rule (RBAC): an ``auth._authorizer.Authorizer`` in ``ApiCore.authorizer``;
  every review (``registry/_reviews``) asks it and nothing else.
"""

from ._server import EmbeddedApiServer
from .endpoints._faults import Faults, Journal, JournalEntry
from .registry._resources import ResourceInfo
from .registry._strategy import ResourceStrategy, ScaleInfo

__all__ = [
    "EmbeddedApiServer", "Faults", "Journal", "JournalEntry", "ResourceInfo", "ResourceStrategy",
    "ScaleInfo",
]
