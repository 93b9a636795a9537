"""The app factory: `create_app(settings)`; the lifespan opens the store and keeps it on typed state."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder import __version__
from service_finder.api import docs
from service_finder.api.auth import KeyStore
from service_finder.api.deps import LONDON, AppState
from service_finder.api.limits import AcceptMiddleware, BodyLimitMiddleware, RateLimitMiddleware, Tier
from service_finder.api.middleware import RequestIdMiddleware, SecurityHeadersMiddleware
from service_finder.api.problems import install_problem_handlers
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


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        own_engine = engine is None
        store = engine or create_db_engine(settings.database_url)
        if settings.environment == "production":
            _require_admin_key(store)
        catalogue = Catalogue(store, poll_seconds=settings.index_poll_seconds)
        catalogue.refresh()
        warm_up(catalogue.snapshot.index)
        state = AppState(
            settings=settings,
            engine=store,
            catalogue=catalogue,
            gazetteer=_load_gazetteer(settings),
            keys=KeyStore(),
            metrics=metrics,
        )
        app.state.service_finder = state
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
    )
    install_problem_handlers(app)
    # Listed innermost first: each add wraps everything added before it.
    app.add_middleware(
        RateLimitMiddleware,
        anonymous=Tier(settings.rate_limit_anonymous_per_minute, settings.rate_limit_anonymous_burst),
        partner=Tier(settings.rate_limit_partner_per_minute, settings.rate_limit_partner_burst),
        trusted_proxies=settings.trusted_proxies,
        enabled=settings.rate_limit_enabled,
    )
    app.add_middleware(AcceptMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health.router)
    app.include_router(geojson.router)
    app.include_router(services.router)
    app.include_router(editor.router)
    app.include_router(search.router)
    app.include_router(hsds.router)
    app.include_router(fhir.router)
    app.include_router(coverage.router)
    app.include_router(docs.router)
    app.include_router(web_routes.router)
    return app


def warm_up(index: DirectoryIndex) -> None:
    """One search before the first caller: loads bank-holiday tables and numpy paths (about a second, once)."""
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


def _require_admin_key(store: Engine) -> None:
    with Session(store) as session:
        admins = [k for k in repository.list_api_keys(session) if k.revoked_at is None and "admin" in k.scopes]
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
    return Gazetteer.load(settings.gazetteer_path)
