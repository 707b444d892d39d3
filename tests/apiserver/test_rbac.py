"""RBAC enforced (``rbac=True``): Roles, ClusterRoles (aggregated too) and their bindings decide
every request as kube-apiserver's RBAC authorizer does, a denial is its 403 word for word, and
``kubectl auth can-i`` (the same authorizer, asked through SelfSubjectAccessReview) agrees with
what then happens.
"""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from kubernetes.client.rest import ApiException

from kopf_informers.testing import EmbeddedApiServer, wait_until

NS = "app"
SA_USER = f"system:serviceaccount:{NS}:bot"


def kubectl(kubeconfig: Path | str, *args: str, stdin: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def apply(kubeconfig: Path, *docs: dict[str, Any]) -> None:
    result = kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert result.returncode == 0, result.stderr


ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
    "metadata": {"name": "worker", "namespace": NS},
    "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["one"],
         "verbs": ["get", "delete"]},
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update", "patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "deletecollection"]},
    ],
}
BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
    "metadata": {"name": "worker", "namespace": NS},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "worker"},
    "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": NS}],
}
CLUSTER_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
    "metadata": {"name": "ns-reader"},
    "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
              {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}],
}
CLUSTER_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "ns-reader"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "ns-reader"},
    "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": NS}],
}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": NS},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedApiServer]:
    with EmbeddedApiServer(tls=True, rbac=True, kubeconfig=tmp_path / "admin") as s:
        admin = s.kubeconfig
        assert kubectl(admin, "create", "namespace", NS).returncode == 0
        assert kubectl(admin, "-n", NS, "create", "sa", "bot").returncode == 0
        for name in ("one", "two"):
            assert kubectl(admin, "-n", NS, "create", "secret", "generic", name).returncode == 0
        assert kubectl(admin, "-n", NS, "create", "configmap", "cm").returncode == 0
        apply(admin, DEPLOYMENT)
        yield s


@pytest.fixture
def bot(server: EmbeddedApiServer, tmp_path: Path) -> Path:
    return server.kubeconfig_for(NS, "bot", path=tmp_path / "bot")


@pytest.fixture
def bot_client(bot: Path) -> Iterator[kubernetes.client.ApiClient]:
    with kubernetes.config.new_client_from_config(config_file=str(bot)) as client:
        yield client


def test_a_token_without_a_binding_gets_the_real_403_through_kubectl_and_the_client(
        bot: Path, bot_client: kubernetes.client.ApiClient) -> None:
    result = kubectl(bot, "get", "configmaps")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (Forbidden): configmaps is forbidden: User '
        f'"{SA_USER}" cannot list resource "configmaps" in API group "" in the namespace "app"')
    with pytest.raises(ApiException) as raised:
        kubernetes.client.CoreV1Api(bot_client).list_namespaced_config_map(NS)
    assert raised.value.status == 403
    assert json.loads(raised.value.body) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'configmaps is forbidden: User "{SA_USER}" cannot list resource '
                   '"configmaps" in API group "" in the namespace "app"',
        "reason": "Forbidden", "details": {"group": "", "kind": "configmaps"}, "code": 403}


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(("get", "nodes"), 'nodes is forbidden: User "{u}" cannot list resource '
                 '"nodes" in API group "" at the cluster scope', id="cluster-scope"),
    pytest.param(("get", "deployment.apps", "web"), 'deployments.apps "web" is forbidden: User '
                 '"{u}" cannot get resource "deployments" in API group "apps" in the namespace '
                 '"app"', id="named"),
    pytest.param(("get", "deployment/web", "--subresource=scale"), 'deployments.apps "web" is '
                 'forbidden: User "{u}" cannot get resource "deployments/scale" in API group '
                 '"apps" in the namespace "app"', id="subresource"),
    pytest.param(("get", "--raw", "/metrics"), 'forbidden: User "{u}" cannot get path '
                 '"/metrics"', id="non-resource"),
])
def test_denials_are_worded_as_the_real_servers(bot: Path, args: tuple[str, ...],
                                                 message: str) -> None:
    result = kubectl(bot, *args)
    assert result.returncode == 1
    assert message.format(u=SA_USER) in result.stderr


def test_discovery_and_the_self_reviews_work_for_any_authenticated_user(bot: Path) -> None:
    assert kubectl(bot, "api-resources").returncode == 0
    assert kubectl(bot, "version").returncode == 0
    assert kubectl(bot, "auth", "can-i", "--list").returncode == 0


