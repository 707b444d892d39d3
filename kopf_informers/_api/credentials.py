"""Credentials: where an API client's :class:`kopf.ConnectionInfo` comes from, and comes again.

A *login* is an async callable that returns a ``kopf.ConnectionInfo``. The client runs it before
its first request, again when the info's ``expiration`` has passed, and once more when the
server answers 401 (tokens rotate: projected service-account tokens, exec plugins, token files).
The sources:

* a given ``kopf.ConnectionInfo`` (:func:`static_login`): returned as it is, every time;
* a kubeconfig (:class:`KubeconfigLogin`), re-read at every login. The file is parsed here, not
  by ``kopf.login_with_kubeconfig``, because Kopf's function takes neither a path nor a context
  (it reads ``$KUBECONFIG`` and the current context only). Supported: several files merged as
  kubectl merges them (the first value wins), a chosen context, ``server``,
  ``certificate-authority[-data]``, ``insecure-skip-tls-verify``, ``proxy-url``,
  ``client-certificate[-data]`` and ``client-key[-data]``, ``token``, ``tokenFile``,
  ``username``/``password``, the context's ``namespace``; relative file paths are resolved
  against the kubeconfig that names them, as kubectl does. Users with an ``exec`` plugin (or an
  ``auth-provider``) are handed to the official ``kubernetes`` client's kubeconfig loader when
  it is installed — the same machinery ``kopf.login_via_client`` piggybacks on, called directly
  because ``kopf.login_via_client`` cannot take a path or a context, tries the in-cluster config
  first, reads ``$KUBECONFIG`` only once per process (at the official client's import) and
  replaces the official client's process-wide default configuration. Without the official
  client, an ``auth-provider``'s cached ``access-token`` is used as it is (as Kopf does), and an
  ``exec`` user is a :class:`~kopf_informers.errors.CredentialsError` that says what to install;
* the in-cluster service account, through Kopf's public ``kopf.login_with_service_account``.

:func:`autodetect_login` picks one the way Kopf's fallback logins do: the service account when
its token is mounted, else ``$KUBECONFIG``, else ``~/.kube/config``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import kopf
import yaml

from .._redaction import redact, redacted_cause
from ..errors import CredentialsError

Login = Callable[[], Awaitable[kopf.ConnectionInfo]]

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
DEFAULT_KUBECONFIG = "~/.kube/config"

logger = logging.getLogger("kopf_informers.api")  # one public name for the client


def static_login(info: kopf.ConnectionInfo) -> Login:
    """A login that always returns the same, given credentials."""
    if not isinstance(info, kopf.ConnectionInfo):
        raise CredentialsError(f"expected a kopf.ConnectionInfo, got {type(info).__name__}")

    async def login() -> kopf.ConnectionInfo:
        return info

    return login


async def service_account_login() -> kopf.ConnectionInfo:
    """The in-cluster service account (token, CA, namespace), via Kopf's own login function."""
    info = kopf.login_with_service_account(settings=kopf.OperatorSettings())
    if info is None:
        raise CredentialsError(
            f"not running in a cluster: no service account token at {SERVICE_ACCOUNT_TOKEN}"
        )
    return info


def autodetect_login() -> Login:
    """The login Kopf would use: in-cluster first, then ``$KUBECONFIG``, then ``~/.kube/config``.

    Raises:
        CredentialsError: none of them is there.
    """
    if os.path.exists(SERVICE_ACCOUNT_TOKEN):
        return service_account_login
    if os.environ.get("KUBECONFIG") or os.path.exists(os.path.expanduser(DEFAULT_KUBECONFIG)):
        return KubeconfigLogin()
    raise CredentialsError(
        f"no credentials found: no service account token at {SERVICE_ACCOUNT_TOKEN} (not in a "
        f"cluster), $KUBECONFIG is not set and {DEFAULT_KUBECONFIG} does not exist"
    )


