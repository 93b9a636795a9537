"""Request limits as pure ASGI middleware: body size (413), content negotiation (406), rate limits (429), time (503).

Each answers with the same RFC 9457 problem+json the handlers use, without building a Request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_finder.api.auth import ANONYMOUS, Caller, presented_key
from service_finder.api.middleware import asked_path, is_search_path
from service_finder.api.problems import MAX_ECHO_DEPTH, search_safety_net, sendable
from service_finder.errors import (
    PROBLEM_TYPES,
    URGENT_HELP,
    ProblemType,
    ServiceFinderError,
    Unauthorised,
    quoted,
)
from service_finder.interop.fhir import FHIR_JSON, error_outcome, is_fhir_path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
logger = logging.getLogger("service_finder.api")


async def send_problem(
    scope: Scope,
    send: Send,
    problem: ProblemType,
    *,
    detail: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
    **extra: Any,
) -> None:
    state = scope.get("state", {})
    media_type = b"application/problem+json"
    status, title = problem.status, problem.title
    document: dict[str, Any] = {
        "type": problem.type,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": asked_path(scope),
        "request_id": state.get("request_id"),
        **extra,
    }
    if is_search_path(scope.get("path", "")) and "safety_net" not in extra:
        # Whatever refused a search (size, media type, Accept, rate, time), the person still gets numbers to call.
        document["safety_net"] = search_safety_net(scope["app"])
    if is_fhir_path(scope.get("path", "")):  # a FHIR client reads only FHIR
        document, media_type = error_outcome(status, title, detail), FHIR_JSON.encode()
    # Strict JSON, as every other error path sends: an echoed value may be NaN or infinite (`{"age": NaN}`).
    body = json.dumps(sendable(document), allow_nan=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def all_lines(scope: Scope, name: bytes) -> str | None:
    """A list-valued header sent as several lines, as the one list they make (RFC 9110 5.3: in order, joined by
    commas); None when it was not sent. A dict of the headers keeps only the last line: `Accept: application/json`
    then `Accept: text/html` was read as text/html alone, and refused 406."""
    lines = [value.decode("latin-1") for key, value in scope["headers"] if key == name]
    return ", ".join(lines) if lines else None


def first_line(scope: Scope, name: bytes) -> bytes | None:
    """A single-valued header as the app reads it (Starlette's Headers.get): its first line, so the checks here
    judge the Content-Type the app then parses by."""
    return next((value for key, value in scope["headers"] if key == name), None)


class BodyTooLarge(Exception):
    pass


def _is_json(media: bytes) -> bool:
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


# Nesting deeper than this is refused as unreadable: far beyond any record (a catchment's MultiPolygon is 8 deep),
# and well within what the app's own parser reads, deeper in the stack (it would fail with a bare 400 near 1,000).
MAX_BODY_DEPTH = 512


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its parser met it, key by key: a dict would keep only the last of a key given twice."""


class _LongInteger(str):
    """The digits of a JSON integer longer than Python reads (4,300 digits): a number no parameter can take."""


def _integer(digits: str) -> int | _LongInteger:
    try:
        return int(digits)
    except ValueError:
        return _LongInteger(digits)


# What the walk below looks into or at: numbers, text, true, false and null need nothing more.
_READ_FURTHER = (_Pairs, list, _LongInteger)


def _path(parts: tuple[str | int, ...]) -> str:
    # As the app names a body field: ('locations', 0, 'postcode') -> 'locations.0.postcode'
    return ".".join(str(part) for part in parts)


def _plain(value: Any, depth: int = 0) -> Any:
    """A parsed value as the app would read it (an object's last value for a key wins), to echo in a problem."""
    if isinstance(value, _Pairs | list) and depth >= MAX_ECHO_DEPTH:
        return "… (nested too deeply to repeat)"
    if isinstance(value, _Pairs):
        return {key: _plain(item, depth + 1) for key, item in value}
    if isinstance(value, list):
        return [_plain(item, depth + 1) for item in value]
    return str(value) if isinstance(value, _LongInteger) else value


def _body_problem(body: bytes) -> dict[str, Any] | None:
    """What stops the app reading this JSON body as the caller meant it, as `send_problem`'s arguments; None when
    nothing does. Read here, once, whole, as the app would read it: a body that is empty, not UTF-8 (a byte order
    mark too: the app's parser would quietly read UTF-16 or UTF-32, which the documentation refuses) or not JSON is
    400 malformed-body saying where it breaks; an object that names a key twice (a parser keeps the last, so
    `{"age": 3, "age": 40}` would be answered for 40 where `age=3&age=40` is refused) and an integer too long to
    read are 422 naming the field; nesting too deep is 400 (it would otherwise reach the caller as a bare 400
    "error parsing the body", or a wrong answer)."""
    unreadable: dict[str, Any] = {"problem": PROBLEM_TYPES["malformed-body"], "field": "body", "value": None}
    if not body:
        return {**unreadable, "detail": "the body is empty: send the request as a JSON object"}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return {
            **unreadable,
            "detail": f"the body is not UTF-8 (byte 0x{error.object[error.start]:02x} at position {error.start}): "
            "send JSON as UTF-8",
        }
    if text.startswith("\ufeff"):
        return {**unreadable, "detail": "the body starts with a byte order mark (U+FEFF): send UTF-8 without one"}
    try:
        document = json.loads(text, object_pairs_hook=_Pairs, parse_int=_integer)
    except RecursionError:
        return {**unreadable, "detail": _too_deep()}
    except json.JSONDecodeError as error:  # in the words the app's own handler uses for it (api/problems.py)
        return {**unreadable, "detail": f"the body is not valid JSON at character {error.pos}: {error.msg}"}
    # Depth first, in the order the body gives them, without recursion (the stack is what deep nesting exhausts).
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        parts, value = stack.pop()
        # An array or object inside `len(parts)` others is that many plus one deep: `[]` is 1, `{"needs": []}` 2.
        if isinstance(value, _Pairs | list) and len(parts) >= MAX_BODY_DEPTH:
            return {**unreadable, "detail": _too_deep()}
        if isinstance(value, _LongInteger):
            field = _path(parts) or "body"
            return {
                "problem": PROBLEM_TYPES["invalid-parameter"],
                "detail": f"{field}: a number {len(value.lstrip('-'))} digits long is too large for any parameter",
                "field": field,
                "value": value if len(value) <= 200 else value[:197] + "...",
            }
        if isinstance(value, _Pairs):
            seen: dict[str, Any] = {}
            for key, item in value:
                if key in seen:
                    field = _path((*parts, key))
                    values = [_plain(seen[key]), _plain(item)]
                    return {
                        "problem": PROBLEM_TYPES["invalid-parameter"],
                        "detail": f"{quoted(field)} is given more than once in the body "
                        f"({', '.join(map(quoted, values))}): give it once",
                        "field": field,
                        "value": values,
                    }
                seen[key] = item
            stack.extend(((*parts, key), item) for key, item in reversed(value) if isinstance(item, _READ_FURTHER))
        elif isinstance(value, list):
            stack.extend(
                ((*parts, position), item)
                for position, item in reversed(list(enumerate(value)))
                if isinstance(item, _READ_FURTHER)
            )
    return None


def _too_deep() -> str:
    return f"the body nests arrays and objects more than {MAX_BODY_DEPTH} deep: it cannot be read"


# A search's body (under 1 KiB) is checked on the event loop, where a thread's hand-off would cost more than the
# check (about 2 ms at this size); a larger one in a worker thread, at most CHECKS_AT_ONCE at a time.
INLINE_CHECK_BYTES = 4 * 1024
CHECKS_AT_ONCE = 2


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` (413), whether or not Content-Length tells the truth, and bodies that
    say they are not JSON (415)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._checks = anyio.CapacityLimiter(CHECKS_AT_ONCE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = first_line(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        media = (first_line(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        # A form sent to a page (method="post") is answered by the page, as HTML a person can use; its body is never
        # read there, so only its size is checked (below).
        to_api = scope["method"] in {"POST", "PUT", "PATCH"} and scope.get("path") not in PAGE_FORM_PATHS
        if to_api and media and not _is_json(media):
            # Every body this service takes is JSON; anything else would be read as a JSON value and fail with a
            # confusing 422 ("input should be a valid dictionary"). curl -d sends form encoding unless told.
            await _unsupported(scope, send, media.decode("latin-1"))
            return
        coding = (first_line(scope, b"content-encoding") or b"identity").strip().lower()
        if to_api and coding != b"identity":
            # Nothing here decompresses a body: a gzipped one was read as text, and refused as "not UTF-8 (byte 0x8b
            # at position 1)". RFC 9110 15.5.16: 415, with Accept-Encoding saying which coding is taken.
            await _uncompressed_only(scope, send, coding.decode("latin-1"))
            return
        if to_api:
            await self._whole_body(scope, receive, send, declared_json=bool(media))
            return
        received = 0
        started = too_large = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if too_large:
                # FastAPI catches what receive raised while it reads a body and answers 400 "error parsing the
                # body" (a chunked body has no Content-Length to refuse it by): that answer is dropped, the 413 goes.
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(BodyTooLarge):  # answered below, once the app has let go
            await self.app(scope, counting_receive, tracking_send)
        if too_large and not started:
            await self._refuse(scope, send)

    async def _whole_body(self, scope: Scope, receive: Receive, send: Send, *, declared_json: bool) -> None:
        """A body the app will read is read here first, whole (its size is checked as it arrives, so a chunked
        body with no Content-Length is refused as surely), then handed on unchanged. Read whole, a JSON object
        that names one key twice is refused naming both values: a parser keeps the last, so `{"age": 3,
        "age": 40}` would be answered for 40 where the query string `age=3&age=40` is refused."""
        chunks: list[bytes] = []
        size = 0
        ended: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":
                ended = message  # the client went away: the app hears it after the body read so far
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and not declared_json:
            # A body that does not say what it is is not read as JSON by the app (it would be refused with a
            # misleading 422, "input should be a valid dictionary", for a body that is one).
            await _unsupported(scope, send, None)
            return
        # No body and no Content-Type is a request without one (the app says what it needs); an empty one that says
        # it is JSON is not JSON.
        problem = await self._check(body) if body or declared_json else None
        if problem is not None:
            await send_problem(scope, send, **problem)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return ended if ended is not None else await receive()

        await self.app(scope, replay, send)

    async def _check(self, body: bytes) -> dict[str, Any] | None:
        if len(body) <= INLINE_CHECK_BYTES:
            return _body_problem(body)
        # Reading a 1 MiB body key by key takes about half a second: on the event loop, every other request of the
        # process (probes, searches) would wait for it. A few at once, so a burst of them cannot take every core.
        return await anyio.to_thread.run_sync(_body_problem, body, limiter=self._checks)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await send_problem(
            scope,
            send,
            PROBLEM_TYPES["payload-too-large"],
            detail=f"request bodies are limited to {self.max_bytes} bytes",
        )


async def _unsupported(scope: Scope, send: Send, media: str | None) -> None:
    """415 for a body that says it is not JSON (`media`), or does not say what it is (None)."""
    await send_problem(
        scope,
        send,
        PROBLEM_TYPES["unsupported-media-type"],
        detail=(
            f"Content-Type {quoted(media)} is not JSON: send Content-Type: application/json"
            if media is not None
            else "the body has no Content-Type: send Content-Type: application/json"
        ),
        field="Content-Type",
        value=media,
    )


async def _uncompressed_only(scope: Scope, send: Send, coding: str) -> None:
    await send_problem(
        scope,
        send,
        PROBLEM_TYPES["unsupported-media-type"],
        detail=f"Content-Encoding {quoted(coding)} is not taken: send the body uncompressed",
        headers=[(b"accept-encoding", b"identity")],
        field="Content-Encoding",
        value=coding,
    )


WRITTEN_PATH = "/v1/services"
# As api/auth.py: require_write says it to a write that sends no key.
WRITE_NEEDS_KEY = (
    "changing the directory needs an API key with the 'write' scope, sent as 'Authorization: Bearer <key>' "
    "or 'X-API-Key: <key>'"
)


def is_write(method: str, path: str) -> bool:
    """A request that changes the directory (the editor's POST, PUT, PATCH and DELETE under /v1/services)."""
    written = path == WRITTEN_PATH or path.startswith(WRITTEN_PATH + "/")
    return written and method in {"POST", "PUT", "PATCH", "DELETE"}


def is_editing(method: str, path: str) -> bool:
    """One of the editor's operations (routes/editor.py): POST /v1/services, or PUT, PATCH or DELETE of
    /v1/services/{service_id}. Any other method or path there is the router's 404 or 405, key or no key."""
    if path == WRITTEN_PATH:
        return method == "POST"
    service_id = path.removeprefix(WRITTEN_PATH + "/")
    return service_id not in {"", path} and "/" not in service_id and method in {"PUT", "PATCH", "DELETE"}


def time_limited(method: str, path: str) -> bool:
    """Whether TimeLimitMiddleware times this request. Its 503 can reach the caller only while the request waits
    with the event loop free: for a thread-pool handler or dependency, or for a body still arriving. A handler that
    computes on the event loop (GET /v1/search, the probes: milliseconds each, bounded by design) is never
    interrupted, and its answer starts before the timer could fire (api/docs.py documents the 503 accordingly)."""
    return not is_write(method, path)


class TimeLimitMiddleware:
    """A request not answered within `seconds` gets 503 problem+json with Retry-After, and the process moves on.

    A timer on the event loop, not a task per request (a task group per request cost about 55 µs, 6 % of a
    search over HTTP): when it fires before the response has started, it sends the 503 from a task of its own, so
    the caller gets it on time even when the handler is a plain `def` blocked in the thread pool, and cancels the
    handler. A thread cannot be interrupted: it finishes in the background and its late answer is dropped. Once a
    response has started the timer is cancelled and the response left to finish: a half-sent body cannot become a
    503.
    """

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Writes to the directory are not timed: their thread commits whatever the caller is told, so a 503
        # saying "try again" would be false (the retry would then meet 412 for its own change). A write waits for
        # the store's lock for a bounded time (the driver's busy timeout) and answers what happened. Its body is
        # timed, though: nothing is committed before it is whole, and a client trickling it a byte a second (any
        # key will do: its scope is checked once the body is read) held a connection for as long as it liked.
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope.get("path", "")
        body_only = is_write(method, path) and method != "DELETE"
        if not body_only and not time_limited(method, path):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        started = False
        answer: asyncio.Task[None] | None = None

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answer is not None:
                return  # the 503 went instead
            if not started and message["type"] == "http.response.start":
                started = True
                timer.cancel()
            await send(message)

        def expire() -> None:
            nonlocal answer
            logger.warning("request exceeded the %s s time limit: answered 503", self.seconds)
            answer = loop.create_task(self._answer(scope, send))
            if task is not None:
                task.cancel()

        async def body_timed_receive() -> Message:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                timer.cancel()  # the body is whole (or the client has gone): the change itself is not timed
            return message

        timer = loop.call_later(self.seconds, expire)
        try:
            await self.app(scope, body_timed_receive if body_only else receive, guarded_send)
        except asyncio.CancelledError:
            # Ours only if the timer fired and nothing else (a server shutting down) cancelled the task too.
            if answer is None or task is None or task.uncancel() > 0:
                raise
        except Exception as error:
            if answer is None:
                raise
            logger.warning("request failed after its time limit had answered 503: %s", type(error).__name__)
        finally:
            timer.cancel()
        if answer is not None:
            await answer

    async def _answer(self, scope: Scope, send: Send) -> None:
        await send_problem(
            scope,
            send,
            PROBLEM_TYPES["request-timeout"],
            detail=(
                f"no answer within {self.seconds:g} s; try again shortly. In an emergency call 999; for "
                "urgent mental-health help call NHS 111, option 2."
            ),
            headers=[(b"retry-after", b"5")],
        )


# What each part of the service can answer with. Pages and docs are HTML and are left to the browser.
_JSON = ("application/json", "application/problem+json")
PRODUCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/fhir", ("application/fhir+json", "application/json+fhir", *_JSON)),  # the second: DSTU2 clients, as _format
    ("/v1/services.geojson", ("application/geo+json", *_JSON)),
    ("/v1/coverage", ("image/png", "image/svg+xml", "text/csv", "application/geo+json", *_JSON)),
    ("/v1", _JSON),
    ("/hsds", _JSON),
    ("/healthz", _JSON),
    ("/readyz", _JSON),
    ("/openapi.json", _JSON),
    ("/metrics", ("text/plain", "application/openmetrics-text")),
)


def produces(path: str) -> tuple[str, ...] | None:
    """The media types `path` can answer with, or None when AcceptMiddleware leaves it alone (pages, docs)."""
    return next((types for prefix, types in PRODUCES if path.startswith(prefix)), None)


def acceptable(accept: str, offered: Sequence[str]) -> bool:
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        params = part.split(";")[1:]
        if any(p.strip().replace(" ", "") in {"q=0", "q=0.0", "q=0.00", "q=0.000"} for p in params):
            continue
        if media in {"", "*/*"} or media in offered:
            return True
        if media.endswith("/*") and any(o.startswith(media[:-1]) for o in offered):
            return True
    return False


class AcceptMiddleware:
    """406 when the client accepts none of the media types the path can produce."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            accept = all_lines(scope, b"accept")
            path: str = scope["path"]
            offered = produces(path)
            if accept is not None and offered is not None and not acceptable(accept, offered):
                await send_problem(
                    scope,
                    send,
                    PROBLEM_TYPES["not-acceptable"],
                    detail=f"{path} can answer with {', '.join(offered)}",
                )
                return
        await self.app(scope, receive, send)


@dataclass(frozen=True, slots=True)
class Tier:
    per_minute: int
    burst: int


class TokenBuckets:
    """Per-client token buckets in this process, least recently seen evicted first so memory stays bounded."""

    def __init__(self, *, max_clients: int = 100_000) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.max_clients = max_clients

    def take(self, client: str, tier: Tier, now: float) -> float:
        """0 when allowed; otherwise seconds until a token is available."""
        rate = tier.per_minute / 60.0
        tokens, last = self._buckets.pop(client, (float(tier.burst), now))
        tokens = min(float(tier.burst), tokens + (now - last) * rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / rate
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """The peer, unless the peer is a trusted proxy: then the right-most X-Forwarded-For address that is not
    itself trusted. Addresses a client writes further left cannot be trusted, so they are never used. A hop that is
    no address at all is not a client to count apart: the proxy's own address stands for it (a fresh bucket for
    each made-up value would never be limited)."""
    raw_peer = str((scope.get("client") or ("unknown", 0))[0])
    peer = _address(raw_peer)
    if peer is None:
        return raw_peer
    if not trusted or not _is_trusted(peer, trusted):
        return str(peer)
    forwarded = all_lines(scope, b"x-forwarded-for") or ""
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        address = _address(hop)
        if address is None:
            return str(peer)
        if not _is_trusted(address, trusted):
            return str(address)
    return str(peer)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as a proxy may write it: with a port (`198.51.100.7:51234`, `[2001:db8::1]:443`) or without, and
    IPv4 as IPv6 (`::ffff:198.51.100.7`, from a dual-stack proxy), which is the IPv4 client it names. None when it is
    no address."""
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv6 has at least two
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def bucket_of(address: str) -> str:
    """The anonymous bucket an address draws on: itself for IPv4, its /64 for IPv6. Any IPv6 host has a /64 to
    itself, so a bucket per address let one client rotate past the limit. What is no address shares one bucket."""
    ip = _address(address)
    if ip is None:
        return "ip:unknown"
    if isinstance(ip, ipaddress.IPv4Address):
        return f"ip:{ip}"
    return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]) -> bool:
    # An IPv4 address is also trusted by an entry that writes it as IPv6 (::ffff:10.0.0.0/104), as config.py allows.
    mapped = ipaddress.IPv6Address(f"::ffff:{address}") if isinstance(address, ipaddress.IPv4Address) else None
    return any(address in network or (mapped is not None and mapped in network) for network in trusted)


# The pages a person reads: when limited, they get a page with the urgent numbers, never a bare JSON problem.
PAGE_PATHS = frozenset({"/", "/embed"})
PAGE_FORM_PATHS = PAGE_PATHS | {"/embed/snippet"}
# Probes, and the page's own scripts and styles (served from memory; a page's assets must not use up the budget
# its searches need).
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/embed.js", "/embed/theme.css"})
UNLIMITED_PREFIXES = ("/embed/static/",)


def rate_limited(path: str) -> bool:
    """Whether RateLimitMiddleware stands in front of `path`: then it can answer 429, and 401 for a key sent that is
    not valid (even on a read that needs none)."""
    return path not in UNLIMITED_PATHS and not path.startswith(UNLIMITED_PREFIXES)


def _limited_page(retry: int) -> bytes:
    return f"""<!DOCTYPE html>
<html lang="en-GB">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">
<title>Too many searches just now &ndash; Crisis Care Service Finder</title></head>
<body>
<main>
<h1>Need help now?</h1>
<ul>
<li>In immediate danger or hurt: <a href="tel:999">call 999</a></li>
<li>Urgent mental health help: <a href="tel:111">call 111</a> and choose option 2</li>
<li>Samaritans, any time: <a href="tel:116123">call 116 123</a> (free)</li>
<li>Shout, any time: text SHOUT to <a href="sms:85258">85258</a></li>
</ul>
<h2>Too many searches just now</h2>
<p>This search has had too many requests from your network. Wait {retry} seconds, then go back and search again.</p>
</main>
</body>
</html>
""".encode()


class RateLimitMiddleware:
    """Anonymous callers are limited per client address; partner keys (any valid API key) get their own, higher
    limit per key. Limits are per process: with N processes the fleet allows up to N times as much."""

    def __init__(
        self, app: ASGIApp, *, anonymous: Tier, partner: Tier, trusted_proxies: Sequence[str], enabled: bool
    ) -> None:
        self.app = app
        self.anonymous = anonymous
        self.partner = partner
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.enabled = enabled
        self.buckets = TokenBuckets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not rate_limited(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        try:
            # Even with limits off (a gateway limits instead), a key that is not valid is a 401: a partner whose key
            # was revoked must hear so, not be served as anonymous until the limits are turned on.
            caller = await self._caller(scope)
            if caller is ANONYMOUS and is_editing(scope["method"], scope.get("path", "")):
                # Said here, before the body is read and parsed (BodyLimitMiddleware is inside): the route would
                # say the same (api/auth.py: require_write), but only once a body of up to 1 MiB had been read.
                raise Unauthorised(WRITE_NEEDS_KEY)
        except ServiceFinderError as error:
            # A key that is not valid earns no tier of its own: the attempt counts against the address, as an
            # anonymous request, so made-up keys cannot be used to get past the limit (or to make one store lookup
            # after another).
            address = bucket_of(client_address(scope, self.trusted))
            if self.enabled and await self._limited(scope, send, self.anonymous, address):
                return
            await send_problem(
                scope,
                send,
                error.problem,
                detail=error.detail,
                headers=[(name.lower().encode(), value.encode()) for name, value in error.headers.items()],
            )
            return
        scope.setdefault("state", {})["caller"] = caller
        if not self.enabled:
            await self.app(scope, receive, send)
            return
        tier, client = (
            (self.partner, f"key:{caller.key_id}")
            if caller.key_id
            else (self.anonymous, bucket_of(client_address(scope, self.trusted)))
        )
        if await self._limited(scope, send, tier, client):
            return
        await self.app(scope, receive, send)

    async def _limited(self, scope: Scope, send: Send, tier: Tier, client: str) -> bool:
        """Take a token; when none is left, answer 429 with Retry-After and say so."""
        wait = self.buckets.take(client, tier, time.monotonic())
        if wait <= 0:
            return False
        retry = max(1, math.ceil(wait))
        extra: dict[str, Any] = {}
        if scope.get("path") in PAGE_PATHS:
            body = _limited_page(retry)
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"text/html; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(retry).encode()),
                        (b"cache-control", b"no-store"),
                        (b"content-security-policy", b"default-src 'none'; base-uri 'none'; form-action 'none'"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return True
        if is_search_path(scope.get("path", "")):  # a rate-limited search still carries the numbers to call
            extra["safety_net"] = search_safety_net(scope["app"])
        await send_problem(
            scope,
            send,
            PROBLEM_TYPES["too-many-requests"],
            detail=f"limit is {tier.per_minute} requests a minute; retry after {retry} s. {URGENT_HELP}",
            headers=[(b"retry-after", str(retry).encode())],
            **extra,
        )
        return True

    async def _caller(self, scope: Scope) -> Caller:
        from starlette.requests import Request  # noqa: PLC0415

        request = Request(scope)
        raw = presented_key(request)
        if raw is None:
            return ANONYMOUS
        state = scope["app"].state.service_finder
        reachable = not state.catalogue.snapshot.store_unreachable
        return await state.keys.identify_promptly(  # type: ignore[no-any-return]
            raw, lambda: Session(state.engine), store_reachable=reachable
        )