# (verb, resource path under the namespace or cluster, kubectl can-i args, body)
PAIRS: list[tuple[str, str, tuple[str, ...]]] = [
    ("get", f"/api/v1/namespaces/{NS}/configmaps/cm", ("get", "configmaps/cm")),
    ("list", f"/api/v1/namespaces/{NS}/configmaps", ("list", "configmaps")),
    ("watch", f"/api/v1/namespaces/{NS}/configmaps", ("watch", "configmaps")),
    ("create", f"/api/v1/namespaces/{NS}/configmaps", ("create", "configmaps")),
    ("update", f"/api/v1/namespaces/{NS}/configmaps/cm", ("update", "configmaps/cm")),
    ("patch", f"/api/v1/namespaces/{NS}/configmaps/cm", ("patch", "configmaps/cm")),
    ("delete", f"/api/v1/namespaces/{NS}/configmaps/cm", ("delete", "configmaps/cm")),
    ("deletecollection", f"/api/v1/namespaces/{NS}/configmaps",
     ("deletecollection", "configmaps")),
    ("get", f"/api/v1/namespaces/{NS}/secrets/one", ("get", "secrets/one")),
    ("get", f"/api/v1/namespaces/{NS}/secrets/two", ("get", "secrets/two")),
    ("list", f"/api/v1/namespaces/{NS}/secrets", ("list", "secrets")),
    ("delete", f"/api/v1/namespaces/{NS}/secrets/two", ("delete", "secrets/two")),
    ("get", f"/apis/apps/v1/namespaces/{NS}/deployments/web", ("get", "deployments.apps/web")),
    ("patch", f"/apis/apps/v1/namespaces/{NS}/deployments/web",
     ("patch", "deployments.apps/web")),
    ("patch", f"/apis/apps/v1/namespaces/{NS}/deployments/web/scale",
     ("patch", "deployments.apps/web", "--subresource=scale")),
    ("get", f"/apis/apps/v1/namespaces/{NS}/deployments/web/scale",
     ("get", "deployments.apps/web", "--subresource=scale")),
    ("patch", f"/apis/apps/v1/namespaces/{NS}/deployments/web/status",
     ("patch", "deployments.apps/web", "--subresource=status")),
    ("create", f"/api/v1/namespaces/{NS}/pods", ("create", "pods")),
    ("list", f"/api/v1/namespaces/{NS}/pods", ("list", "pods")),
    ("deletecollection", f"/api/v1/namespaces/{NS}/pods", ("deletecollection", "pods")),
    ("list", "/api/v1/namespaces", ("list", "namespaces")),
    ("get", f"/api/v1/namespaces/{NS}", ("get", f"namespaces/{NS}")),
    ("delete", f"/api/v1/namespaces/{NS}", ("delete", f"namespaces/{NS}")),
    ("list", "/api/v1/nodes", ("list", "nodes")),
    ("create", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles",
     ("create", "roles.rbac.authorization.k8s.io")),
    ("get", "/metrics", ("get", "/metrics")),
    ("get", "/healthz", ("get", "/healthz")),
    ("get", "/logs", ("get", "/logs")),
]
METHODS = {"get": "GET", "list": "GET", "watch": "GET", "create": "POST", "update": "PUT",
           "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}


def attempt(server: EmbeddedApiServer, token: str, verb: str, path: str) -> int:
    assert server.certificates is not None
    conn = http.client.HTTPSConnection(server.host, server.port,
                                       context=server.certificates.client_context(), timeout=10)
    query = "?watch=true&timeoutSeconds=1" if verb == "watch" else "?dryRun=All" \
        if verb in ("create", "update", "patch", "delete", "deletecollection") else ""
    content = "application/merge-patch+json" if verb == "patch" else "application/json"
    body = "{}" if verb in ("create", "update", "patch") else None
    conn.request(METHODS[verb], path + query, body=body,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": content})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def test_kubectl_auth_can_i_agrees_with_what_actually_happens(
        server: EmbeddedApiServer, bot: Path) -> None:
    apply(server.kubeconfig, ROLE, BINDING, CLUSTER_ROLE, CLUSTER_BINDING)
    token = yaml.safe_load(bot.read_text())["users"][0]["user"]["token"]
    answers = {}
    for verb, path, can_i in PAIRS:
        said = kubectl(bot, "auth", "can-i", *can_i).stdout.strip()
        status = attempt(server, token, verb, path)
        answers[(verb, path)] = (said, status)
        assert (said == "yes") == (status != 403), (verb, path, said, status)
    assert sum(said == "yes" for said, _ in answers.values()) >= 10
    assert sum(said == "no" for said, _ in answers.values()) >= 10


def test_a_binding_to_a_missing_role_says_so_in_the_denial(
        server: EmbeddedApiServer, bot: Path) -> None:
    apply(server.kubeconfig, {**BINDING, "metadata": {"name": "dangling", "namespace": NS},
                              "roleRef": {**BINDING["roleRef"], "name": "gone"}})
    result = kubectl(bot, "get", "configmaps")
    assert result.stderr.strip().endswith(
        ': RBAC: role.rbac.authorization.k8s.io "gone" not found')


def test_an_aggregated_cluster_role_grants_the_rules_of_the_roles_it_selects(
        server: EmbeddedApiServer, bot: Path) -> None:
    aggregate = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": {"name": "monitoring"},
                 "aggregationRule": {"clusterRoleSelectors": [
                     {"matchLabels": {"example.com/aggregate-to-monitoring": "true"}}]},
                 "rules": []}
    part = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "monitoring-endpoints",
                         "labels": {"example.com/aggregate-to-monitoring": "true"}},
            "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}]}
    binding = {**BINDING, "metadata": {"name": "monitoring", "namespace": NS},
               "roleRef": {**BINDING["roleRef"], "kind": "ClusterRole", "name": "monitoring"}}
    apply(server.kubeconfig, aggregate, binding)
    assert kubectl(bot, "get", "services").returncode == 1
    apply(server.kubeconfig, part)
    # The aggregation controller writes the selected rules into the aggregated role, a moment
    # later, as kube-controller-manager's does; RBAC then grants what the role holds.
    wait_until(lambda: kubectl(bot, "get", "services").returncode == 0,
               "the aggregated role to grant listing services", timeout=10)
    stored = json.loads(kubectl(server.kubeconfig, "get", "clusterrole", "monitoring",
                                "-o", "json").stdout)
    assert stored["rules"] == part["rules"]
    assert kubectl(bot, "get", "services", "-n", "default").returncode == 1  # a RoleBinding

    part["metadata"]["labels"] = {}  # no longer selected: the rules go again
    apply(server.kubeconfig, part)
    wait_until(lambda: kubectl(bot, "get", "services").returncode == 1,
               "the aggregated role to lose the rules", timeout=10)


