"""The app factory: `create_app(settings)`; the lifespan opens the store and keeps it on typed state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from service_finder import __version__
from service_finder.api.deps import AppState
from service_finder.api.middleware import RequestIdMiddleware
from service_finder.api.problems import install_problem_handlers
from service_finder.api.routes import health, services
from service_finder.config import Settings, get_settings
from service_finder.storage.db import create_db_engine

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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        state = AppState(settings=settings, engine=engine or create_db_engine(settings.database_url))
        app.state.service_finder = state
        try:
            yield
        finally:
            if own_engine:
                state.engine.dispose()

    app = FastAPI(
        title=settings.title,
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        license_info={"name": "MIT"},
    )
    install_problem_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health.router)
    app.include_router(services.router)
    return app
