"""The HTTP/1.1 protocol `service-finder serve` runs uvicorn with: uvicorn's own (httptools), except that a request
it cannot parse is answered as every other refusal is, with a problem document, not a line of plain text.

Such a request never reaches the app (there is no method, path or header to route by), so no middleware or handler
can answer it: this is the one place that can.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service_finder.errors import PROBLEM_TYPES
from service_finder.observability import request_id_var

# For uvicorn.Config(http=...): an import string, so worker processes load it by name.
PROTOCOL = "service_finder.api.http_protocol:ProblemHttpToolsProtocol"
MALFORMED_HTTP = (
    "the request is not valid HTTP/1.1: its request line or headers could not be read, so the connection is closed"
)
# The request line and headers together (nginx's default is 4 buffers of 8 KiB): httptools holds whatever it is
# sent, so a client sending megabytes of headers on a few connections could run a worker out of memory.
MAX_HEAD_BYTES = 64 * 1024
HEAD_TOO_LARGE = (
    f"the request line and headers are larger than {MAX_HEAD_BYTES // 1024} KiB, so the connection is closed"
)


logger = logging.getLogger("service_finder.requests")


class HeadTooLarge(Exception):
    """Raised from a parser callback: httptools reports it as a parse error, answered 431 (send_400_response)."""


def malformed_request_body(request_id: str, *, status: int = 400, detail: str = MALFORMED_HTTP) -> bytes:
    problem = PROBLEM_TYPES["http-error"]
    document = {
        "type": problem.type,
        "title": problem.title,
        "status": status,
        "detail": detail,
        "instance": "",  # no path could be read
        "request_id": request_id,
    }
    return json.dumps(document).encode()


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    head_bytes = 0  # of the request being read, until its headers are complete
    head_open = True  # a request's head is being read (a new connection starts with one)
    head_too_large = False

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A chunk that left the head still open was all head: counted here too, so one endless header line (which
        # httptools buffers whole before any callback) is stopped as surely as a great many short ones.
        if self.head_open and not self.head_too_large and not self.transport.is_closing():
            self._count_head(len(data), raising=False)

    def on_message_begin(self) -> None:
        self.head_bytes, self.head_open = 0, True
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.head_open = False
        super().on_headers_complete()

    def _count_head(self, size: int, *, raising: bool = True) -> None:
        self.head_bytes += size
        if self.head_bytes <= MAX_HEAD_BYTES:
            return
        self.head_too_large = True
        if raising:
            raise HeadTooLarge
        self.send_400_response("head too large")

    def send_400_response(self, msg: str) -> None:
        # `msg` is uvicorn's fixed "Invalid HTTP request received." (logged by uvicorn already): nothing of the
        # request is echoed, since nothing of it could be read.
        request_id = uuid.uuid4().hex
        status, detail = (431, HEAD_TOO_LARGE) if self.head_too_large else (400, MALFORMED_HTTP)
        body = malformed_request_body(request_id, status=status, detail=detail)
        # Logged with the id the answer gives, so a caller quoting it can be found (uvicorn's own line has none).
        token = request_id_var.set(request_id)
        try:
            if self.head_too_large:
                logger.warning("request headers over %d bytes: answered 431 and closed", MAX_HEAD_BYTES)
            else:
                logger.warning("request not valid HTTP/1.1: answered 400 and closed")
        finally:
            request_id_var.reset(token)
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/problem+json\r\n",
                # As SecurityHeadersMiddleware sends with every problem: this answer never reaches it.
                b"x-content-type-options: nosniff\r\n",
                b"referrer-policy: no-referrer\r\n",
                b"content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n",
                b"cache-control: no-store\r\n",
                b"x-request-id: " + request_id.encode("ascii") + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

    def _unsupported_upgrade_warning(self) -> None:
        # Serving with ws="none" (cli.py), every upgrade (a WebSocket's, h2c) is answered as the plain HTTP request
        # it also is. uvicorn would warn twice for each, advising an operator to install a WebSocket library: noise
        # any client could fill the log with.
        pass

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = OneWritePerTurn(self.transport)  # type: ignore[assignment]


class OneWritePerTurn:
    """The connection's transport, with the writes of one turn of the event loop sent as one.

    uvicorn writes a response's head and its body separately, and on uvloop each write is a send(2) at once: two
    system calls and two segments for every answer, which the client reads twice. Joined, a search over HTTP costs
    about a tenth less CPU (benchmarks/README.md). The bytes and their order are unchanged; they leave when the
    request's task next yields to the loop, a few microseconds later. Past `FLUSH_BYTES` waiting they go at once,
    so a streamed response that never yields still meets the real transport's flow control.
    """

    FLUSH_BYTES = 64 * 1024

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending: list[bytes] = []
        self._size = 0
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= self.FLUSH_BYTES:
            self.flush()

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        for chunk in chunks:  # through the same queue: the real transport's would overtake what waits here
            self.write(chunk)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():  # the client went away: what it did not read is dropped, as before
            self._transport.write(data)

    def close(self) -> None:
        self.flush()  # an answer written just before closing (a 400, a keep-alive timeout) still leaves
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> object:
        # Everything else (is_closing, get_extra_info, pause_reading, ...) is the real transport's.
        return getattr(self._transport, name)
