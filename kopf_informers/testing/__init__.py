"""The testing harness of kopf-informers: an embedded API server and a pytest plugin.

``EmbeddedApiServer`` is a Kubernetes API server that runs in-process, so operators can be tested
against real HTTP with the real Kopf, kubectl and the official client, without Docker. The pytest
plugin (registered automatically) provides fixtures and markers around it; ``eventually`` (async)
and ``wait_until`` (blocking) wait, bounded, for what an operator is expected to do.
"""

from ._polling import eventually, wait_until
from .apiserver import EmbeddedApiServer, Faults, Journal, JournalEntry

__all__ = ["EmbeddedApiServer", "Faults", "Journal", "JournalEntry", "eventually", "wait_until"]
