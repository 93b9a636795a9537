from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlmodel import Session

from service_finder.api.deps import EngineDep, NoUnknownQuery, TodayDep, gone
from service_finder.api.docs import NOT_MODIFIED, header_refs, problem_example, problem_responses
from service_finder.domain.opening_hours import to_london
from service_finder.domain.taxonomy import ServiceKind
from service_finder.errors import PROBLEM_BASE, NotFound
from service_finder.presenters import public_service, read_etag, service_page
from service_finder.schemas import ID_PATTERN, IsoDateTime, ServicePage, ServicePublic
from service_finder.storage import repository

router = APIRouter(prefix="/v1/services", tags=["services"], dependencies=[NoUnknownQuery])


@router.get(
    "",
    operation_id="services-list",
    summary="List directory services, a page at a time",
    responses={
        200: {"headers": header_refs("ETag")},
        **NOT_MODIFIED,
        **problem_responses(400, 422, 429, 503, instance="/v1/services"),
    },
)
def list_services(
    request: Request,
    response: Response,
    store: EngineDep,
    today: TodayDep,
    page: Annotated[int, Query(ge=1, le=100_000, description="Page number, from 1.")] = 1,
    per_page: Annotated[int, Query(ge=1, le=100, description="Services per page (at most 100).")] = 20,
    kind: Annotated[ServiceKind | None, Query(description="Only services of this kind.")] = None,
    modified_after: Annotated[
        IsoDateTime | None,
        Query(description="Only services changed after this instant (ISO 8601; no offset: London time), for polling."),
    ] = None,
) -> ServicePage:
    with Session(store) as session:
        # The page changes when the data does, and (through `stale`) when the day does.
        version = repository.data_version(session).version
        digest = hashlib.sha256(str(sorted(request.query_params.multi_items())).encode()).hexdigest()[:16]
        etag = f'W/"services-v{version}-{today.isoformat()}-{digest}"'
        if _matches(request, etag):
            return Response(status_code=304, headers={"ETag": etag})  # type: ignore[return-value]
        response.headers["ETag"] = etag
        found = repository.list_services(
            session,
            offset=(page - 1) * per_page,
            limit=per_page,
            kind=kind.value if kind else None,
            modified_after=to_london(modified_after).astimezone(UTC) if modified_after else None,
        )
    return service_page(found, number=page, per_page=per_page, today=today)


@router.get(
    "/{service_id}",
    operation_id="services-get",
    summary="One directory service, fully nested",
    responses={
        200: {"headers": header_refs("ETag")},
        **NOT_MODIFIED,
        **problem_responses(
            400,
            404,
            410,
            422,
            429,
            500,
            503,
            instance="/v1/services/no-such-service",
            examples={
                404: problem_example(
                    404,
                    detail="service 'no-such-service' is not in the directory",
                    instance="/v1/services/no-such-service",
                    field="service_id",
                    value="no-such-service",
                ),
                500: problem_example(
                    500,
                    detail="service 'leeds-evening-safe-haven' is stored in a form that cannot be read (at "
                    "eligibility.minimum_age); search keeps its last readable version where a server had one (one "
                    "started since leaves it out). An editor can replace it: PUT /v1/services/leeds-evening-safe-haven "
                    'with If-Match: "leeds-evening-safe-haven-r3"',
                    instance="/v1/services/leeds-evening-safe-haven",
                    field="service_id",
                    value="leeds-evening-safe-haven",
                    type=PROBLEM_BASE + "record-unreadable",
                    title="This service's stored record cannot be read",
                    etag='"leeds-evening-safe-haven-r3"',
                    fields=["eligibility.minimum_age"],
                ),
            },
        ),
    },
)
def get_service(
    request: Request,
    response: Response,
    store: EngineDep,
    today: TodayDep,
    service_id: Annotated[
        str,
        Path(
            pattern=ID_PATTERN,
            max_length=80,
            description="The service's id: lower-case letters, digits and hyphens.",
            examples=["samaritans"],
        ),
    ],
) -> ServicePublic:
    with Session(store) as session:
        stored = repository.get_service(session, service_id)
        removed = repository.removed_at(session, service_id) if stored is None else None
    if stored is None:
        if removed is not None:
            raise gone(service_id, removed)
        raise NotFound(f"service {service_id!r} is not in the directory", field="service_id", value=service_id)
    public = public_service(stored, today=today)
    etag = read_etag(stored, public)
    if _matches(request, etag):
        return Response(status_code=304, headers={"ETag": etag})  # type: ignore[return-value]
    response.headers["ETag"] = etag
    return public


def _matches(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted
