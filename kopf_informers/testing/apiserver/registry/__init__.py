"""The served resources and their generic registry, as k8s.io/apiserver's
``registry/generic`` and ``registry/rest``: which resources are served (:class:`ServedResources`),
each with its per-kind :class:`ResourceStrategy`; the built-ins; the core that creates, reads,
updates, patches and deletes objects by calling those strategies; the patch content types.

Nothing here knows HTTP.
"""
