"""A request the HTTP server cannot parse never reaches the app, so `service-finder serve` runs uvicorn with a
protocol that answers it as every other refusal is answered: a problem document, not a line of plain text."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session

from service_finder.api.http_protocol import OneWritePerTurn
from service_finder.storage import migrate, repository
from service_finder.storage.db import create_db_engine
from tests.faults.conftest import start_server, stop_server


def _key(url: str, *scopes: str) -> str:
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session:
        key = repository.create_api_key(session, name="editor", scopes=list(scopes), now=datetime.now(UTC))
        session.commit()
    engine.dispose()
    return key


def _raw_exchange(url: str, request: bytes) -> tuple[str, dict[str, str], bytes]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):  # the server closes the connection after a 400
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status, headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /v1/search?postcode=LS1 HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",  # a broken header line
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32) + b"\r\n\r\n",  # TLS sent to the plain port
    ],
    ids=["broken-header", "tls-to-plain-http"],
)
def test_a_request_that_is_not_http_gets_a_problem_document(tmp_path: Path, request_bytes: bytes) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "server.log")
    try:
        status, headers, body = _raw_exchange(server.url, request_bytes)
    finally:
        stop_server(server)
    assert status.startswith("HTTP/1.1 400")
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert (problem["status"], problem["type"].rsplit("/", 1)[-1]) == (400, "http-error")
    assert "not valid HTTP/1.1" in problem["detail"]
    assert int(headers["content-length"]) == len(body)
    # The headers every other problem carries (this one never passes the middleware that adds them).
    assert (headers["referrer-policy"], headers["cache-control"]) == ("no-referrer", "no-store")
    assert headers["content-security-policy"].startswith("default-src 'none'")
    # The id it gives is the one logged, so a caller who quotes it can be found.
    assert headers["x-request-id"] == problem["request_id"]
    logged = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines() if line.startswith("{")]
    assert any(line["request_id"] == problem["request_id"] for line in logged)


MANY_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 90) for i in range(800))
ENDLESS_HEADER = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70_000  # never ends


@pytest.mark.parametrize("request_bytes", [MANY_HEADERS, ENDLESS_HEADER], ids=["many-headers", "one-endless-header"])
def test_headers_over_64_kib_are_refused_431_and_a_big_body_is_not(tmp_path: Path, request_bytes: bytes) -> None:
    # httptools keeps whatever headers it is sent: a few connections each sending megabytes of them took a worker
    # from 384 to 879 MB, near the pod's 1 GiB limit.
    server = start_server(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "server.log")
    try:
        status, headers, body = _raw_exchange(server.url, request_bytes)
        # A body is not a header: 200 KB of JSON after ordinary headers, in the same packets, is read as usual.
        big = json.dumps({"postcode": "LS1 1UR", "needs": ["self_harm"], "pad": "x" * 200_000}).encode()
        post = httpx.post(f"{server.url}/v1/search", content=big, headers={"Content-Type": "application/json"})
    finally:
        stop_server(server)
    assert status.startswith("HTTP/1.1 431")
    problem = json.loads(body)
    assert (problem["status"], problem["type"].rsplit("/", 1)[-1]) == (431, "http-error")
    assert "64 KiB" in problem["detail"]
    assert headers["connection"] == "close"
    assert post.status_code == 400  # the unknown field 'pad', named: the body was read whole
    assert post.json()["field"] == "pad"


def _responses(stream: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """The HTTP/1.1 responses in `stream`, in order, each read to its content-length."""
    answers = []
    while stream:
        head, _, rest = stream.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = int(headers["content-length"])
        answers.append((status, headers, rest[:length]))
        stream = rest[length:]
    return answers


def test_pipelined_answers_arrive_whole_and_in_order(tmp_path: Path) -> None:
    # The protocol sends the writes of one turn of the event loop as one (OneWritePerTurn): the bytes of every
    # answer, and their order on a kept-alive connection, must be exactly uvicorn's, also for an answer larger
    # than what it holds back (the OpenAPI document, several hundred KB).
    server = start_server(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "server.log")
    try:
        document = httpx.get(f"{server.url}/openapi.json", timeout=10).content
        requests = [
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /v1/search?postcode=LS1%201UR HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /v1/search?age=-3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ]
        parts = urlsplit(server.url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
            connection.sendall(b"".join(requests))
            stream = b""
            while chunk := connection.recv(65536):  # the last request asks the server to close
                stream += chunk
    finally:
        stop_server(server)
    answers = _responses(stream)
    assert [status.split(" ")[1] for status, _, _ in answers] == ["200", "200", "200", "422"]
    assert json.loads(answers[0][2])["status"] == "ok"
    assert len(document) > OneWritePerTurn.FLUSH_BYTES
    assert answers[1][2] == document
    assert json.loads(answers[2][2])["query"]["location"]["postcode"] == "LS1 1UR"
    assert json.loads(answers[3][2])["field"] == "age"


def test_every_way_of_writing_keeps_the_order_the_bytes_were_written_in() -> None:
    # uvicorn only calls write() and close(), but a transport's writelines() or write_eof() reaching the real
    # transport directly would overtake the bytes still waiting for the end of the loop's turn.
    async def exchange() -> bytes:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=ours)
            joined = OneWritePerTurn(transport)
            joined.write(b"head;")
            joined.writelines([b"body;", bytearray(b"more;")])
            joined.write(memoryview(b"end"))
            joined.write_eof()
            theirs.setblocking(False)
            received = b""
            while chunk := await asyncio.get_running_loop().sock_recv(theirs, 1024):  # to the end of file
                received += chunk
            transport.close()
            return received

    assert asyncio.run(exchange()) == b"head;body;more;end"


def test_a_write_whose_body_stalls_gets_the_time_limit(tmp_path: Path) -> None:
    # Writes are not timed (a change must not be cut off half-way), and the key's scope is checked once the body is
    # read: a write trickling its body held a connection for as long as it liked. Its body is timed now.
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = _key(url, "read")  # any key: one that cannot write is only found out once the body is whole
    server = start_server(url, tmp_path / "server.log", SERVICE_FINDER_REQUEST_TIMEOUT_SECONDS="1")
    parts = urlsplit(server.url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as connection:
            head = (
                b"POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
                b"Authorization: Bearer " + key.encode() + b"\r\n"
            )
            connection.sendall(head + b"\r\n{")  # 1 byte of the 1,000 promised, and no more
            answer = b""
            while not answer.rstrip().endswith(b"}"):
                answer += connection.recv(65536)  # a socket timeout (5 s) fails the test
    finally:
        stop_server(server)
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 503")
    problem = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert problem["type"].rsplit("/", 1)[-1] == "request-timeout"


def _one_response(url: str, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """The first response to `request`, read to its content-length (the connection may be left open)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status, headers, body


