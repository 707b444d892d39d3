"""Per-object loggers: records that carry their object as Kopf's do, posted as Events as Kopf's
posting settings say; and the library's logger names, which Kopf's log format must show whole.

(``tests/kopf/test_events_and_logs.py`` shows the same under ``kopf run``.)
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import pkgutil

import kopf
import pytest

import kopf_informers
from kopf_informers._loggers import (
    KOPF_POSTING_DEFAULTS,
    ObjectLogger,
    posts_records,
    posts_warnings,
)

CM = {"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "cm1", "namespace": "default", "uid": "u1", "labels": {"a": "b"}}}
KOPF_LOG_NAME_WIDTH = 20  # Kopf's full format: "%(name)-20.20s"


@dataclasses.dataclass
class Posting:
    enabled: bool = True
    loggers: bool = True
    level: int = logging.INFO


class Posted(list[tuple[str, str, str]]):
    def __call__(self, type: str, reason: str, message: str) -> None:
        self.append((type, reason, message))


@pytest.fixture
def log() -> logging.Logger:
    logger = logging.getLogger("kopf_informers.test")
    logger.setLevel(logging.DEBUG)
    return logger


def test_records_carry_the_object_as_kopfs_per_object_loggers_do(
        log: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=log.name)
    logger = ObjectLogger(log, CM, extra={"controller": "c"})
    logger.info("created %s", "it", extra={"step": 1})
    [record] = caplog.records
    assert record.getMessage() == "created it"
    assert record.__dict__["k8s_ref"] == {"apiVersion": "v1", "kind": "ConfigMap",
                                          "name": "cm1", "uid": "u1", "namespace": "default"}
    assert (record.__dict__["controller"], record.__dict__["step"]) == ("c", 1)


@pytest.mark.parametrize(("posting", "level", "posted"), [
    pytest.param(Posting(), logging.INFO, [("Normal", "Logging", "m 1")], id="info"),
    pytest.param(Posting(), logging.ERROR, [("Warning", "Logging", "m 1")], id="error"),
    pytest.param(Posting(), logging.DEBUG, [], id="below-level"),
    pytest.param(Posting(level=logging.WARNING), logging.INFO, [], id="level-raised"),
    pytest.param(Posting(loggers=False), logging.ERROR, [], id="loggers-off"),
    pytest.param(Posting(enabled=False), logging.ERROR, [], id="disabled"),
])
def test_records_are_posted_as_kopfs_posting_settings_say(
        log: logging.Logger, posting: Posting, level: int,
        posted: list[tuple[str, str, str]]) -> None:
    post = Posted()
    ObjectLogger(log, CM, post=post, posting=posting).log(level, "m %d", 1)
    assert post == posted


def test_settings_are_read_at_each_record(log: logging.Logger) -> None:
    post, posting = Posted(), Posting(loggers=False)
    logger = ObjectLogger(log, CM, post=post, posting=posting)
    logger.warning("before")
    posting.loggers = True
    logger.warning("after")
    assert [message for _, _, message in post] == ["after"]


def test_a_record_marked_k8s_skip_or_not_shown_is_not_posted(log: logging.Logger) -> None:
    post = Posted()
    logger = ObjectLogger(log, CM, post=post, posting=Posting(level=logging.DEBUG))
    logger.error("skipped", extra={"k8s_skip": True})
    log.setLevel(logging.WARNING)
    logger.info("not shown")
    logger.exception("shown")
    assert post == [("Warning", "Logging", "shown")]


def test_kopfs_posting_settings_are_still_what_the_library_reads() -> None:
    """Fails loudly if Kopf renames or changes the posting settings this library follows."""
    posting = kopf.OperatorSettings().posting
    assert (posting.enabled, posting.loggers, posting.level) == (
        KOPF_POSTING_DEFAULTS.enabled, KOPF_POSTING_DEFAULTS.loggers,
        KOPF_POSTING_DEFAULTS.level) == (True, False, logging.INFO)
    assert not posts_records(posting, logging.CRITICAL)  # Kopf's default: log records stay
    assert posts_warnings(posting)


def test_every_library_logger_name_fits_kopfs_log_format() -> None:
    for module in pkgutil.walk_packages(kopf_informers.__path__, "kopf_informers."):
        if not module.name.startswith("kopf_informers.testing") \
                and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    names = {name for name, logger in logging.Logger.manager.loggerDict.items()
             if isinstance(logger, logging.Logger) and name.startswith("kopf_informers.")
             and name != "kopf_informers.test"}
    assert names >= {"kopf_informers.ctrl", "kopf_informers.cache", "kopf_informers.api",
                     "kopf_informers.event"}
    assert [name for name in names if len(name) > KOPF_LOG_NAME_WIDTH] == []
