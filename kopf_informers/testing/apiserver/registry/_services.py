"""Cluster IPs and node ports of Services, allocated as kube-apiserver's service REST does.

kube-apiserver allocates a Service's addresses in its registry, around the generic store: a
cluster IP from the service CIDR, node ports from the node port range, each unique in the
cluster, a requested one honoured if free and in range, a taken or stray one refused with 422.
:class:`ServiceAllocator` is that, one per server (the ``allocator`` of the Services strategy;
``ApiCore`` makes it): it calls no one, reads nothing but the Services it is shown, and learns
which addresses are taken from the store's events, so a deleted Service frees them whatever
deleted it.

It also fills what goes with an address: ``clusterIPs``, ``ipFamilies`` and ``ipFamilyPolicy``
(a single-stack IPv4 cluster's), and on updates keeps the addresses a client left out, as
kube-apiserver's ``patchAllocatedValues`` does (a PUT without ``clusterIP`` keeps it).

Differences from kube-apiserver, on purpose: IPv4 only; no ``ServiceCIDR`` objects; the range
is fixed (10.96.0.0/12, ports 30000-32767).
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import orjson

from ..admission._validation import Cause
from ..storage._store import Event, Obj, ObjectKey, ResourceKey, Store

SERVICES: ResourceKey = ("", "services")
SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/12")
NODE_PORT_RANGE = range(30000, 32768)
_NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


class ServiceAllocator:
    """The cluster IPs and node ports one server's Services hold, and new ones for them."""

    def __init__(self, store: Store) -> None:
        self.ips: dict[str, ObjectKey] = {}
        self.ports: dict[int, ObjectKey] = {}
        for obj in store.resource(SERVICES).items():
            self._hold(obj)
        store.listeners.append(self._on_event)

    # -- what is taken --------------------------------------------------------------------------

    def _on_event(self, key: ResourceKey, event: Event) -> None:
        if key != SERVICES:
            return
        if event.old is not None:
            self._release(event.old)
        if event.type != "DELETED":
            self._hold(event.obj)

    def _hold(self, obj: Obj) -> None:
        owner = _key(obj)
        for ip in _cluster_ips(obj):
            self.ips[ip] = owner
        for port in _node_ports(obj):
            self.ports[port] = owner

    def _release(self, obj: Obj) -> None:
        owner = _key(obj)
        for ip in _cluster_ips(obj):
            if self.ips.get(ip) == owner:
                del self.ips[ip]
        for port in _node_ports(obj):
            if self.ports.get(port) == owner:
                del self.ports[port]

    # -- allocation -----------------------------------------------------------------------------

    def allocate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        """Fill ``obj``'s cluster IP and node ports (a create when ``old`` is None), in place;
        the causes of a 422 if what it asks for cannot be had."""
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return []
        old_spec = (old or {}).get("spec") or {}
        causes = self._cluster_ip(obj, spec, old_spec)
        causes += self._ports(obj, spec, old_spec)
        return causes

    def _cluster_ip(self, obj: Obj, spec: Obj, old_spec: Obj) -> list[Cause]:
        if spec.get("type") == "ExternalName":
            for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                spec.pop(field, None)
            return []
        requested = spec.get("clusterIP") or next(iter(spec.get("clusterIPs") or ()), "")
        previous = old_spec.get("clusterIP") if old_spec.get("type") != "ExternalName" else None
        if previous and not requested:
            requested = previous  # left out of an update: kept
        if previous and requested != previous:
            return [Cause("FieldValueInvalid", f"Invalid value: {_go_quote(requested)}: may "
                          "not change once set", "spec.clusterIPs[0]")]
        if not requested:
            requested = self._free_ip()
            if requested is None:
                return [Cause("FieldValueInvalid", "Invalid value: []string{}: failed to "
                              "allocate a serviceIP: range is full", "spec.clusterIPs")]
        elif requested != "None" and requested != previous:
            problem = self._ip_problem(str(requested), _key(obj))
            if problem:
                return [Cause("FieldValueInvalid",
                              f"Invalid value: []string{{{_go_quote(requested)}}}: failed to "
                              f"allocate IP {requested}: {problem}", "spec.clusterIPs")]
        spec["clusterIP"] = requested
        spec["clusterIPs"] = [requested]
        spec.setdefault("ipFamilies", ["IPv4"])
        headless_without_selector = requested == "None" and not spec.get("selector")
        spec.setdefault("ipFamilyPolicy",
                        "RequireDualStack" if headless_without_selector else "SingleStack")
        return []

    def _ip_problem(self, ip: str, owner: ObjectKey) -> str | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return "not a valid IP address"
        if address not in SERVICE_CIDR:
            return (f"the provided IP ({ip}) is not in the valid range. The range of valid IPs "
                    f"is {SERVICE_CIDR}")
        if self.ips.get(ip, owner) != owner:
            return "provided IP is already allocated"
        return None

    def _free_ip(self) -> str | None:
        size = SERVICE_CIDR.num_addresses
        # Random, as the real allocator, away from .0, .1 (the kubernetes Service's) and
        # the broadcast address; a bounded number of tries, then a scan.
        for _ in range(64):
            ip = str(SERVICE_CIDR.network_address + random.randrange(2, size - 1))
            if ip not in self.ips:
                return ip
        for offset in range(2, size - 1):
            ip = str(SERVICE_CIDR.network_address + offset)
            if ip not in self.ips:
                return ip
        return None

    def _ports(self, obj: Obj, spec: Obj, old_spec: Obj) -> list[Cause]:
        ports = [p for p in spec.get("ports") or () if isinstance(p, dict)]
        kind = spec.get("type", "ClusterIP")
        wants_node_ports = kind == "NodePort" or (
            kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))
        if not wants_node_ports:
            if old_spec.get("type") in _NODE_PORT_TYPES:
                for port in ports:  # a type change away from NodePort gives them up
                    port.pop("nodePort", None)
            return [Cause("FieldValueForbidden",
                          f"Forbidden: may not be used when `type` is '{kind}'",
                          f"spec.ports[{i}].nodePort")
                    for i, port in enumerate(ports) if port.get("nodePort")
                    and kind not in _NODE_PORT_TYPES]
        owner = _key(obj)
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                     for p in old_spec.get("ports") or () if isinstance(p, dict)}
        causes: list[Cause] = []
        used: set[tuple[int, str]] = set()
        for i, port in enumerate(ports):
            protocol = port.get("protocol", "TCP")
            wanted = port.get("nodePort") or old_ports.get((port.get("port"), protocol))
            path = f"spec.ports[{i}].nodePort"
            if not wanted:
                wanted = self._free_port({p for p, _ in used})
                if wanted is None:
                    causes.append(Cause("FieldValueInvalid", "Invalid value: 0: range is full",
                                        path))
                    continue
            elif not isinstance(wanted, int) or wanted not in NODE_PORT_RANGE:
                causes.append(Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_go_quote(wanted)}: provided port is not in the valid "
                    f"range. The range of valid ports is {NODE_PORT_RANGE.start}-"
                    f"{NODE_PORT_RANGE.stop - 1}", path))
                continue
            elif (wanted, protocol) in used:
                causes.append(Cause("FieldValueDuplicate", f"Duplicate value: {wanted}", path))
                continue
            elif self.ports.get(wanted, owner) != owner:
                causes.append(Cause("FieldValueInvalid", f"Invalid value: {wanted}: provided "
                                    "port is already allocated", path))
                continue
            used.add((wanted, protocol))
            port["nodePort"] = wanted
        if kind == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local" \
                and not spec.get("healthCheckNodePort"):
            health = old_spec.get("healthCheckNodePort") or self._free_port(
                {p for p, _ in used})
            if health:
                spec["healthCheckNodePort"] = health
        return causes

    def _free_port(self, taken: set[int]) -> int | None:
        for _ in range(64):  # random, as the real allocator; a bounded number of tries
            port = random.choice(NODE_PORT_RANGE)
            if port not in self.ports and port not in taken:
                return port
        return next((p for p in NODE_PORT_RANGE if p not in self.ports and p not in taken),
                    None)


def _key(obj: Obj) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def _cluster_ips(obj: Obj) -> list[str]:
    spec = obj.get("spec") or {}
    ips = list(spec.get("clusterIPs") or ()) or [spec.get("clusterIP")]
    return [ip for ip in ips if isinstance(ip, str) and ip and ip != "None"]


def _node_ports(obj: Obj) -> list[int]:
    spec = obj.get("spec") or {}
    ports = [p.get("nodePort") for p in spec.get("ports") or () if isinstance(p, dict)]
    health = spec.get("healthCheckNodePort")
    return [p for p in [*ports, health] if isinstance(p, int) and p]


def _go_quote(value: Any) -> str:
    return orjson.dumps(value).decode()
