"""Dependencies, each named once as an Annotated alias."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.catalogue import Catalogue, Snapshot

if TYPE_CHECKING:
    from service_finder.api.auth import KeyStore
    from service_finder.observability import Metrics
from service_finder.config import Settings
from service_finder.geocoding.gazetteer import Gazetteer

LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True, slots=True)
class AppState:
    """What the lifespan opens, kept on app.state for the life of the process."""

    settings: Settings
    engine: Engine
    catalogue: Catalogue
    gazetteer: Gazetteer | None
    keys: KeyStore
    metrics: Metrics


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.service_finder
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with Session(state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_today() -> date:
    return datetime.now(LONDON).date()


TodayDep = Annotated[date, Depends(get_today)]


async def get_snapshot(state: StateDep) -> Snapshot:
    return state.catalogue.snapshot


SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]


async def get_gazetteer(state: StateDep) -> Gazetteer | None:
    return state.gazetteer


GazetteerDep = Annotated[Gazetteer | None, Depends(get_gazetteer)]
