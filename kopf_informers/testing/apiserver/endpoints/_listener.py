"""The listening socket of the embedded server, and the controls to pause and resume it.

Kept apart from the server object so that faults (``pause``, ``resume``, ``restart``) hold the
listener alone, not the server that owns it: a paused listener refuses connections (the port
stays bound by nobody), and every open connection and watch is closed.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from aiohttp import web

from ._watch import ActiveWatches


class Listener:
    """The server's socket on ``host:port`` (``port`` 0 picks one, kept across pauses)."""

    def __init__(self, *, host: str, port: int, watches: ActiveWatches,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.ssl_context = ssl_context  # HTTPS only when set: no plain port beside it
        self.port = port
        self._watches = watches
        self._runner: web.AppRunner | None = None
        self._servers: list[asyncio.Server] = []

    async def open(self, runner: web.AppRunner) -> None:
        """Listen for ``runner``'s application (on the running loop); learns the port."""
        self._runner = runner
        sock = self._bind()
        self.port = sock.getsockname()[1]
        await self._serve(sock)

    def close(self) -> None:
        """Refuse new connections and close every open one (on the server's loop)."""
        for listening in self._servers:
            listening.close()
        self._servers.clear()
        self._watches.end(abrupt=True)
        http = self._runner.server if self._runner is not None else None
        for protocol in list(http.connections if http is not None else ()):
            transport = protocol.transport
            protocol.force_close()
            if transport is not None:
                # A TLS transport's close() waits for the peer's close_notify, which a stopping
                # loop never sees: abort() closes the socket beneath it at once.
                if self.ssl_context is not None:
                    transport.abort()
                else:
                    transport.close()

    def reopen(self) -> None:
        """Listen again on the same port (on the server's loop)."""
        if self._servers or self._runner is None:
            return
        sock = self._bind()  # bound and listening now: connections queue until served
        asyncio.get_running_loop().create_task(self._serve(sock))

    def detach(self) -> None:
        self._runner = None

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except BaseException:
            sock.close()  # not left for the garbage collector to warn about
            raise
        sock.listen(512)
        sock.setblocking(False)
        return sock

    async def _serve(self, sock: socket.socket) -> None:
        assert self._runner is not None
        assert self._runner.server is not None
        server = await asyncio.get_running_loop().create_server(self._runner.server, sock=sock,
                                                               ssl=self.ssl_context)
        self._servers.append(server)