def is_expired(info: kopf.ConnectionInfo, *, margin: float = 10.0) -> bool:
    """Whether the credentials expire within ``margin`` seconds (naive times are UTC)."""
    if info.expiration is None:
        return False
    expiration = info.expiration
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=datetime.UTC)
    now = datetime.datetime.now(datetime.UTC)
    return expiration - now <= datetime.timedelta(seconds=margin)


# -- kubeconfig -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Entry:
    """A named kubeconfig entry and the directory its relative paths are relative to."""

    value: Mapping[str, Any]
    base: Path

    def get(self, key: str) -> Any:
        return self.value.get(key)

    def path(self, key: str) -> str | None:
        value = self.value.get(key)
        if not value:
            return None
        return str(self.base / os.path.expanduser(str(value)))


@dataclasses.dataclass
class _Kubeconfig:
    paths: list[Path]
    current_context: str | None = None
    contexts: dict[str, _Entry] = dataclasses.field(default_factory=dict)
    clusters: dict[str, _Entry] = dataclasses.field(default_factory=dict)
    users: dict[str, _Entry] = dataclasses.field(default_factory=dict)


def kubeconfig_paths(path: str | os.PathLike[str] | None) -> list[Path]:
    """The files to read: the given one, or those in ``$KUBECONFIG``, or ``~/.kube/config``."""
    if path is not None:
        return [Path(os.path.expanduser(os.fspath(path)))]
    env = os.environ.get("KUBECONFIG", "")
    listed = [Path(os.path.expanduser(p.strip())) for p in env.split(os.pathsep) if p.strip()]
    if listed:
        existing = [p for p in listed if p.exists()]  # kubectl skips the missing ones
        if not existing:
            raise CredentialsError(f"none of the kubeconfigs in $KUBECONFIG exists: {env}")
        return existing
    default = Path(os.path.expanduser(DEFAULT_KUBECONFIG))
    if not default.exists():
        raise CredentialsError(f"no kubeconfig: $KUBECONFIG is not set and {default} "
                               "does not exist")
    return [default]


def _read(paths: list[Path]) -> _Kubeconfig:
    config = _Kubeconfig(paths)
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
            # A YAML error quotes the line it is on: the server URL, say, with a password.
            raise CredentialsError(redact(f"cannot read the kubeconfig {path}: {e}")) \
                from redacted_cause(e)
        if not isinstance(data, Mapping):
            raise CredentialsError(f"the kubeconfig {path} is not a YAML mapping")
        base = path.resolve().parent
        if config.current_context is None and data.get("current-context"):
            config.current_context = str(data["current-context"])
        for section, key, target in (("contexts", "context", config.contexts),
                                     ("clusters", "cluster", config.clusters),
                                     ("users", "user", config.users)):
            for item in data.get(section) or ():
                if isinstance(item, Mapping) and item.get("name") is not None:
                    value = item.get(key) or {}
                    target.setdefault(str(item["name"]), _Entry(value, base))
    return config


