"""A small admission webhook for tests: an aiohttp HTTPS server with a self-signed certificate,
answering each ``AdmissionReview`` with what the test's function returns, and remembering the
requests it got."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Review = dict[str, Any]
Respond = Callable[[Review], Awaitable[dict[str, Any]] | dict[str, Any]]


def self_signed(hostnames: list[str]) -> tuple[bytes, bytes]:
    """A self-signed certificate (PEM) for ``hostnames`` (DNS names or IPs), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    sans: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def allow(request: Review, **response: Any) -> dict[str, Any]:
    return {"uid": request["uid"], "allowed": True, **response}


def json_patch(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"patchType": "JSONPatch", "patch": base64.b64encode(json.dumps(ops).encode()).decode()}


class TestWebhook:
    """``async with TestWebhook(respond) as hook``: ``hook.url(path)``, ``hook.ca_bundle``,
    ``hook.reviews`` (the ``request`` of every review, in order), ``hook.port``."""

    __test__ = False

    def __init__(self, respond: Respond | None = None, *,
                 hostnames: tuple[str, ...] = ("localhost", "127.0.0.1")) -> None:
        self.respond = respond or (lambda request: allow(request))
        self.reviews: list[Review] = []
        self.paths: list[str] = []
        cert, key = self_signed(list(hostnames))
        self.ca_bundle = base64.b64encode(cert).decode()
        self._tmp = tempfile.TemporaryDirectory()
        certfile, keyfile = Path(self._tmp.name, "tls.crt"), Path(self._tmp.name, "tls.key")
        certfile.write_bytes(cert)
        keyfile.write_bytes(key)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(certfile, keyfile)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        review = await request.json()
        self.reviews.append(review["request"])
        self.paths.append(request.path_qs)
        response = self.respond(review["request"])
        if not isinstance(response, dict):
            response = await response
        return web.json_response({"apiVersion": "admission.k8s.io/v1",
                                  "kind": "AdmissionReview", "response": response})

    def url(self, path: str = "/") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> TestWebhook:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._tmp.cleanup()
