"""The public surface: exactly what ``__all__`` names is exported, and it is importable."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import kopf_informers
import kopf_informers.testing

PUBLIC_MODULES = ["errors", "metrics", "selectors", "testing"]

# The concepts' private modules: whatever they export (``__all__``) is the root's to export.
CONCEPT_MODULES = [
    "_backoff", "_controller", "_correlator", "_events", "_finalizers", "_informer", "_kopf",
    "_listers", "_owners", "_predicates", "_ratelimiters", "_reflector", "_store", "_workqueue",
]


def _isort_style(name: str) -> tuple[int, str]:
    """Ruff's order for ``__all__`` (RUF022): constants, then classes, then the rest."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


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
    assert names == sorted(names, key=_isort_style)
    assert set(names) == public


def test_the_package_declares_its_version() -> None:
    assert isinstance(kopf_informers.__version__, str)
    assert kopf_informers.__version__


def test_the_backoff_decorator_is_not_shadowed_by_a_module_of_the_same_name() -> None:
    assert not isinstance(kopf_informers.backoff, types.ModuleType)
    assert callable(kopf_informers.backoff)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("kopf_informers.backoff")


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_the_public_modules_are_importable(name: str) -> None:
    module = importlib.import_module(f"kopf_informers.{name}")
    assert module.__all__


def test_no_other_module_of_the_package_is_public() -> None:
    public = {m.name for m in pkgutil.iter_modules(kopf_informers.__path__)
              if not m.name.startswith("_")}
    assert public == set(PUBLIC_MODULES)


@pytest.mark.parametrize("name", CONCEPT_MODULES)
def test_the_root_exports_everything_a_private_module_exports(name: str) -> None:
    module = importlib.import_module(f"kopf_informers.{name}")
    assert set(module.__all__) <= set(kopf_informers.__all__)
    for member in module.__all__:
        assert getattr(kopf_informers, member) is getattr(module, member)