def _pick(
    config: _Kubeconfig, context: str | None,
) -> tuple[str, _Entry, _Entry, _Entry]:
    where = ", ".join(str(p) for p in config.paths)
    name = context or config.current_context
    if not name:
        raise CredentialsError(f"no context chosen and no current-context in {where}")
    if name not in config.contexts:
        known = ", ".join(sorted(config.contexts)) or "none"
        raise CredentialsError(f"no context {name!r} in {where}; the contexts are: {known}")
    ctx = config.contexts[name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in config.clusters:
        raise CredentialsError(f"context {name!r} names cluster {cluster_name!r}, "
                               f"which is not in {where}")
    cluster = config.clusters[cluster_name]
    if not cluster.get("server"):
        raise CredentialsError(f"cluster {cluster_name!r} in {where} has no server")
    user = config.users.get(str(user_name), _Entry({}, ctx.base))
    return name, ctx, cluster, user


class KubeconfigLogin:
    """A login from a kubeconfig, re-read on every call (so rotated credentials are picked up).

    The files are chosen when it is made (``path``, else ``$KUBECONFIG``, else
    ``~/.kube/config``) and parsed once right away, so a missing file or context fails early.

    Raises:
        CredentialsError: no kubeconfig, a malformed one, an unknown context, an exec plugin
            without the official client, or credentials that do not load.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, context: str | None = None,
    ) -> None:
        self.paths = kubeconfig_paths(path)
        self.context = context
        self.context_name = _pick(_read(self.paths), context)[0]

    async def __call__(self) -> kopf.ConnectionInfo:
        # Exec plugins run a command and files are read: keep the event loop free meanwhile.
        return await asyncio.to_thread(self.load)

    def load(self) -> kopf.ConnectionInfo:
        name, ctx, cluster, user = _pick(_read(self.paths), self.context)
        namespace = ctx.get("namespace") or None
        provider = user.get("auth-provider")
        if user.get("exec") or (provider and _has_official_client()):
            return self._load_via_official_client(name, user, namespace)
        token = user.get("token") or _read_token_file(user) or (
            ((provider or {}).get("config") or {}).get("access-token"))
        try:
            return kopf.ConnectionInfo(
                server=str(cluster.get("server")),
                ca_path=cluster.path("certificate-authority"),
                ca_data=cluster.get("certificate-authority-data"),
                insecure=cluster.get("insecure-skip-tls-verify"),
                proxy_url=cluster.get("proxy-url"),
                certificate_path=user.path("client-certificate"),
                certificate_data=user.get("client-certificate-data"),
                private_key_path=user.path("client-key"),
                private_key_data=user.get("client-key-data"),
                username=user.get("username"),
                password=user.get("password"),
                token=token or None,
                default_namespace=namespace,
            )
        except ValueError as e:  # both a path and the data of the same thing
            raise CredentialsError(f"context {name!r}: {e}") from e

    def _load_via_official_client(
        self, name: str, user: _Entry, namespace: str | None,
    ) -> kopf.ConnectionInfo:
        what = "an exec plugin" if user.get("exec") else "an auth-provider"
        try:
            import kubernetes.client
            import kubernetes.config
        except ImportError as e:
            command = (user.get("exec") or {}).get("command", "?")
            raise CredentialsError(
                f"context {name!r} authenticates with an exec plugin ({command!r}); running "
                "it needs the official client: pip install kubernetes"
            ) from e
        configuration = kubernetes.client.Configuration()
        loader: Any = kubernetes.config  # typed or not, depending on the installed version
        try:
            loader.load_kube_config(
                config_file=os.pathsep.join(str(p) for p in self.paths), context=name,
                client_configuration=configuration, persist_config=False,
            )
            # Calling the getter (not reading api_key) runs the refresh hook of plugins.
            header = configuration.get_api_key_with_prefix("BearerToken") \
                or configuration.get_api_key_with_prefix("authorization")
        except Exception as e:
            raise CredentialsError(redact(f"context {name!r}: {what} failed: {e}")) \
                from redacted_cause(e)
        scheme, _, token = str(header or "").partition(" ")
        if not token:  # a bare token, without a scheme
            scheme, token = "", scheme
        if not header:
            logger.warning("context %r: %s gave no token", name, what)
        return kopf.ConnectionInfo(
            server=str(configuration.host),
            ca_path=configuration.ssl_ca_cert or None,
            insecure=not configuration.verify_ssl,
            scheme=scheme or None,
            token=token or None,
            certificate_path=configuration.cert_file or None,
            private_key_path=configuration.key_file or None,
            proxy_url=configuration.proxy or None,
            default_namespace=namespace,
        )


def _read_token_file(user: _Entry) -> str | None:
    path = user.path("tokenFile")
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError as e:
        raise CredentialsError(f"cannot read the tokenFile {path}: {e}") from e


def _has_official_client() -> bool:
    try:
        import kubernetes.config  # noqa: F401
    except ImportError:
        return False
    return True