def test_view_edit_and_admin_are_bootstrapped_and_aggregate_in_turn(
        server: EmbeddedApiServer, bot: Path) -> None:
    def rules_of(name: str) -> list[dict[str, Any]]:
        found = json.loads(kubectl(server.kubeconfig, "get", "clusterrole", name,
                                   "-o", "json").stdout)
        return list(found.get("rules") or [])

    def settled() -> bool:
        view, edit, admin = rules_of("view"), rules_of("edit"), rules_of("admin")
        return bool(view) and all(r in edit for r in view) and all(r in admin for r in edit)

    wait_until(settled, "view inside edit inside admin", timeout=10)
    assert {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]} \
        in rules_of("admin")  # from system:aggregate-to-edit, through edit

    # A binding to `view` in the bot's namespace lets it read, not write, as on a real cluster;
    # a CRD's own role labelled aggregate-to-view joins `view`.
    apply(server.kubeconfig, {**BINDING, "metadata": {"name": "viewer", "namespace": NS},
                              "roleRef": {**BINDING["roleRef"], "kind": "ClusterRole",
                                          "name": "view"}})
    assert kubectl(bot, "get", "deployments").returncode == 0
    assert kubectl(bot, "delete", "configmap", "cm").returncode == 1
    assert kubectl(bot, "auth", "can-i", "list", "leases.coordination.k8s.io").stdout.strip() \
        == "no"
    apply(server.kubeconfig, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "leases-view",
                     "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                   "verbs": ["get", "list", "watch"]}]})
    wait_until(lambda: kubectl(bot, "auth", "can-i", "list", "leases.coordination.k8s.io"
                               ).stdout.strip() == "yes", "view to grant leases", timeout=10)


def test_only_a_cluster_admin_may_set_an_aggregation_rule(
        server: EmbeddedApiServer, bot: Path) -> None:
    apply(server.kubeconfig, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "role-writer"},
        "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                   "verbs": ["create", "get", "update", "patch"]}]}, {
        **CLUSTER_BINDING, "metadata": {"name": "role-writer"},
        "roleRef": {**CLUSTER_BINDING["roleRef"], "name": "role-writer"}})
    aggregate = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": {"name": "gatherer"},
                 "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}
    result = kubectl(bot, "create", "-f", "-", stdin=yaml.safe_dump(aggregate))
    assert result.returncode != 0
    assert ('clusterroles.rbac.authorization.k8s.io "gatherer" is forbidden: must have '
            'cluster-admin privileges to use the aggregationRule') in result.stderr
    plain = {**aggregate, "aggregationRule": None}
    del plain["aggregationRule"]
    assert kubectl(bot, "create", "-f", "-", stdin=yaml.safe_dump(plain)).returncode == 0


