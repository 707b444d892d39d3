"""The CronJob operator (operators/cronjob.py): its schedule arithmetic, without a server.

The operator itself, under ``kopf run``, is driven end to end in ``tests/e2e/test_cronjob.py``.
"""

from __future__ import annotations

import datetime
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import kopf
import pytest

import kopf_informers._kopf

OPERATORS = Path(__file__).parents[2] / "operators"
UTC = datetime.UTC


@pytest.fixture
def cronjob(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """operators/cronjob.py imported into a throwaway Kopf registry and library runtime."""
    monkeypatch.setattr(kopf_informers._kopf, "_runtime", kopf_informers._kopf._Runtime())
    saved = kopf.get_default_registry()
    kopf.set_default_registry(kopf.OperatorRegistry())
    spec = importlib.util.spec_from_file_location("cronjob_example", OPERATORS / "cronjob.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        kopf.set_default_registry(saved)
        sys.modules.pop("cronjob_example", None)


def at(minute: int, second: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 1, 1, 10, minute, second, tzinfo=UTC)


def test_the_latest_missed_run_and_the_next_one(cronjob: ModuleType) -> None:
    missed, upcoming = cronjob.next_runs("*/5 * * * *", last=at(0), now=at(17, 30),
                                         deadline=None)
    assert (missed, upcoming) == (at(15), at(20))


def test_nothing_is_due_before_the_first_scheduled_time(cronjob: ModuleType) -> None:
    assert cronjob.next_runs("*/5 * * * *", last=at(1), now=at(4), deadline=None) == (
        None, at(5))


def test_a_starting_deadline_limits_how_far_back_runs_count(cronjob: ModuleType) -> None:
    # Last run long ago: only runs within the deadline count, so nothing older than 10:14:30.
    assert cronjob.next_runs("*/5 * * * *", last=at(0), now=at(17), deadline=150) == (
        at(15), at(20))
    assert cronjob.next_runs("*/5 * * * *", last=at(0), now=at(18), deadline=60) == (
        None, at(20))


def test_more_than_100_missed_runs_is_an_error_naming_the_fix(cronjob: ModuleType) -> None:
    with pytest.raises(cronjob.TooManyMissedRuns, match="startingDeadlineSeconds"):
        cronjob.next_runs("* * * * *", last=at(0), now=at(0) + datetime.timedelta(hours=3),
                          deadline=None)
