"""The CronJob operator (operators/cronjob.py): its schedule arithmetic, then the operator under
``kopf run`` against the embedded server.

The server runs no containers, so the test plays the Job controller where a Job must finish: it
writes the Job's ``Complete`` condition, as the real controller would. Schedules use croniter's
sixth field (seconds) so that runs come every few seconds.
"""

from __future__ import annotations

import datetime
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import kopf
import pytest
import yaml
from kubernetes.client import ApiextensionsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

import kopf_informers._kopf
from kopf_informers.testing import Operator, wait_until

OPERATORS = Path(__file__).parents[2] / "operators"
GROUP, VERSION, PLURAL = "batch.tutorial.kubebuilder.io", "v1", "cronjobs"
TIMEOUT = 30.0
UTC = datetime.UTC


# -- the schedule ---------------------------------------------------------------------------------


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


# -- the operator ---------------------------------------------------------------------------------


@pytest.fixture
def cronjob_crd(api_client: Any) -> None:
    crd = yaml.safe_load((OPERATORS / "cronjob-crd.yaml").read_text())
    ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    custom = CustomObjectsApi(api_client)

    def served() -> bool:
        try:
            custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        except ApiException:
            return False
        return True

    wait_until(served, "the CronJob CRD served", timeout=TIMEOUT)


def create_cronjob(custom: CustomObjectsApi, name: str, **spec: Any) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "CronJob", "metadata": {"name": name},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure",
            "containers": [{"name": "hello", "image": "busybox", "args": ["date"]}]}}}},
            **spec},
    })


def jobs_of(batch: BatchV1Api, name: str) -> list[Any]:
    jobs = batch.list_namespaced_job("default").items
    return sorted((j for j in jobs if j.metadata.name.startswith(f"{name}-")),
                  key=lambda j: j.metadata.name)


def complete(batch: BatchV1Api, job: Any) -> None:
    """What the Job controller does when a Job's pod succeeds."""
    now = datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    batch.patch_namespaced_job_status(job.metadata.name, "default", {"status": {
        "startTime": now, "completionTime": now, "succeeded": 1,
        "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": now,
                        "lastTransitionTime": now}]}})


def read(custom: CustomObjectsApi, name: str) -> dict[str, Any]:
    found: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, "default",
                                                               PLURAL, name)
    return found


def test_runs_on_schedule_keeps_status_and_history_and_honours_the_policies(
        cronjob_crd: None, custom_objects: CustomObjectsApi, batch_v1: BatchV1Api,
        core_v1: CoreV1Api, operator: Callable[..., Operator]) -> None:
    running = operator(OPERATORS / "cronjob.py")

    def wait(check: Callable[[], Any], what: str) -> Any:
        try:
            return wait_until(check, what, timeout=TIMEOUT, interval=0.2)
        except AssertionError as e:
            pytest.fail(f"{e}\n--- operator log ---\n{running.log_tail(5000)}")

    # Allow: a Job every 2 s, each owned, annotated with its run, listed as active.
    create_cronjob(custom_objects, "every2s", schedule="* * * * * */2",
                   successfulJobsHistoryLimit=2)
    first = wait(lambda: jobs_of(batch_v1, "every2s"), "a first Job")[0]
    assert first.metadata.owner_references[0].kind == "CronJob"
    scheduled_at = first.metadata.annotations["batch.tutorial.kubebuilder.io/scheduled-at"]
    run = datetime.datetime.fromisoformat(scheduled_at.replace("Z", "+00:00"))
    assert first.metadata.name == f"every2s-{int(run.timestamp())}"
    wait(lambda: len(jobs_of(batch_v1, "every2s")) >= 3, "three Jobs side by side")
    wait(lambda: len((read(custom_objects, "every2s").get("status") or {}).get("active") or ())
         >= 3, "status.active lists them")
    assert read(custom_objects, "every2s")["status"]["lastScheduleTime"]

    # History: finished Jobs beyond successfulJobsHistoryLimit=2 are deleted, oldest first.
    custom_objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "every2s",
                                                  {"spec": {"suspend": True}})
    finished = jobs_of(batch_v1, "every2s")
    for job in finished:
        complete(batch_v1, job)
    wait(lambda: [j.metadata.name for j in jobs_of(batch_v1, "every2s")]
         == [j.metadata.name for j in finished[-2:]], "only the 2 newest finished Jobs kept")
    wait(lambda: not (read(custom_objects, "every2s").get("status") or {}).get("active"),
         "no active Job")

    # Forbid: while its Job is active, no other starts.
    create_cronjob(custom_objects, "forbid", schedule="* * * * * */2",
                   concurrencyPolicy="Forbid")
    [only] = wait(lambda: jobs_of(batch_v1, "forbid"), "the Forbid CronJob's Job")
    create_cronjob(custom_objects, "sentinel", schedule="* * * * * */2")
    wait(lambda: len(jobs_of(batch_v1, "sentinel")) >= 3, "3 runs of another CronJob")
    assert [j.metadata.name for j in jobs_of(batch_v1, "forbid")] == [only.metadata.name]
    complete(batch_v1, only)
    wait(lambda: len(jobs_of(batch_v1, "forbid")) == 2, "the next run once it finished")

    # Replace: each run deletes the active Job before starting its own.
    create_cronjob(custom_objects, "replace", schedule="* * * * * */2",
                   concurrencyPolicy="Replace")
    first_replace = wait(lambda: jobs_of(batch_v1, "replace"), "a Job")[0].metadata.name
    wait(lambda: first_replace not in [j.metadata.name for j in jobs_of(batch_v1, "replace")]
         and jobs_of(batch_v1, "replace"), "the active Job replaced by the next run's")
    for name in ("every2s", "forbid", "replace", "sentinel"):
        custom_objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name,
                                                      {"spec": {"suspend": True}})
    assert running.running


def test_an_invalid_schedule_is_reported_and_the_others_still_run(
        cronjob_crd: None, custom_objects: CustomObjectsApi, batch_v1: BatchV1Api,
        core_v1: CoreV1Api, operator: Callable[..., Operator]) -> None:
    operator(OPERATORS / "cronjob.py")
    create_cronjob(custom_objects, "broken", schedule="every tuesday")
    create_cronjob(custom_objects, "fine", schedule="* * * * * */2", suspend=False)

    def condition() -> Any:
        for c in (read(custom_objects, "broken").get("status") or {}).get("conditions") or ():
            if c["type"] == "Ready":
                return c
        return None

    found = wait_until(condition, "the broken CronJob's condition", timeout=TIMEOUT)
    assert (found["status"], found["reason"]) == ("False", "InvalidSchedule")
    wait_until(lambda: jobs_of(batch_v1, "fine"), "the other CronJob runs", timeout=TIMEOUT)

    def warnings() -> list[str]:
        events = core_v1.list_namespaced_event("default").items
        return [e.reason for e in events
                if e.involved_object.name == "broken" and e.type == "Warning"]

    wait_until(warnings, "a Warning Event", timeout=TIMEOUT)
    assert warnings() == ["InvalidSchedule"]
    assert jobs_of(batch_v1, "broken") == []
    custom_objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "fine",
                                                  {"spec": {"suspend": True}})
