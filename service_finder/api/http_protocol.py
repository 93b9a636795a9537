"""The HTTP/1.1 protocol `service-finder serve` runs uvicorn with: uvicorn's own (httptools), except that a request
it cannot parse is answered as every other refusal is, with a problem document, not a line of plain text.

Such a request never reaches the app (there is no method, path or header to route by), so no middleware or handler
can answer it: this is the one place that can.
"""

from __future__ import annotations

import json
import logging
import uuid

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
