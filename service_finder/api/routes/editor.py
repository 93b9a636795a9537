"""Editor writes: API key with the `write` scope; If-Match on every change so two editors cannot overwrite each
other; the same validation as the importer; an audit entry per change; the search index updated at once."""

from __future__ import annotations

import asyncio
import re
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import APIRouter, Body, Header, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from service_finder.api.auth import EditorDep
from service_finder.api.deps import AppState, GazetteerDep, NoUnknownQuery, StateDep, TodayDep, removed_words
from service_finder.api.docs import header_refs, problem_example, problem_responses
from service_finder.api.problems import described
from service_finder.errors import (
    Conflict,
    GazetteerUnavailable,
    Gone,
    InvalidParameter,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    UnknownParameter,
    quoted,
)
from service_finder.importers.pipeline import check_records
from service_finder.importers.report import Parsed, Problem, problems_from_validation
from service_finder.presenters import public_service, read_etag
from service_finder.schemas import ID_PATTERN, ServicePublic, ServiceRecord
from service_finder.storage import repository
from service_finder.storage.db import write_session
from service_finder.storage.repository import StoredService

router = APIRouter(prefix="/v1/services", tags=["editing"], dependencies=[NoUnknownQuery])
# How long a change waits for another write to the directory (an import can hold it for minutes) before it is
# answered 503 with Retry-After, nothing written: as long as SQLite waits for its write lock (storage/db.py).
WRITE_LOCK_WAIT = timedelta(seconds=15)
# What a change to a removed service is told besides what a read is: PUT and PATCH change, they do not bring back.
REMOVED = "nothing was changed (POST the record to /v1/services to bring it back)"
NO_GAZETTEER = (
    "the postcode gazetteer is not loaded on this server, so the record's postcodes and districts cannot be "
    "checked; nothing was written"
)


class AuditRecord(BaseModel):
    """One change to a service, as the audit trail recorded it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "changed_at": "2026-11-20T10:15:00Z",
                    "actor": "key:3f9a1c0b7d2e (leeds-editor)",
                    "action": "update",
                    "field": "eligibility.minimum_age",
                    "old_value": 18,
                    "new_value": 16,
                }
            ]
        }
    )
    changed_at: datetime = Field(description="When the change was written (UTC).")
    actor: str = Field(
        description="Who made it: the API key, by its id and name (two keys may share a name), or the import file.",
        examples=["key:3f9a1c0b7d2e (leeds-editor)"],
    )
    action: str = Field(description="create, update, delete or restore.", examples=["update"])
    field: str | None = Field(
        description="For updates, the field that changed (dotted path).", examples=["eligibility.minimum_age"]
    )
    old_value: Any = Field(description="The value before the change.", examples=[18])
    new_value: Any = Field(description="The value after the change.", examples=[16])


ServiceId = Annotated[
    str,
    Path(
        pattern=ID_PATTERN,
        max_length=80,
        description="The service's stable identifier.",
        examples=["leeds-evening-safe-haven"],
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The ETag from your last read of this service, e.g. "leeds-evening-safe-haven-r3".',
    ),
]
# "id-rN" as writes return it, or "id-rN-fresh" / "id-rN-stale" as reads return it. A revision has at most 18
# digits: a longer one is no ETag of ours (and int() of thousands of digits is refused by Python: a 500). `W/` is
# read only to say why such a tag never matches.
_ETAG = re.compile(r'^(W/)?"([a-z0-9-]+)-r(\d{1,18})(?:-(?:fresh|stale))?"$')


def expected_revision(service_id: str, if_match: str | None) -> int:
    if if_match is None:
        raise PreconditionRequired(f"send If-Match with the ETag of service {service_id!r} (GET it first)")
    match = _ETAG.match(if_match.strip())
    if not match or match.group(2) != service_id:
        raise InvalidParameter(
            f"If-Match {if_match!r} is not an ETag of service {service_id!r}", field="If-Match", value=if_match
        )
    if match.group(1):
        # RFC 9110 13.1.1: If-Match compares strongly, so a weak tag never matches (it names a representation
        # only as "equivalent", and a write must be based on exactly the one read): 412, as a stale revision is.
        raise PreconditionFailed(
            f"If-Match {if_match!r} is a weak ETag, which If-Match never matches (RFC 9110: it compares ETags "
            f"strongly): nothing was changed. Send the ETag as it was given, strong, without W/: "
            f"{if_match.strip().removeprefix('W/')}",
            field="If-Match",
            value=if_match,
        )
    return int(match.group(3))


def _checked(record: ServiceRecord, gazetteer: GazetteerDep) -> ServiceRecord:
    """The importer's checks (postcode known and in England, coordinates near it), and the district filled in."""
    if gazetteer is None:
        # Without it those checks are skipped, and a site would be stored at a postcode that does not exist, or in
        # the wrong district for catchments and local lines, still marked verified: refused, as an import is.
        raise GazetteerUnavailable(NO_GAZETTEER)
    (checked,) = check_records([Parsed("request body", record)], gazetteer)
    _reject(checked.problems, record.model_dump(mode="json"))
    assert checked.record is not None
    return checked.record


