"""The served resources and their generic registry, as k8s.io/apiserver's
``registry/generic`` and ``registry/rest``: which resources are served (:class:`ServedResources`),
each with its per-kind :class:`ResourceStrategy`; the built-ins; the core that creates, reads,
updates, patches and deletes objects by calling those strategies; the patch content types.

To add a built-in kind, add one entry in ``_builtins``: its discovery data and its strategy
(defaulter, printer columns, merge keys, what DELETE returns, name rules, simulation, ``/status``
and ``/scale``) together. What a subresource may change, and a kind's Scale, are methods of
``_strategy.ResourceStrategy``, which the core calls.
The pieces it names (``_defaults``, ``_printers``, ``_merge_keys``) hold no per-kind tables.

Nothing here knows HTTP.
"""
