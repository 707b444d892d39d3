"""The server's certificates: a CA made at start, the serving certificate, the admin's.

kube-apiserver serves HTTPS with a certificate its clients verify against the cluster's CA
(the kubeconfig's ``certificate-authority-data``) and authenticates a client certificate that
CA signed as the user its subject names: the common name is the user, each organization a
group (``x509.CommonNameUserConversion``). kubeadm's ``admin.conf`` carries such a certificate
for ``kubernetes-admin`` in ``system:masters``. Here ``trustme`` makes all of them in memory at
start, nothing is written but the kubeconfig, and no ``openssl`` runs.

The serving context asks for a client certificate but does not require one (Go's
``VerifyClientCertIfGiven``): tokens and anonymous requests come in over TLS too.
"""

from __future__ import annotations

import base64
import dataclasses
import ssl
from collections.abc import Mapping
from typing import Any

from ._user import AUTHENTICATED, UserInfo

SERVER_NAMES = ("localhost", "127.0.0.1", "::1", "kubernetes", "kubernetes.default",
                "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")


@dataclasses.dataclass(frozen=True)
class ClientCredentials:
    """A client certificate and its key, PEM, as a kubeconfig's ``client-*-data`` carry them."""

    certificate: bytes
    key: bytes

    def kubeconfig_user(self) -> dict[str, str]:
        return {"client-certificate-data": base64.b64encode(self.certificate).decode(),
                "client-key-data": base64.b64encode(self.key).decode()}


class ServerCertificates:
    """One server's CA, its serving certificate for ``host`` (and the usual names), and the
    client certificates it issues."""

    def __init__(self, host: str) -> None:
        try:
            import trustme  # only servers with TLS need it: the `testing` extra
        except ImportError as e:  # pragma: no cover - an installation without the extra
            raise RuntimeError("the embedded API server's TLS needs trustme: "
                               "pip install 'kopf-informers[testing]'") from e
        self._ca = trustme.CA(organization_name="kopf-informers embedded apiserver")
        names = SERVER_NAMES if host in SERVER_NAMES else (host, *SERVER_NAMES)
        self._serving = self._ca.issue_cert(*names, common_name="kube-apiserver")

    @property
    def ca_pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    def issue_client(self, user: str, groups: tuple[str, ...] = ()) -> ClientCredentials:
        """A client certificate for ``user`` in ``groups`` (one group: trustme writes one O)."""
        # A name for the SAN extension only: Go refuses an empty one, and users are no hosts.
        cert = self._ca.issue_cert("client.kopf-informers.invalid", common_name=user,
                                   organization_name=groups[0] if groups else None)
        return ClientCredentials(certificate=cert.cert_chain_pems[0].bytes(),
                                 key=cert.private_key_pem.bytes())

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._serving.configure_cert(context)
        self._ca.configure_trust(context)
        context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def client_context(self) -> ssl.SSLContext:
        """A context that trusts this server (for tests that speak to it directly)."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context


def user_of_certificate(peercert: Mapping[str, Any] | None) -> UserInfo | None:
    """The user a verified client certificate names (``ssl`` gives verified ones only): its
    common name, in its organizations and ``system:authenticated``."""
    if not peercert:
        return None
    names: list[str] = []
    groups: list[str] = []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                names.append(value)
            elif key == "organizationName":
                groups.append(value)
    if not names:
        return None
    return UserInfo(names[0], groups=(*groups, AUTHENTICATED))