def test_impersonation_needs_the_impersonate_verb(server: EmbeddedApiServer, bot: Path) -> None:
    assert kubectl(server.kubeconfig, "get", "pods", "-n", NS, f"--as={SA_USER}").stderr \
        .startswith("Error from server (Forbidden): pods is forbidden")  # admin may, bot may not
    result = kubectl(bot, "get", "pods", "--as=alice")
    assert ('users "alice" is forbidden: User "system:serviceaccount:app:bot" cannot '
            'impersonate resource "users" in API group "" at the cluster scope') in result.stderr
    apply(server.kubeconfig, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "impersonator"},
        "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"],
                   "resourceNames": ["alice"]}]}, {
        **CLUSTER_BINDING, "metadata": {"name": "impersonator"},
        "roleRef": {**CLUSTER_BINDING["roleRef"], "name": "impersonator"}})
    assert kubectl(bot, "auth", "whoami", "--as=alice").stdout.split()[3] == "alice"


def test_the_journal_records_who_asked_and_what_was_decided(
        server: EmbeddedApiServer, bot: Path) -> None:
    apply(server.kubeconfig, ROLE, BINDING)
    kubectl(bot, "get", "configmaps")
    kubectl(bot, "get", "services")
    mine = [e for e in server.journal if e.user == SA_USER and e.resource]
    assert [(e.verb, e.resource, e.decision, e.status) for e in mine] == [
        ("list", "configmaps", "allow", 200), ("list", "services", "deny", 403)]
    assert mine[0].reason == f'RBAC: allowed by RoleBinding "worker" of Role "worker" to {NS}'
    assert "system:serviceaccounts" in mine[0].groups
    assert mine[0].to_json()["user"] == SA_USER


def test_rbac_bootstraps_the_default_cluster_roles(server: EmbeddedApiServer) -> None:
    result = kubectl(server.kubeconfig, "get", "clusterrolebindings", "-o", "name")
    assert set(result.stdout.split()) >= {
        f"clusterrolebinding.rbac.authorization.k8s.io/{name}" for name in (
            "cluster-admin", "system:discovery", "system:basic-user",
            "system:public-info-viewer")}


ROLE_ADMIN = {  # the bot may write Roles and RoleBindings in its namespace, nothing more
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
    "metadata": {"name": "role-admin", "namespace": NS},
    "rules": [{"apiGroups": ["rbac.authorization.k8s.io"],
               "resources": ["roles", "rolebindings"],
               "verbs": ["get", "create", "update", "patch"]},
              {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
}


def role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": NS}, "rules": rules}


def test_a_role_or_binding_may_grant_only_what_its_writer_holds(
        server: EmbeddedApiServer, bot: Path) -> None:
    apply(server.kubeconfig, ROLE_ADMIN, {**BINDING, "metadata": {"name": "role-admin",
                                                                 "namespace": NS},
                                          "roleRef": {**BINDING["roleRef"], "name": "role-admin"}})
    held = role("reader", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
    more = role("writer", [{"apiGroups": [""], "resources": ["configmaps"],
                            "verbs": ["get", "delete"]}])
    apply(bot, held)  # what the bot holds itself: allowed
    result = kubectl(bot, "apply", "-f", "-", stdin=yaml.safe_dump(more))
    assert result.returncode != 0
    assert ('roles.rbac.authorization.k8s.io "writer" is forbidden: user '
            '"system:serviceaccount:app:bot" (groups=["system:serviceaccounts",'
            '"system:serviceaccounts:app","system:authenticated"]) is attempting to grant RBAC '
            'permissions not currently held:\n{APIGroups:[""], Resources:["configmaps"], '
            'Verbs:["delete"]}') in result.stderr

    apply(server.kubeconfig, more)  # the admin may; binding it is another escalation
    binding = {**BINDING, "metadata": {"name": "writer", "namespace": NS},
               "roleRef": {**BINDING["roleRef"], "name": "writer"}}
    refused = kubectl(bot, "apply", "-f", "-", stdin=yaml.safe_dump(binding))
    assert 'rolebindings.rbac.authorization.k8s.io "writer" is forbidden' in refused.stderr
    apply(server.kubeconfig, role("binder", [{
        "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["bind"],
        "resourceNames": ["writer"]}]), {**BINDING, "metadata": {"name": "binder",
                                                                 "namespace": NS},
                                         "roleRef": {**BINDING["roleRef"], "name": "binder"}})
    apply(bot, binding)  # with `bind` on that role, it may
