"""The CronJob operator (operators/cronjob.py) end to end, on any cluster.

kubebuilder's CronJob tutorial: each test applies the CRD, starts the operator for a fresh
namespace, and drives it through the official client. Schedules use croniter's sixth field
(seconds), so that runs come every second. The Jobs' pods run ``sleep`` (busybox): on
kind for real; on the embedded server simulated (``simulate_pods``), for as long as the
``kopf-informers.dev/simulated-run-seconds`` annotation of their template says.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

import pytest
from _helpers.e2e import CustomObjects, events_of
from kubernetes.client import BatchV1Api, CoreV1Api, CustomObjectsApi

from kopf_informers.testing import Cluster, Operator, wait_for

GROUP, VERSION, PLURAL = "batch.tutorial.kubebuilder.io", "v1", "cronjobs"
SCHEDULED_AT = "batch.tutorial.kubebuilder.io/scheduled-at"
RUN_SECONDS = "kopf-informers.dev/simulated-run-seconds"
EVERY_SECOND = "* * * * * *"
# Pods simulated on the embedded server (a fresh one per test, then); real on kind.
pytestmark = pytest.mark.embedded_apiserver(simulate_pods=True)


class CronJobs(CustomObjects):
    """CronJobs in one namespace, and their Jobs, through the official client."""

    def __init__(self, custom: CustomObjectsApi, batch: BatchV1Api, namespace: str) -> None:
        super().__init__(custom, GROUP, VERSION, PLURAL, "CronJob", namespace)
        self.batch = batch

    def run(self, name: str, schedule: str, *, run_seconds: int = 1,
            **spec: Any) -> dict[str, Any]:
        """Create a CronJob whose Jobs' pods run ``sleep run_seconds``."""
        pod = {"metadata": {"annotations": {RUN_SECONDS: str(run_seconds)}},
               "spec": {"restartPolicy": "OnFailure", "containers": [
                   {"name": "sleep", "image": "busybox",
                    "args": ["sleep", str(run_seconds)]}]}}
        return self.create(name, {
            "schedule": schedule,
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": pod}}, **spec})

    def active(self, name: str) -> list[str]:
        return [ref["name"] for ref in self.status(name).get("active") or ()]

    def jobs(self, name: str) -> list[Any]:
        """The CronJob's Jobs, oldest run first."""
        jobs = self.batch.list_namespaced_job(self.namespace).items
        return sorted((job for job in jobs if job.metadata.name.startswith(f"{name}-")),
                      key=lambda job: scheduled_at(job))


def scheduled_at(job: Any) -> datetime.datetime:
    return datetime.datetime.fromisoformat(
        job.metadata.annotations[SCHEDULED_AT].replace("Z", "+00:00"))


def names(jobs: list[Any]) -> list[str]:
    return [job.metadata.name for job in jobs]


def finished(job: Any) -> bool:
    return any(c.type == "Complete" and c.status == "True"
               for c in (job.status.conditions or ()))


@pytest.fixture
def cronjob_operator(example_operator: Callable[..., Operator]) -> Operator:
    """The CronJob operator serving the test's namespace, started and synced."""
    return example_operator("cronjob")


@pytest.fixture
def cronjobs(cronjob_operator: Operator, custom: CustomObjectsApi, cluster: Cluster,
             namespace: str) -> CronJobs:
    return CronJobs(custom, BatchV1Api(cluster.api_client()), namespace)


def test_a_cronjob_runs_owned_jobs_on_schedule_reports_them_and_follows_its_changes(
        cronjobs: CronJobs, cluster: Cluster) -> None:
    cronjob = cronjobs.run("ticking", EVERY_SECOND, run_seconds=2,
                              successfulJobsHistoryLimit=1)
    first = wait_for(lambda: cronjobs.jobs("ticking"), None, "a first Job",
                     timeout=cluster.timeout)[0]
    [owner] = first.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "CronJob", "ticking", cronjob["metadata"]["uid"], True)
    assert first.metadata.name == f"ticking-{int(scheduled_at(first).timestamp())}"
    wait_for(lambda: cronjobs.active("ticking"), lambda a: len(a) >= 2,
             "status.active lists the Jobs running side by side", timeout=cluster.timeout)
    assert cronjobs.status("ticking")["lastScheduleTime"]

    # History: of the finished Jobs, only the newest one is kept (successfulJobsHistoryLimit).
    wait_for(lambda: cronjobs.jobs("ticking"), lambda jobs: first.metadata.name not in names(
        jobs) and sum(map(finished, jobs)) == 1, "the oldest finished Jobs deleted",
        timeout=cluster.timeout)

    # Suspended: no more runs; resumed: runs again.
    cronjobs.patch("ticking", {"suspend": True})
    time.sleep(0.5)  # a run the operator was about to start when the edit arrived
    before = names(cronjobs.jobs("ticking"))
    time.sleep(2.5)
    # (the history limit still applies: finished Jobs may go meanwhile)
    assert not set(names(cronjobs.jobs("ticking"))) - set(before), "no run while suspended"
    cronjobs.patch("ticking", {"suspend": False})
    wait_for(lambda: cronjobs.jobs("ticking"), lambda jobs: set(names(jobs)) - set(before),
             "runs again once resumed", timeout=cluster.timeout)


def test_an_invalid_schedule_is_reported_while_the_policies_forbid_or_replace_active_jobs(
        cronjobs: CronJobs, core: CoreV1Api, cluster: Cluster, namespace: str) -> None:
    cronjobs.run("broken", "every tuesday")
    cronjobs.run("forbid", EVERY_SECOND, run_seconds=30, concurrencyPolicy="Forbid")
    cronjobs.run("replace", EVERY_SECOND, run_seconds=30, concurrencyPolicy="Replace")
    [only] = wait_for(lambda: cronjobs.jobs("forbid"), None, "the Forbid CronJob's Job",
                      timeout=cluster.timeout)
    first = wait_for(lambda: cronjobs.jobs("replace"), None, "a Job",
                     timeout=cluster.timeout)[0]
    wait_for(lambda: cronjobs.jobs("replace"), lambda jobs: jobs and first.metadata.name not in
             names(jobs), "the active Job replaced by the next run's", timeout=cluster.timeout)
    assert len(cronjobs.active("replace")) == 1
    assert names(cronjobs.jobs("forbid")) == [only.metadata.name], "no run while one is active"

    conditions = wait_for(lambda: cronjobs.status("broken").get("conditions"), None,
                          "a condition on the invalid CronJob", timeout=cluster.timeout)
    assert [(c["type"], c["status"], c["reason"]) for c in conditions] == [
        ("Ready", "False", "InvalidSchedule")]
    [warning] = wait_for(lambda: events_of(core, namespace, "broken", "InvalidSchedule"), None,
                         "an InvalidSchedule Event", timeout=cluster.timeout)
    assert warning.type == "Warning"
    assert cronjobs.jobs("broken") == []

    cronjobs.patch("broken", {"schedule": EVERY_SECOND})  # fixed: it runs, and says so
    wait_for(lambda: cronjobs.jobs("broken"), None, "a Job once fixed", timeout=cluster.timeout)
    wait_for(lambda: cronjobs.ready("broken"), lambda c: c and c["status"] == "True",
             "Ready=True once fixed", timeout=cluster.timeout)


def test_a_job_deleted_by_hand_leaves_the_status_and_is_not_run_again(
        cronjobs: CronJobs, cluster: Cluster, namespace: str) -> None:
    # A run happens once: the Job of a past run is not made again; the next run comes as due.
    cronjobs.run("manual", EVERY_SECOND, run_seconds=30, concurrencyPolicy="Forbid")
    [job] = wait_for(lambda: cronjobs.jobs("manual"), None, "a Job", timeout=cluster.timeout)
    wait_for(lambda: cronjobs.active("manual"), lambda a: a == [job.metadata.name],
             "status.active lists it", timeout=cluster.timeout)
    cronjobs.batch.delete_namespaced_job(job.metadata.name, namespace,
                                         propagation_policy="Background")
    [later] = wait_for(lambda: cronjobs.jobs("manual"), lambda jobs: len(jobs) == 1 and names(
        jobs) != [job.metadata.name], "the next run's Job instead", timeout=cluster.timeout)
    assert scheduled_at(later) > scheduled_at(job)
    wait_for(lambda: cronjobs.active("manual"), lambda a: a == [later.metadata.name],
             "status.active follows", timeout=cluster.timeout)


def test_a_deleted_cronjob_leaves_no_job_or_pod_behind(
        cronjobs: CronJobs, core: CoreV1Api, cluster: Cluster, namespace: str) -> None:
    # No finalizer: the Jobs go by garbage collection, and their Pods with them.
    cronjobs.run("temporary", EVERY_SECOND, run_seconds=30)
    wait_for(lambda: cronjobs.jobs("temporary"), lambda jobs: len(jobs) >= 2, "two Jobs",
             timeout=cluster.timeout)
    cronjobs.delete("temporary")
    wait_for(lambda: cronjobs.batch.list_namespaced_job(namespace).items, lambda jobs: not jobs,
             "no Job left", timeout=cluster.timeout)
    wait_for(lambda: core.list_namespaced_pod(namespace).items, lambda pods: not pods,
             "no Pod left", timeout=cluster.timeout)


def test_a_killed_operator_starts_only_the_latest_missed_run_when_started_again(
        cronjob_operator: Operator, cronjobs: CronJobs, cluster: Cluster) -> None:
    cronjobs.run("restarted", EVERY_SECOND, successfulJobsHistoryLimit=100)
    wait_for(lambda: cronjobs.jobs("restarted"), None, "a first Job", timeout=cluster.timeout)

    cronjob_operator.kill()  # kill -9: nothing drained, nothing cleaned up
    killed = datetime.datetime.now(datetime.UTC)
    time.sleep(3.5)  # runs missed
    restarted = datetime.datetime.now(datetime.UTC)
    cronjob_operator.start()

    jobs = wait_for(lambda: cronjobs.jobs("restarted"),
                    lambda jobs: scheduled_at(jobs[-1]) > restarted + datetime.timedelta(
                        seconds=1), "runs again after its restart", timeout=cluster.timeout)
    runs = [scheduled_at(job) for job in jobs]
    assert len(set(runs)) == len(runs), "one Job a run"
    if cronjob_operator.mode == "subprocess":  # in a cluster, its Deployment restarts it at once
        skipped = (killed + datetime.timedelta(seconds=1.2), restarted - datetime.timedelta(
            seconds=1.2))  # at least one run's second is in between
        assert not [run for run in runs if skipped[0] < run < skipped[1]], (
            "the runs missed while it was down are not made up for, but the latest")
    assert all(len(job.metadata.owner_references) == 1 for job in jobs)
