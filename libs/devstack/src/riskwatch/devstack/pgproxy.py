"""A TCP proxy in front of PostgreSQL that can play a database which refuses connections.

Fault tests point the services at the proxy instead of the server. It passes bytes through
until `refuse()`: then it drops every connection it carries (each client sees its connection
reset, as after a server crash) and answers each new connection's startup with a PostgreSQL
ErrorResponse, SQLSTATE 57P03 by default ("the database system is not accepting
connections", what a server in crash recovery answers), and closes it, until
`pass_through()`. It runs its own event loop in a daemon thread, so blocking test code cannot
stall the database traffic of the services behind it. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from riskwatch.devstack._util import LOCALHOST, DevstackError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Request codes a client may send before its StartupMessage (protocol 3.0).
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CANCEL_REQUEST = 80877102
_MAX_STARTUP = 10_000  # PostgreSQL's own limit on a startup packet
_CHUNK = 64 * 1024
CANNOT_CONNECT_NOW = "57P03"
NOT_ACCEPTING = "the database system is not accepting connections"


def error_response(sqlstate: str, message: str, severity: str = "FATAL") -> bytes:
    """A protocol-3 ErrorResponse ('E') with severity, SQLSTATE and message fields."""
    fields = b"".join(
        tag + value.encode() + b"\0"
        for tag, value in ((b"S", severity), (b"V", severity), (b"C", sqlstate), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack(">i", len(body) + 4) + body


@dataclass
class ProxyStats:
    """What the proxy did since it started."""

    connections: int = 0  # accepted while passing through
    upstream_failures: int = 0  # passing through, but the server did not accept
    dropped: int = 0  # connections cut by refuse()
    refused: int = 0  # startups answered with the ErrorResponse


class _Pipe:
    """One client connection and its server connection."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server

    def abort(self) -> None:
        # abort(), not close(): no FIN after pending data, a reset now, as a crash looks.
        for writer in (self.client, self.server):
            writer.transport.abort()


class PgFaultProxy:
    """Forward 127.0.0.1:`port` to 127.0.0.1:`upstream_port`; see the module docstring."""

    def __init__(self, upstream_port: int, *, port: int = 0, host: str = LOCALHOST) -> None:
        self.upstream_port = upstream_port
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._pipes: set[_Pipe] = set()
        self._refusal: tuple[str, str] | None = None  # (sqlstate, message) while refusing
        self.stats = ProxyStats()

    # -- public, thread-safe --------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            if self._requested_port:  # known before the start: services can be told it
                return self._requested_port
            raise DevstackError("the proxy is not started")
        return self._port

    @property
    def refusing(self) -> bool:
        return self._refusal is not None

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@{self.host}:{self.port}/{database}"

    def start(self) -> None:
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="pg-proxy", daemon=True)
        self._thread.start()
        try:
            self._server = self._call(self._listen())
        except BaseException:
            self.stop()
            raise
        log.info("PostgreSQL proxy on %s:%s -> %s", self.host, self._port, self.upstream_port)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._close(), timeout=10.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
        loop.close()
        self._loop = self._thread = self._server = None

    def refuse(self, sqlstate: str = CANNOT_CONNECT_NOW, message: str = NOT_ACCEPTING) -> int:
        """Drop every connection now and refuse new ones; how many were dropped."""
        self._refusal = (sqlstate, message)
        return self._call(self._drop_all())

    def pass_through(self) -> None:
        """Forward new connections to the server again."""
        self._refusal = None

    def __enter__(self) -> PgFaultProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def drop_connections(self) -> int:
        """Reset every connection carried now (new ones still pass); how many there were."""
        return self._call(self._drop_all())

    # -- internals (on the proxy's loop) ---------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        if self._loop is None:
            coro.close()
            raise DevstackError("the proxy is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _listen(self) -> asyncio.Server:
        server = await asyncio.start_server(
            self._accept, self.host, self._requested_port, reuse_address=True
        )
        self._port = int(server.sockets[0].getsockname()[1])
        return server

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._drop_all()
        # The connections' tasks end with their sockets; none is left pending on the loop.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _drop_all(self) -> int:
        pipes = list(self._pipes)
        self._pipes.clear()
        for pipe in pipes:
            pipe.abort()
        self.stats.dropped += len(pipes)
        return len(pipes)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            refusal = self._refusal
            if refusal is not None:
                await self._refuse(reader, writer, *refusal)
                return
            await self._forward(reader, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            writer.transport.abort()

    async def _refuse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        sqlstate: str,
        message: str,
    ) -> None:
        """Read the startup (declining SSL/GSS encryption first), answer the error, close."""
        async with asyncio.timeout(10.0):
            while True:
                (length,) = struct.unpack(">i", await reader.readexactly(4))
                if not 8 <= length <= _MAX_STARTUP:
                    break
                payload = await reader.readexactly(length - 4)
                (code,) = struct.unpack(">i", payload[:4])
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    writer.write(b"N")  # no encryption here: the client goes on in plain text
                    await writer.drain()
                    continue
                if code == _CANCEL_REQUEST:
                    break  # a cancel gets no answer, only the close
                writer.write(error_response(sqlstate, message))
                await writer.drain()
                self.stats.refused += 1
                break
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(LOCALHOST, self.upstream_port), 10.0
            )
        except (OSError, TimeoutError):
            # The server is down: the client sees its connection cut, the nearest a proxy
            # can come to the refused connection it would get from the server's own port.
            self.stats.upstream_failures += 1
            writer.transport.abort()
            return
        pipe = _Pipe(writer, up_writer)
        if self._refusal is not None:  # refuse() ran while we were connecting
            pipe.abort()
            return
        self._pipes.add(pipe)
        self.stats.connections += 1
        try:
            await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
        finally:
            self._pipes.discard(pipe)
            pipe.abort()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF or error, then half-close (or drop) the other side."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        writer.transport.abort()