def _length(answer: bytes) -> int:
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    return next((int(line.split(":")[1]) for line in head.split("\r\n") if line.startswith("content-length:")), 0)


def test_a_websocket_handshake_is_answered_as_http_and_nothing_of_it_is_logged(tmp_path: Path) -> None:
    # No route takes a WebSocket, but uvicorn's WebSocket handling answered the handshake itself and logged its
    # path and query string (a search's postcode, age and needs) and, at DEBUG, every header, an API key included.
    log = tmp_path / "server.log"
    server = start_server(f"sqlite:///{tmp_path / 'store.db'}", log, SERVICE_FINDER_LOG_LEVEL="DEBUG")
    handshake = (
        b"GET /v1/search?postcode=SW1A%201AA&age=15&needs=eating_disorder HTTP/1.1\r\nHost: x\r\n"
        b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )
    try:
        status, headers, body = _one_response(server.url, handshake + b"\r\n")
        keyed = _one_response(
            server.url, handshake + b"Authorization: Bearer sf_0123456789ab_" + b"k" * 43 + b"\r\n\r\n"
        )
    finally:
        stop_server(server)
    # Answered as the search it also is, by the app, with the headers every answer carries.
    assert status.startswith("HTTP/1.1 200")
    assert "safety_net" in json.loads(body)
    assert (headers["referrer-policy"], headers["cache-control"]) == ("no-referrer", "no-store")
    assert headers["x-request-id"]
    assert keyed[0].startswith("HTTP/1.1 401")  # a made-up key, refused as on any request
    assert keyed[1]["content-type"] == "application/problem+json"
    logged = log.read_text()
    for secret in ("SW1A", "eating_disorder", "age=15", "k" * 43, "WebSocket", "sec-websocket"):
        assert secret not in logged, f"{secret!r} appeared in the log"
