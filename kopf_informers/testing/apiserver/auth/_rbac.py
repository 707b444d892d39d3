"""RBAC: Roles, ClusterRoles and their bindings decide, as kube-apiserver's RBAC authorizer.

:class:`RbacAuthorizer` reads the four ``rbac.authorization.k8s.io`` kinds from the store at
every decision (no cache to go stale; a test cluster holds few of them) and walks them as
``rbac.RBACAuthorizer`` and ``validation.DefaultRuleResolver`` do: the ClusterRoleBindings,
then, for a namespaced request, the RoleBindings of its namespace; a binding applies when one
of its subjects is the user, one of its groups, or its ServiceAccount; its role's rules allow
when verb, API group, resource (``foos/status``, ``*/scale``), resource name and, for other
paths, the non-resource URL (``/apis/*``) match. ``system:masters`` is allowed everything first,
as kube-apiserver's privileged-groups authorizer does. A ClusterRole with an
``aggregationRule`` grants the rules stored in it, which the server's clusterrole-aggregation
controller keeps equal to :func:`aggregated_rules` (the rules of every ClusterRole its
selectors match), a moment after any ClusterRole changes, as kube-controller-manager's does.

A denial has no opinion and a reason only when a binding's role is missing, worded so
(``RBAC: clusterrole.rbac.authorization.k8s.io "x" not found``). :data:`BOOTSTRAP` holds the
ClusterRoles and ClusterRoleBindings the real server makes at start so that discovery, the
self reviews and ``/version`` work for anyone authenticated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..storage._store import Obj, Store
from ._authorizer import Attributes, Decision, Rules
from ._user import SERVICEACCOUNT_PREFIX, UserInfo

GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"


class RbacAuthorizer:
    """kube-apiserver's ``--authorization-mode=RBAC`` over the objects in ``store``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def authorize(self, attributes: Attributes) -> Decision:
        if MASTERS in attributes.user.groups:
            return Decision(allowed=True)
        errors: list[str] = []
        for source, rule in self._rules(attributes.user, attributes.namespace, errors):
            if _allows(rule, attributes):
                return Decision(allowed=True, reason=f"RBAC: allowed by {source}")
        reason = f"RBAC: {errors[0]}" if len(errors) == 1 else (
            f"RBAC: [{', '.join(errors)}]" if errors else "")
        return Decision(allowed=False, reason=reason)

    def rules_for(self, user: UserInfo, namespace: str) -> Rules:
        if MASTERS in user.groups:
            return Rules(
                resource_rules=({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},),
                non_resource_rules=({"verbs": ["*"], "nonResourceURLs": ["*"]},),
            )
        errors: list[str] = []
        resource: list[dict[str, Any]] = []
        non_resource: list[dict[str, Any]] = []
        for _, rule in self._rules(user, namespace, errors):
            if rule.get("nonResourceURLs"):
                non_resource.append({"verbs": list(rule.get("verbs") or ()),
                                     "nonResourceURLs": list(rule["nonResourceURLs"])})
            if rule.get("resources"):
                entry = {"verbs": list(rule.get("verbs") or ()),
                         "apiGroups": list(rule.get("apiGroups") or ()),
                         "resources": list(rule["resources"])}
                if rule.get("resourceNames"):
                    entry["resourceNames"] = list(rule["resourceNames"])
                resource.append(entry)
        return Rules(resource_rules=tuple(resource), non_resource_rules=tuple(non_resource),
                     incomplete=bool(errors), evaluation_error=", ".join(errors))

    # -- escalation prevention ------------------------------------------------------------------

    def escalation(self, plural: str, namespace: str, obj: Mapping[str, Any],
                   user: UserInfo) -> str | None:
        """Why ``user`` may not write this Role, ClusterRole or binding, or None.

        As kube-apiserver's RBAC storage: a role may grant only what its writer holds (in its
        namespace, or cluster-wide), unless the writer may ``escalate`` on it; a binding may
        refer only to a role whose rules its writer holds, unless the writer may ``bind`` it.
        """
        if MASTERS in user.groups:
            return None
        name = (obj.get("metadata") or {}).get("name") or ""
        if plural in ("roles", "clusterroles"):
            role = obj
            permit, kind = "escalate", plural
        elif plural in ("rolebindings", "clusterrolebindings"):
            ref = obj.get("roleRef") or {}
            kind = "roles" if ref.get("kind") == "Role" else "clusterroles"
            role_namespace = namespace if kind == "roles" else ""
            found = self._store.resource((GROUP, kind)).get(role_namespace, ref.get("name", ""))
            if found is None:
                return None  # the real server lets a binding to a missing role through
            role, permit, name = found, "bind", str(ref.get("name", ""))
        else:
            return None
        if self.authorize(Attributes(user=user, verb=permit, namespace=namespace, group=GROUP,
                                     resource=kind, name=name)).allowed:
            return None
        rules = [r for r in role.get("rules") or () if isinstance(r, Mapping)]
        held = [rule for _, rule in self._rules(user, namespace, [])]
        missing = [atom for rule in rules for atom in _atoms(rule)
                   if not any(_covers(owner, atom) for owner in held)]
        if missing:
            groups = ",".join(f'"{g}"' for g in user.groups)
            lines = "\n".join(_describe(atom) for atom in missing)
            return (f'user "{user.username}" (groups=[{groups}]) is attempting to grant RBAC '
                    f'permissions not currently held:\n{lines}')
        if plural == "clusterroles":
            # An aggregation rule can gather anything: setting, changing or dropping one needs
            # every permission (the ClusterRole storage's ``fullAuthority`` check).
            stored = self._store.resource((GROUP, "clusterroles")).get("", name)
            if (has_aggregation_rule(role) or has_aggregation_rule(stored)) and not all(
                    any(_covers(owner, atom) for owner in held)
                    for rule in _FULL_AUTHORITY for atom in _atoms(rule)):
                return "must have cluster-admin privileges to use the aggregationRule"
        return None

    # -- the rule resolver ----------------------------------------------------------------------

    def _rules(self, user: UserInfo, namespace: str,
               errors: list[str]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """Every rule that applies to ``user`` in ``namespace``, with where it comes from."""
        for binding in self._items("clusterrolebindings"):
            if _applies(binding, user, ""):
                yield from self._role_rules(binding, "", errors)
        if namespace:
            for binding in self._items("rolebindings", namespace):
                if _applies(binding, user, namespace):
                    yield from self._role_rules(binding, namespace, errors)

    def _role_rules(self, binding: Obj, namespace: str,
                    errors: list[str]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        ref = binding.get("roleRef") or {}
        kind, name = ref.get("kind"), ref.get("name", "")
        meta = binding.get("metadata") or {}
        if namespace:
            source = f'RoleBinding "{meta.get("name")}" of {kind} "{name}" to ' \
                     f'{namespace}'
        else:
            source = f'ClusterRoleBinding "{meta.get("name")}" of ClusterRole "{name}"'
        if kind == "Role" and namespace:
            role = self._store.resource((GROUP, "roles")).get(namespace, name)
            if role is None:
                errors.append(f'role.{GROUP} "{name}" not found')
                return
            rules = list(role.get("rules") or ())
        elif kind == "ClusterRole":
            role = self._store.resource((GROUP, "clusterroles")).get("", name)
            if role is None:
                errors.append(f'clusterrole.{GROUP} "{name}" not found')
                return
            rules = list(role.get("rules") or ())
        else:
            return
        for rule in rules:
            if isinstance(rule, Mapping):
                yield source, rule

    def _items(self, plural: str, namespace: str | None = None) -> list[Obj]:
        return self._store.resource((GROUP, plural)).items(namespace)


# -- aggregation, as the clusterrole-aggregation controller ----------------------------------------

def has_aggregation_rule(role: Mapping[str, Any] | None) -> bool:
    return role is not None and bool((role.get("aggregationRule") or {}).get(
        "clusterRoleSelectors"))


def aggregated_rules(role: Mapping[str, Any], roles: Iterable[Mapping[str, Any]]
                     ) -> list[Mapping[str, Any]]:
    """The rules an aggregated ClusterRole should hold: for each of its selectors in turn, the
    rules of the ClusterRoles it selects (itself left out) in the order of their names, each
    rule once."""
    own = (role.get("metadata") or {}).get("name")
    by_name = sorted(roles, key=lambda r: str((r.get("metadata") or {}).get("name", "")))
    found: list[Mapping[str, Any]] = []
    for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or ():
        for other in by_name:
            meta = other.get("metadata") or {}
            if meta.get("name") == own or not _selects(selector, meta.get("labels") or {}):
                continue
            found.extend(r for r in other.get("rules") or ()
                         if isinstance(r, Mapping) and r not in found)
    return found


# -- matching, as rbac/v1 helpers and validation.appliesTo ---------------------------------------

def _applies(binding: Obj, user: UserInfo, namespace: str) -> bool:
    for subject in binding.get("subjects") or ():
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User" and name == user.username:
            return True
        if kind == "Group" and name in user.groups:
            return True
        if kind == "ServiceAccount":
            sa_namespace = subject.get("namespace") or namespace
            if user.username == f"{SERVICEACCOUNT_PREFIX}{sa_namespace}:{name}":
                return True
    return False


def _allows(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return any(url == "*" or url == attrs.path or (
            url.endswith("*") and attrs.path.startswith(url[:-1]))
            for url in rule.get("nonResourceURLs") or ())
    if not _has(rule.get("apiGroups"), attrs.group):
        return False
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if not any(r == "*" or r == combined or (
            attrs.subresource and r == f"*/{attrs.subresource}")
            for r in rule.get("resources") or ()):
        return False
    names = rule.get("resourceNames") or ()
    return not names or attrs.name in names


def _atoms(rule: Mapping[str, Any]) -> Iterator[dict[str, str]]:
    """A rule broken down to one verb of one resource (or URL) each, as rbac's ``BreakdownRule``."""
    for verb in rule.get("verbs") or ():
        for url in rule.get("nonResourceURLs") or ():
            yield {"verb": verb, "url": url}
        for group in rule.get("apiGroups") or ():
            for resource in rule.get("resources") or ():
                for name in rule.get("resourceNames") or [""]:
                    yield {"verb": verb, "group": group, "resource": resource, "name": name}


def _covers(owner: Mapping[str, Any], atom: Mapping[str, str]) -> bool:
    """Whether an ``owner`` rule grants all an ``atom`` does (wildcards only by wildcards)."""
    if not _has(owner.get("verbs"), atom["verb"]):
        return False
    if "url" in atom:
        url = atom["url"]
        return any(u == "*" or u == url or (u.endswith("*") and url.startswith(u[:-1]))
                   for u in owner.get("nonResourceURLs") or ())
    if not _has(owner.get("apiGroups"), atom["group"]):
        return False
    resource = atom["resource"]
    sub = resource.partition("/")[2]
    if not any(r == "*" or r == resource or (sub and r == f"*/{sub}")
               for r in owner.get("resources") or ()):
        return False
    names = owner.get("resourceNames") or ()
    return not names or (bool(atom["name"]) and atom["name"] in names)


def _describe(atom: Mapping[str, str]) -> str:
    if "url" in atom:
        return f'{{NonResourceURLs:["{atom["url"]}"], Verbs:["{atom["verb"]}"]}}'
    names = f', ResourceNames:["{atom["name"]}"]' if atom["name"] else ""
    return (f'{{APIGroups:["{atom["group"]}"], Resources:["{atom["resource"]}"]{names}, '
            f'Verbs:["{atom["verb"]}"]}}')


def _has(values: Any, wanted: str) -> bool:
    return any(v == "*" or v == wanted for v in values or ())


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A ``metav1.LabelSelector`` against ``labels`` (an empty selector selects everything)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or ()
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# -- what the real server bootstraps (plugin/pkg/auth/authorizer/rbac/bootstrappolicy) -----------

_DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                   "/openapi/*", "/readyz", "/version", "/version/"]
_PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}


def _cluster_role(name: str, rules: list[dict[str, Any]],
                  aggregation: dict[str, Any] | None = None) -> Obj:
    role: Obj = {"metadata": {"name": name, "labels": dict(_BOOTSTRAP_LABELS),
                              "annotations": {"rbac.authorization.kubernetes.io/autoupdate":
                                              "true"}},
                 "rules": rules}
    if aggregation is not None:
        role["aggregationRule"] = aggregation
    return role


def _cluster_binding(name: str, role: str, groups: list[str]) -> Obj:
    return {"metadata": {"name": name, "labels": dict(_BOOTSTRAP_LABELS),
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups]}


BOOTSTRAP_CLUSTER_ROLES: tuple[Obj, ...] = (
    _cluster_role("cluster-admin", [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"nonResourceURLs": ["*"], "verbs": ["*"]},
    ]),
    _cluster_role("system:discovery", [{"nonResourceURLs": _DISCOVERY_URLS, "verbs": ["get"]}]),
    _cluster_role("system:public-info-viewer", [
        {"nonResourceURLs": _PUBLIC_URLS, "verbs": ["get"]}]),
    _cluster_role("system:basic-user", [
        {"apiGroups": ["authorization.k8s.io"],
         "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
         "verbs": ["create"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"],
         "verbs": ["create"]},
    ]),
)
# The user-facing roles (bootstrappolicy's ClusterRoles()): ``admin``, ``edit`` and ``view`` hold
# nothing of their own; the aggregation controller fills them from the ``system:aggregate-to-*``
# roles (and ``view`` into ``edit``, ``edit`` into ``admin``), so that a CRD's own ClusterRole
# labelled ``rbac.authorization.k8s.io/aggregate-to-view: "true"`` joins them as on a real cluster.
_AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _aggregating(name: str, into: str | None = None) -> Obj:
    role = _cluster_role(name, [], {"clusterRoleSelectors": [
        {"matchLabels": {f"{_AGGREGATE_TO}{name}": "true"}}]})
    del role["rules"]  # none of its own: the controller writes them
    if into is not None:
        role["metadata"]["labels"][f"{_AGGREGATE_TO}{into}"] = "true"
    return role


def _aggregated_into(name: str, rules: list[dict[str, Any]]) -> Obj:
    role = _cluster_role(f"system:aggregate-to-{name}", rules)
    role["metadata"]["labels"][f"{_AGGREGATE_TO}{name}"] = "true"
    return role


_FULL_AUTHORITY = (_rule(["*"], ["*"], ["*"]), {"nonResourceURLs": ["*"], "verbs": ["*"]})

BOOTSTRAP_CLUSTER_ROLES += (
    _aggregating("admin"),
    _aggregating("edit", into="admin"),
    _aggregating("view", into="edit"),
    _aggregated_into("admin", [
        _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
        _rule(["rbac.authorization.k8s.io"], ["rolebindings", "roles"], _ALL),
    ]),
    _aggregated_into("edit", [
        _rule([""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                     "services/proxy"], _READ),
        _rule([""], ["serviceaccounts"], ["impersonate"]),
        _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"],
              _WRITE),
        _rule([""], ["pods/eviction"], ["create"]),
        _rule([""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                     "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                     "services/proxy"], _WRITE),
        _rule([""], ["serviceaccounts/token"], ["create"]),
        _rule(["apps"], ["daemonsets", "deployments", "deployments/rollback",
                         "deployments/scale", "replicasets", "replicasets/scale",
                         "statefulsets", "statefulsets/scale"], _WRITE),
        _rule(["autoscaling"], ["horizontalpodautoscalers"], _WRITE),
        _rule(["batch"], ["cronjobs", "jobs"], _WRITE),
        _rule(["extensions"], ["daemonsets", "deployments", "deployments/rollback",
                               "deployments/scale", "ingresses", "networkpolicies",
                               "replicasets", "replicasets/scale",
                               "replicationcontrollers/scale"], _WRITE),
        _rule(["policy"], ["poddisruptionbudgets"], _WRITE),
        _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], _WRITE),
        _rule(["coordination.k8s.io"], ["leases"], _ALL),
    ]),
    _aggregated_into("view", [
        _rule([""], ["configmaps", "endpoints", "persistentvolumeclaims",
                     "persistentvolumeclaims/status", "pods", "replicationcontrollers",
                     "replicationcontrollers/scale", "serviceaccounts", "services",
                     "services/status"], _READ),
        _rule([""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log",
                     "pods/status", "replicationcontrollers/status", "resourcequotas",
                     "resourcequotas/status"], _READ),
        _rule([""], ["namespaces"], _READ),
        _rule(["discovery.k8s.io"], ["endpointslices"], _READ),
        _rule(["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status",
                         "deployments", "deployments/scale", "deployments/status",
                         "replicasets", "replicasets/scale", "replicasets/status",
                         "statefulsets", "statefulsets/scale", "statefulsets/status"], _READ),
        _rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"],
              _READ),
        _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], _READ),
        _rule(["extensions"], ["daemonsets", "daemonsets/status", "deployments",
                               "deployments/scale", "deployments/status", "ingresses",
                               "ingresses/status", "networkpolicies", "replicasets",
                               "replicasets/scale", "replicasets/status",
                               "replicationcontrollers/scale"], _READ),
        _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], _READ),
        _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"],
              _READ),
    ]),
)
BOOTSTRAP_CLUSTER_ROLE_BINDINGS: tuple[Obj, ...] = (
    _cluster_binding("cluster-admin", "cluster-admin", [MASTERS]),
    _cluster_binding("system:discovery", "system:discovery", ["system:authenticated"]),
    _cluster_binding("system:basic-user", "system:basic-user", ["system:authenticated"]),
    _cluster_binding("system:public-info-viewer", "system:public-info-viewer",
                     ["system:authenticated", "system:unauthenticated"]),
)
