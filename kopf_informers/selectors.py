"""Label and field selectors: parsed once, matched many times.

Both sides of the library filter objects the way Kubernetes does, and they share this module so
that they agree on every corner case:

* the embedded API server parses ``?labelSelector=`` and ``?fieldSelector=`` of list and watch
  requests and filters the objects (and each watch event) it sends back;
* the listers filter the objects of an informer's store with the same selectors.

The grammar and the semantics follow ``k8s.io/apimachinery/pkg/labels`` and ``.../fields``:

* ``!=`` and ``notin`` match objects that lack the label; ``=``, ``==`` and ``in`` need it;
* a field that an object lacks compares as ``""`` (Kubernetes field sets always hold every
  supported key);
* ``==`` is only another spelling of ``=``: it parses to :attr:`Operator.EQUALS`.

Matching is the hot path, so a selector is compiled when it is made: every label requirement
becomes ``(key, accepted values, expected)`` and :meth:`LabelSelector.matches` is one loop of
dictionary lookups and frozenset membership tests, with no regular expressions and no per-call
allocation. Parsing is cached, so parsing the same text again costs a dictionary lookup.

Everything that does not parse or validate raises :class:`~kopf_informers.errors.SelectorError`,
whose message names the selector and the problem.

The code is private and split by concept; this module is the public face that re-exports it::

    _selection  Operator, and how selector errors are reported
    _labels     Requirement, LabelSelector, parse_label_selector()
    _fields     FieldRequirement, FieldSelector, parse_field_selector(), object_fields()
"""

from __future__ import annotations

from ._fields import FieldRequirement, FieldSelector, object_fields, parse_field_selector
from ._labels import LabelSelector, Requirement, parse_label_selector
from ._selection import Operator

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "object_fields",
    "parse_field_selector",
    "parse_label_selector",
]
