"""The Kopf integration's registration rules (no operator is run here)."""

from __future__ import annotations

from typing import Any

import kopf
import pytest


def test_two_controllers_cannot_share_an_id_across_resources() -> None:
    from kopf_informers import _kopf
    from kopf_informers.errors import InvalidArgumentError as Invalid

    saved = _kopf._runtime
    _kopf._runtime = _kopf._Runtime()
    try:
        registry = kopf.OperatorRegistry()

        async def fn(**_: Any) -> None: ...

        _kopf.reconcile("v1/configmaps", id="same", registry=registry)(fn)
        _kopf.reconcile("v1/configmaps", id="same", registry=registry)(fn)  # a re-import
        with pytest.raises(Invalid, match="'same' already reconciles v1/configmaps"):
            _kopf.reconcile("v1/secrets", id="same", registry=registry)(fn)
    finally:
        _kopf._runtime = saved
