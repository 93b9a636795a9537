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


logger = logging.getLogger("service_finder.requests")


def malformed_request_body(request_id: str) -> bytes:
    problem = PROBLEM_TYPES["http-error"]
    document = {
        "type": problem.type,
        "title": problem.title,
        "status": 400,
        "detail": MALFORMED_HTTP,
        "instance": "",  # no path could be read
        "request_id": request_id,
    }
    return json.dumps(document).encode()


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        # `msg` is uvicorn's fixed "Invalid HTTP request received." (logged by uvicorn already): nothing of the
        # request is echoed, since nothing of it could be read.
        request_id = uuid.uuid4().hex
        body = malformed_request_body(request_id)
        # Logged with the id the answer gives, so a caller quoting it can be found (uvicorn's own line has none).
        token = request_id_var.set(request_id)
        try:
            logger.warning("request not valid HTTP/1.1: answered 400 and closed")
        finally:
            request_id_var.reset(token)
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/problem+json\r\n",
                b"x-content-type-options: nosniff\r\n",
                b"x-request-id: " + request_id.encode("ascii") + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

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
