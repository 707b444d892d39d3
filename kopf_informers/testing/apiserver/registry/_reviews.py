"""The review APIs: create-only kinds whose create answers a question and stores nothing.

kube-apiserver serves ``SelfSubjectAccessReview``, ``SubjectAccessReview`` and
``LocalSubjectAccessReview`` (``kubectl auth can-i``), ``SelfSubjectRulesReview``
(``kubectl auth can-i --list``), ``SelfSubjectReview`` (``kubectl auth whoami``) and
``TokenReview`` (webhook token authentication, kube-rbac-proxy) from REST storage that has only
``Create``: it fills the posted object's ``status`` from the authenticator or the authorizer and
returns it with 201, never storing it, stamping no metadata and running no admission. Each
function here is one kind's ``ResourceStrategy.reviewer``; the generic core calls it instead of
storing. Who decides is :mod:`..auth`: the reviews only translate specs into its questions and
its answers into statuses (pkg/registry/authorization/*, pkg/registry/authentication/*).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from ..apimachinery._status import ApiStatusError, bad_request
from ..auth._authorizer import Attributes, Authorizer, Decision
from ..auth._user import Authenticator, UserInfo

Obj = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Review:
    """Who posted a review, in which namespace, and whom to ask."""

    user: UserInfo
    namespace: str | None
    authorizer: Authorizer
    authenticator: Authenticator


Reviewer = Callable[[Obj, Review], Obj]


def self_subject_access_review(obj: Obj, review: Review) -> Obj:
    """May the requester do what ``spec`` describes (``kubectl auth can-i``)?"""
    return _access(obj, review.user, review)


def subject_access_review(obj: Obj, review: Review) -> Obj:
    """May ``spec.user`` in ``spec.groups`` do it (``SubjectAccessReview``, and
    ``LocalSubjectAccessReview`` in the URL's namespace)?"""
    spec = _spec(obj)
    if not spec.get("user") and not spec.get("groups"):
        raise _invalid(obj, "spec.user", '""', "at least one of user or group must be specified")
    if review.namespace is not None:  # a LocalSubjectAccessReview
        attrs = spec.get("resourceAttributes") or {}
        if not isinstance(attrs, dict) or attrs.get("namespace", "") != review.namespace:
            raise _invalid(obj, "spec.resourceAttributes.namespace",
                           f'"{attrs.get("namespace", "") if isinstance(attrs, dict) else ""}"',
                           "must match metadata.namespace")
    extra = {k: tuple(v) for k, v in (spec.get("extra") or {}).items()}
    user = UserInfo(str(spec.get("user") or ""), uid=str(spec.get("uid") or ""),
                    groups=tuple(spec.get("groups") or ()), extra=extra)
    return _access(obj, user, review)


def self_subject_rules_review(obj: Obj, review: Review) -> Obj:
    """Everything the requester may do in ``spec.namespace`` (``kubectl auth can-i --list``)."""
    rules = review.authorizer.rules_for(review.user, str(_spec(obj).get("namespace") or ""))
    status: Obj = {
        "resourceRules": [dict(rule) for rule in rules.resource_rules],
        "nonResourceRules": [dict(rule) for rule in rules.non_resource_rules],
        "incomplete": rules.incomplete,
    }
    if rules.evaluation_error:
        status["evaluationError"] = rules.evaluation_error
    return _answered(obj, status)


def self_subject_review(obj: Obj, review: Review) -> Obj:
    """Who the requester is (``kubectl auth whoami``)."""
    answer = _answered(obj, {"userInfo": review.user.to_json()})
    del answer["spec"]  # a SelfSubjectReview has none
    return answer


def token_review(obj: Obj, review: Review) -> Obj:
    """Whose ``spec.token`` is, as the server's own authenticator sees it."""
    spec = _spec(obj)
    token = spec.get("token")
    if not token or not isinstance(token, str):
        raise bad_request("token is required for TokenReview in authentication")
    user = review.authenticator.user_of_token(token)
    if user is None:
        return _answered(obj, {"user": {}})
    status: Obj = {"authenticated": True, "user": user.to_json()}
    if spec.get("audiences"):
        status["audiences"] = list(spec["audiences"])
    return _answered(obj, status)


# -- helpers -------------------------------------------------------------------------------------

def _access(obj: Obj, user: UserInfo, review: Review) -> Obj:
    spec = _spec(obj)
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if bool(resource) == bool(non_resource):
        which = "nonResourceAttributes" if non_resource else "resourceAttributes"
        raise _invalid(obj, f"spec.{which}", "null" if not resource else "{...}",
                       "exactly one of nonResourceAttributes or resourceAttributes must be "
                       "specified")
    if resource:
        attrs = resource if isinstance(resource, dict) else {}
        attributes = Attributes(
            user=user, verb=str(attrs.get("verb", "")), namespace=str(attrs.get("namespace", "")),
            group=str(attrs.get("group", "")), version=str(attrs.get("version", "")),
            resource=str(attrs.get("resource", "")),
            subresource=str(attrs.get("subresource", "")), name=str(attrs.get("name", "")),
        )
    else:
        attrs = non_resource if isinstance(non_resource, dict) else {}
        attributes = Attributes(user=user, verb=str(attrs.get("verb", "")),
                                resource_request=False, path=str(attrs.get("path", "")))
    return _answered(obj, _access_status(review.authorizer.authorize(attributes)))


def _access_status(decision: Decision) -> Obj:
    status: Obj = {"allowed": decision.allowed}
    if decision.denied:
        status["denied"] = True
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _answered(obj: Obj, status: Obj) -> Obj:
    """The posted object with its status, as the review's REST returns it: the metadata as
    posted, and a ``creationTimestamp`` of ``null`` (Go writes the zero time so)."""
    meta = obj.get("metadata") or {}
    answer: Obj = {
        "kind": obj["kind"], "apiVersion": obj["apiVersion"],
        "metadata": {"creationTimestamp": None, **meta},
        "spec": obj.get("spec") or {},
        "status": status,
    }
    return answer


def _invalid(obj: Obj, field: str, value: str, detail: str) -> ApiStatusError:
    kind, group = obj["kind"], obj["apiVersion"].partition("/")[0]
    name = (obj.get("metadata") or {}).get("name", "")
    message = f"{field}: Invalid value: {value}: {detail}"
    return ApiStatusError(
        422, f'{kind}.{group} "{name}" is invalid: {message}', name=name or None, group=group,
        kind=kind, causes=[{"reason": "FieldValueInvalid", "message": f"Invalid value: {value}: "
                            f"{detail}", "field": field}],
    )


def token_request(serviceaccount: Obj, body: Any, authenticator: Authenticator) -> Obj:
    """A ``TokenRequest`` answered for ``serviceaccount`` (``kubectl create token``): the
    posted spec, defaulted, and a token in its status (pkg/registry/core/serviceaccount)."""
    spec = _spec(body) if isinstance(body, dict) else {}
    seconds = spec.get("expirationSeconds", 3600)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 600:
        raise ApiStatusError(
            422, "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: "
            "Invalid value: "f"{seconds}: may not specify a duration less than 10 minutes",
            kind="TokenRequest", group="authentication.k8s.io")
    audiences = [str(a) for a in spec.get("audiences") or ()]
    meta = serviceaccount["metadata"]
    token, expiry = authenticator.issue(meta["namespace"], meta["name"], meta["uid"],
                                        seconds=seconds, audiences=audiences)
    expires = datetime.datetime.fromtimestamp(expiry, datetime.UTC)
    return {
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                     "creationTimestamp": None},
        "spec": {"audiences": audiences or ["https://kubernetes.default.svc.cluster.local"],
                 "expirationSeconds": seconds, "boundObjectRef": spec.get("boundObjectRef")},
        "status": {"token": token,
                   "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }
