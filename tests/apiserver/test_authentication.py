"""HTTPS and authentication: ``tls=True`` serves HTTPS only with a CA made at start;
``rbac=True`` (or ``authentication=True``) answers 401 to credentials nobody issued; tokens come
from the kubeconfig, ``add_token``, TokenRequest and token Secrets; client certificates from the
server's CA. Without these options, any request is still the administrator.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from kopf_informers.testing import EmbeddedApiServer, wait_until

KUBECTL = "kubectl"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedApiServer]:
    with EmbeddedApiServer(tls=True, rbac=True, kubeconfig=tmp_path / "admin") as s:
        yield s


def kubectl(kubeconfig: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), *args],
                          capture_output=True, text=True, timeout=60)


def request(server: EmbeddedApiServer, method: str, path: str, token: str | None = None,
            body: Any = None) -> tuple[int, dict[str, Any]]:
    assert server.certificates is not None
    conn = http.client.HTTPSConnection(server.host, server.port,
                                       context=server.certificates.client_context(), timeout=10)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data) if data.startswith(b"{") else {}


def whoami(kubeconfig: Path | str) -> str:
    result = kubectl(kubeconfig, "auth", "whoami", "-o", "json")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["status"]["userInfo"]["username"])


def test_the_kubeconfig_holds_the_ca_and_an_admin_client_certificate(
        server: EmbeddedApiServer) -> None:
    config = yaml.safe_load(server.kubeconfig.read_text())
    assert server.url.startswith("https://")
    assert config["clusters"][0]["cluster"]["certificate-authority-data"]
    assert set(config["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}
    assert whoami(server.kubeconfig) == "kubernetes-admin"
    result = kubectl(server.kubeconfig, "auth", "whoami", "-o", "json")
    assert "system:masters" in json.loads(result.stdout)["status"]["userInfo"]["groups"]


def test_the_server_answers_over_tls_only(server: EmbeddedApiServer) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("GET", "/version")
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        conn.getresponse()
    conn.close()
    plain = ssl.create_default_context()  # trusts no made-up CA
    conn = http.client.HTTPSConnection(server.host, server.port, context=plain, timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/version")
    conn.close()


def test_unknown_tokens_and_missing_credentials_are_unauthorized(
        server: EmbeddedApiServer) -> None:
    for token in ("nonsense", None, "a.b.c"):
        status, body = request(server, "GET", "/api/v1/namespaces", token)
        assert status == 401
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Failure", "message": "Unauthorized",
                        "reason": "Unauthorized", "code": 401}
    entry = list(server.journal)[-1]
    assert entry.decision == "unauthenticated"
    assert entry.user == ""


def test_anonymous_requests_may_be_let_in(tmp_path: Path) -> None:
    with EmbeddedApiServer(tls=True, rbac=True, anonymous=True) as server:
        assert request(server, "GET", "/version")[0] == 200  # system:public-info-viewer
        status, body = request(server, "GET", "/api/v1/namespaces")
        assert status == 403
        assert body["message"] == ('namespaces is forbidden: User "system:anonymous" cannot '
                                   'list resource "namespaces" in API group "" at the cluster '
                                   'scope')


def test_static_tokens_authenticate_as_their_user(server: EmbeddedApiServer) -> None:
    server.add_token("alice-token", "alice", ("devs",))
    status, body = request(server, "POST",
                           "/apis/authentication.k8s.io/v1/selfsubjectreviews", "alice-token",
                           {"apiVersion": "authentication.k8s.io/v1",
                            "kind": "SelfSubjectReview"})
    assert status == 201
    assert body["status"]["userInfo"] == {
        "username": "alice", "groups": ["devs", "system:authenticated"]}


def test_token_request_tokens_are_the_service_account_until_it_is_deleted(
        server: EmbeddedApiServer) -> None:
    assert kubectl(server.kubeconfig, "create", "sa", "bot").returncode == 0
    made = kubectl(server.kubeconfig, "create", "token", "bot")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    status, body = request(server, "POST",
                           "/apis/authentication.k8s.io/v1/selfsubjectreviews", token,
                           {"apiVersion": "authentication.k8s.io/v1",
                            "kind": "SelfSubjectReview"})
    assert status == 201
    assert body["status"]["userInfo"]["username"] == "system:serviceaccount:default:bot"
    assert "system:serviceaccounts:default" in body["status"]["userInfo"]["groups"]
    assert kubectl(server.kubeconfig, "delete", "sa", "bot").returncode == 0
    assert request(server, "GET", "/version", token)[0] == 401


def test_kubectl_create_token_gets_the_duration_and_audience_it_asks_for(
        server: EmbeddedApiServer) -> None:
    """kubectl sends its TokenRequest as protobuf: its spec is read, not taken as defaulted."""
    assert kubectl(server.kubeconfig, "create", "sa", "bot").returncode == 0
    made = kubectl(server.kubeconfig, "create", "token", "bot", "--duration=2h",
                   "--audience=https://example.com")
    assert made.returncode == 0, made.stderr
    claims = json.loads(base64.urlsafe_b64decode(made.stdout.strip().split(".")[1] + "=="))
    assert claims["exp"] - claims["iat"] == 7200
    assert claims["aud"] == ["https://example.com"]
    short = kubectl(server.kubeconfig, "create", "token", "bot", "--duration=5m")
    assert short.returncode != 0
    assert ("spec.expirationSeconds: Invalid value: 300: may not specify a duration less than "
            "10 minutes") in short.stderr


def test_a_token_request_for_a_missing_service_account_is_404(server: EmbeddedApiServer) -> None:
    made = kubectl(server.kubeconfig, "create", "token", "nobody")
    assert made.returncode != 0
    assert 'serviceaccounts "nobody" not found' in made.stderr


def test_a_service_account_token_secret_gets_a_token(server: EmbeddedApiServer) -> None:
    client = kubernetes.config.new_client_from_config(config_file=str(server.kubeconfig))
    with client:
        core = kubernetes.client.CoreV1Api(client)
        core.create_namespaced_service_account("default", {"metadata": {"name": "legacy"}})
        core.create_namespaced_secret("default", {
            "metadata": {"name": "legacy-token", "annotations": {
                "kubernetes.io/service-account.name": "legacy"}},
            "type": "kubernetes.io/service-account-token"})
        wait_until(lambda: (core.read_namespaced_secret("legacy-token", "default").data or {})
                   .get("token"), "the token controller", timeout=5)
        data = core.read_namespaced_secret("legacy-token", "default").data
    token = base64.b64decode(data["token"]).decode()
    assert base64.b64decode(data["ca.crt"]) == server.certificates.ca_pem  # type: ignore[union-attr]
    assert base64.b64decode(data["namespace"]) == b"default"
    assert request(server, "GET", "/version", token)[0] == 200
    assert kubectl(server.kubeconfig, "delete", "secret", "legacy-token").returncode == 0
    assert request(server, "GET", "/version", token)[0] == 401


def test_client_certificates_from_the_servers_ca_name_user_and_group(
        server: EmbeddedApiServer, tmp_path: Path) -> None:
    assert server.certificates is not None
    creds = server.certificates.issue_client("carol", ("auditors",))
    config = yaml.safe_load(server.kubeconfig.read_text())
    config["users"][0]["user"] = creds.kubeconfig_user()
    path = tmp_path / "carol"
    path.write_text(yaml.safe_dump(config))
    result = kubectl(path, "auth", "whoami", "-o", "json")
    info = json.loads(result.stdout)["status"]["userInfo"]
    assert info == {"username": "carol", "groups": ["auditors", "system:authenticated"]}


def test_kubeconfig_for_acts_as_the_service_account(server: EmbeddedApiServer) -> None:
    assert kubectl(server.kubeconfig, "create", "namespace", "app").returncode == 0
    assert kubectl(server.kubeconfig, "-n", "app", "create", "sa", "bot").returncode == 0
    path = server.kubeconfig_for("app", "bot")
    try:
        assert path.stat().st_mode & 0o777 == 0o600
        assert whoami(path) == "system:serviceaccount:app:bot"
        assert yaml.safe_load(path.read_text())["contexts"][0]["context"]["namespace"] == "app"
    finally:
        path.unlink()


def test_without_authentication_any_token_is_the_administrator() -> None:
    with EmbeddedApiServer() as server:
        assert server.url.startswith("http://")
        conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
        conn.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                     body=json.dumps({"apiVersion": "authentication.k8s.io/v1",
                                      "kind": "SelfSubjectReview"}),
                     headers={"Authorization": "Bearer whatever",
                              "Content-Type": "application/json"})
        body = json.loads(conn.getresponse().read())
        conn.close()
        assert body["status"]["userInfo"]["username"] == "kubernetes-admin"


def test_authentication_without_rbac_still_allows_every_authenticated_user() -> None:
    with EmbeddedApiServer(authentication=True) as server:
        server.add_token("t", "dave")
        conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
        for token, expected in (("t", 200), ("wrong", 401)):
            conn.request("GET", "/api/v1/namespaces", headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            assert response.status == expected
        conn.close()


def test_the_cli_serves_tls_with_rbac_and_writes_a_service_account_kubeconfig(
        tmp_path: Path) -> None:
    import sys
    admin, bot = tmp_path / "admin", tmp_path / "bot"
    process = subprocess.Popen(
        [sys.executable, "-m", "kopf_informers", "apiserver", "--tls", "--rbac",
         f"--kubeconfig={admin}", f"--kubeconfig-for=app/bot={bot}",
         ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        assert whoami(bot) == "system:serviceaccount:app:bot"
        assert whoami(admin) == "kubernetes-admin"
        denied = kubectl(bot, "get", "pods")
        assert ('pods is forbidden: User "system:serviceaccount:app:bot" cannot list resource '
                '"pods" in API group "" in the namespace "app"') in denied.stderr
    finally:
        process.terminate()
        process.communicate(timeout=30)
