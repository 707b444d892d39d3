"""Helpers for tests that run the real Kopf in this process (``kopf.testing.KopfRunner``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def kopf_logging_undone() -> Iterator[None]:
    """Undo what ``kopf run`` does to logging process-wide: a root handler writing into the
    runner's captured output, the DEBUG level, and a silenced ``asyncio`` logger; later tests in
    this process would otherwise log into a closed stream and miss asyncio's errors."""
    root, aio = logging.getLogger(), logging.getLogger("asyncio")
    handlers, level = set(root.handlers), root.level
    aio_handlers, aio_propagate = list(aio.handlers), aio.propagate
    try:
        yield
    finally:
        for handler in set(root.handlers) - handlers:
            root.removeHandler(handler)
        root.setLevel(level)
        aio.handlers[:] = aio_handlers
        aio.propagate = aio_propagate
