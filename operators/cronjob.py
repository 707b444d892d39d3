"""The CronJob operator: kubebuilder's CronJob tutorial, in Python on Kopf with kopf-informers.

Run it with ``kopf run operators/cronjob.py`` after applying ``operators/cronjob-crd.yaml``
(it needs ``croniter``: ``pip install 'kopf-informers[examples]'``).

A ``CronJob`` (``batch.tutorial.kubebuilder.io/v1``) runs ``spec.jobTemplate`` as a Job on
``spec.schedule``, as the tutorial's controller does, step by step:

1. its Jobs are found through the Jobs cache's owner index (no list request), sorted into
   active, successful and failed; ``status.active`` and ``status.lastScheduleTime`` (from the
   ``batch.tutorial.kubebuilder.io/scheduled-at`` annotation of the newest Job) follow them;
2. finished Jobs beyond ``successfulJobsHistoryLimit`` (3) and ``failedJobsHistoryLimit`` (1)
   are deleted, oldest first;
3. a suspended CronJob (``spec.suspend``) runs nothing more;
4. the run to start now is the latest scheduled time missed since the last one (or since the
   CronJob was made), no further back than ``startingDeadlineSeconds``; more than 100 missed
   runs is an error (the tutorial's "Too many missed start times");
5. ``concurrencyPolicy``: ``Allow`` runs alongside active Jobs, ``Forbid`` skips the run while
   one is active, ``Replace`` deletes the active ones first;
6. the Job is named ``<cronjob>-<unix time of the run>``, so a run is created once whatever
   the retries, and the next reconcile is scheduled with ``Result.requeue_after``.

A schedule that does not parse gives ``Ready=False`` (``InvalidSchedule``) and a Warning Event,
and nothing runs until the CronJob changes. Schedules are five-field cron; a sixth field,
seconds (croniter's), is accepted too, which the tests use to run in seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import datetime
from typing import Any

from croniter import croniter

import kopf_informers
from kopf_informers import ApiClient, Result

CRONJOBS = "batch.tutorial.kubebuilder.io/v1/cronjobs"
JOBS = "batch/v1/jobs"
SCHEDULED_AT = "batch.tutorial.kubebuilder.io/scheduled-at"
COMPONENT = "cronjob-controller"
MAX_MISSED = 100  # the tutorial's bound on missed start times

jobs = kopf_informers.shared_informer(JOBS)

UTC = datetime.UTC


class TooManyMissedRuns(Exception):
    pass


def parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_runs(schedule: str, *, last: datetime.datetime, now: datetime.datetime,
              deadline: int | None) -> tuple[datetime.datetime | None, datetime.datetime]:
    """The latest run missed since ``last`` (None if none is due) and the next one after
    ``now`` — the tutorial's ``getNextSchedule``.

    Raises:
        TooManyMissedRuns: more than 100 runs were missed (the clock, or no deadline).
        ValueError: a schedule croniter does not parse.
    """
    earliest = last
    if deadline is not None:
        earliest = max(earliest, now - datetime.timedelta(seconds=deadline))
    if earliest > now:
        return None, croniter(schedule, now).get_next(datetime.datetime)
    missed: datetime.datetime | None = None
    runs = croniter(schedule, earliest)
    for starts in range(MAX_MISSED + 1):
        candidate: datetime.datetime = runs.get_next(datetime.datetime)
        if candidate > now:
            return missed, croniter(schedule, now).get_next(datetime.datetime)
        missed = candidate
        if starts == MAX_MISSED:
            break
    raise TooManyMissedRuns(f"too many missed start times (> {MAX_MISSED}): set or decrease "
                            f".spec.startingDeadlineSeconds or check clock skew")


def finished(job: Any) -> str | None:
    """``Complete`` or ``Failed`` when the Job has finished, else None."""
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


def reference(job: Any) -> dict[str, Any]:
    meta = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
            "namespace": meta["namespace"], "uid": meta["uid"]}


def new_job(cronjob: Any, scheduled: datetime.datetime) -> dict[str, Any]:
    template = kopf_informers.thaw((cronjob.get("spec") or {}).get("jobTemplate") or {})
    meta = template.get("metadata") or {}
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": f"{cronjob['metadata']['name']}-{int(scheduled.timestamp())}",
            "namespace": cronjob["metadata"]["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "annotations": {**(meta.get("annotations") or {}), SCHEDULED_AT: rfc3339(scheduled)},
        },
        "spec": template.get("spec") or {},
    }
    return kopf_informers.set_controller_reference(cronjob, job)


async def delete_job(api: ApiClient, job: Any) -> None:
    meta = job["metadata"]
    with contextlib.suppress(kopf_informers.NotFoundError, kopf_informers.ConflictError):
        await api.delete(JOBS, meta["name"], namespace=meta["namespace"],
                         propagation_policy="Background", preconditions={"uid": meta["uid"]})


async def not_ready(api: ApiClient, cronjob: Any, reason: str, message: str) -> None:
    """``Ready=False`` and a Warning Event, both only when the condition changes."""
    current = [c for c in (cronjob.get("status") or {}).get("conditions") or ()
               if c.get("type") == "Ready"]
    if current and (current[0].get("status"), current[0].get("reason"),
                    current[0].get("message")) == ("False", reason, message):
        return
    condition = {"type": "Ready", "status": "False", "reason": reason, "message": message,
                 "lastTransitionTime": rfc3339(datetime.datetime.now(UTC))}
    meta = cronjob["metadata"]
    await api.patch_status(CRONJOBS, meta["name"], {"status": {"conditions": [condition]}},
                           namespace=meta["namespace"])
    await kopf_informers.post_event(api, cronjob, type="Warning", reason=reason,
                                    message=message, reporting_component=COMPONENT)


async def ready_again(api: ApiClient, cronjob: Any) -> None:
    """A schedule that parses again (the CronJob was fixed): ``Ready=True`` and a Normal Event."""
    current = [c for c in (cronjob.get("status") or {}).get("conditions") or ()
               if c.get("type") == "Ready"]
    if not current or current[0].get("status") == "True":
        return
    condition = {"type": "Ready", "status": "True", "reason": "Scheduled",
                 "message": "the schedule parses", "lastTransitionTime":
                 rfc3339(datetime.datetime.now(UTC))}
    meta = cronjob["metadata"]
    await api.patch_status(CRONJOBS, meta["name"], {"status": {"conditions": [condition]}},
                           namespace=meta["namespace"])
    await kopf_informers.post_event(api, cronjob, type="Normal", reason="Scheduled",
                                    message="the schedule parses",
                                    reporting_component=COMPONENT)


@kopf_informers.reconcile(CRONJOBS, owns=[JOBS], id="cronjob", max_concurrent=4)
async def reconcile_cronjob(name: str, namespace: str, body: Any, api: ApiClient, logger: Any,
                            **_: Any) -> Result | None:
    spec = body.get("spec") or {}
    status = body.get("status") or {}

    # 1. The Jobs it owns, from the cache, and the status they make.
    children = [job for job in jobs.lister.by_index("owner", body["metadata"]["uid"])
                if kopf_informers.is_owned_by(job, body, controller=True)]
    active = [job for job in children if finished(job) is None]
    scheduled = [t for job in children
                 if (t := parse_time((job["metadata"].get("annotations") or {})
                                     .get(SCHEDULED_AT))) is not None]
    new_status: dict[str, Any] = {"active": [reference(job) for job in active] or None}
    if scheduled:
        new_status["lastScheduleTime"] = rfc3339(max(scheduled))
    if any(kopf_informers.thaw(status.get(k)) != v for k, v in new_status.items()):
        await api.patch_status(CRONJOBS, name, {"status": new_status}, namespace=namespace)

    # 2. History limits: the oldest finished Jobs beyond them go.
    for outcome, field, default in (("Complete", "successfulJobsHistoryLimit", 3),
                                    ("Failed", "failedJobsHistoryLimit", 1)):
        limit = spec.get(field, default)
        done = sorted((job for job in children if finished(job) == outcome),
                      key=lambda job: (job.get("status") or {}).get("startTime") or "")
        for job in done[:max(0, len(done) - limit)]:
            await delete_job(api, job)
            logger.info("deleted old %s Job %s", outcome.lower(), job["metadata"]["name"])

    # 3. Suspended: nothing more to run.
    if spec.get("suspend"):
        return None

    # 4. The run that is due, if any, and when the next one is.
    now = datetime.datetime.now(UTC)
    last = parse_time(status.get("lastScheduleTime")) or parse_time(
        body["metadata"].get("creationTimestamp")) or now
    deadline = spec.get("startingDeadlineSeconds")
    schedule = spec.get("schedule")
    if not isinstance(schedule, str) or not croniter.is_valid(schedule):
        await not_ready(api, body, "InvalidSchedule",
                        f"spec.schedule {schedule!r} is not a cron schedule")
        return None  # its edit re-runs this
    await ready_again(api, body)
    missed, upcoming = next_runs(schedule, last=max([last, *scheduled]), now=now,
                                 deadline=deadline)
    later = Result.requeue_after(max(0.0, (upcoming - now).total_seconds()))
    if missed is None:
        return later
    if deadline is not None and missed + datetime.timedelta(seconds=deadline) < now:
        logger.info("missed the run of %s: past startingDeadlineSeconds", rfc3339(missed))
        return later

    # 5. The concurrency policy.
    policy = spec.get("concurrencyPolicy", "Allow")
    if policy == "Forbid" and active:
        logger.info("skipping the run of %s: a Job is still active", rfc3339(missed))
        return later
    if policy == "Replace":
        for job in active:
            await delete_job(api, job)
            logger.info("replacing its active Job %s", job["metadata"]["name"])

    # 6. The run, once.
    job = new_job(body, missed)
    try:
        await api.create(JOBS, job, namespace=namespace)
    except kopf_informers.AlreadyExistsError:
        return later  # made by an earlier try whose status write did not land yet
    logger.info("created Job %s for the run of %s", job["metadata"]["name"], rfc3339(missed))
    return later
