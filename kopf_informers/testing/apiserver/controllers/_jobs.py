"""The job controller, as kube-controller-manager runs it (simulated; with pod simulation only).

A Job keeps up to ``parallelism`` Pods running (``<job>-<random>``; ``<job>-<index>-<random>``
when ``completionMode: Indexed``) until ``completions`` of them have Succeeded, which the
simulated kubelet reports after their run time. Its status counts them (``active``, ``ready``,
``succeeded``, ``startTime``) and, once done, has ``completionTime`` and the conditions
``SuccessCriteriaMet`` and ``Complete``, as 1.32's controller writes them. A suspended Job runs
no Pods.

Differences from kube-controller-manager, on purpose: simulated Pods never fail, so
``backoffLimit``, ``activeDeadlineSeconds`` and pod failure policies never come into play;
Pods are counted directly, without the tracking finalizer.
"""

from __future__ import annotations

from ..registry._core import now_rfc3339
from ..storage._store import Obj
from ._objects import (
    JOBS,
    PODS,
    Controller,
    active,
    create,
    is_ready,
    live,
    owned,
    pod_from_template,
    write_status,
)

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
_DONE = "Reached expected number of succeeded pods"


class JobController(Controller):
    """Runs a Job's Pods to its completions and keeps its status."""

    def sync(self, namespace: str, name: str) -> None:
        job = live(self.core, JOBS, namespace, name)
        if job is None or _finished(job):
            return
        spec = job.get("spec") or {}
        pods = owned(self.core, job, PODS)
        done = [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]
        running = active(pods)
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1) or 0)
        indexed = spec.get("completionMode") == "Indexed"
        done_indexes = {_index(p) for p in done}
        succeeded = len(done_indexes) if indexed else len(done)
        if spec.get("suspend"):
            wanted = 0
        elif completions is None:  # a work queue: done once one has succeeded
            wanted = 0 if succeeded else parallelism
        else:
            wanted = max(min(parallelism, int(completions) - succeeded), 0)
        if len(running) > wanted:
            for pod in running[wanted:]:
                self.core.internal_delete(PODS, pod)
            running = running[:wanted]
        elif len(running) < wanted:
            busy = done_indexes | {_index(p) for p in running}
            free = [i for i in range(int(completions or 0)) if i not in busy]
            for n in range(wanted - len(running)):
                pod = self._pod(job, free[n] if indexed and n < len(free) else None)
                created = create(self.core, PODS, namespace, pod)
                if created is not None:
                    running.append(created)
        self._write_status(job, running, succeeded, done_indexes if indexed else None)

    def _pod(self, job: Obj, index: int | None) -> Obj:
        name = job["metadata"]["name"]
        template = (job.get("spec") or {}).get("template") or {}
        if index is None:
            return pod_from_template(job, template, generate_name=f"{name}-")
        pod = pod_from_template(job, template, generate_name=f"{name}-{index}-",
                                labels={COMPLETION_INDEX: str(index)})
        pod["metadata"].setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
        pod["spec"]["hostname"] = f"{name}-{index}"
        return pod

    def _write_status(self, job: Obj, running: list[Obj], succeeded: int,
                      indexes: set[int | None] | None) -> None:
        old = job.get("status") or {}
        spec = job.get("spec") or {}
        now = now_rfc3339()
        status: Obj = {}
        if running or succeeded or old.get("startTime"):
            status["startTime"] = old.get("startTime") or now
        if running:
            status["active"] = len(running)
        if succeeded:
            status["succeeded"] = succeeded
        status["terminating"] = 0
        status["uncountedTerminatedPods"] = {}
        status["ready"] = sum(1 for p in running if is_ready(p))
        if indexes:
            status["completedIndexes"] = _ranges(sorted(i for i in indexes if i is not None))
        completions = spec.get("completions")
        complete = succeeded > 0 and not running and (
            completions is None or succeeded >= int(completions))
        conditions = list(old.get("conditions") or ())
        if complete:
            status["completionTime"] = now
            conditions += [_condition("SuccessCriteriaMet", now), _condition("Complete", now)]
        if conditions:
            status["conditions"] = conditions
        write_status(self.core, JOBS, job, status)


def _finished(job: Obj) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or ())


def _index(pod: Obj) -> int | None:
    value = (pod["metadata"].get("annotations") or {}).get(COMPLETION_INDEX, "")
    return int(value) if value.isdigit() else None


def _condition(type_: str, now: str) -> Obj:
    return {"type": type_, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
            "reason": "CompletionsReached", "message": _DONE}


def _ranges(indexes: list[int]) -> str:
    """``completedIndexes`` as the real controller writes them: ``0-2,5``."""
    parts: list[str] = []
    start = prev = None
    for i in [*indexes, None]:
        if i is not None and prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    return ",".join(parts)
