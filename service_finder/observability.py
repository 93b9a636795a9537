"""Structured JSON logs and Prometheus metrics.

Searches are health data: a log line carries the request id, method, route template, status and duration, never a
query string, a body, a postcode, coordinates, an age or a need. The route template (`/v1/services/{service_id}`)
is logged rather than the raw path for the same reason.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
route_var: ContextVar[str | None] = ContextVar("route", default=None)

# Attributes every record has, and uvicorn's terminal-coloured copy of its message: never fields of a JSON line.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            "correlation_id": correlation_id_var.get(),
            "route": route_var.get(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            # The type, and where in the code as file:line in function, never the message, arguments or locals:
            # those can carry what the caller sent (a postcode, an age). Enough for an operator to find the bug.
            error_type, _, trace = record.exc_info
            line["error"] = error_type.__name__ if error_type else None
            line["stack"] = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(trace)]
        return _ENCODER.encode(line)


# json.dumps with `default` builds an encoder per call: one, shared, writes the same text for less (a line per request).
_ENCODER = json.JSONEncoder(default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Uvicorn's access log would print query strings: search parameters are health data.
    logging.getLogger("uvicorn.access").disabled = True


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "service_finder_request_seconds",
            "Request latency by route template and method.",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.responses = Counter(
            "service_finder_responses_total",
            "Responses by route template and status class.",
            ["route", "status"],
            registry=self.registry,
        )
        self.index_age = Gauge("service_finder_index_age_seconds", "Age of the search index.", registry=self.registry)
        self.data_version = Gauge("service_finder_data_version", "Data version of the index.", registry=self.registry)
        self.services = Gauge("service_finder_index_services", "Services in the index.", registry=self.registry)
        self.store_up = Gauge(
            "service_finder_store_up", "1 when the store answered the last poll.", registry=self.registry
        )
        self.store_answered_age = Gauge(
            "service_finder_store_checked_age_seconds",
            "Seconds since the store last answered this process's poll (NaN until it ever has).",
            registry=self.registry,
        )
        self.index_build_failed = Gauge(
            "service_finder_index_build_failed",
            "1 when the store's newest version could not be built into an index.",
            registry=self.registry,
        )
        self.unreadable_records = Gauge(
            "service_finder_unreadable_records",
            "Stored services that no longer validate (repair with PUT).",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


logger = logging.getLogger("service_finder.requests")


# Paths whose route template was looked up, most recently used last. Paths name services, never a person, but any
# path can be sent: bounded, so a flood of made-up ones cannot grow it.
MAX_REMEMBERED_PATHS = 1024


class ObservabilityMiddleware:
    """One log line and one latency observation per request, labelled by route template."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: Callable[[], Iterable[BaseRoute]]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's, each on its own (main.py: create_app)
        self._templates: OrderedDict[tuple[str, str], str] = OrderedDict()

    def _template(self, scope: Scope) -> str:
        """The route template a request was for. Routing records it only for the routes it runs (FastAPI's own), so
        an answer from the middleware (a 429, 401, 406, 413, 415, or a body refused before the route was reached) and
        a route of Starlette's (/openapi.json) are matched against the app's routes here."""
        template = getattr(scope.get("route"), "path", None)
        if template:
            return str(template)
        key = (scope["method"], scope.get("path", ""))
        template = self._templates.pop(key, None)
        if template is None:
            matches = [(route.matches(scope)[0], route) for route in self.routes()]
            # As the router chooses: the first route for the path and method, else the first for the path under
            # another method (a refused POST to a GET route is still a request for that route).
            found = next((r for m, r in matches if m is Match.FULL), None) or next(
                (r for m, r in matches if m is Match.PARTIAL), None
            )
            template = str(getattr(found, "path", None) or "unmatched")
        self._templates[key] = template
        if len(self._templates) > MAX_REMEMBERED_PATHS:
            self._templates.popitem(last=False)
        return template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        tokens = (request_id_var.set(state.get("request_id")), correlation_id_var.set(state.get("correlation_id")))
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            template = self._template(scope)
            route_var.set(template)
            elapsed = time.perf_counter() - started
            self.metrics.latency.labels(template, scope["method"]).observe(elapsed)
            self.metrics.responses.labels(template, f"{status // 100}xx").inc()
            logger.info(
                "request",
                extra={"method": scope["method"], "status": status, "duration_ms": round(elapsed * 1000, 2)},
            )
            request_id_var.reset(tokens[0])
            correlation_id_var.reset(tokens[1])
