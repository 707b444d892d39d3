"""The built-in resources: discovery data as a real Kubernetes 1.32 server publishes it."""

from __future__ import annotations

import pytest

from kopf_informers.testing.apiserver.registry._builtins import (
    BUILTIN_RESOURCES,
    DEFAULT_NAMESPACES,
)
from kopf_informers.testing.apiserver.registry._resources import ALL_VERBS, ResourceInfo


def _find(group: str, plural: str) -> ResourceInfo:
    [resource] = [r for r in BUILTIN_RESOURCES if (r.group, r.plural) == (group, plural)]
    return resource


def test_every_resource_is_served_once_per_group_and_plural() -> None:
    keys = [resource.key for resource in BUILTIN_RESOURCES]
    assert len(keys) == len(set(keys))


def test_every_kind_is_served_once_per_group_version() -> None:
    kinds = [(r.group, r.version, r.kind) for r in BUILTIN_RESOURCES]
    assert len(kinds) == len(set(kinds))


REVIEWS = {
    "authentication.k8s.io/v1/selfsubjectreviews", "authentication.k8s.io/v1/tokenreviews",
    "authorization.k8s.io/v1/localsubjectaccessreviews",
    "authorization.k8s.io/v1/selfsubjectaccessreviews",
    "authorization.k8s.io/v1/selfsubjectrulesreviews",
    "authorization.k8s.io/v1/subjectaccessreviews",
}


def test_every_stored_resource_is_watchable_and_patchable_as_kopf_requires() -> None:
    for resource in BUILTIN_RESOURCES:
        if resource.name not in REVIEWS:
            assert {"list", "watch", "patch"} <= set(resource.verbs), resource.name


def test_only_namespaces_lack_deletecollection_and_only_reviews_are_create_only() -> None:
    partial = {r.name for r in BUILTIN_RESOURCES if r.verbs != ALL_VERBS}
    assert partial == {"v1/namespaces", *REVIEWS}
    assert "deletecollection" not in _find("", "namespaces").verbs
    assert {r.name for r in BUILTIN_RESOURCES if r.verbs == ("create",)} == REVIEWS
    assert {r.name for r in BUILTIN_RESOURCES if r.strategy.reviewer is not None} == REVIEWS


def test_singular_names_are_the_lowercase_kinds() -> None:
    for resource in BUILTIN_RESOURCES:
        assert resource.singular == resource.kind.lower()
        assert resource.plural == resource.plural.lower()


def test_built_ins_are_not_custom_resources() -> None:
    assert not any(resource.custom for resource in BUILTIN_RESOURCES)
    assert all(resource.schema is None for resource in BUILTIN_RESOURCES)


@pytest.mark.parametrize(("group", "version", "plural", "namespaced"), [
    pytest.param("", "v1", "namespaces", False, id="namespaces"),
    pytest.param("", "v1", "nodes", False, id="nodes"),
    pytest.param("", "v1", "persistentvolumes", False, id="persistentvolumes"),
    pytest.param("", "v1", "pods", True, id="pods"),
    pytest.param("", "v1", "configmaps", True, id="configmaps"),
    pytest.param("", "v1", "events", True, id="core-events"),
    pytest.param("events.k8s.io", "v1", "events", True, id="events-k8s-io"),
    pytest.param("apps", "v1", "deployments", True, id="deployments"),
    pytest.param("batch", "v1", "cronjobs", True, id="cronjobs"),
    pytest.param("coordination.k8s.io", "v1", "leases", True, id="leases"),
    pytest.param("apiextensions.k8s.io", "v1", "customresourcedefinitions", False, id="crds"),
    pytest.param("rbac.authorization.k8s.io", "v1", "roles", True, id="roles"),
    pytest.param("rbac.authorization.k8s.io", "v1", "clusterroles", False, id="clusterroles"),
    pytest.param("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", False,
                 id="validatingwebhookconfigurations"),
    pytest.param("scheduling.k8s.io", "v1", "priorityclasses", False, id="priorityclasses"),
    pytest.param("storage.k8s.io", "v1", "storageclasses", False, id="storageclasses"),
    pytest.param("autoscaling", "v2", "horizontalpodautoscalers", True, id="hpas"),
    pytest.param("policy", "v1", "poddisruptionbudgets", True, id="pdbs"),
])
def test_scope_and_version_match_the_real_server(
        group: str, version: str, plural: str, namespaced: bool) -> None:
    resource = _find(group, plural)
    assert resource.version == version
    assert resource.namespaced is namespaced


@pytest.mark.parametrize(("group", "plural", "short_names"), [
    pytest.param("", "namespaces", ("ns",), id="ns"),
    pytest.param("", "configmaps", ("cm",), id="cm"),
    pytest.param("", "secrets", (), id="secrets-have-none"),
    pytest.param("", "pods", ("po",), id="po"),
    pytest.param("", "services", ("svc",), id="svc"),
    pytest.param("", "events", ("ev",), id="ev"),
    pytest.param("events.k8s.io", "events", ("ev",), id="ev-events-k8s-io"),
    pytest.param("", "resourcequotas", ("quota",), id="quota"),
    pytest.param("", "limitranges", ("limits",), id="limits"),
    pytest.param("apps", "deployments", ("deploy",), id="deploy"),
    pytest.param("apps", "statefulsets", ("sts",), id="sts"),
    pytest.param("batch", "jobs", (), id="jobs-have-none"),
    pytest.param("batch", "cronjobs", ("cj",), id="cj"),
    pytest.param("apiextensions.k8s.io", "customresourcedefinitions", ("crd", "crds"), id="crd"),
    pytest.param("networking.k8s.io", "networkpolicies", ("netpol",), id="netpol"),
    pytest.param("autoscaling", "horizontalpodautoscalers", ("hpa",), id="hpa"),
])
def test_short_names_match_the_real_server(group: str, plural: str, short_names: tuple[str, ...],
                                           ) -> None:
    assert _find(group, plural).short_names == short_names


