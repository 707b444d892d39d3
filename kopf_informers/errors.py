"""The errors that kopf-informers raises, in one small hierarchy.

They are split by what the caller should do next::

    KopfInformersError                  anything raised on purpose by this library
     +-- InvalidArgumentError(ValueError)    the caller passed something malformed: fix the call
     |    +-- SelectorError                  a label or field selector that does not parse
     |    +-- UnknownIndexError              a store index name that the store does not have

Every error names the problem in its message. The API errors (not found, conflict, gone, ...)
join this hierarchy with the API client.
"""

from __future__ import annotations

__all__ = [
    "InvalidArgumentError",
    "KopfInformersError",
    "SelectorError",
    "UnknownIndexError",
]


class KopfInformersError(Exception):
    """The base of every error this library raises on purpose."""


class InvalidArgumentError(KopfInformersError, ValueError):
    """An argument to a public function is malformed; the message says which and why."""


class SelectorError(InvalidArgumentError):
    """A label or field selector cannot be parsed or is not valid Kubernetes syntax."""


class UnknownIndexError(InvalidArgumentError):
    """A store or lister was asked for an index it does not have; the message lists those it has."""
