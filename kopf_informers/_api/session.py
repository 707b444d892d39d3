"""The API client's connection: credentials, the aiohttp session, requests and their errors.

One :class:`Session` per :class:`~kopf_informers.ApiClient`. It runs the login when there are no
credentials yet, when they expire, and once after a 401 (then repeats the request once); it
keeps one aiohttp session per set of connection settings (server, TLS material, proxy), made on
the first request on the running loop; and it turns every answer into either a response to
read or a typed error of :mod:`kopf_informers.errors`, never letting an aiohttp exception out.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import kopf
import orjson
import yarl

from .._redaction import redact, redacted_cause
from ..errors import (
    ApiConnectionError,
    ApiError,
    CredentialsError,
    InvalidArgumentError,
    KopfInformersError,
)
from . import tracking
from .credentials import Login, is_expired
from .errors import RequestContext, connection_error, error_from_response

JSON = "application/json"

Obj = dict[str, Any]
Params = dict[str, str]
_SessionKey = tuple[object, ...]

logger = logging.getLogger("kopf_informers.api")  # one public name for the client


def default_user_agent() -> str:
    try:
        version = importlib.metadata.version("kopf-informers")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"kopf-informers/{version}"


class Session:
    """Credentials and an aiohttp session; not thread-safe, bound to the loop it starts on.

    Misuse is a ``RuntimeError``: a request after :meth:`close`, or from another event loop.
    """

    def __init__(
        self, *, login: Login, request_timeout: float, connect_timeout: float,
        user_agent: str | None,
    ) -> None:
        self._login = login
        self.connect_timeout = connect_timeout
        self._timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=connect_timeout)
        self._user_agent = user_agent or default_user_agent()
        self._info: kopf.ConnectionInfo | None = None
        self._generation = 0  # how many logins have run
        self._session: aiohttp.ClientSession | None = None
        self._session_key: _SessionKey | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._login_lock: asyncio.Lock | None = None
        self._closed = False
        self._streams: set[aiohttp.ClientResponse] = set()  # streamed answers being read now

    @property
    def info(self) -> kopf.ConnectionInfo | None:
        """The credentials of the last login, or None before the first one."""
        return self._info

    @property
    def closed(self) -> bool:
        return self._closed

    async def login_now(self) -> None:
        """Log in before any request (to fail early)."""
        self._info = await self.run_login(RequestContext("login", ""))
        self._generation += 1

    async def close(self) -> None:
        """Close the aiohttp session and every streamed answer being read. Idempotent."""
        self._closed = True
        for stream in list(self._streams):
            stream.close()  # the session's close leaves connections in use open
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def request_json(
        self, context: RequestContext, method: str, path: str, *, params: Params | None = None,
        body: Any = None, content_type: str = JSON,
    ) -> Obj:
        """Send ``body`` (if any) as JSON; return the answer's JSON object, or raise."""
        data: bytes | None = None
        if body is not None:
            try:
                data = orjson.dumps(body)
            except TypeError as e:  # orjson.JSONEncodeError
                raise InvalidArgumentError(f"{context.verb} {context.resource}: the body is not "
                                           f"JSON-serialisable: {e}") from e
        content_type_or_none = content_type if data is not None else None
        tracking.record_request(context)
        try:
            async with self.open(context, method, path, params=params, data=data,
                                 content_type=content_type_or_none) as response:
                raw = await response.read()
        except ApiError as e:
            tracking.record_failure(context, e.status)
            raise
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise ApiConnectionError(f"the server answered with a body that is not JSON: "
                                     f"{raw[:200]!r}", **context.fields()) from e
        if not isinstance(decoded, dict):
            raise ApiConnectionError(f"the server answered with JSON that is not an object: "
                                     f"{raw[:200]!r}", **context.fields())
        tracking.record_answer(context, decoded)
        return decoded

    @contextlib.asynccontextmanager
    async def open(
        self, context: RequestContext, method: str, path: str, *, params: Params | None = None,
        data: bytes | None = None, content_type: str | None = None,
        client_timeout: aiohttp.ClientTimeout | None = None, streaming: bool = False,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A successful response, its body unread; errors raised as typed errors.

        Errors of aiohttp raised while the caller reads the body (inside the ``async with``)
        become :class:`ApiConnectionError` too. A ``streaming`` answer is closed by
        :meth:`close`, so that its reader stops.
        """
        for attempt in (1, 2):
            session, info, generation = await self._connection(context)
            headers = info.as_http_headers()
            if content_type is not None:
                headers["Content-Type"] = content_type
            url = _url(info, path, authorized="Authorization" in headers)
            with _transport_errors(context, info):
                response = await session.request(
                    method, url, params=params, data=data, headers=headers,
                    proxy=info.proxy_url, timeout=client_timeout or self._timeout,
                )
            try:
                if response.status == 401 and attempt == 1:
                    logger.debug("%s: 401 Unauthorized; logging in again", context.resource)
                    await self._relogin(generation, context, unauthorized=True)
                    continue
                if response.status >= 400:
                    with _transport_errors(context, info):
                        raw = await response.read()
                    suffix = " (after logging in again)" if response.status == 401 else ""
                    raise error_from_response(
                        context, response.status, raw, suffix=suffix,
                        retry_after_header=response.headers.get("Retry-After"),
                    )
                if streaming:
                    self._streams.add(response)
                with _transport_errors(context, info):  # also while the caller reads
                    yield response
                return
            finally:
                self._streams.discard(response)
                if response.content.is_eof():
                    response.release()  # the connection goes back to the pool
                else:
                    response.close()  # a watch left early: this connection cannot be reused

    async def _connection(
        self, context: RequestContext,
    ) -> tuple[aiohttp.ClientSession, kopf.ConnectionInfo, int]:
        if self._closed:
            raise RuntimeError("the API client is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop, self._login_lock = loop, asyncio.Lock()
        elif self._loop is not loop:
            raise RuntimeError("the API client is used on another event loop than the one it "
                               "started on; make one client per event loop")
        if self._info is None or is_expired(self._info):
            await self._relogin(self._generation, context)
        assert self._info is not None
        session = await self._ensure_session(self._info)
        return session, self._info, self._generation

    async def _relogin(
        self, seen: int, context: RequestContext, *, unauthorized: bool = False,
    ) -> None:
        """Log in again, unless another request did since this one saw generation ``seen``."""
        assert self._login_lock is not None
        async with self._login_lock:
            if self._generation != seen:
                return
            self._info = await self.run_login(context)
            self._generation += 1
            info = self._info
            if unauthorized and (info.certificate_path or info.certificate_data):
                # A client certificate may be renewed in place (same path, new content).
                self._session_key = None

    async def run_login(self, context: RequestContext) -> kopf.ConnectionInfo:
        try:
            info = await self._login()
        except KopfInformersError:
            raise
        except Exception as e:
            raise CredentialsError(redact(f"{context.verb} {context.resource}: the login "
                                          f"failed: {type(e).__name__}: {e}")) \
                from redacted_cause(e)
        if not isinstance(info, kopf.ConnectionInfo):
            raise CredentialsError(f"the login returned {type(info).__name__}, "
                                   "not a kopf.ConnectionInfo")
        return info

    async def _ensure_session(self, info: kopf.ConnectionInfo) -> aiohttp.ClientSession:
        key = _session_key(info)
        if self._session is not None and self._session_key == key:
            return self._session
        old, self._session = self._session, self._new_session(info)
        self._session_key = key
        if old is not None:
            # New server or TLS material; requests still running on the old one will fail
            # with ApiConnectionError, which callers retry anyway.
            await old.close()
        return self._session

    def _new_session(self, info: kopf.ConnectionInfo) -> aiohttp.ClientSession:
        tls: ssl.SSLContext | bool = True
        if info.server.startswith("https:"):
            try:
                tls = info.as_ssl_context()
            except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
                raise CredentialsError(redact(f"the TLS settings for {info.server} do not "
                                              f"load: {e}")) from redacted_cause(e)
        # Watches hold a connection each for minutes: a pool limit would queue requests.
        connector = aiohttp.TCPConnector(ssl=tls, limit=0)
        return aiohttp.ClientSession(
            connector=connector, trust_env=info.trust_env,
            headers={"User-Agent": self._user_agent, "Accept": JSON},
            timeout=self._timeout,
        )


def _url(info: kopf.ConnectionInfo, path: str, *, authorized: bool) -> str | yarl.URL:
    """The request's URL; without the server URL's userinfo if an Authorization header is sent,
    as Go's HTTP client (so kubectl) does: aiohttp refuses the pair with a ValueError."""
    url = info.server.rstrip("/") + path
    if not authorized or "@" not in info.server:
        return url
    try:
        parsed = yarl.URL(url)
    except ValueError:
        return url  # malformed: aiohttp reports it as a ClientError, as any malformed URL
    return parsed.with_user(None) if parsed.raw_user is not None else parsed


def _session_key(info: kopf.ConnectionInfo) -> _SessionKey:
    return (info.server, info.ca_path, info.ca_data, info.insecure, info.certificate_path,
            info.certificate_data, info.private_key_path, info.private_key_data,
            info.proxy_url, info.trust_env)


@contextlib.contextmanager
def _transport_errors(context: RequestContext, info: kopf.ConnectionInfo) -> Iterator[None]:
    """aiohttp's and the OS's errors as :class:`ApiConnectionError`, showing no credentials:
    aiohttp's own may quote the whole URL, so it is chained only if it shows none."""
    try:
        yield
    except (aiohttp.ClientError, OSError) as e:  # OSError includes TimeoutError
        raise connection_error(context, info.server, e, proxy=info.proxy_url) \
            from redacted_cause(e)
