"""Logs and Events of a reconcile, as a Kopf user reads them: ``kopf run`` (``KopfRunner``) on
the embedded server, with ``tests/kopf/operators/events_operator.py``.

- A failing reconcile logs one line per retry (its error, failure count and next delay), with
  the object's ``[namespace/name]`` in front as Kopf's handlers' lines have, and its traceback
  once; and it posts one Warning Event, counted up for each identical failure.
- The records of the reconcile's ``logger`` follow Kopf's posting settings: not posted by
  default, posted with ``settings.posting.loggers``, and nothing is posted when posting is
  disabled.
- ``kopf run --verbose`` shows the library's own debug lines, their logger names whole.

Every wait is a bounded poll on the server's state (the operator annotates a ConfigMap once its
reconcile succeeds); Events recorded in the background are all posted when the operator stops,
so they are read, and the output, once the operator ended.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import kopf.testing
import pytest
from kubernetes.client import CoreV1Api, V1ConfigMap, V1ObjectMeta

from kopf_informers.testing import EmbeddedApiServer, isolated_kopf, wait_until

OPERATOR = Path(__file__).parent / "operators" / "events_operator.py"
KOPF_TIMEOUT = 30.0  # seconds: the longest wait for the operator to start, act, or stop
NS = "default"
FAILURE = ("Reconciler 'events_operator.flaky' failed with an exception and will try again: "
           "RuntimeError: the same every time")


@pytest.fixture
def registry(embedded_apiserver: EmbeddedApiServer,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[kopf.OperatorRegistry]:
    with isolated_kopf(str(embedded_apiserver.kubeconfig), monkeypatch) as registry:
        yield registry


def run(registry: kopf.OperatorRegistry, *options: str) -> kopf.testing.KopfRunner:
    return kopf.testing.KopfRunner(["run", "-A", "--standalone", *options, str(OPERATOR)],
                                   registry=registry, timeout=KOPF_TIMEOUT)


def reconcile_until_done(core_v1: CoreV1Api, name: str, failures: int) -> None:
    """Create a ConfigMap whose reconcile fails ``failures`` times, and wait for its success."""
    core_v1.create_namespaced_config_map(NS, V1ConfigMap(
        metadata=V1ObjectMeta(name=name), data={"failures": str(failures)}))

    def done() -> bool:
        annotations = core_v1.read_namespaced_config_map(name, NS).metadata.annotations or {}
        return annotations.get("example.com/done") == "yes"
    wait_until(done, f"{name}'s reconcile to succeed", timeout=KOPF_TIMEOUT)


def events_about(core_v1: CoreV1Api, name: str) -> list[Any]:
    return [e for e in core_v1.list_namespaced_event(NS).items
            if e.involved_object.name == name]


def test_twelve_identical_failures_make_one_event_counted_twelve_and_a_line_each(
        registry: kopf.OperatorRegistry, embedded_apiserver: EmbeddedApiServer,
        core_v1: CoreV1Api) -> None:
    with run(registry) as runner:
        reconcile_until_done(core_v1, "doomed", failures=12)
    assert runner.exception is None
    assert runner.exit_code == 0

    [event] = events_about(core_v1, "doomed")
    assert (event.type, event.reason, event.message, event.count) == (
        "Warning", "Logging", FAILURE, 12)
    assert event.source.component == "kopf-informers"
    assert event.last_timestamp >= event.first_timestamp
    writes = [e.verb for e in embedded_apiserver.journal.filter(resource="events")
              if e.verb in ("create", "patch")]
    assert (writes.count("create"), writes.count("patch")) == (1, 11)

    lines = [line for line in runner.output.splitlines() if "reconciling default/doomed" in line]
    assert len(lines) == 12
    for failures, line in enumerate(lines, start=1):
        assert re.search(r"kopf_informers\.ctrl +\[ERROR +\] \[default/doomed\] "
                         r"events_operator\.flaky: reconciling default/doomed failed "
                         rf"\({failures} failures so far; next try in [0-9.e-]+ s\): "
                         r"RuntimeError: the same every time$", line), line
    assert runner.output.count("Traceback") == 1  # the first failure's; the rest repeat it
    # The reconcile's own logger carries the object too (its records are not posted here).
    assert "[default/doomed] attempt 13 of 13" in runner.output


@pytest.mark.parametrize(("posting", "posted"), [
    pytest.param("loggers", {("Normal", "attempt 1 of 2"), ("Normal", "attempt 2 of 2"),
                             ("Warning", FAILURE)}, id="loggers"),
    pytest.param("", {("Warning", FAILURE)}, id="kopf-defaults"),
    pytest.param("disabled", set(), id="disabled"),
])
def test_the_operators_posting_settings_decide_what_is_posted(
        registry: kopf.OperatorRegistry, core_v1: CoreV1Api, monkeypatch: pytest.MonkeyPatch,
        posting: str, posted: set[tuple[str, str]]) -> None:
    monkeypatch.setenv("EVENTS_OPERATOR_POSTING", posting)
    with run(registry) as runner:
        reconcile_until_done(core_v1, "flaky", failures=1)
    assert runner.exception is None
    assert "[default/flaky] attempt 2 of 2" in runner.output
    events = events_about(core_v1, "flaky")
    assert {(e.type, e.message) for e in events} == posted
    assert all(e.reason == "Logging" for e in events)


def test_verbose_shows_the_librarys_debug_lines_with_whole_logger_names(
        registry: kopf.OperatorRegistry, core_v1: CoreV1Api) -> None:
    with run(registry, "--verbose") as runner:
        reconcile_until_done(core_v1, "fine", failures=1)
    assert runner.exception is None
    output = runner.output
    assert re.search(r"kopf_informers\.cache +\[DEBUG +\] \S*configmaps\S*: listed at "
                     r"resourceVersion \d+", output), output
    assert re.search(r"kopf_informers\.cache +\[DEBUG +\] \S*configmaps\S*: watching from "
                     r"resourceVersion \d+", output), output
    assert re.search(r"kopf_informers\.ctrl +\[DEBUG +\] events_operator\.flaky: reconciled "
                     r"default/fine$", output, re.MULTILINE), output
    # At debug, a repeated failure shows its traceback again; here there is only one failure.
    assert output.count("Traceback") == 1
