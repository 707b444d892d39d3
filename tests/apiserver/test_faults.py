"""Fault rules of the embedded server, without serving: verb sets, steady rates, delays, journal.

The server is built but never started: its faults then act on the calling thread, and a rule is
exercised by handing it request descriptions directly.
"""

from __future__ import annotations

import math

import pytest

from kopf_informers.testing.apiserver import EmbeddedApiServer, Faults, Journal
from kopf_informers.testing.apiserver.endpoints._faults import parse_verbs
from kopf_informers.testing.apiserver.endpoints._request_info import RequestInfo
from kopf_informers.testing.apiserver.registry._resources import ResourceInfo

FOOS = ResourceInfo(group="samplecontroller.k8s.io", version="v1alpha1", plural="foos",
                    kind="Foo", singular="foo", namespaced=True)
DEPLOYMENTS = ResourceInfo(group="apps", version="v1", plural="deployments", kind="Deployment",
                           singular="deployment", namespaced=True)


def request(verb: str, plural: str = "configmaps", group: str = "", version: str = "v1",
            subresource: str | None = None) -> RequestInfo:
    return RequestInfo(verb, group, version, plural, "default", "x", subresource)


@pytest.fixture
def faults() -> Faults:
    server = EmbeddedApiServer()
    server.faults.seed(1)
    return server.faults


def failures(faults: Faults, info: RequestInfo, n: int) -> list[int]:
    """The indexes of the requests, out of ``n`` alike, that a fault answers."""
    return [i for i in range(n) if faults.take_failure(info) is not None]


# -- verbs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("verb", "expected"), [
    pytest.param("patch", {"patch"}, id="one"),
    pytest.param("create, update,patch", {"create", "update", "patch"}, id="comma-separated"),
    pytest.param("write", {"create", "update", "patch", "delete", "deletecollection"},
                 id="write"),
    pytest.param("read", {"get", "list", "watch"}, id="read"),
    pytest.param("read,delete", {"get", "list", "watch", "delete"}, id="alias-and-verb"),
    pytest.param("*", {"*"}, id="any"),
])
def test_a_verb_names_one_verb_a_list_or_an_alias(verb: str, expected: set[str]) -> None:
    assert parse_verbs(verb) == expected


@pytest.mark.parametrize("verb", ["frobnicate", "create,", "write;read", ""])
def test_an_unknown_verb_is_refused_with_its_name(verb: str) -> None:
    with pytest.raises(ValueError, match="unknown verb"):
        parse_verbs(verb)


def test_a_write_fault_fails_writes_and_lets_reads_through(faults: Faults) -> None:
    faults.fail("write", "configmaps", 500, count=5)
    assert faults.take_failure(request("get")) is None
    assert faults.take_failure(request("watch")) is None
    for verb in ("create", "update", "patch", "delete", "deletecollection"):
        failure = faults.take_failure(request(verb))
        assert failure is not None
        assert failure.code == 500
    assert faults.take_failure(request("create")) is None  # five, then no more


def test_a_subresource_is_matched_by_its_full_name(faults: Faults) -> None:
    faults.fail("patch", "foos/status", 409, percent=100)
    assert faults.take_failure(request("patch", "foos", "samplecontroller.k8s.io",
                                       "v1alpha1")) is None
    status = request("patch", "foos", "samplecontroller.k8s.io", "v1alpha1", "status")
    assert faults.take_failure(status) is not None


# -- steady rates ---------------------------------------------------------------------------------


def test_a_percentage_fails_about_that_share_of_matching_requests_until_cleared(
    faults: Faults,
) -> None:
    faults.fail("create,patch", "configmaps", 500, percent=5)
    assert 400 <= len(failures(faults, request("create"), 10_000)) <= 600
    assert 400 <= len(failures(faults, request("patch"), 10_000)) <= 600
    assert failures(faults, request("get"), 1_000) == []
    assert failures(faults, request("create", "secrets"), 1_000) == []
    faults.clear()
    assert failures(faults, request("create"), 1_000) == []


def test_a_steady_429_carries_its_retry_after(faults: Faults) -> None:
    faults.fail("*", "*", 429, percent=100, retry_after=3, message="slow down")
    failure = faults.take_failure(request("list"))
    assert failure is not None
    assert (failure.code, failure.retry_after) == (429, 3)
    assert failure.body["message"] == "slow down"
    assert failure.body["details"]["retryAfterSeconds"] == 3