def test_the_all_category_holds_the_workloads_that_kubectl_get_all_shows() -> None:
    in_all = {r.plural for r in BUILTIN_RESOURCES if "all" in r.categories}
    assert in_all == {
        "pods", "services", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs",
        "cronjobs", "horizontalpodautoscalers", "replicationcontrollers",
    }


def test_the_api_extensions_category_holds_crds_and_webhook_configurations() -> None:
    extensions = {r.plural for r in BUILTIN_RESOURCES if "api-extensions" in r.categories}
    assert extensions == {
        "customresourcedefinitions", "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations", "apiservices",
    }


@pytest.mark.parametrize(("group", "plural", "subresources"), [
    pytest.param("", "pods", ("status",), id="pods"),
    pytest.param("", "namespaces", ("status",), id="namespaces"),
    pytest.param("", "services", ("status",), id="services"),
    pytest.param("", "configmaps", (), id="configmaps"),
    pytest.param("", "secrets", (), id="secrets"),
    pytest.param("", "replicationcontrollers", ("status", "scale"), id="replicationcontrollers"),
    pytest.param("apiregistration.k8s.io", "apiservices", ("status",), id="apiservices"),
    pytest.param("apps", "deployments", ("status", "scale"), id="deployments"),
    pytest.param("apps", "replicasets", ("status", "scale"), id="replicasets"),
    pytest.param("apps", "statefulsets", ("status", "scale"), id="statefulsets"),
    pytest.param("apps", "daemonsets", ("status",), id="daemonsets"),
    pytest.param("apps", "controllerrevisions", (), id="controllerrevisions"),
    pytest.param("batch", "jobs", ("status",), id="jobs"),
    pytest.param("apiextensions.k8s.io", "customresourcedefinitions", ("status",), id="crds"),
    pytest.param("networking.k8s.io", "ingresses", ("status",), id="ingresses"),
    pytest.param("networking.k8s.io", "networkpolicies", (), id="networkpolicies"),
    pytest.param("coordination.k8s.io", "leases", (), id="leases"),
])
def test_subresources_match_the_real_server(group: str, plural: str,
                                            subresources: tuple[str, ...]) -> None:
    assert _find(group, plural).subresources == subresources


def test_scale_subresources_derive_their_selector_from_the_spec() -> None:
    for resource in BUILTIN_RESOURCES:
        if resource.scale is not None:
            assert resource.scale.label_selector_path is None
            assert resource.scale.spec_replicas_path == ".spec.replicas"
            assert resource.scale.status_replicas_path == ".status.replicas"


def test_generation_is_stamped_where_the_real_registry_stamps_it() -> None:
    with_generation = {r.name for r in BUILTIN_RESOURCES if r.has_generation}
    assert with_generation == {
        "apps/v1/deployments", "apps/v1/replicasets", "apps/v1/statefulsets",
        "apps/v1/daemonsets", "v1/replicationcontrollers", "batch/v1/jobs", "batch/v1/cronjobs",
        "apiextensions.k8s.io/v1/customresourcedefinitions", "networking.k8s.io/v1/ingresses",
        "networking.k8s.io/v1/networkpolicies", "policy/v1/poddisruptionbudgets",
        "admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
        "admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
    }


@pytest.mark.parametrize(("group", "plural", "fields"), [
    pytest.param("", "pods", {
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
    }, id="pods"),
    pytest.param("", "secrets", {"type"}, id="secrets"),
    pytest.param("", "namespaces", {"status.phase"}, id="namespaces"),
    pytest.param("", "nodes", {"spec.unschedulable"}, id="nodes"),
    pytest.param("", "services", {"spec.clusterIP", "spec.type"}, id="services"),
    pytest.param("", "events", {
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
    }, id="core-events"),
    pytest.param("events.k8s.io", "events", {
        "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
        "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath", "reason",
        "reportingController", "source", "type",
    }, id="events-k8s-io"),
    pytest.param("apps", "replicasets", {"status.replicas"}, id="replicasets"),
    pytest.param("batch", "jobs", {"status.successful"}, id="jobs"),
    pytest.param("", "configmaps", set(), id="configmaps-have-none"),
    pytest.param("apps", "deployments", set(), id="deployments-have-none"),
])
def test_field_selectors_match_the_real_server(group: str, plural: str, fields: set[str]) -> None:
    assert set(_find(group, plural).field_selectors) == fields


def test_field_selectors_leave_metadata_fields_to_the_server() -> None:
    for resource in BUILTIN_RESOURCES:
        assert not any(field.startswith("metadata.") for field in resource.field_selectors)


def test_default_namespaces_are_those_of_a_fresh_cluster() -> None:
    assert DEFAULT_NAMESPACES == ("default", "kube-system", "kube-public", "kube-node-lease")
