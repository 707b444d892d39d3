"""The public surface: exactly what ``__all__`` names is exported, and it is importable."""

from __future__ import annotations

import importlib
import types

import pytest

import kopf_informers
import kopf_informers.testing


@pytest.mark.parametrize("module", [
    pytest.param(kopf_informers, id="kopf_informers"),
    pytest.param(kopf_informers.testing, id="kopf_informers.testing"),
])
def test_all_is_sorted_and_names_exactly_the_public_members(module: types.ModuleType) -> None:
    public = {
        name for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    names = [n for n in module.__all__ if n != "__version__"]
    assert names == sorted(names)
    assert set(names) == public


def test_the_package_declares_its_version() -> None:
    assert isinstance(kopf_informers.__version__, str)
    assert kopf_informers.__version__


def test_the_backoff_decorator_is_not_shadowed_by_a_module_of_the_same_name() -> None:
    assert not isinstance(kopf_informers.backoff, types.ModuleType)
    assert callable(kopf_informers.backoff)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("kopf_informers.backoff")
