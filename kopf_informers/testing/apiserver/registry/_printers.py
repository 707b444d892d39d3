"""The columns and cells of built-in kinds, and the ages in them, as kube-apiserver prints them.

Where it sits: ``_tables`` renders a Table with the columns and the row printer a resource's
strategy holds. A built-in's entry in ``_builtins`` pairs its columns (made with
:func:`column_def`, :func:`wide_column`, :data:`NAME_COLUMN`, :data:`AGE_COLUMN`) with one of the
row printers here (``print_pod``, ``print_event`` for both kinds of events, ...); a custom
resource version's strategy holds the columns :func:`custom_printer` builds from its
``additionalPrinterColumns`` with the same pieces. Printers read objects and never change them;
ages are computed against the ``now`` they are given.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..apimachinery._jsonpath import evaluate_jsonpath, is_list

Cells = list[Any]
Printer = Callable[[Mapping[str, Any], datetime.datetime], Cells]


# --------------------------------------------------------------------------------------------------
# Durations and timestamps.

def human_duration(delta: datetime.timedelta) -> str:
    """``5s``, ``3m20s``, ``2d4h``: apimachinery's ``HumanDuration`` (2 or 3 significant digits)."""
    seconds = int(delta.total_seconds())  # truncates towards zero, like Go's int()
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return _two_units(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return _two_units(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return _two_units(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return _two_units(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _two_units(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"


def parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def since(value: Any, now: datetime.datetime) -> str:
    """``<unknown>`` for a missing timestamp, else the age as kubectl shows it."""
    timestamp = parse_time(value)
    return "<unknown>" if timestamp is None else human_duration(now - timestamp)


def age(obj: Mapping[str, Any], now: datetime.datetime) -> str:
    return since(get(obj, "metadata", "creationTimestamp"), now)


# --------------------------------------------------------------------------------------------------
# Column definitions, shared with the columns of custom resources.

def column_def(name: str, type_: str, description: str, *, priority: int = 0,
               format_: str = "") -> dict[str, Any]:
    return {"name": name, "type": type_, "format": format_, "description": description,
            "priority": priority}


NAME_COLUMN = column_def("Name", "string", "The name of the object, unique in its namespace.",
                         format_="name")
AGE_COLUMN = column_def("Age", "string", "How long ago the object was created.")


def wide_column(name: str, description: str) -> dict[str, Any]:
    """A column ``kubectl get -o wide`` adds (priority 1)."""
    return column_def(name, "string", description, priority=1)


# --------------------------------------------------------------------------------------------------
# Row printers of some built-ins, as kube-apiserver prints them.

def get(obj: Any, *keys: str | int, default: Any = None) -> Any:
    for key in keys:
        if isinstance(key, int):
            obj = obj[key] if is_list(obj) and -len(obj) <= key < len(obj) else None
        else:
            obj = obj.get(key) if isinstance(obj, Mapping) else None
        if obj is None:
            return default
    return obj


def _format_labels(labels: Mapping[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _format_selector(selector: Mapping[str, Any] | None) -> str:
    """A label selector as ``labels.Selector.String()`` writes it."""
    parts = [f"{k}={v}" for k, v in (get(selector, "matchLabels") or {}).items()]
    for expression in get(selector, "matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = ",".join(sorted(expression.get("values") or []))
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": key, "DoesNotExist": f"!{key}"}.get(operator, key))
    return ",".join(sorted(parts))


def _containers(template_spec: Mapping[str, Any] | None) -> list[str]:
    containers = get(template_spec, "containers") or []
    names = ",".join(str(c.get("name", "")) for c in containers)
    images = ",".join(str(c.get("image", "")) for c in containers)
    return [names, images]


def print_namespace(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    deleting = get(obj, "metadata", "deletionTimestamp") is not None
    phase = get(obj, "status", "phase") or ("Terminating" if deleting else "Active")
    return [get(obj, "metadata", "name"), phase, age(obj, now)]


def print_configmap(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    size = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [get(obj, "metadata", "name"), size, age(obj, now)]


def print_secret(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    size = len(set(obj.get("data") or {}) | set(obj.get("stringData") or {}))
    return [get(obj, "metadata", "name"), obj.get("type") or "Opaque", size, age(obj, now)]


def print_lease(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    holder = get(obj, "spec", "holderIdentity", default="")
    return [get(obj, "metadata", "name"), holder, age(obj, now)]


def print_deployment(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    desired = get(obj, "spec", "replicas", default=1)
    ready = get(obj, "status", "readyReplicas", default=0)
    return [
        get(obj, "metadata", "name"), f"{ready}/{desired}",
        get(obj, "status", "updatedReplicas", default=0),
        get(obj, "status", "availableReplicas", default=0), age(obj, now),
        *_containers(get(obj, "spec", "template", "spec")),
        _format_selector(get(obj, "spec", "selector")),
    ]


def print_replicaset(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    return [
        get(obj, "metadata", "name"), get(obj, "spec", "replicas", default=1),
        get(obj, "status", "replicas", default=0), get(obj, "status", "readyReplicas", default=0),
        age(obj, now), *_containers(get(obj, "spec", "template", "spec")),
        _format_selector(get(obj, "spec", "selector")),
    ]


def print_replicationcontroller(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    """A ReplicationController's row: a ReplicaSet's, with its selector a plain map of labels."""
    cells = print_replicaset(obj, now)
    selector = get(obj, "spec", "selector") or {}
    cells[-1] = ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"
    return cells


def print_apiservice(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    """An APIService's row, as kube-aggregator prints it: ``Local`` or the service's
    ``namespace/name``, and whether it is ``Available`` (with the reason when it is not)."""
    service = get(obj, "spec", "service")
    where = f"{service.get('namespace', '')}/{service.get('name', '')}" if service else "Local"
    available = "Unknown"
    for condition in get(obj, "status", "conditions") or []:
        if condition.get("type") == "Available":
            status, reason = condition.get("status", ""), condition.get("reason", "")
            available = f"{status} ({reason})" if status != "True" and reason else status
    return [get(obj, "metadata", "name"), where, available, age(obj, now)]


def print_statefulset(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    desired = get(obj, "spec", "replicas", default=1)
    ready = get(obj, "status", "readyReplicas", default=0)
    return [get(obj, "metadata", "name"), f"{ready}/{desired}", age(obj, now),
            *_containers(get(obj, "spec", "template", "spec"))]


def _service_external_ip(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    external = list(spec.get("externalIPs") or [])
    kind = spec.get("type") or "ClusterIP"
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    if kind == "LoadBalancer":
        ingress = get(status, "loadBalancer", "ingress") or []
        balancers = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
        return ",".join(balancers + external) or "<pending>"
    return "<unknown>"


def _service_ports(ports: Sequence[Mapping[str, Any]]) -> str:
    pieces = []
    for port in ports:
        protocol = port.get("protocol") or "TCP"
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        pieces.append(f"{port.get('port')}{node_port}/{protocol}")
    return ",".join(pieces) or "<none>"


def print_service(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    spec = obj.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
    return [
        get(obj, "metadata", "name"), spec.get("type") or "ClusterIP",
        cluster_ips[0] or "<none>", _service_external_ip(spec, obj.get("status") or {}),
        _service_ports(spec.get("ports") or []), age(obj, now),
        _format_labels(spec.get("selector")),
    ]


def print_event(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    """Both core and ``events.k8s.io`` events: the real server prints them from one type."""
    first = obj.get("firstTimestamp") or obj.get("deprecatedFirstTimestamp")
    first_seen = since(first or obj.get("eventTime"), now)
    last = obj.get("lastTimestamp") or obj.get("deprecatedLastTimestamp")
    last_seen = since(last, now) if last else first_seen
    count = obj.get("count") or obj.get("deprecatedCount") or 1
    if obj.get("series"):
        last_seen = since(get(obj, "series", "lastObservedTime"), now)
        count = get(obj, "series", "count", default=count)
    regarding = obj.get("involvedObject") or obj.get("regarding") or {}
    kind, name = str(regarding.get("kind", "")).lower(), regarding.get("name")
    source = obj.get("source") or obj.get("deprecatedSource") or {}
    component = source.get("component") or obj.get("reportingComponent") or obj.get(
        "reportingController") or ""
    host = source.get("host") or obj.get("reportingInstance") or ""
    message = obj.get("message") if "message" in obj else obj.get("note")
    return [
        last_seen, obj.get("type", ""), obj.get("reason", ""), f"{kind}/{name}" if name else kind,
        regarding.get("fieldPath", ""), f"{component}, {host}" if host else component,
        str(message or "").strip(), first_seen, count, get(obj, "metadata", "name"),
    ]


def _restarts(statuses: Sequence[Mapping[str, Any]]) -> tuple[int, datetime.datetime | None]:
    total, last = 0, None
    for status in statuses:
        total += int(status.get("restartCount") or 0)
        finished = parse_time(get(status, "lastState", "terminated", "finishedAt"))
        if finished is not None and (last is None or finished > last):
            last = finished
    return total, last


def _terminated_reason(terminated: Mapping[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return f"{prefix}{terminated['reason']}"
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _init_reason(pod: Mapping[str, Any]) -> tuple[str | None, int]:
    """The ``Init:…`` status while init containers run, and the ready restartable (sidecar) ones."""
    specs = {c.get("name"): c for c in get(pod, "spec", "initContainers") or []}
    ready_sidecars = 0
    statuses = get(pod, "status", "initContainerStatuses") or []
    for index, status in enumerate(statuses):
        sidecar = get(specs, status.get("name"), "restartPolicy") == "Always"
        terminated = get(status, "state", "terminated")
        waiting_reason = get(status, "state", "waiting", "reason")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and status.get("started"):
            ready_sidecars += 1 if status.get("ready") else 0
            continue
        if terminated is not None:
            return _terminated_reason(terminated, "Init:"), ready_sidecars
        if waiting_reason and waiting_reason != "PodInitializing":
            return f"Init:{waiting_reason}", ready_sidecars
        return f"Init:{index}/{len(specs)}", ready_sidecars
    return None, ready_sidecars


def print_pod(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    init_specs = spec.get("initContainers") or []
    sidecars = sum(1 for c in init_specs if c.get("restartPolicy") == "Always")
    total = len(spec.get("containers") or []) + sidecars
    reason = status.get("reason") or status.get("phase") or "Pending"
    conditions = status.get("conditions") or []
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in conditions):
        reason = "SchedulingGated"
    init_reason, ready = _init_reason(obj)
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True"
                      for c in conditions)
    restarts, last_restart = _restarts(status.get("initContainerStatuses") or [])
    reason = init_reason or reason
    if init_reason is None or initialized:
        sidecar_names = {c.get("name") for c in spec.get("initContainers") or []
                         if c.get("restartPolicy") == "Always"}
        init_statuses = [s for s in status.get("initContainerStatuses") or []
                         if s.get("name") in sidecar_names]
        statuses = [*init_statuses, *(status.get("containerStatuses") or [])]
        restarts, last_restart = _restarts(statuses)
        running = False
        for container in reversed(status.get("containerStatuses") or []):
            state = container.get("state") or {}
            if get(state, "waiting", "reason"):
                reason = state["waiting"]["reason"]
            elif state.get("terminated") is not None:
                reason = _terminated_reason(state["terminated"])
            elif container.get("ready") and state.get("running") is not None:
                running = True
                ready += 1
        if reason == "Completed" and running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in conditions)
            reason = "Running" if pod_ready else "NotReady"
    if get(obj, "metadata", "deletionTimestamp") is not None:
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    gates = spec.get("readinessGates") or []
    true_types = {c.get("type") for c in conditions if c.get("status") == "True"}
    gates_text = (f"{sum(g.get('conditionType') in true_types for g in gates)}/{len(gates)}"
                  if gates else "<none>")
    pod_ip = get(status, "podIPs", 0, "ip") or status.get("podIP") or "<none>"
    return [
        get(obj, "metadata", "name"), f"{ready}/{total}", reason, restarts_text, age(obj, now),
        pod_ip, spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]



# --------------------------------------------------------------------------------------------------
# Columns of custom resources.

_DEFAULT_CUSTOM_COLUMNS: tuple[Mapping[str, Any], ...] = (
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
     "description": "How long ago the object was created."},
)


def custom_printer(
    printer_columns: Sequence[Mapping[str, Any]],
) -> tuple[tuple[dict[str, Any], ...], Printer]:
    """The columns and row printer of a custom resource version's ``additionalPrinterColumns``."""
    declared = tuple(printer_columns) or _DEFAULT_CUSTOM_COLUMNS
    columns = [NAME_COLUMN]
    for column in declared:
        description = column.get("description") or (
            f"Custom resource definition column (in JSONPath format): {column['jsonPath']}")
        columns.append(column_def(column["name"], column.get("type", "string"), description,
                                  priority=int(column.get("priority", 0)),
                                  format_=column.get("format", "")))

    def printer(obj: Mapping[str, Any], now: datetime.datetime) -> Cells:
        cells: Cells = [get(obj, "metadata", "name")]
        for column in declared:
            cells.append(_custom_cell(obj, column, now))
        return cells

    return tuple(columns), printer


def _custom_cell(obj: Mapping[str, Any], column: Mapping[str, Any], now: datetime.datetime) -> Any:
    try:
        found = evaluate_jsonpath(obj, column["jsonPath"])
    except ValueError:
        return None
    if not found or found[0] is None:
        return None
    value = found[0]
    type_ = column.get("type", "string")
    if type_ == "string":
        return _as_text(value)
    if type_ == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if type_ == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        timestamp = parse_time(value)
        return "<invalid>" if timestamp is None else human_duration(now - timestamp)
    return None


def _as_text(value: Any) -> str:
    """A value as Go's JSONPath printer writes it: JSON for maps and lists, ``%v`` for scalars."""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: the shortest digits, in exponent form from 1e6 or below 1e-4."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    decimal_exponent = len(digits) + exponent - 1
    if decimal_exponent < -4 or decimal_exponent >= 6:
        fraction = f".{mantissa[1:]}" if len(mantissa) > 1 else ""
        text = f"{mantissa[0]}{fraction}e{decimal_exponent:+03d}"
    else:
        text = format(Decimal(repr(value)).normalize(), "f")
    return f"-{text}" if sign and not text.startswith("-") else text
