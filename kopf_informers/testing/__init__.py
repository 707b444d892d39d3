"""The testing harness of kopf-informers: an embedded API server, test clusters, a pytest plugin.

``EmbeddedApiServer`` is a Kubernetes API server that runs in-process, so operators can be tested
against real HTTP with the real Kopf, kubectl and the official client, without Docker. The pytest
plugin (registered automatically) provides the ``cluster`` (a :class:`Cluster`: the embedded
server, kind, or any kubeconfig's cluster), ``namespace`` and ``operator`` (an :class:`Operator`
factory) fixtures, and more; ``eventually`` (async), ``wait_until`` and ``wait_for`` (blocking)
wait, bounded, for what an operator is expected to do. ``isolated_kopf`` runs the real Kopf in
the test's process (``kopf.testing.KopfRunner``) against a test cluster.
"""

from ._cluster import Cluster, ClusterUnavailable, Kubectl, load_manifests
from ._kopf_isolation import isolated_kopf, kopf_logging_undone
from ._operator import Operator, OperatorExited
from ._polling import eventually, is_not_found, wait_for, wait_until
from .apiserver import EmbeddedApiServer, Faults, Journal, JournalEntry

__all__ = [
    "Cluster",
    "ClusterUnavailable",
    "EmbeddedApiServer",
    "Faults",
    "Journal",
    "JournalEntry",
    "Kubectl",
    "Operator",
    "OperatorExited",
    "eventually",
    "is_not_found",
    "isolated_kopf",
    "kopf_logging_undone",
    "load_manifests",
    "wait_for",
    "wait_until",
]
