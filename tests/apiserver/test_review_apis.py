"""The review APIs: ``kubectl auth can-i``, ``auth can-i --list``, ``auth whoami``, TokenReview.

Their create answers a question and stores nothing. Without `rbac=True` (test_rbac.py), its one
authorizer allows everything, as kube-apiserver's ``AlwaysAllow`` mode does, and every request
is the administrator (or whom it impersonates).
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes

from kopf_informers.testing.apiserver import EmbeddedApiServer
from kopf_informers.testing.apiserver.auth._authorizer import Attributes, Decision, Rules
from kopf_informers.testing.apiserver.auth._user import UserInfo


def test_a_self_subject_access_review_is_allowed(
        authorization_v1: kubernetes.client.AuthorizationV1Api) -> None:
    review = authorization_v1.create_self_subject_access_review({"spec": {"resourceAttributes": {
        "namespace": "default", "verb": "create", "group": "apps", "resource": "deployments"}}})
    assert isinstance(review, kubernetes.client.V1SelfSubjectAccessReview)
    assert review.status.allowed is True
    assert review.spec.resource_attributes.resource == "deployments"


def test_a_non_resource_review_is_allowed_too(
        authorization_v1: kubernetes.client.AuthorizationV1Api) -> None:
    review = authorization_v1.create_self_subject_access_review(
        {"spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}})
    assert review.status.allowed is True


def test_a_review_with_both_or_neither_kind_of_attributes_is_invalid(raw: Any) -> None:
    answer = raw("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                 body={"apiVersion": "authorization.k8s.io/v1",
                       "kind": "SelfSubjectAccessReview", "spec": {}})
    assert answer.status == 422
    assert "exactly one of nonResourceAttributes or resourceAttributes" in answer.body["message"]


def test_a_self_subject_rules_review_lists_every_verb_on_everything(
        authorization_v1: kubernetes.client.AuthorizationV1Api) -> None:
    review = authorization_v1.create_self_subject_rules_review({"spec": {"namespace": "default"}})
    assert review.status.incomplete is False
    [rule] = review.status.resource_rules
    assert (rule.verbs, rule.api_groups, rule.resources) == (["*"], ["*"], ["*"])
    [non_resource] = review.status.non_resource_rules
    assert (non_resource.verbs, non_resource.non_resource_urls) == (["*"], ["*"])


def test_a_self_subject_review_names_the_administrator(
        authentication_v1: kubernetes.client.AuthenticationV1Api) -> None:
    review = authentication_v1.create_self_subject_review({})
    assert review.status.user_info.username == "kubernetes-admin"
    assert review.status.user_info.groups == ["system:masters", "system:authenticated"]


def test_impersonation_headers_make_the_requester_someone_else(raw: Any, api_client: Any) -> None:
    api_client.default_headers["Impersonate-User"] = "jane"
    api_client.default_headers["Impersonate-Group"] = "devs"
    answer = raw("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                 body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert answer.body["status"]["userInfo"] == {
        "username": "jane", "groups": ["devs", "system:authenticated"]}


def test_a_token_review_authenticates_the_kubeconfigs_token(
        authentication_v1: kubernetes.client.AuthenticationV1Api) -> None:
    review = authentication_v1.create_token_review(
        {"spec": {"token": "embedded-apiserver-token", "audiences": ["api"]}})
    assert review.status.authenticated is True
    assert review.status.user.username == "kubernetes-admin"
    assert review.status.audiences == ["api"]


def test_a_token_review_without_a_token_is_a_bad_request(raw: Any) -> None:
    answer = raw("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                 body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                       "spec": {}})
    assert answer.status == 400
    assert answer.body["message"] == "token is required for TokenReview in authentication"


def test_a_local_subject_access_review_must_name_its_own_namespace(
        authorization_v1: kubernetes.client.AuthorizationV1Api, raw: Any) -> None:
    spec = {"user": "jane", "resourceAttributes": {"namespace": "default", "verb": "get",
                                                   "resource": "pods"}}
    review = authorization_v1.create_namespaced_local_subject_access_review(
        "default", {"spec": spec})
    assert review.status.allowed is True
    answer = raw("POST", "/apis/authorization.k8s.io/v1/namespaces/kube-system/"
                 "localsubjectaccessreviews",
                 body={"apiVersion": "authorization.k8s.io/v1",
                       "kind": "LocalSubjectAccessReview", "spec": spec})
    assert answer.status == 422


def test_reviews_are_not_stored_and_cannot_be_read(raw: Any) -> None:
    created = raw("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                  body={"apiVersion": "authorization.k8s.io/v1",
                        "kind": "SelfSubjectRulesReview", "spec": {"namespace": "default"}})
    assert created.status == 201
    assert created.body["metadata"] == {"creationTimestamp": None}
    answer = raw("GET", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")
    assert answer.status == 405


def test_discovery_lists_the_reviews_as_create_only(raw: Any) -> None:
    resources = raw("GET", "/apis/authorization.k8s.io/v1").body["resources"]
    assert {r["name"]: r["verbs"] for r in resources} == {
        "localsubjectaccessreviews": ["create"], "selfsubjectaccessreviews": ["create"],
        "selfsubjectrulesreviews": ["create"], "subjectaccessreviews": ["create"],
    }
    names = {r["name"] for r in raw("GET", "/apis/authentication.k8s.io/v1").body["resources"]}
    assert names == {"selfsubjectreviews", "tokenreviews"}


class DenyingSecrets:
    """An authorizer as RBAC will plug one in: the reviews follow whatever it decides."""

    def authorize(self, attributes: Attributes) -> Decision:
        if attributes.resource == "secrets":
            return Decision(allowed=False, denied=True, reason="no secrets for you")
        return Decision(allowed=True)

    def rules_for(self, user: UserInfo, namespace: str) -> Rules:
        return Rules(resource_rules=({"verbs": ["get"], "apiGroups": [""],
                                      "resources": ["pods"]},),
                     non_resource_rules=(), incomplete=True)


def test_one_authorizer_decides_every_review(
        embedded_apiserver: EmbeddedApiServer,
        authorization_v1: kubernetes.client.AuthorizationV1Api) -> None:
    embedded_apiserver.core.authorizer = DenyingSecrets()
    review = authorization_v1.create_self_subject_access_review({"spec": {"resourceAttributes": {
        "namespace": "default", "verb": "get", "resource": "secrets"}}})
    assert (review.status.allowed, review.status.denied, review.status.reason) == (
        False, True, "no secrets for you")
    rules = authorization_v1.create_self_subject_rules_review(
        {"spec": {"namespace": "default"}}).status
    assert rules.incomplete is True
    assert [r.resources for r in rules.resource_rules] == [["pods"]]


# -- kubectl ---------------------------------------------------------------------------------

def test_kubectl_creates_a_review_from_a_manifest(kubectl: Any) -> None:
    manifest = json.dumps({"apiVersion": "authorization.k8s.io/v1",
                           "kind": "SelfSubjectAccessReview",
                           "spec": {"resourceAttributes": {"verb": "create", "group": "apps",
                                                           "resource": "deployments"}}})
    # Validation off: kubectl validates create-only kinds with OpenAPI v2, which is not served.
    out = kubectl("create", "--validate=false", "-f", "-", "-o", "json", input=manifest)
    assert json.loads(out.stdout)["status"] == {"allowed": True}


def test_kubectl_auth_can_i_says_yes(kubectl: Any) -> None:
    assert kubectl("auth", "can-i", "create", "deployments").stdout.strip() == "yes"


def test_kubectl_auth_can_i_list_shows_every_verb_on_everything(kubectl: Any) -> None:
    assert "*.*" in kubectl("auth", "can-i", "--list").stdout


def test_kubectl_auth_whoami_names_the_administrator(kubectl: Any) -> None:
    assert "kubernetes-admin" in kubectl("auth", "whoami").stdout
