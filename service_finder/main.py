"""The app factory: `create_app(settings)`; the lifespan opens the store and keeps it on typed state."""

from __future__ import annotations

import gc
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from types import FrameType
from typing import Any

import anyio
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session

from service_finder import __version__
from service_finder.api import docs
from service_finder.api.auth import KeyStore
from service_finder.api.deps import LONDON, AppState
from service_finder.api.limits import (
    AcceptMiddleware,
    BodyLimitMiddleware,
    RateLimitMiddleware,
    Tier,
    TimeLimitMiddleware,
)
from service_finder.api.middleware import (
    DrainMiddleware,
    HeadMiddleware,
    Lifecycle,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from service_finder.api.problems import flat_routes, install_problem_handlers
from service_finder.api.routes import coverage, editor, fhir, geojson, health, hsds, search, services
from service_finder.catalogue import Catalogue
from service_finder.config import Settings, get_settings
from service_finder.geocoding.gazetteer import Gazetteer
from service_finder.observability import Metrics, ObservabilityMiddleware, configure_logging
from service_finder.schemas import SearchRequest
from service_finder.search import engine as search_engine
from service_finder.search.index import DirectoryIndex
from service_finder.storage import repository
from service_finder.storage.db import create_db_engine
from service_finder.web import routes as web_routes

logger = logging.getLogger("service_finder")

DESCRIPTION = """
Where a person in a mental-health crisis in England can go or call **right now**: crisis cafés, safe havens,
crisis houses, 24/7 crisis lines, dual-diagnosis clinics and self-harm aftercare.

**In immediate danger, call 999.** For urgent mental-health help call **NHS 111 and choose option 2**;
Samaritans **116 123** (24/7, free); text SHOUT to **85258** (24/7).

Records from the demonstration directory say `"demo": true` and must always be shown labelled as demonstration
data. Postcode data: contains OS data © Crown copyright and database right 2025; contains Royal Mail data
© Royal Mail copyright and database right 2025; contains National Statistics data © Crown copyright and database
right 2025 (Open Government Licence v3.0).
"""


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, lifecycle: Lifecycle | None = None
) -> FastAPI:
    settings = settings or get_settings()
    lifecycle = lifecycle or Lifecycle()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        own_engine = engine is None
        store = engine or create_db_engine(settings.database_url)
        if settings.environment == "production":
            require_admin_key(store)
        catalogue = Catalogue(store, poll_seconds=settings.index_poll_seconds, freeze=settings.gc_freeze)
        catalogue.refresh()
        gazetteer = _load_gazetteer(settings)
        warm_up(catalogue.snapshot.index, gazetteer)
        state = AppState(
            settings=settings,
            engine=store,
            catalogue=catalogue,
            gazetteer=gazetteer,
            keys=KeyStore(),
            metrics=metrics,
        )
        app.state.service_finder = state
        if settings.gc_freeze:  # see Settings.gc_freeze
            gc.collect()
            gc.freeze()
        try:
            with catalogue.polling():
                yield
        finally:
            if own_engine:
                store.dispose()

    app = FastAPI(
        title=settings.title,
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        # Served from the package by api/docs.py, never from a CDN.
        docs_url=None,
        redoc_url=None,
        license_info={"name": "MIT"},
        # `/v1/search/` is a 404 problem, not a 307 to `/v1/search` built from the Host header (plain http, on
        # whatever host the client named) that no operation documents.
        redirect_slashes=False,
        # FastAPI's own OpenTelemetry switches itself on when any tracer provider exists (opentelemetry-instrument,
        # an operator's auto-injection) and records every request's query string, which for a search is health
        # data (postcode, age, needs). Off: this service's telemetry is /metrics and its own logs, which hold none.
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    install_problem_handlers(app)
    _complete_document(app)
    # Listed innermost first: each add wraps everything added before it.
    app.add_middleware(HeadMiddleware)
    app.add_middleware(AcceptMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outside the body limit: a client over its limit (or a write without a key) is refused before its body is
    # read and parsed, which is where a flood of large bodies costs the most.
    app.add_middleware(
        RateLimitMiddleware,
        anonymous=Tier(settings.rate_limit_anonymous_per_minute, settings.rate_limit_anonymous_burst),
        partner=Tier(settings.rate_limit_partner_per_minute, settings.rate_limit_partner_burst),
        trusted_proxies=settings.trusted_proxies,
        enabled=settings.rate_limit_enabled,
    )
    app.add_middleware(TimeLimitMiddleware, seconds=settings.request_timeout_seconds)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, routes=lambda: flat_routes(app.router.routes))
    app.add_middleware(DrainMiddleware, lifecycle=lifecycle)
    app.add_middleware(RequestIdMiddleware)
    app.state.lifecycle = lifecycle
    # Search first: routes are matched in order, and it is most of the traffic (saves matching five others).
    app.include_router(search.router)
    app.include_router(health.router)
    app.include_router(geojson.router)
    app.include_router(services.router)
    app.include_router(editor.router)
    app.include_router(hsds.router)
    app.include_router(fhir.router)
    app.include_router(coverage.router)
    app.include_router(docs.router)
    app.include_router(web_routes.router)
    return app


def warm_up(index: DirectoryIndex, gazetteer: Gazetteer | None = None) -> None:
    """What the first callers would otherwise pay for, done before them: one search (bank-holiday tables, numpy
    paths), the gazetteer's nearest-postcode grid (for searches by coordinates, ~0.1 s) and anyio's event-loop
    backend (imported on first use by the thread pool that runs plain `def` handlers, ~50 ms)."""
    anyio.Event()
    if gazetteer is not None:
        gazetteer.nearest(53.8, -1.55)
    now = datetime.now(LONDON)
    search_engine.search(
        index,
        SearchRequest(lat=53.8, lon=-1.55, explain=True, open="within:60"),
        location=None,
        at=now,
        today=now.date(),
    )


class UnsafeSettings(RuntimeError):
    pass


def require_admin_key(store: Engine) -> None:
    try:
        with Session(store) as session:
            admins = [k for k in repository.list_api_keys(session) if k.revoked_at is None and "admin" in k.scopes]
    except DatabaseError as error:  # unreachable, or a SQLite file that is no database any more
        # Refusing to start would leave nobody answering with the safety net through an outage. A missing admin
        # key exposes nothing (it is a capability that is absent); the check runs again at the next start.
        logger.warning("store unreachable (%s): the admin API key check is skipped", type(error).__name__)
        return
    if not admins:
        raise UnsafeSettings(
            "refusing to start in production with no admin API key: create one with "
            "`service-finder keys create NAME --scope admin`"
        )


def _load_gazetteer(settings: Settings) -> Gazetteer | None:
    if not settings.gazetteer_path.exists():
        logger.warning(
            "gazetteer %s is missing: postcode searches will fail (run `make gazetteer`)", settings.gazetteer_path
        )
        return None
    try:
        return Gazetteer.load(settings.gazetteer_path)
    except Exception as error:
        # A damaged file (cut short, a bad CRC, arrays that do not fit) fails in more ways than the loader names.
        # Raised here it stopped start-up, so a restart loop answered nobody: served as a missing one is, the
        # process is not ready but still answers every search with the safety net, and searches by coordinates.
        logger.error(
            "gazetteer %s cannot be read (%s: %s): postcode searches will fail until it is rebuilt (run `make "
            "gazetteer`)",
            settings.gazetteer_path,
            type(error).__name__,
            error,
        )
        return None


class DrainingServer(uvicorn.Server):
    """Uvicorn's server with a drain before its graceful shutdown when SIGTERM (an orchestrator's stop) arrives.

    For `drain_seconds` the process keeps serving while /readyz answers 503 and every response closes its
    connection, so a balancer that polls /readyz moves traffic away before the listening socket closes (a
    connection the kernel has queued on a closing socket is reset, and an idle keep-alive connection can be closed
    under a request already on its way). Then uvicorn stops accepting and lets in-flight requests finish, up to its
    `timeout_graceful_shutdown`. SIGINT (Ctrl+C) and a second SIGTERM skip the drain.
    """

    def __init__(self, config: uvicorn.Config, *, lifecycle: Lifecycle, drain_seconds: float) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.drain_seconds = drain_seconds
        self._drain_requested = False
        self._drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: set a flag and return; on_tick, on the event loop, does the rest.
        if sig == signal.SIGTERM and self.drain_seconds > 0 and not self._drain_requested and not self.should_exit:
            self._drain_requested = True
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_requested and self._drain_until is None:
            self.lifecycle.draining = True
            self._drain_until = time.monotonic() + self.drain_seconds
            logger.info(
                "SIGTERM: not ready, serving for %s s more before shutdown (%d requests in flight)",
                self.drain_seconds,
                self.lifecycle.in_flight,
            )
        if self._drain_until is not None and time.monotonic() >= self._drain_until and not self.should_exit:
            # Through uvicorn's own handler, so it re-raises SIGTERM once shut down, as it does without a drain.
            super().handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.lifecycle.draining = True
        logger.info("shutting down: no new connections; %d requests in flight finish first", self.lifecycle.in_flight)
        await super().shutdown(sockets)


def _complete_document(app: FastAPI) -> None:
    """The OpenAPI document completed with what no route decorator says (api/docs.py: complete_document)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = docs.complete_document(build(), flat_routes(app.router.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document
