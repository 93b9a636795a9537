"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput on every request)."""

from __future__ import annotations

import re
import uuid
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_finder.observability import correlation_id_var, request_id_var

# A caller's id is echoed and logged as sent, so only a short token of safe characters is taken: no spaces, quotes or
# line breaks to forge a log line with, and little room to carry a person's details. Anything else is replaced.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestIdMiddleware:
    """Echo X-Request-ID and X-Correlation-ID; generate one when missing, replace one that is malformed. A caller
    that sends only X-Correlation-ID has it taken as the request id too, so the id in the answer is theirs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope["headers"]}
        sent = headers.get(b"x-request-id")
        correlation_id = _valid(headers.get(b"x-correlation-id"))
        request_id = (_valid(sent) if sent is not None else correlation_id) or uuid.uuid4().hex
        correlation_id = correlation_id or request_id
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["correlation_id"] = correlation_id
        # Left set, not reset: each request runs in its own task (its own context), and the error handler for an
        # unexpected exception runs outside every middleware (Starlette's ServerErrorMiddleware), after the inner
        # ones have unwound; its log line still needs the id.
        request_id_var.set(request_id)
        correlation_id_var.set(correlation_id)

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    (b"x-correlation-id", correlation_id.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_ids)


def _valid(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw.decode("latin-1")
    return text if _SAFE_ID.fullmatch(text) else None  # `$` would let a trailing line break through


# Public reads may be called from any web page (Open Referral UK requires it of the HSDS feed); writes need an
# Authorization header, which is not in the allowed list, so a browser cannot send one cross-origin. Credentials
# (cookies) are never allowed: there are none. A page reads only the headers exposed here: X-Index-Stale is how
# HSDS, FHIR, GeoJSON and coverage answers say they may be out of date (api/routes/staleness.py).
CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"ETag, X-Request-ID, X-Correlation-ID, Retry-After, X-Index-Stale"),
]
# What a cross-origin page may send on a public read. Never Authorization or X-API-Key: keys are not for browsers.
PREFLIGHT_ALLOWED_HEADERS = b"Content-Type, Accept, If-None-Match, X-Request-ID, X-Correlation-ID"
SEARCH_PATH = "/v1/search"


def asked_path(scope: Scope) -> str:
    """The path as the client sent it, still percent-encoded: a problem's `instance` (RFC 9457: a URI reference).
    The decoded path may hold a space, or name another resource (`leeds%2Fcafe` decodes to `leeds/cafe`)."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if isinstance(raw, bytes) else str(scope.get("path", ""))


def is_search_path(path: str) -> bool:
    """Whether a request was meant for search (`/v1/search`, or a mistyped `/v1/search/...`): any error answer to
    it carries the safety net, the numbers to call."""
    return path == SEARCH_PATH or path.startswith(SEARCH_PATH + "/")


PUBLIC_READ_PREFIXES = ("/v1/search", "/v1/services", "/hsds", "/fhir", "/v1/coverage", "/openapi.json")
# Answers worked out from what the caller sent (a postcode, an age, needs) and from the minute: health data, and
# "open now" only for now. No shared cache may keep them (a 200 without Cache-Control may be cached by default).
NO_STORE_PREFIXES = ("/v1/search", "/hsds", "/fhir", "/v1/coverage")


def is_public_read(method: str, path: str) -> bool:
    """A read anyone may make from a browser on another site: CORS `*`, never with credentials."""
    return path.startswith(PUBLIC_READ_PREFIXES) and (
        method in {"GET", "HEAD", "OPTIONS"} or (method == "POST" and path == SEARCH_PATH)
    )


class SecurityHeadersMiddleware:
    """Headers every response carries; CORS `*` on public reads only, never with credentials."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path: str = scope["path"]
        public = is_public_read(method, path)
        if method == "OPTIONS" and public:
            # A browser's preflight for a public read: the methods that read (POST only where it is a search), and
            # no Authorization, so no key can be sent cross-origin. If-None-Match lets a page revalidate by ETag.
            methods = b"GET, POST, OPTIONS" if path == SEARCH_PATH else b"GET, OPTIONS"
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        *CORS_HEADERS,
                        (b"access-control-allow-methods", methods),
                        (b"access-control-allow-headers", PREFLIGHT_ALLOWED_HEADERS),
                        (b"access-control-max-age", b"600"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if secure:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                media = next((value for name, value in headers if name.lower() == b"content-type"), b"")
                if b"content-security-policy" not in present and (
                    path.startswith(("/v1", "/hsds", "/fhir")) or media.startswith((b"application/", b"text/plain"))
                ):
                    # JSON (and the metrics' text) is never a document to render: nothing may load or frame it.
                    extra.append((b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"))
                if public:
                    extra.extend(CORS_HEADERS)
                if path.startswith(NO_STORE_PREFIXES) or message.get("status", 200) >= 400:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = headers + [(k, v) for k, v in extra if k not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Lifecycle:
    """Where this process is in its life: `service-finder serve` sets `draining` on SIGTERM; /readyz and
    DrainMiddleware read it. One per app, so apps built in tests never share it."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0


class DrainMiddleware:
    """Counts requests in flight and, once the process is draining, asks each client to close its connection
    after the response, so a keep-alive client's next request goes through the balancer to another process
    instead of racing the server closing an idle connection."""

    def __init__(self, app: ASGIApp, *, lifecycle: Lifecycle) -> None:
        self.app = app
        self.lifecycle = lifecycle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lifecycle = self.lifecycle

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and lifecycle.draining:
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        lifecycle.in_flight += 1
        try:
            await self.app(scope, receive, send_closing)
        finally:
            lifecycle.in_flight -= 1


class HeadMiddleware:
    """HEAD wherever GET is served (RFC 9110 9.3.2): the GET's status and headers, without its body. FastAPI's
    routes list only the methods they were declared with, so HEAD was a 405 even on a page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        inner = {**scope, "method": "GET"}
        try:
            await self.app(inner, receive, headers_only)
        finally:
            # What routing found (read by ObservabilityMiddleware for its route label), on the scope it was given.
            for key in ("route", "endpoint", "path_params"):
                if key in inner:
                    scope[key] = inner[key]
