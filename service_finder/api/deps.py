"""Dependencies, each named once as an Annotated alias."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, get_origin
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from service_finder.api.query_model import is_number, read_query_model, separated_numbers
from service_finder.catalogue import Catalogue, Snapshot

if TYPE_CHECKING:
    from service_finder.api.auth import KeyStore
    from service_finder.observability import Metrics
from service_finder.config import Settings
from service_finder.errors import Gone, InvalidParameter, UnknownParameter, quoted
from service_finder.geocoding.gazetteer import Gazetteer
from service_finder.schemas import NUMBER_WITH_SEPARATOR
from service_finder.storage import repository

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


def get_engine(state: StateDep) -> Engine:
    return state.engine


# No session dependency: a handler opens Session(engine) in a `with` in the thread that uses it, which closes it.
# A request cancelled by the time limit closes its dependencies at once while a plain `def` handler's thread runs
# on: a session dependency was closed under it, went on to check out a connection that nothing returned, and under
# load the pool ran dry for good.
EngineDep = Annotated[Engine, Depends(get_engine)]


def public_base(request: Request) -> str:
    """The address links in answers start with, no trailing slash: SERVICE_FINDER_PUBLIC_BASE_URL (production
    requires it) or, unconfigured, the address asked on. Behind a TLS load balancer the latter is plain http with a
    Host the client chose: a FHIR `next` link built from it would send a person's coordinates unencrypted, or to
    that host."""
    configured: str | None = request.app.state.service_finder.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def removed_words(what: str, removed: datetime) -> str:
    """What every read of a removed service says (/v1/services, HSDS, FHIR): when, and what the caller must do."""
    return f"{what} was removed from the directory at {utc_text(removed)}: drop any copy of it"


def utc_text(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def gone(service_id: str, removed: datetime) -> Gone:
    return Gone(removed_words(f"service {quoted(service_id)}", removed), field="service_id", value=service_id)


def removal_of(engine: Engine, service_id: str) -> datetime | None:
    """When the service was removed from the directory, for a read that did not find it (410, not 404: a client
    keeping a copy must drop it); None when it never was, or when the store cannot say (the read stays a 404)."""
    try:
        with Session(engine) as session:
            return repository.removed_at(session, service_id)
    except SQLAlchemyError:
        return None


def removal_named(
    engine: Engine, name: str, naming: Callable[[str], str], *, id_prefix: str = ""
) -> tuple[str, datetime] | None:
    """The removed service that `naming` (our id -> its HSDS UUID, or its shortened FHIR id) calls `name`: its id,
    and when it was removed. Those names are worked out from our id, never stored, so each removed service's (whose
    id starts with `id_prefix`) is worked out anew: only for a read by such a name that found nothing. None as for
    removal_of."""
    try:
        with Session(engine) as session:
            removed = repository.removed_services(session, id_prefix=id_prefix)
    except SQLAlchemyError:
        return None
    return next(((ident, at) for ident, at in removed if naming(ident) == name), None)


def site_removal_named(engine: Engine, name: str, naming: Callable[[str, str], str]) -> datetime | None:
    """When the removed service was removed that, at one of its places, `naming` (our service and location ids ->
    the HSDS service_at_location UUID) calls `name`. Worked out anew from the store's links, as removal_named does,
    only for a read that found nothing. None as for removal_of."""
    try:
        with Session(engine) as session:
            removed = repository.removed_sites(session)
    except SQLAlchemyError:
        return None
    return next((at for service, location, at in removed if naming(service, location) == name), None)


async def get_today() -> date:
    return datetime.now(LONDON).date()


TodayDep = Annotated[date, Depends(get_today)]


async def get_snapshot(state: StateDep) -> Snapshot:
    return state.catalogue.snapshot


SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]


async def get_gazetteer(state: StateDep) -> Gazetteer | None:
    return state.gazetteer


GazetteerDep = Annotated[Gazetteer | None, Depends(get_gazetteer)]


@dataclass(frozen=True, slots=True)
class _Declared:
    repeatable: bool  # a list, read from every occurrence
    numeric: bool


# By id, holding the route too: while it is held here its id cannot be reused by another (routes are not hashable).
_DECLARED: dict[int, tuple[APIRoute, dict[str, _Declared]]] = {}


def _declared_query(route: APIRoute) -> dict[str, _Declared]:
    """The query parameters a route (and its dependencies) declares, each with whether it takes several values and
    whether it takes numbers, worked out once per route."""
    found = _DECLARED.get(id(route))
    if found is None or found[0] is not route:
        found = _DECLARED[id(route)] = (route, dict(_query_names(route.dependant)))
    return found[1]


def _query_names(dependant: Dependant) -> Iterator[tuple[str, _Declared]]:
    for param in dependant.query_params:
        annotation = param.field_info.annotation
        yield param.alias, _Declared(get_origin(annotation) in (list, set, tuple), is_number(annotation))
    for sub in dependant.dependencies:
        yield from _query_names(sub)


async def refuse_unknown_query(request: Request) -> None:
    """For routes without a query model of their own: 400 naming every query parameter the route does not take (a
    misspelt `pag=2` silently answering page 1 is a wrong answer that looks right), 422 for a single-value
    parameter given more than once (which one was meant is a guess), and 422 for a number written with `_`
    separators (`page=1_0` would be read as page 10)."""
    route = request.scope.get("route")
    known = _declared_query(route) if isinstance(route, APIRoute) else {}
    params = request.query_params
    unknown = [name for name in dict.fromkeys(params) if name not in known]
    if unknown:
        raise UnknownParameter(
            f"unknown query parameter {quoted(unknown[0])}"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
            field=unknown[0],
            value=params[unknown[0]],
            errors=[{"field": name, "message": "unknown parameter"} for name in unknown],
        )
    for name in dict.fromkeys(params):
        declared = known[name]
        if not declared.repeatable and len(given := params.getlist(name)) > 1:
            message = f"given {len(given)} times: give it once"
            raise InvalidParameter(
                f"{name} {quoted(given)}: {message}",
                field=name,
                value=given,
                errors=[{"field": name, "value": given, "message": message}],
            )
        if declared.numeric and (separated := separated_numbers(name, params.getlist(name))):
            value = separated[0]["input"]
            raise InvalidParameter(
                f"{name} {quoted(value)}: {NUMBER_WITH_SEPARATOR}",
                field=name,
                value=value,
                errors=[{"field": name, "value": value, "message": NUMBER_WITH_SEPARATOR}],
            )


NoUnknownQuery = Depends(refuse_unknown_query)


def one_each(model: type[BaseModel]) -> Any:
    """A route dependency reading the query string into `model` as /v1/search does (api/query_model.py): a
    parameter given twice is refused naming both values, where FastAPI's own reading of the `Query()` model in the
    signature (which the OpenAPI document is written from) would silently take the last (`age=16&age=40` answered
    for 40). It runs before that reading, so its problems are the ones the caller sees."""

    async def refuse_repeats(request: Request) -> None:
        read_query_model(model, request.query_params)

    return Depends(refuse_repeats)
