"""Which namespaces an operator serves: Kopf's namespace patterns, as one value.

Kopf serves either every namespace (``kopf run -A``) or the namespaces that match its ``-n``
patterns (``kopf run -n default -n 'team-*'``). A pattern is Kopf's: comma-separated globs
(``*`` and ``?``), ``!`` before a glob excludes; the first glob includes, and a pattern that
starts with an exclusion includes everything first (``'!kube-*'`` is every namespace but
``kube-*``). A namespace is served if any pattern matches it. Names without glob characters
are *exact*: they are served whether or not the operator may list namespaces; globs need the
namespaces listed and watched, to follow the ones created and deleted later.

A :class:`NamespaceScope` holds the patterns (none: every namespace). The informer factory
serves a namespaced resource in a restricted scope with one list+watch per served namespace
behind one cache and one lister (controller-runtime's multi-namespace cache); cluster-scoped
resources are always served cluster-wide.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable

from .errors import InvalidArgumentError

__all__ = ["NamespaceScope", "match_namespace"]

_GLOB_CHARACTERS = frozenset("*?!,")


def match_namespace(name: str, pattern: str) -> bool:
    """Whether ``name`` matches a Kopf namespace pattern (see the module docstring).

    The globs are read left to right: the first inclusive glob decides the initial match; an
    exclusive one (``!glob``) removes a match; a later inclusive one re-includes a name that the
    first glob matched and a later exclusion removed (``'app-*,!*-pr-*,*-pr-1'`` serves
    ``app-pr-1`` but not ``app-pr-2``).
    """
    globs = [glob.strip() for glob in pattern.split(",")]
    if globs[0].startswith("!"):
        globs.insert(0, "*")
    first = matched = fnmatch.fnmatchcase(name, globs[0])
    for glob in globs[1:]:
        if glob.startswith("!"):
            matched = matched and not fnmatch.fnmatchcase(name, glob[1:].strip())
        else:
            matched = matched or (first and fnmatch.fnmatchcase(name, glob))
    return matched


@dataclasses.dataclass(frozen=True)
class NamespaceScope:
    """The namespaces served: ``patterns`` of Kopf's syntax, or none for all namespaces."""

    patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for pattern in self.patterns:
            if not isinstance(pattern, str) or not pattern.strip(" ,"):
                raise InvalidArgumentError(
                    f"a namespace pattern is a non-empty string such as 'default' or 'team-*', "
                    f"got {pattern!r}"
                )

    @classmethod
    def of(cls, namespaces: Iterable[str] | str | None) -> NamespaceScope:
        """A scope from a list of patterns (None or empty: every namespace).

        Raises:
            InvalidArgumentError: a pattern that is not a non-empty string, or a bare string
                (pass a list: ``['a', 'b']``).
        """
        if namespaces is None:
            return cls()
        if isinstance(namespaces, str):
            raise InvalidArgumentError(
                f"namespaces is a list of patterns, got the string {namespaces!r}: "
                f"pass [{namespaces!r}]"
            )
        return cls(tuple(namespaces))

    @classmethod
    def parse(cls, text: str) -> NamespaceScope:
        """A scope from a comma-separated list (the ``KOPF_INFORMERS_NAMESPACES`` setting).

        Each item is a namespace or a glob; items starting with ``!`` exclude: ``"a,b"`` serves
        ``a`` and ``b``, ``"team-*,!team-tmp"`` the ``team-*`` namespaces but ``team-tmp``,
        ``"!kube-*"`` every namespace but ``kube-*``. Empty: every namespace.
        """
        items = [item.strip() for item in text.split(",") if item.strip()]
        exclusions = [item for item in items if item.startswith("!")]
        inclusions = [item for item in items if not item.startswith("!")]
        if not inclusions:
            return cls((",".join(exclusions),) if exclusions else ())
        return cls(tuple(",".join([item, *exclusions]) for item in inclusions))

    @property
    def clusterwide(self) -> bool:
        """Whether every namespace is served (one cluster-wide watch per resource)."""
        return not self.patterns

    @property
    def exact(self) -> frozenset[str]:
        """The patterns that are plain names: served even without listing namespaces."""
        return frozenset(p.strip() for p in self.patterns
                         if not _GLOB_CHARACTERS.intersection(p.strip()))

    @property
    def needs_watch(self) -> bool:
        """Whether some pattern is a glob: only a watch of Namespaces says what it serves."""
        return any(_GLOB_CHARACTERS.intersection(p.strip()) for p in self.patterns)

    def matches(self, namespace: str) -> bool:
        return self.clusterwide or any(match_namespace(namespace, p) for p in self.patterns)

    def __str__(self) -> str:
        if self.clusterwide:
            return "all namespaces"
        return ", ".join(repr(p) for p in self.patterns)
