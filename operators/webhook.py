"""The webhook operator: a CRD, its admission webhooks and its controller, in one file.

Run it with ``kopf run operators/webhook.py`` after applying ``operators/webhook-crd.yaml``.

A ``Greeting`` (namespaced, ``webhook.kopf-informers.dev/v1``) says ``spec.salutation`` to
``spec.to``. The operator:

- validates it (``@kopf.on.validate``): a Greeting without ``spec.to`` is refused, and the
  client (kubectl, the official client) sees the handler's message,
  ``admission webhook "validate-greeting.webhook.kopf-informers.dev" denied the request:
  spec.to must name someone to greet``;
- defaults it (``@kopf.on.mutate``): a missing ``spec.salutation`` becomes ``Hello``;
- reconciles it (``@kopf_informers.reconcile``): a ConfigMap ``<name>-greeting`` that it
  controls holds ``greeting: "<salutation>, <to>!"``, made again if deleted, and kept in step.

Kopf serves the webhooks itself (``kopf.WebhookServer``, HTTPS with a self-signed certificate)
and manages the ``MutatingWebhookConfiguration`` and ``ValidatingWebhookConfiguration`` named
``webhook.kopf-informers.dev`` (``settings.admission.managed``), with the certificate as their
``caBundle``. The certificate is made here (with ``cryptography``) rather than by Kopf, whose own
self-signing needs ``certbuilder``/``oscrypto`` (which fail to load with OpenSSL 3).

Where it is served, from the environment (the chart, ``charts/webhook-operator``, sets them):

- ``WEBHOOK_HOST``: the name the API server calls, and the certificate's; default ``127.0.0.1``
  (an operator run beside the API server: the embedded server, a local cluster);
- ``WEBHOOK_ADDR``: the address to listen on; default ``WEBHOOK_HOST`` (``0.0.0.0`` in a pod);
- ``WEBHOOK_PORT``: the port to listen on; default a free one;
- ``WEBHOOK_CERT_DIR``: where the certificate and key are written (``tls.crt``, ``tls.key``);
  default a temporary directory (in a pod: an ``emptyDir``, the root filesystem is read-only);
- ``WEBHOOK_SERVICE``: ``<namespace>/<name>`` of a Service in front of the server (port 443):
  the webhook configurations then name that Service (``clientConfig.service``) rather than a
  URL, as an API server in a cluster cannot resolve a Service's DNS name itself; the
  certificate names ``<name>.<namespace>.svc``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf

import kopf_informers
from kopf_informers import ApiClient

GROUP, VERSION, PLURAL = "webhook.kopf-informers.dev", "v1", "greetings"
GREETINGS = f"{GROUP}/{VERSION}/{PLURAL}"
CONFIGMAPS = "v1/configmaps"
DEFAULT_SALUTATION = "Hello"

configmaps = kopf_informers.shared_informer(CONFIGMAPS)


def self_signed_certificate(hostnames: list[str], directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``hostnames`` (DNS names or IPs) and its key, as files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    sans: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = directory / "tls.crt", directory / "tls.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    keyfile.chmod(0o600)
    return certfile, keyfile


class ServiceWebhookServer(kopf.WebhookServer):
    """Kopf's HTTPS server, but its webhook configurations name a Service (port 443), not a
    URL: the API server reaches the pods through it."""

    def __init__(self, *, service_namespace: str, service_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service_namespace, self.service_name = service_namespace, service_name

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        async for config in super().__call__(fn):
            yield {"caBundle": config["caBundle"],
                   "service": {"namespace": self.service_namespace, "name": self.service_name,
                               "port": 443, "path": self.path or ""}}


@kopf.on.startup(id="webhook-server")
def configure_webhooks(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    host = os.environ.get("WEBHOOK_HOST", "127.0.0.1")
    addr = os.environ.get("WEBHOOK_ADDR", host)
    port = int(os.environ.get("WEBHOOK_PORT") or 0) or None
    namespace, _slash, name = os.environ.get("WEBHOOK_SERVICE", "").partition("/")
    hostnames = [host, "localhost", "127.0.0.1"]
    if name:
        hostnames.insert(0, f"{name}.{namespace}.svc")
    if os.environ.get("WEBHOOK_CERT_DIR"):
        directory = Path(os.environ["WEBHOOK_CERT_DIR"])
    else:
        memo.tls_dir = tempfile.TemporaryDirectory(prefix="webhook-operator-")
        directory = Path(memo.tls_dir.name)
    certfile, keyfile = self_signed_certificate(list(dict.fromkeys(hostnames)), directory)
    tls: dict[str, Any] = {"addr": addr, "host": host, "port": port,
                           "certfile": str(certfile), "pkeyfile": str(keyfile)}
    settings.admission.server = (
        ServiceWebhookServer(service_namespace=namespace, service_name=name, **tls) if name
        else kopf.WebhookServer(**tls))
    settings.admission.managed = GROUP


@kopf.on.validate(GROUP, VERSION, PLURAL, id="validate-greeting",
                  operations=["CREATE", "UPDATE"])
def validate_greeting(spec: Any, **_: Any) -> None:
    to = spec.get("to")
    if not isinstance(to, str) or not to.strip():
        raise kopf.AdmissionError("spec.to must name someone to greet", code=422)


@kopf.on.mutate(GROUP, VERSION, PLURAL, id="default-greeting", operations=["CREATE", "UPDATE"])
def default_greeting(spec: Any, patch: kopf.Patch, **_: Any) -> None:
    if not spec.get("salutation"):
        patch.spec["salutation"] = DEFAULT_SALUTATION


def greeting_text(greeting: Any) -> str:
    spec = greeting.get("spec") or {}
    return f"{spec.get('salutation') or DEFAULT_SALUTATION}, {spec.get('to')}!"


@kopf_informers.reconcile(GREETINGS, owns=[CONFIGMAPS], id="greeting")
async def reconcile_greeting(name: str, namespace: str, body: Any, api: ApiClient, logger: Any,
                             **_: Any) -> None:
    child = f"{name}-greeting"
    data = {"greeting": greeting_text(body)}
    current = configmaps.lister.get(child, namespace)  # the cache: no GET
    if current is None:
        configmap = kopf_informers.set_controller_reference(body, {
            "apiVersion": "v1", "kind": "ConfigMap", "data": data,
            "metadata": {"name": child, "namespace": namespace}})
        await api.create(CONFIGMAPS, configmap, namespace=namespace)
        logger.info("created its ConfigMap %s", child)
    elif not kopf_informers.is_owned_by(current, body, controller=True):
        logger.warning("ConfigMap %s exists and is not this Greeting's: left alone", child)
    elif current.get("data") != data:
        await api.patch(CONFIGMAPS, child, {"data": data}, namespace=namespace)
        logger.info("updated its ConfigMap %s", child)
