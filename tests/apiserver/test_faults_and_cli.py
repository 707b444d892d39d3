"""Fault injection, the request journal, the command line and the async face of the server.

Faults are driven from Python (``embedded_apiserver.faults``) and over HTTP (``/_embedded/``), and
observed through the official ``kubernetes`` client, as an operator under test would see them.
The command line runs as a real subprocess; every wait on it is bounded.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes
import pytest
import urllib3
import yaml
from kubernetes.client import ApiException

from kopf_informers._cli import main as cli_main
from kopf_informers.errors import InvalidArgumentError
from kopf_informers.testing.apiserver import EmbeddedApiServer

WATCH_TIMEOUT = 10  # seconds: the server ends every watch of these tests by then at the latest
PROCESS_TIMEOUT = 20  # seconds: the longest wait for the CLI subprocess to start or stop


def create_cm(core_v1: kubernetes.client.CoreV1Api, name: str, **data: str,
              ) -> kubernetes.client.V1ConfigMap:
    return core_v1.create_namespaced_config_map(
        "default", {"metadata": {"name": name}, "data": data})


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def post(url: str, body: Any = None) -> tuple[int, Any]:
    """POST JSON with urllib (as an out-of-process test would); errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def refuses_connections(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


# -- failures -------------------------------------------------------------------------------------


def test_injected_500_answers_once_with_a_status_then_recovers(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    create_cm(core_v1, "a")
    embedded_apiserver.faults.fail("list", "configmaps", 500)
    core_v1.list_namespaced_secret("default")  # another resource: not affected
    core_v1.read_namespaced_config_map("a", "default")  # another verb: not affected

    with pytest.raises(ApiException) as error:
        core_v1.list_namespaced_config_map("default")
    assert error.value.status == 500
    status = status_of(error.value)
    assert (status["kind"], status["status"], status["code"]) == ("Status", "Failure", 500)
    assert status["reason"] == "InternalError"
    assert status["message"]

    assert [i.metadata.name for i in core_v1.list_namespaced_config_map("default").items] == ["a"]


def test_injected_failures_can_repeat_a_given_number_of_times(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    embedded_apiserver.faults.fail("create", "v1/configmaps", 503, count=2, message="busy")
    for _ in range(2):
        with pytest.raises(ApiException) as error:
            create_cm(core_v1, "a")
        assert error.value.status == 503
        assert status_of(error.value)["message"] == "busy"
    assert create_cm(core_v1, "a").metadata.name == "a"


@pytest.mark.parametrize(("retry_after", "expected"), [
    pytest.param(None, "1", id="default"),
    pytest.param(7, "7", id="chosen"),
])
def test_injected_429_carries_retry_after(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
    retry_after: int | None, expected: str,
) -> None:
    create_cm(core_v1, "a")
    embedded_apiserver.faults.fail("get", "configmaps", 429, retry_after=retry_after)
    # urllib, not the official client: urllib3 under it would quietly wait and retry (below).
    url = f"{embedded_apiserver.url}/api/v1/namespaces/default/configmaps/a"
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(url, timeout=10)
    with error.value:
        assert error.value.code == 429
        assert error.value.headers["Retry-After"] == expected
        status = json.loads(error.value.read())
    assert status["reason"] == "TooManyRequests"
    assert status["details"]["retryAfterSeconds"] == int(expected)
    assert get(url)["metadata"]["name"] == "a"


def test_official_client_waits_out_a_429_and_retries(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    create_cm(core_v1, "a")
    embedded_apiserver.faults.fail("get", "configmaps", 429)  # Retry-After: 1
    assert core_v1.read_namespaced_config_map("a", "default").metadata.name == "a"
    gets = embedded_apiserver.journal.filter(verb="get", resource="configmaps")
    assert [e.status for e in gets] == [429, 200]


def test_injected_409_on_patch_leaves_the_object_alone(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    created = create_cm(core_v1, "a", k="before")
    embedded_apiserver.faults.fail("patch", "configmaps", 409)
    with pytest.raises(ApiException) as error:
        core_v1.patch_namespaced_config_map("a", "default", {"data": {"k": "after"}})
    assert error.value.status == 409
    assert status_of(error.value)["reason"] == "Conflict"
    unchanged = core_v1.read_namespaced_config_map("a", "default")
    assert unchanged.data == {"k": "before"}
    assert unchanged.metadata.resource_version == created.metadata.resource_version

    patched = core_v1.patch_namespaced_config_map("a", "default", {"data": {"k": "after"}})
    assert patched.data == {"k": "after"}


def test_added_latency_delays_matching_requests_until_cleared(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    create_cm(core_v1, "a")
    embedded_apiserver.faults.add_latency(2.0, verb="list", resource="configmaps")
    # The server cannot answer before the latency has passed: a shorter client timeout expires.
    # (urllib3 retries a timed-out GET a few times before it gives up.)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as error:
        core_v1.list_namespaced_config_map("default", _request_timeout=(5, 0.2))
    assert isinstance(error.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert core_v1.read_namespaced_config_map("a", "default").metadata.name == "a"

    embedded_apiserver.faults.clear()
    listed = core_v1.list_namespaced_config_map("default", _request_timeout=(5, 10))
    assert [i.metadata.name for i in listed.items] == ["a"]


def test_injecting_a_fault_with_an_unknown_verb_is_refused(
    embedded_apiserver: EmbeddedApiServer,
) -> None:
    with pytest.raises(ValueError, match="unknown verb"):
        embedded_apiserver.faults.fail("frobnicate", "configmaps", 500)
    with pytest.raises(ValueError, match="not an HTTP error status"):
        embedded_apiserver.faults.fail("get", "configmaps", 200)


# -- connections ----------------------------------------------------------------------------------


def test_paused_server_refuses_connections_and_serves_the_same_objects_after_resume(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    created = create_cm(core_v1, "a", k="v")
    embedded_apiserver.faults.pause()
    assert refuses_connections(embedded_apiserver.url)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as error:
        core_v1.list_namespaced_config_map("default", _request_timeout=5)
    assert isinstance(error.value.reason, urllib3.exceptions.NewConnectionError)

    embedded_apiserver.faults.resume()
    listed = core_v1.list_namespaced_config_map("default")
    assert [(i.metadata.name, i.metadata.uid, i.metadata.resource_version, i.data)
            for i in listed.items] == [
        ("a", created.metadata.uid, created.metadata.resource_version, {"k": "v"}),
    ]


def test_restart_keeps_all_state_and_resource_versions_keep_increasing(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    created = create_cm(core_v1, "a", k="v")
    before = core_v1.list_namespaced_config_map("default")
    embedded_apiserver.faults.restart()

    after = core_v1.list_namespaced_config_map("default")
    assert after.metadata.resource_version == before.metadata.resource_version
    assert [(i.metadata.name, i.metadata.uid, i.metadata.resource_version, i.data)
            for i in after.items] == [
        ("a", created.metadata.uid, created.metadata.resource_version, {"k": "v"}),
    ]
    later = create_cm(core_v1, "b")
    assert int(later.metadata.resource_version) > int(before.metadata.resource_version)


def test_watch_cut_by_a_restart_resumes_from_its_last_resource_version(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    start = core_v1.list_namespaced_config_map("default").metadata.resource_version
    create_cm(core_v1, "a")
    watch = kubernetes.watch.Watch()
    seen: list[str] = []
    stream = watch.stream(core_v1.list_namespaced_config_map, "default", resource_version=start,
                          timeout_seconds=WATCH_TIMEOUT)
    # A restart closes connections abruptly: the client sees a broken stream.
    with contextlib.closing(stream), contextlib.suppress(urllib3.exceptions.ProtocolError):
        for event in stream:
            seen.append(event["raw_object"]["metadata"]["name"])
            embedded_apiserver.faults.restart()
    assert seen == ["a"]

    create_cm(core_v1, "b")
    resumed = kubernetes.watch.Watch().stream(
        core_v1.list_namespaced_config_map, "default", resource_version=watch.resource_version,
        timeout_seconds=WATCH_TIMEOUT)
    with contextlib.closing(resumed):
        event = next(resumed)
    assert (event["type"], event["raw_object"]["metadata"]["name"]) == ("ADDED", "b")


# -- over HTTP ------------------------------------------------------------------------------------


def test_http_fault_endpoint_injects_a_failure(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    status, body = post(f"{embedded_apiserver.url}/_embedded/faults/fail", {
        "verb": "list", "resource": "configmaps", "status": 503, "message": "from afar"})
    assert (status, body["ok"]) == (200, True)
    with pytest.raises(ApiException) as error:
        core_v1.list_namespaced_config_map("default")
    assert error.value.status == 503
    assert status_of(error.value)["message"] == "from afar"
    core_v1.list_namespaced_config_map("default")


@pytest.mark.parametrize(("action", "body", "code"), [
    pytest.param("fail", {"verb": "list"}, 400, id="missing-arguments"),
    pytest.param("fail", {"verb": "nope", "resource": "x", "status": 500}, 400, id="bad-verb"),
    pytest.param("frobnicate", {}, 404, id="unknown-action"),
])
def test_http_fault_endpoint_refuses_bad_requests_with_a_status(
    embedded_apiserver: EmbeddedApiServer, action: str, body: Any, code: int,
) -> None:
    status, answer = post(f"{embedded_apiserver.url}/_embedded/faults/{action}", body)
    assert status == code
    assert (answer["kind"], answer["code"]) == ("Status", code)
    assert answer["message"]


def test_http_drop_watches_endpoint_ends_open_watches(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    start = core_v1.list_namespaced_config_map("default").metadata.resource_version
    create_cm(core_v1, "a")
    dropped: list[Any] = []
    stream = kubernetes.watch.Watch().stream(
        core_v1.list_namespaced_config_map, "default", resource_version=start,
        timeout_seconds=WATCH_TIMEOUT)
    with contextlib.closing(stream):
        events = []
        for event in stream:  # ends when the watch is dropped, long before its timeout
            events.append(event["type"])
            dropped.append(post(f"{embedded_apiserver.url}/_embedded/faults/drop-watches"))
    assert events == ["ADDED"]
    assert dropped == [(200, {"ok": True, "result": 1})]


def test_http_expire_history_endpoint_makes_old_resumes_gone(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    old = create_cm(core_v1, "a").metadata.resource_version
    create_cm(core_v1, "b")
    assert post(f"{embedded_apiserver.url}/_embedded/faults/expire-history")[0] == 200
    with pytest.raises(ApiException) as error:
        next(kubernetes.watch.Watch().stream(
            core_v1.list_namespaced_config_map, "default", resource_version=old,
            timeout_seconds=WATCH_TIMEOUT))
    assert error.value.status == 410


# -- the journal ----------------------------------------------------------------------------------


def test_journal_records_each_request_as_the_server_understood_it(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    embedded_apiserver.journal.clear()
    create_cm(core_v1, "a")
    core_v1.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    core_v1.list_namespaced_config_map("default", label_selector="app=x")
    with pytest.raises(ApiException):
        core_v1.read_namespaced_config_map("missing", "default")
    core_v1.list_config_map_for_all_namespaces()

    entries = [(e.method, e.path, e.verb, e.resource, e.namespace, e.name,
                e.content_type.split(";")[0], e.status) for e in embedded_apiserver.journal]
    base = "/api/v1/namespaces/default/configmaps"
    assert entries == [
        # The official client sends its POST bodies without a Content-Type (JSON is assumed).
        ("POST", base, "create", "configmaps", "default", None, "", 201),
        ("PATCH", f"{base}/a", "patch", "configmaps", "default", "a",
         "application/strategic-merge-patch+json", 200),
        ("GET", base, "list", "configmaps", "default", None, "", 200),
        ("GET", f"{base}/missing", "get", "configmaps", "default", "missing", "", 404),
        ("GET", "/api/v1/configmaps", "list", "configmaps", None, None, "", 200),
    ]
    listed = embedded_apiserver.journal.filter(verb="list", namespace="default")
    assert [e.query for e in listed] == [{"labelSelector": "app=x"}]


def test_journal_records_subresources_and_watches(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    core_v1.create_namespaced_pod("default", {
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    core_v1.patch_namespaced_pod_status("p", "default", {"status": {"phase": "Running"}})
    list(kubernetes.watch.Watch().stream(core_v1.list_namespaced_pod, "default",
                                         resource_version="", timeout_seconds=1))

    [status_patch] = embedded_apiserver.journal.filter(resource="pods/status")
    assert (status_patch.verb, status_patch.name, status_patch.status) == ("patch", "p", 200)
    [watch] = embedded_apiserver.journal.filter(verb="watch", resource="pods")
    assert watch.query["watch"] == "true"
    assert watch.status == 200
    assert len(embedded_apiserver.journal.filter(resource="pod*")) == 3


def test_http_journal_endpoint_lists_the_same_entries(
    core_v1: kubernetes.client.CoreV1Api, embedded_apiserver: EmbeddedApiServer,
) -> None:
    create_cm(core_v1, "a")
    embedded_apiserver.journal.clear()
    core_v1.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    entries = get(f"{embedded_apiserver.url}/_embedded/journal")["entries"]
    first = entries[0]
    assert {k: first[k] for k in ("method", "path", "verb", "resource", "group", "name",
                                  "content_type", "status")} == {
        "method": "PATCH", "path": "/api/v1/namespaces/default/configmaps/a", "verb": "patch",
        "resource": "configmaps", "group": "", "name": "a",
        "content_type": "application/strategic-merge-patch+json", "status": 200,
    }
    assert first["duration"] >= 0
    # The journal request itself is recorded too (its status is set once it is answered).
    assert entries[-1]["path"] == "/_embedded/journal"


# -- the command line -----------------------------------------------------------------------------


def cli_command() -> list[str]:
    """The installed ``kopf-informers`` script next to this interpreter, else ``-m``."""
    script = shutil.which("kopf-informers", path=sysconfig.get_path("scripts"))
    return [script] if script else [sys.executable, "-m", "kopf_informers"]


def read_line(stream: Any, timeout: float) -> str:
    """One line from a subprocess pipe, failing the test if none comes within ``timeout``."""
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        pytest.fail(f"no output within {timeout}s")
    return str(stream.readline())


@pytest.fixture
def cli_apiserver(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """``kopf-informers apiserver`` as a subprocess: the process, its URL and its kubeconfig."""
    kubeconfig = tmp_path / "cli.kubeconfig"
    process = subprocess.Popen(
        [*cli_command(), "apiserver", "--port", "0", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        url = read_line(process.stdout, PROCESS_TIMEOUT).strip()
        yield process, url, kubeconfig
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=PROCESS_TIMEOUT)


def test_cli_prints_its_url_first_and_serves_its_kubeconfig_until_sigterm(
    cli_apiserver: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, url, kubeconfig = cli_apiserver
    assert url.startswith("http://127.0.0.1:")
    assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == url

    with kubernetes.config.new_client_from_config(config_file=str(kubeconfig)) as client:
        core_v1 = kubernetes.client.CoreV1Api(client)
        assert {"default", "kube-system"} <= {
            ns.metadata.name for ns in core_v1.list_namespace().items}
        assert create_cm(core_v1, "from-cli").metadata.resource_version

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=PROCESS_TIMEOUT)
    assert process.returncode == 0, stderr
    assert str(kubeconfig) in stderr
    assert "Traceback" not in stderr
    assert refuses_connections(url)


def test_cli_refuses_a_remote_host_without_allow_remote() -> None:
    result = subprocess.run(
        [*cli_command(), "apiserver", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "0.0.0.0" in result.stderr
    assert "not a loopback address" in result.stderr
    assert "--allow-remote" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("host", "warned"), [
    pytest.param("0.0.0.0", True, id="any-address"),
    pytest.param("127.0.0.1", False, id="loopback"),
])
def test_cli_warns_on_one_line_that_remote_clients_have_full_access_before_serving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    host: str, warned: bool,
) -> None:
    async def listen_nowhere(self: EmbeddedApiServer) -> None:
        raise OSError("this test serves nothing")  # the warning comes before any listening

    monkeypatch.setattr(EmbeddedApiServer, "astart", listen_nowhere)
    argv = ["apiserver", "--host", host, "--port", "0", "--allow-remote",
            "--kubeconfig", str(tmp_path / "cli.kubeconfig")]
    assert cli_main(argv) == 1
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    if warned:
        assert len(warnings) == 1
        assert host in warnings[0]
        assert "no authentication" in warnings[0]
        assert "full access" in warnings[0]
    else:
        assert warnings == []


def test_cli_version_is_the_installed_distributions() -> None:
    result = subprocess.run([*cli_command(), "--version"], capture_output=True, text=True,
                            timeout=PROCESS_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"kopf-informers {importlib.metadata.version('kopf-informers')}"


def test_cli_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main(["apiserver", "--help"])
    assert exited.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere
    for default in ["(default: 127.0.0.1)", "(default: 0, a free port)",
                    "(default: a temporary file, removed at exit)", "(default: 10000)",
                    "(default: 1.0)", "(default: simulated)", "(default: loopback only)"]:
        assert default in shown


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("kopf-informers: ")
    return lines[0]


@pytest.mark.parametrize("port", ["-1", "65536", "70000"])
def test_cli_refuses_a_port_out_of_range_on_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, port: str,
) -> None:
    assert cli_main(["apiserver", "--port", port, "--kubeconfig", str(tmp_path / "k")]) == 2
    error = one_line_error(capsys)
    assert "from 0 to 65535" in error
    assert port in error
    assert not (tmp_path / "k").exists()


def test_cli_refuses_a_port_out_of_range_without_a_traceback() -> None:
    result = subprocess.run([*cli_command(), "apiserver", "--port", "70000"],
                            capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "kopf-informers: port must be from 0 to 65535 (0 picks a free one), got 70000"]


def test_cli_refuses_a_kubeconfig_in_a_missing_directory_and_creates_none(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "missing" / "deeper" / "kubeconfig"
    assert cli_main(["apiserver", "--port", "0", "--kubeconfig", str(kubeconfig)]) == 2
    error = one_line_error(capsys)
    assert str(kubeconfig) in error
    assert f"the directory {kubeconfig.parent} does not exist" in error
    assert not (tmp_path / "missing").exists()


def test_cli_names_the_host_and_port_already_in_use(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        kubeconfig = tmp_path / "k"
        argv = ["apiserver", "--port", str(port), "--kubeconfig", str(kubeconfig)]
        assert cli_main(argv) == 1
    error = one_line_error(capsys)
    assert f"cannot listen on 127.0.0.1:{port}: the address is already in use" in error
    assert not kubeconfig.exists()


# -- the kubeconfig -------------------------------------------------------------------------------


@pytest.mark.parametrize("given", [
    pytest.param(False, id="temporary"),
    pytest.param(True, id="at-a-given-path"),
])
def test_the_kubeconfig_is_readable_and_writable_by_its_owner_only(
    tmp_path: Path, given: bool,
) -> None:
    with EmbeddedApiServer(kubeconfig=tmp_path / "new.kubeconfig" if given else None) as server:
        assert stat.S_IMODE(server.kubeconfig.stat().st_mode) == 0o600


def test_a_kubeconfig_in_a_missing_directory_is_refused_before_listening(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"the directory .*missing does not exist"):
        EmbeddedApiServer(kubeconfig=tmp_path / "missing" / "kubeconfig")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("port", [-1, 65536, True, "80"])
def test_a_port_that_is_no_port_is_refused_before_listening(port: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"port must be from 0 to 65535"):
        EmbeddedApiServer(port=port)


def test_an_existing_kubeconfig_is_rewritten_readable_by_its_owner_only(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "old.kubeconfig"
    kubeconfig.write_text("stale: true\n")
    kubeconfig.chmod(0o644)
    with EmbeddedApiServer(kubeconfig=kubeconfig) as server:
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
        assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == (
            server.url)


# -- on the test's own loop -----------------------------------------------------------------------


async def test_server_runs_on_the_running_loop_as_an_async_context_manager(
    tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "async.kubeconfig"
    timeout = aiohttp.ClientTimeout(total=WATCH_TIMEOUT)
    async with EmbeddedApiServer(kubeconfig=kubeconfig, bookmark_interval=0.2) as server, \
            aiohttp.ClientSession(base_url=server.url, timeout=timeout) as session:
        assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == (
            server.url)
        path = "/api/v1/namespaces/default/configmaps"
        async with session.post(path, json={"metadata": {"name": "a"}}) as response:
            assert response.status == 201
            created = await response.json()
        async with session.get(path) as response:
            listed = await response.json()
        assert listed["kind"] == "ConfigMapList"
        assert listed["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

        # A watch streams while this very loop also serves it.
        query = {"watch": "true", "resourceVersion": "0", "timeoutSeconds": "5",
                 "allowWatchBookmarks": "true"}
        async with session.get(path, params=query) as response:
            assert response.status == 200
            first = json.loads(await response.content.readline())
            bookmark = json.loads(await response.content.readline())
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
        assert bookmark["type"] == "BOOKMARK"
        url = server.url

    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{url}/version")