def _value_at(body: Any, field: str) -> Any:
    """The JSON value at a dotted path ('locations.0.postcode') of the body sent, or None where there is none."""
    for part in field.split(".") if field else ():
        if isinstance(body, dict):
            body = body.get(part)
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return None
    return body


def _reject(problems: list[Problem], body: Any) -> None:
    """The same 422 invalid-parameter every route gives, each problem naming its field and the JSON value sent there
    (the importer's own reports show values as text, for people reading a file's report)."""
    if problems:
        errors = [{"field": p.field, "value": _value_at(body, p.field), "message": p.message} for p in problems]
        first = errors[0]
        raise InvalidParameter(
            described(first) if first["field"] else first["message"],
            field=first["field"] or None,
            value=first["value"],
            errors=errors,
        )


async def _save(
    state: StateDep,
    record: ServiceRecord,
    *,
    actor: str,
    expected: int | None,
    today: TodayDep,
    response: Response,
    create: bool = False,
) -> ServicePublic:
    """Write in one transaction (compare-and-swap on the revision; for a creation, only if the id is new),
    refresh this process's index, set the ETag."""

    def write() -> StoredService:
        with write_session(state.engine) as session:
            repository.lock_directory(session, wait=WRITE_LOCK_WAIT)
            if not create:
                # Removed since the route looked, with an If-Match of the removal's revision: saving would bring it
                # back, as only POST may.
                _refuse_removed(session, record.id)
            # A creation that another writer got in first is a Conflict from the repository; any other failure of a
            # key is a fault, never "try again".
            repository.upsert_services(
                session, [record], actor=actor, expected_revision=expected, create_only=create, own_rows_only=True
            )
            session.commit()
            stored = repository.get_service(session, record.id)
        assert stored is not None
        state.catalogue.refresh()  # this process answers with the change at once; others within a poll
        return stored

    stored = await asyncio.to_thread(write)
    public = public_service(stored, today=today)
    response.headers["ETag"] = read_etag(stored, public)  # as a GET sends it, so If-None-Match after a write works
    return public


def _with_no_gazetteer(responses: dict[int | str, Any], instance: str) -> dict[int | str, Any]:
    """`responses`, whose 503 also names the one a write of a record gets from a server without the gazetteer."""
    unavailable = responses[503]
    content = unavailable["content"]["application/problem+json"]
    content["examples"] = {
        "store-unavailable": {"summary": "The directory store cannot be reached", "value": content.pop("example")},
        "gazetteer-unavailable": {
            "summary": "No postcode gazetteer to check the record against",
            "value": problem_example(503, slug="gazetteer-unavailable", detail=NO_GAZETTEER, instance=instance),
        },
    }
    unavailable["description"] += (
        " Or this server has no postcode gazetteer to check the record's postcodes and districts against "
        "(`gazetteer-unavailable`, with `Retry-After`): nothing is written."
    )
    return responses


@router.post(
    "",
    operation_id="services-create",
    summary="Add a service to the directory, or bring back a deleted one (API key with the write scope)",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {"headers": header_refs("ETag", "Location")},
        **_with_no_gazetteer(
            problem_responses(400, 401, 403, 409, 413, 415, 422, 503, instance="/v1/services"), "/v1/services"
        ),
    },
)
async def create_service(
    record: ServiceRecord,
    editor: EditorDep,
    state: StateDep,
    gazetteer: GazetteerDep,
    today: TodayDep,
    response: Response,
) -> ServicePublic:
    # A deleted service is brought back, audited.
    if await asyncio.to_thread(_revision, state, record.id) is not None:
        raise Conflict(
            f"service {record.id!r} already exists: change it with PUT or PATCH", field="id", value=record.id
        )
    saved = await _save(
        state,
        _checked(record, gazetteer),
        actor=editor.actor,
        expected=None,
        today=today,
        response=response,
        create=True,  # checked again inside the write: the look above is only the early, common answer
    )
    response.headers["Location"] = f"/v1/services/{record.id}"
    return saved


