"""The errors of the patch functions, and what the server answers for each.

Where it sits: ``_patching``, ``_strategic`` and ``_apply`` raise only these; the server's PATCH
handler turns any of them into a ``Status`` response with the error's ``status``, ``reason``,
``message`` and ``causes``::

    PatchError                 400 BadRequest: the body is undecodable or structurally wrong
     +-- PatchTestFailedError  422 Invalid: a JSON-patch ``test`` operation did not hold
     +-- ApplyConflictError    409 Conflict: an apply would change fields others manage

A well-formed patch that does not apply (an operation on a missing path, content that
contradicts ``$retainKeys``) is a ``PatchError`` with status 422 and reason ``Invalid``; one
beyond the real server's bounds (``_limits``) is a 413 ``RequestEntityTooLarge`` or a 422.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

_REASONS: Final[Mapping[int, str]] = {
    400: "BadRequest", 409: "Conflict", 413: "RequestEntityTooLarge", 422: "Invalid",
}


class PatchError(Exception):
    """A patch that cannot be applied; ``status`` and ``reason`` go into the server's Status."""

    status: int
    reason: str
    message: str
    causes: tuple[Mapping[str, Any], ...] = ()  # the Status's ``details.causes``

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = _REASONS.get(status, "BadRequest")


class PatchTestFailedError(PatchError):
    """A JSON-patch ``test`` operation found another value, or no value, at its path (422)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=422)


class ApplyConflictError(PatchError):
    """A server-side apply would change fields owned by other managers (409 Conflict).

    ``conflicts`` are (manager, field) pairs, both as the real server prints them:
    ``"other"`` (or ``"other" using v1 at <time>`` for an update) and ``.data.a``.
    """

    def __init__(self, conflicts: list[tuple[str, str]]) -> None:
        super().__init__(_conflict_message(conflicts), status=409)
        self.causes = tuple(
            {"reason": "FieldManagerConflict", "message": f"conflict with {manager}",
             "field": field}
            for manager, field in conflicts
        )


def _conflict_message(conflicts: list[tuple[str, str]]) -> str:
    if len(conflicts) == 1:
        manager, field = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {manager}: {field}"
    fields: dict[str, list[str]] = {}
    for manager, field in conflicts:
        fields.setdefault(manager, []).append(field)
    lines = []
    for manager in sorted(fields):
        lines.append(f"conflicts with {manager}:")
        lines.extend(f"- {field}" for field in fields[manager])
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
