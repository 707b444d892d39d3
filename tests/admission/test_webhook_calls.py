"""Admission webhooks as the embedded server calls them: which webhooks a write goes to (rules,
scope, namespace and object selectors), the AdmissionReview they get, JSONPatch responses,
refusals and their wording, warnings, timeouts, failure policies, dry runs and the CA bundle;
against a small HTTPS webhook on the test's loop."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from _helpers.webhooks import TestWebhook, allow, json_patch, self_signed

from kopf_informers.testing.apiserver import EmbeddedApiServer

CM_RULE = {"operations": ["CREATE", "UPDATE", "DELETE"], "apiGroups": [""],
           "apiVersions": ["v1"], "resources": ["configmaps"]}
MUTATING = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
VALIDATING = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
CMS = "/api/v1/namespaces/default/configmaps"


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def call(self, method: str, path: str, body: Any = None, *,
                   content_type: str = "application/json", **params: str,
                   ) -> tuple[int, Any, list[str]]:
        data = None if body is None else (
            body if isinstance(body, bytes) else json.dumps(body).encode())
        async with self.session.request(method, self.url + path, data=data, params=params,
                                        headers={"Content-Type": content_type}) as resp:
            return resp.status, await resp.json(), resp.headers.getall("Warning", [])


@pytest.fixture
async def api(server: EmbeddedApiServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, server.url)


def hook(name: str, url: str, ca: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "clientConfig": {"url": url, "caBundle": ca},
            "rules": [CM_RULE], "sideEffects": "None", "admissionReviewVersions": ["v1"],
            **extra}


async def configure(api: Api, path: str, name: str, *webhooks: dict[str, Any]) -> None:
    kind = "MutatingWebhookConfiguration" if "mutating" in path else \
        "ValidatingWebhookConfiguration"
    status, body, _ = await api.call("POST", path, {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
        "metadata": {"name": name}, "webhooks": list(webhooks)})
    assert status == 201, body


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data}


def deny(request: dict[str, Any], message: str = "", **status: Any) -> dict[str, Any]:
    return {"uid": request["uid"], "allowed": False,
            "status": {"message": message, **status} if message else status}


async def test_a_validating_webhook_gets_a_v1_review_of_the_stored_object(api: Api) -> None:
    async with TestWebhook() as wh:
        await configure(api, VALIDATING, "v", hook("v.example.com", wh.url("/check"),
                                                   wh.ca_bundle))
        status, body, _ = await api.call("POST", CMS, cm("one", a="1"), fieldManager="me")
        assert status == 201, body
        (request,) = wh.reviews
        assert wh.paths == ["/check?timeout=10s"]
        assert request["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
        assert request["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
        assert request["requestKind"] == request["kind"]
        assert request["operation"] == "CREATE"
        assert request["name"] == "one"
        assert request["namespace"] == "default"
        assert request["object"]["data"] == {"a": "1"}
        assert request["object"]["metadata"]["uid"]  # validators see the object as stored
        assert request["oldObject"] is None
        assert request["dryRun"] is False
        assert request["options"] == {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1",
                                      "fieldManager": "me"}
        assert request["userInfo"]["username"] == "kubernetes-admin"


async def test_update_and_delete_send_the_old_object(api: Api) -> None:
    async with TestWebhook() as wh:
        await api.call("POST", CMS, cm("one", a="1"))
        await configure(api, VALIDATING, "v", hook("v.example.com", wh.url(), wh.ca_bundle))
        status, _, _ = await api.call("PATCH", f"{CMS}/one", {"data": {"a": "2"}},
                                      content_type="application/merge-patch+json")
        assert status == 200
        status, _, _ = await api.call("DELETE", f"{CMS}/one")
        assert status == 200
        update, delete = wh.reviews
        assert update["operation"] == "UPDATE"
        assert update["options"]["kind"] == "PatchOptions"
        assert update["object"]["data"] == {"a": "2"}
        assert update["oldObject"]["data"] == {"a": "1"}
        assert delete["operation"] == "DELETE"
        assert delete["object"] is None
        assert delete["oldObject"]["data"] == {"a": "2"}
        assert delete["options"]["kind"] == "DeleteOptions"


async def test_a_refusal_is_worded_as_kube_apiserver_words_it(api: Api) -> None:
    async with TestWebhook(lambda r: deny(r, "data.a must be a number", code=403)) as wh:
        await configure(api, VALIDATING, "v", hook("v.example.com", wh.url(), wh.ca_bundle))
        status, body, _ = await api.call("POST", CMS, cm("one", a="x"))
    assert status == 403
    assert body["message"] == ('admission webhook "v.example.com" denied the request: '
                               "data.a must be a number")
    assert body["status"] == "Failure"


@pytest.mark.parametrize(("status", "code", "message"), [
    pytest.param({}, 400, 'admission webhook "v.example.com" denied the request without '
                 "explanation", id="no-explanation"),
    pytest.param({"reason": "Nope", "code": 200}, 400,
                 'admission webhook "v.example.com" denied the request: Nope', id="reason"),
])
async def test_a_refusal_without_a_message_or_code(
    api: Api, status: dict[str, Any], code: int, message: str,
) -> None:
    async with TestWebhook(lambda r: deny(r, **status)) as wh:
        await configure(api, VALIDATING, "v", hook("v.example.com", wh.url(), wh.ca_bundle))
        got, body, _ = await api.call("POST", CMS, cm("one"))
    assert (got, body["message"]) == (code, message)
    status_get, _, _ = await api.call("GET", f"{CMS}/one")
    assert status_get == 404


async def test_mutators_patch_in_turn_and_validators_see_the_result(api: Api) -> None:
    def first(r: dict[str, Any]) -> dict[str, Any]:
        return allow(r, **json_patch([{"op": "add", "path": "/data/first", "value": "1"}]))

    def second(r: dict[str, Any]) -> dict[str, Any]:
        assert r["object"]["data"]["first"] == "1"  # the first one's patch is applied
        return allow(r, **json_patch([{"op": "add", "path": "/data/second", "value": "2"}]))

    async with TestWebhook(first) as m1, TestWebhook(second) as m2, TestWebhook() as v:
        await configure(api, MUTATING, "a-first", hook("m1.example.com", m1.url(), m1.ca_bundle))
        await configure(api, MUTATING, "b-second", hook("m2.example.com", m2.url(), m2.ca_bundle))
        await configure(api, VALIDATING, "v", hook("v.example.com", v.url(), v.ca_bundle))
        status, body, _ = await api.call("POST", CMS, cm("one", a="1"))
        assert status == 201, body
        assert body["data"] == {"a": "1", "first": "1", "second": "2"}
        assert v.reviews[0]["object"]["data"] == body["data"]
        assert "uid" not in m1.reviews[0]["object"]["metadata"]  # mutators: before stamping
    _, stored, _ = await api.call("GET", f"{CMS}/one")
    assert stored["data"] == body["data"]


async def test_if_needed_mutators_are_called_again_after_a_later_change(api: Api) -> None:
    def first(r: dict[str, Any]) -> dict[str, Any]:  # IfNeeded: says what it last saw
        seen = ",".join(sorted(r["object"]["data"]))
        return allow(r, **json_patch([{"op": "add", "path": "/data/seen", "value": seen}]))

    def second(r: dict[str, Any]) -> dict[str, Any]:  # Never: changes the object once
        if "late" in r["object"]["data"]:
            return allow(r)
        return allow(r, **json_patch([{"op": "add", "path": "/data/late", "value": "1"}]))

    async with TestWebhook(first) as m1, TestWebhook(second) as m2, TestWebhook() as m3:
        await configure(api, MUTATING, "a", hook("m1.example.com", m1.url(), m1.ca_bundle,
                                                 reinvocationPolicy="IfNeeded"))
        await configure(api, MUTATING, "b", hook("m2.example.com", m2.url(), m2.ca_bundle))
        await configure(api, MUTATING, "c", hook("m3.example.com", m3.url(), m3.ca_bundle,
                                                 reinvocationPolicy="IfNeeded"))
        status, body, _ = await api.call("POST", CMS, cm("one", a="1"))
        assert status == 201, body
        assert body["data"] == {"a": "1", "late": "1", "seen": "a,late,seen"}
        assert len(m1.reviews) == 2  # called again: the second one changed the object after it
        assert len(m2.reviews) == 1  # Never
        assert len(m3.reviews) == 1  # nothing changed the object after it

        # Its own change alone does not call it again.
        status, body, _ = await api.call("POST", CMS, cm("two", late="0"))
        assert status == 201, body
        assert len(m1.reviews) == 3


async def test_warnings_reach_the_client_on_success_and_refusal(api: Api) -> None:
    async with TestWebhook(lambda r: allow(r, warnings=["mind the gap"])) as m, \
            TestWebhook(lambda r: {**deny(r, "no"), "warnings": ["refused"]}
                        if r["name"] == "bad" else allow(r)) as v:
        await configure(api, MUTATING, "m", hook("m.example.com", m.url(), m.ca_bundle))
        await configure(api, VALIDATING, "v", hook("v.example.com", v.url(), v.ca_bundle))
        status, _, warnings = await api.call("POST", CMS, cm("good"))
        assert status == 201
        assert warnings == ['299 - "mind the gap"']
        status, _, warnings = await api.call("POST", CMS, cm("bad"))
        assert status == 400
        assert warnings == ['299 - "mind the gap", 299 - "refused"']


@pytest.mark.parametrize(("rule", "called"), [
    pytest.param({}, True, id="exact"),
    pytest.param({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
                  "resources": ["*"]}, True, id="stars"),
    pytest.param({"operations": ["UPDATE"]}, False, id="other-operation"),
    pytest.param({"apiGroups": ["apps"]}, False, id="other-group"),
    pytest.param({"apiVersions": ["v2"]}, False, id="other-version"),
    pytest.param({"resources": ["secrets"]}, False, id="other-resource"),
    pytest.param({"resources": ["configmaps/*"]}, True, id="resource-and-subresources"),
    pytest.param({"resources": ["configmaps/status"]}, False, id="a-subresource-only"),
    pytest.param({"resources": ["*/*"]}, True, id="everything"),
    pytest.param({"scope": "Cluster"}, False, id="cluster-scope"),
    pytest.param({"scope": "Namespaced"}, True, id="namespaced-scope"),
])
async def test_rules_choose_the_requests(api: Api, rule: dict[str, Any], called: bool) -> None:
    async with TestWebhook() as wh:
        await configure(api, VALIDATING, "v", hook("v.example.com", wh.url(), wh.ca_bundle,
                                                   rules=[{**CM_RULE, **rule}]))
        await api.call("POST", CMS, cm("one"))
        assert bool(wh.reviews) is called


async def test_status_subresource_needs_its_own_rule(api: Api) -> None:
    async with TestWebhook() as wh:
        await configure(api, VALIDATING, "v", hook(
            "v.example.com", wh.url(), wh.ca_bundle,
            rules=[{**CM_RULE, "apiGroups": ["apps"], "resources": ["deployments/status"]}]))
        status, body, _ = await api.call("POST", "/apis/apps/v1/namespaces/default/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
        assert status == 201, body
        assert not wh.reviews
        status, _, _ = await api.call(
            "PATCH", "/apis/apps/v1/namespaces/default/deployments/d/status",
            {"status": {"observedGeneration": 1}}, content_type="application/merge-patch+json")
        assert status == 200
        assert [r["subResource"] for r in wh.reviews] == ["status"]


async def test_object_selector_matches_new_or_old_labels(api: Api) -> None:
    async with TestWebhook() as wh:
        await configure(api, VALIDATING, "v", hook(
            "v.example.com", wh.url(), wh.ca_bundle,
            objectSelector={"matchLabels": {"checked": "yes"}}))
        await api.call("POST", CMS, cm("plain"))
        assert not wh.reviews
        await api.call("POST", CMS, cm("labelled", {"checked": "yes"}))
        await api.call("PATCH", f"{CMS}/labelled", {"metadata": {"labels": {"checked": None}}},
                       content_type="application/merge-patch+json")
        assert [r["operation"] for r in wh.reviews] == ["CREATE", "UPDATE"]


async def test_namespace_selector_matches_the_namespace_labels(api: Api) -> None:
    async with TestWebhook() as wh:
        await configure(api, VALIDATING, "v", hook(
            "v.example.com", wh.url(), wh.ca_bundle,
            namespaceSelector={"matchExpressions": [
                {"key": "team", "operator": "In", "values": ["a"]}]}))
        for ns, labels in (("team-a", {"team": "a"}), ("team-b", {"team": "b"})):
            status, _, _ = await api.call("POST", "/api/v1/namespaces", {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": labels}})
            assert status == 201
            await api.call("POST", f"/api/v1/namespaces/{ns}/configmaps", cm("x"))
        assert [r["namespace"] for r in wh.reviews] == ["team-a"]


async def test_webhook_configurations_never_go_to_webhooks(api: Api) -> None:
    async with TestWebhook(lambda r: deny(r, "no")) as wh:
        rule = {"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
                "resources": ["*"]}
        await configure(api, VALIDATING, "v", hook("v.example.com", wh.url(), wh.ca_bundle,
                                                   rules=[rule]))
        status, _, _ = await api.call("DELETE", f"{VALIDATING}/v")
        assert status == 200
        assert not wh.reviews


async def test_an_unreachable_webhook_fails_the_write_unless_ignored(api: Api) -> None:
    async with TestWebhook() as wh:
        url = wh.url("/gone")
        ca = wh.ca_bundle
    await configure(api, VALIDATING, "fail", hook("fail.example.com", url, ca))
    status, body, _ = await api.call("POST", CMS, cm("one"))
    assert status == 500
    assert body["reason"] == "InternalError"
    assert body["message"].startswith(
        'Internal error occurred: failed calling webhook "fail.example.com": failed to call '
        f'webhook: Post "{url}?timeout=10s": ')
    await api.call("DELETE", f"{VALIDATING}/fail")
    await configure(api, VALIDATING, "ignore", hook("ignore.example.com", url, ca,
                                                    failurePolicy="Ignore"))
    status, body, _ = await api.call("POST", CMS, cm("one"))
    assert status == 201, body


async def test_a_slow_webhook_times_out(api: Api) -> None:
    async def slow(request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(3)
        return allow(request)

    async with TestWebhook(slow) as wh:
        await configure(api, VALIDATING, "v", hook("v.example.com", wh.url(), wh.ca_bundle,
                                                   timeoutSeconds=1))
        status, body, _ = await api.call("POST", CMS, cm("one"))
    assert status == 500
    assert body["message"].endswith(f'Post "{wh.url()}?timeout=1s": context deadline exceeded')


async def test_a_certificate_that_the_ca_bundle_does_not_sign_is_refused(api: Api) -> None:
    other_ca = base64.b64encode(self_signed(["127.0.0.1"])[0]).decode()
    async with TestWebhook() as wh:
        await configure(api, VALIDATING, "v", hook("v.example.com", wh.url(), other_ca))
        status, body, _ = await api.call("POST", CMS, cm("one"))
        assert status == 500
        assert "certificate verify failed" in body["message"]
        assert not wh.reviews


async def test_dry_run_reaches_only_webhooks_without_side_effects(api: Api) -> None:
    async with TestWebhook() as wh:
        await configure(api, VALIDATING, "v", hook("v.example.com", wh.url(), wh.ca_bundle))
        status, _, _ = await api.call("POST", CMS, cm("one"), dryRun="All")
        assert status == 201
        assert wh.reviews[-1]["dryRun"] is True
        assert wh.reviews[-1]["options"]["dryRun"] == ["All"]
        await configure(api, VALIDATING, "w", hook("w.example.com", wh.url(), wh.ca_bundle,
                                                   sideEffects="Some"))
        status, body, _ = await api.call("POST", CMS, cm("two"), dryRun="All")
    assert status == 400
    assert body["message"] == 'admission webhook "w.example.com" does not support dry run'


async def test_a_response_with_another_uid_is_a_failure(api: Api) -> None:
    async with TestWebhook(lambda r: {"uid": "other", "allowed": True}) as wh:
        await configure(api, VALIDATING, "v", hook("v.example.com", wh.url(), wh.ca_bundle))
        status, body, _ = await api.call("POST", CMS, cm("one"))
    assert status == 500
    assert 'expected response.uid=' in body["message"]


@pytest.mark.embedded_apiserver(webhook_hosts={})
async def test_a_service_resolves_through_its_external_name(api: Api) -> None:
    async with TestWebhook(hostnames=("hook.default.svc",)) as wh:
        status, body, _ = await api.call("POST", "/api/v1/namespaces/default/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "hook"},
            "spec": {"type": "ExternalName", "externalName": "127.0.0.1"}})
        assert status == 201, body
        await configure(api, VALIDATING, "v", {
            **hook("v.example.com", "", wh.ca_bundle),
            "clientConfig": {"service": {"namespace": "default", "name": "hook",
                                         "path": "/svc", "port": wh.port},
                             "caBundle": wh.ca_bundle}})
        status, body, _ = await api.call("POST", CMS, cm("one"))
        assert status == 201, body
        assert wh.paths == ["/svc?timeout=10s"]


async def test_a_service_resolves_through_the_servers_webhook_hosts(tmp_path: Any) -> None:
    async with TestWebhook(hostnames=("hook.webhooks.svc",)) as wh, EmbeddedApiServer(
        kubeconfig=tmp_path / "kubeconfig",
        webhook_hosts={"hook.webhooks.svc": f"127.0.0.1:{wh.port}"},
    ) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.url)
        await configure(api, VALIDATING, "v", {
            **hook("v.example.com", "", wh.ca_bundle),
            "clientConfig": {"service": {"namespace": "webhooks", "name": "hook"},
                             "caBundle": wh.ca_bundle}})
        status, body, _ = await api.call("POST", CMS, cm("one"))
        assert status == 201, body
        assert len(wh.reviews) == 1


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
             "versions": [{"name": name, "served": True, "storage": name == "v1",
                           "schema": {"openAPIV3Schema": {
                               "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
                          for name in ("v1", "v1beta1")]}}
WIDGET_RULE = {"operations": ["CREATE"], "apiGroups": ["example.com"], "apiVersions": ["v1"],
               "resources": ["widgets"]}


async def test_an_equivalent_version_calls_a_webhook_in_its_own_version(api: Api) -> None:
    status, body, _ = await api.call(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD)
    assert status == 201, body  # served the moment it is stored

    def default_size(r: dict[str, Any]) -> dict[str, Any]:
        return allow(r, **json_patch([{"op": "add", "path": "/spec", "value": {"size": 1}}]))

    async with TestWebhook(default_size) as m, TestWebhook() as exact:
        await configure(api, MUTATING, "m", hook("m.example.com", m.url(), m.ca_bundle,
                                                 rules=[WIDGET_RULE]))
        await configure(api, VALIDATING, "v", hook("v.example.com", exact.url(),
                                                   exact.ca_bundle, rules=[WIDGET_RULE],
                                                   matchPolicy="Exact"))
        _, stored, _ = await api.call("GET", f"{MUTATING}/m")
        defaulted = stored["webhooks"][0]  # admissionregistration/v1's defaults
        assert {k: defaulted[k] for k in ("matchPolicy", "failurePolicy", "timeoutSeconds",
                                          "namespaceSelector", "objectSelector",
                                          "reinvocationPolicy")} == {
            "matchPolicy": "Equivalent", "failurePolicy": "Fail", "timeoutSeconds": 10,
            "namespaceSelector": {}, "objectSelector": {}, "reinvocationPolicy": "Never"}
        assert defaulted["rules"][0]["scope"] == "*"

        path = "/apis/example.com/v1beta1/namespaces/default/widgets"
        status, body, _ = await api.call("POST", path, {
            "apiVersion": "example.com/v1beta1", "kind": "Widget", "metadata": {"name": "w"}})
        assert status == 201, body
        assert body["apiVersion"] == "example.com/v1beta1"  # answered as the client sent it
        assert body["spec"] == {"size": 1}  # mutated in v1, converted back
        (review,) = m.reviews
        assert review["kind"] == {"group": "example.com", "version": "v1", "kind": "Widget"}
        assert review["resource"]["version"] == "v1"
        assert review["requestKind"]["version"] == "v1beta1"
        assert review["requestResource"] == {"group": "example.com", "version": "v1beta1",
                                             "resource": "widgets"}
        assert review["object"]["apiVersion"] == "example.com/v1"
        assert exact.reviews == []  # matchPolicy Exact: only v1 requests