def _with_removed(responses: dict[int | str, Any], instance: str) -> dict[int | str, Any]:
    """`responses`, whose 410 is the one a change of a removed service gets: the problem a read of it gets."""
    responses[410]["description"] = (
        "The service was removed from the directory (`gone`, as `GET` answers): nothing is changed. `POST` the "
        "record to `/v1/services` to bring it back."
    )
    responses[410]["content"]["application/problem+json"]["example"] = problem_example(
        410,
        detail="service 'leeds-evening-safe-haven' was removed from the directory at 2026-11-20T10:15:00Z: drop any "
        f"copy of it; {REMOVED}",
        instance=instance,
        field="service_id",
        value="leeds-evening-safe-haven",
    )
    return responses


def _change_responses() -> dict[int | str, Any]:
    """What PUT and PATCH of one service can answer (a fresh dict each: FastAPI keeps each route's own)."""
    instance = "/v1/services/leeds-evening-safe-haven"
    problems = problem_responses(400, 401, 403, 404, 409, 410, 412, 413, 415, 422, 428, 500, 503, instance=instance)
    return {200: {"headers": header_refs("ETag")}, **_with_no_gazetteer(_with_removed(problems, instance), instance)}


@router.put(
    "/{service_id}",
    operation_id="services-replace",
    summary="Replace a service (If-Match required)",
    responses=_change_responses(),
)
async def replace_service(
    service_id: ServiceId,
    record: ServiceRecord,
    editor: EditorDep,
    state: StateDep,
    gazetteer: GazetteerDep,
    today: TodayDep,
    response: Response,
    if_match: IfMatch = None,
) -> ServicePublic:
    expected = expected_revision(service_id, if_match)
    if record.id != service_id:
        raise InvalidParameter(
            f"the body's id {record.id!r} does not match the URL's {service_id!r}", field="id", value=record.id
        )
    # The row, not the record: PUT is how a record that no longer validates is repaired. PUT does not create, nor
    # bring back a removed service (410, as a read of it says): POST does.
    await asyncio.to_thread(_require_row, state, service_id)
    saved = await _save(
        state,
        _checked(record, gazetteer),
        actor=editor.actor,
        expected=expected,
        today=today,
        response=response,
    )
    return saved


@router.patch(
    "/{service_id}",
    operation_id="services-update",
    summary="Change some fields of a service: a JSON merge patch, RFC 7396 (If-Match required)",
    responses=_change_responses(),
)
async def update_service(
    service_id: ServiceId,
    patch: Annotated[
        dict[str, Any],
        Body(
            media_type="application/merge-patch+json",
            openapi_examples={"raise-minimum-age": {"value": {"eligibility": {"minimum_age": 16}}}},
        ),
    ],
    editor: EditorDep,
    state: StateDep,
    gazetteer: GazetteerDep,
    today: TodayDep,
    response: Response,
    if_match: IfMatch = None,
) -> ServicePublic:
    expected = expected_revision(service_id, if_match)
    unknown = list(_unknown_members(ServiceRecord, patch))
    if unknown:
        field, value = unknown[0]
        raise UnknownParameter(
            f"unknown body field {quoted(field)}" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
            field=field,
            value=value,
            errors=[{"field": name, "message": "unknown parameter"} for name, _ in unknown],
        )
    for field in _nulls_refused(ServiceRecord, patch):
        raise InvalidParameter(
            f"'{field}' cannot be null: send the value it should have (a null would reset it to its default without "
            "saying so, e.g. reopen a temporarily closed service)",
            field=field,
            value=None,
        )
    current = await asyncio.to_thread(_exists, state, service_id)
    merged = merge_patch(current.record.model_dump(mode="json"), patch)
    if merged.get("id") != service_id:
        raise InvalidParameter("a patch cannot change a service's id", field="id", value=merged.get("id"))
    try:
        record = ServiceRecord.model_validate(merged)
    except ValidationError as error:
        _reject(problems_from_validation("request body", error), merged)
        raise
    saved = await _save(
        state,
        _checked(record, gazetteer),
        actor=editor.actor,
        expected=expected,
        today=today,
        response=response,
    )
    return saved


@router.delete(
    "/{service_id}",
    operation_id="services-delete",
    summary="Remove a service (soft delete: its history stays; If-Match required)",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,  # no body, so no Content-Type
    responses=_with_removed(
        problem_responses(
            400, 401, 403, 404, 410, 412, 422, 428, 503, instance="/v1/services/leeds-evening-safe-haven"
        ),
        "/v1/services/leeds-evening-safe-haven",
    ),
)
async def delete_service(service_id: ServiceId, editor: EditorDep, state: StateDep, if_match: IfMatch = None) -> None:
    expected = expected_revision(service_id, if_match)

    def delete() -> None:
        with write_session(state.engine) as session:
            repository.lock_directory(session, wait=WRITE_LOCK_WAIT)
            _refuse_removed(session, service_id)
            repository.delete_service(session, service_id, expected_revision=expected, actor=editor.actor)
            session.commit()
        state.catalogue.refresh()

    await asyncio.to_thread(delete)