def test_the_same_seed_fails_the_same_requests(faults: Faults) -> None:
    faults.fail("get", "*", 503, percent=30)
    faults.seed(42)
    first = failures(faults, request("get"), 200)
    faults.seed(42)
    again = failures(faults, request("get"), 200)
    faults.seed(43)
    other = failures(faults, request("get"), 200)
    assert first == again
    assert first != other
    assert 0 < len(first) < 200


def test_a_seed_given_to_the_constructor_repeats_too() -> None:
    server = EmbeddedApiServer()
    one, two = (Faults(loop=server.loop, watches=server.watches, listener=server.listener,
                       expire_history=server.expire_history, seed=7) for _ in range(2))
    for faults in (one, two):
        faults.fail("get", "*", 500, percent=50)
    assert failures(one, request("get"), 100) == failures(two, request("get"), 100)


def test_a_request_a_steady_rule_lets_pass_goes_on_to_the_next_rule(faults: Faults) -> None:
    faults.fail("get", "*", 500, percent=50)
    faults.fail("get", "*", 409, count=1_000)
    codes = [faults.take_failure(request("get")) for _ in range(200)]
    assert {c.code for c in codes if c is not None} == {500, 409}
    assert all(c is not None for c in codes)


@pytest.mark.parametrize(("kwargs", "match"), [
    pytest.param({"percent": 0}, "percent", id="zero"),
    pytest.param({"percent": -5}, "percent", id="negative"),
    pytest.param({"percent": 100.5}, "percent", id="over-100"),
    pytest.param({"percent": math.nan}, "percent", id="nan"),
    pytest.param({"percent": math.inf}, "percent", id="inf"),
    pytest.param({"percent": True}, "percent", id="bool"),
    pytest.param({"percent": 5, "count": 3}, "exclude each other", id="with-count"),
    pytest.param({"count": 0}, "count", id="count-zero"),
    pytest.param({"retry_after": -1}, "retry_after", id="negative-retry-after"),
    pytest.param({"retry_after": 10**6}, "retry_after", id="huge-retry-after"),
])
def test_a_failure_out_of_range_is_refused(faults: Faults, kwargs: dict[str, float],
                                            match: str) -> None:
    with pytest.raises(ValueError, match=match):
        faults.fail("get", "configmaps", 500, **kwargs)
    assert faults.take_failure(request("get")) is None


# -- latencies and watch delays -------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [-1, math.nan, math.inf, 601, 1e12])
def test_latency_and_watch_delay_refuse_negative_endless_or_huge_seconds(
    faults: Faults, seconds: float,
) -> None:
    with pytest.raises(ValueError, match="seconds"):
        faults.add_latency(seconds)
    with pytest.raises(ValueError, match="seconds"):
        faults.delay_watches(seconds)
    assert faults.latency_for(request("get")) == 0
    assert faults.watch_delay_for(FOOS) == 0


@pytest.mark.parametrize("name", [
    "foos", "foos.samplecontroller.k8s.io", "samplecontroller.k8s.io/v1alpha1/foos",
])
def test_a_watch_delay_names_its_resource_as_failures_do(faults: Faults, name: str) -> None:
    faults.delay_watches(10, name)
    assert faults.watch_delay_for(FOOS) == 10
    assert faults.watch_delay_for(DEPLOYMENTS) == 0


def test_the_longest_matching_watch_delay_applies_until_ended_or_cleared(faults: Faults) -> None:
    faults.delay_watches(2, "*")
    faults.delay_watches(10, "foos")
    assert (faults.watch_delay_for(FOOS), faults.watch_delay_for(DEPLOYMENTS)) == (10, 2)
    faults.delay_watches(0, "foos")
    assert (faults.watch_delay_for(FOOS), faults.watch_delay_for(DEPLOYMENTS)) == (2, 2)
    faults.delay_watches(10, "foos")
    faults.clear()
    assert (faults.watch_delay_for(FOOS), faults.watch_delay_for(DEPLOYMENTS)) == (0, 0)


# -- the journal read in turns --------------------------------------------------------------------


def test_the_journal_hands_out_entries_after_a_number_even_once_old_ones_fell_off() -> None:
    journal = Journal(size=3)

    class FakeRequest:
        method, path, query, headers = "GET", "/api/v1/pods", {}, {}

    for _ in range(5):
        journal.record(FakeRequest(), request("list", "pods"))  # type: ignore[arg-type]
    assert [e.seq for e in journal] == [3, 4, 5]
    assert [e.seq for e in journal.since(0)] == [3, 4, 5]
    assert [e.seq for e in journal.since(3)] == [4, 5]
    assert journal.since(5) == []
    assert journal.total == 5