@router.get(
    "/{service_id}/history",
    operation_id="services-history",
    summary="Every change to a service: who, when, which field, old and new value",
    tags=["services"],
    responses=problem_responses(400, 404, 422, instance="/v1/services/leeds-evening-safe-haven/history"),
)
def get_history(service_id: ServiceId, state: StateDep) -> list[AuditRecord]:
    # A timed read: its own session, closed by the thread that uses it (deps.EngineDep says why).
    with Session(state.engine) as session:
        if repository.service_revision(session, service_id, include_deleted=True) is None:
            raise NotFound(f"service {service_id!r} is not in the directory", field="service_id", value=service_id)
        entries = repository.service_history(session, service_id)
    return [
        AuditRecord(
            # SQLite hands timestamps back without their offset; every one stored is UTC.
            changed_at=entry.changed_at if entry.changed_at.tzinfo else entry.changed_at.replace(tzinfo=UTC),
            actor=entry.actor,
            action=entry.action,
            field=entry.field or None,
            old_value=entry.old_value,
            new_value=entry.new_value,
        )
        for entry in entries
    ]


# The store is read in a worker thread, never on the event loop: a store that hangs would hold every request.
def _revision(state: AppState, service_id: str) -> int | None:
    with Session(state.engine) as session:
        return repository.service_revision(session, service_id)


def _require_row(state: AppState, service_id: str) -> None:
    with Session(state.engine) as session:
        if repository.service_revision(session, service_id) is None:
            _refuse_removed(session, service_id)
            raise NotFound(f"service {service_id!r} is not in the directory", field="service_id", value=service_id)


def _exists(state: AppState, service_id: str) -> StoredService:
    with Session(state.engine) as session:
        stored = repository.get_service(session, service_id)
        if stored is None:
            _refuse_removed(session, service_id)
            raise NotFound(f"service {service_id!r} is not in the directory", field="service_id", value=service_id)
    return stored


def _refuse_removed(session: Session, service_id: str) -> None:
    """A change of a removed service is 410, as a read of it is (not 404: an editor's tool drops its copy rather than
    taking the id for a typo), and writes nothing: PUT and PATCH do not bring it back, POST does."""
    removed = repository.removed_at(session, service_id)
    if removed is not None:
        raise _gone(service_id, removed)


def _gone(service_id: str, removed: datetime) -> Gone:
    return Gone(
        f"{removed_words(f'service {quoted(service_id)}', removed)}; {REMOVED}", field="service_id", value=service_id
    )


def _unknown_members(annotation: Any, patch: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """The dotted paths (and values) where a merge patch names a member the record does not have.

    Validation of the merged record sees none sent as null: merging removes them first, so a misspelt
    `"accepts_intoxicted": null` changed nothing and answered 200, the editor believing the policy now unknown."""
    options = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    for option in options:
        if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(patch, dict):
            for key, value in patch.items():
                here = f"{path}.{key}" if path else key
                field = option.model_fields.get(key)
                if field is None:
                    yield here, value
                else:
                    yield from _unknown_members(field.annotation, value, here)
        elif get_origin(option) is list and isinstance(patch, list):
            (item,) = get_args(option)
            for position, value in enumerate(patch):
                yield from _unknown_members(item, value, f"{path}.{position}")
        elif get_origin(option) is dict and isinstance(patch, dict):
            # A map keyed by a vocabulary (access.accessibility): a key outside it is a feature nobody can read.
            key_type = get_args(option)[0]
            if isinstance(key_type, type) and issubclass(key_type, StrEnum):
                yield from ((f"{path}.{key}", value) for key, value in patch.items() if key not in set(key_type))


def _nulls_refused(model: type[BaseModel], patch: Any, path: str = "") -> Iterator[str]:
    """The dotted paths where a merge patch sends null for a field that cannot be null.

    RFC 7396 reads null as "remove", which here means "back to the default": harmless where the field can be null
    (null is "not recorded"), but `"status": null` would reopen a temporarily closed service, `"safety_net": null`
    drop a national line from every answer, `"locations": null` delete every site. Those must be said outright."""
    if not isinstance(patch, dict):
        return
    for key, value in patch.items():
        field = model.model_fields.get(key)
        if field is None:  # not a field: validation names it
            continue
        here = f"{path}.{key}" if path else key
        options = get_args(field.annotation) if get_origin(field.annotation) in (Union, types.UnionType) else ()
        if value is None and type(None) not in options:
            yield here
        elif isinstance(value, dict):
            for option in options or (field.annotation,):
                if isinstance(option, type) and issubclass(option, BaseModel):
                    yield from _nulls_refused(option, value, here)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge key by key, null removes a key (here: back to its default), anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
