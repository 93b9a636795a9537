"""RFC 9457 problem+json for every error, rendered in one place. Never a traceback."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DatabaseError, DataError, IntegrityError, ProgrammingError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Route

from service_finder.api.middleware import CORS_HEADERS, asked_path, is_public_read, is_search_path
from service_finder.errors import PROBLEM_TYPES, URGENT_HELP, FieldValueError, ProblemType, ServiceFinderError, quoted
from service_finder.interop.fhir import FHIR_JSON, error_outcome, is_fhir_path, operation_outcome
from service_finder.interop.hsds_api import PATTERN_HINTS as HSDS_PATTERN_HINTS
from service_finder.schemas import PATTERN_HINTS, SearchRequest
from service_finder.search.engine import safety_net
from service_finder.search.safety_net import FALLBACK_SAFETY_NET

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger("service_finder.api")


def problem_response(
    request: Request,
    problem: ProblemType,
    *,
    detail: str,
    status: int | None = None,
    field: str | None = None,
    value: Any = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """`problem` as RFC 9457 problem+json (an OperationOutcome under /fhir); `status` only where one type covers
    several (http-error)."""
    status = status or problem.status
    title = problem.title
    body: dict[str, Any] = {
        "type": problem.type,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": asked_path(request.scope),
        "request_id": getattr(request.state, "request_id", None),
    }
    if field is not None:
        body["field"] = field
        body["value"] = value
    if extra:
        body.update(extra)
    if is_search_path(request.url.path):
        body["safety_net"] = search_safety_net(request.app)
    if is_fhir_path(request.url.path):  # a FHIR client reads only FHIR
        outcome = error_outcome(status, title, detail, expression=field)
        return JSONResponse(sendable(outcome), status_code=status, media_type=FHIR_JSON, headers=headers)
    return JSONResponse(sendable(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def search_safety_net(app: Any) -> list[dict[str, Any]]:
    """The national 24/7 lines for an error from search: a refused search (a mistyped postcode, a full rate limit,
    a fault) must still give the person numbers to call. From the live index when there is one, else built in."""
    try:
        index = app.state.service_finder.catalogue.snapshot.index
        entries = safety_net(index, SearchRequest(), None)
    except Exception:  # an error answer must never fail: the built-in lines need nothing
        logger.exception("safety net for an error answer fell back to the built-in lines")
        entries = list(FALLBACK_SAFETY_NET)
    return [entry.model_dump(mode="json") for entry in entries]


# An echoed value is cut off this deep: a body nested hundreds of levels (`{"a":{"a":...}}`) would otherwise
# overflow the stack while its error is written, and answer 500.
MAX_ECHO_DEPTH = 32
# And any text in it, at this many characters: enough for every message and value a person could read.
MAX_ECHO_CHARS = 1000


def sendable(value: Any, depth: int = 0) -> Any:
    """The body with what strict JSON in UTF-8 cannot carry made into text: an echoed value may be NaN or infinite
    (`{"lat": 1e400}`) or hold a lone surrogate (`"\\ud800"`), and the error about a bad value must not fail."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        if len(value) > MAX_ECHO_CHARS:  # a 60 KB postcode was echoed three times: 182 KB to say it is wrong
            value = f"{value[:MAX_ECHO_CHARS]}… ({len(value):,} characters)"
        return value.encode("utf-8", errors="replace").decode("utf-8")
    if isinstance(value, dict | list | tuple) and depth >= MAX_ECHO_DEPTH:
        return "… (nested too deeply to repeat)"
    if isinstance(value, dict):
        return {sendable(k, depth + 1): sendable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sendable(item, depth + 1) for item in value]
    return value


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceFinderError)
    detail = error.detail
    if isinstance(error.value, str) and (written := repr(error.value)) != (shown := quoted(error.value)):
        # Messages quote a value the Python way, `postcode {text!r}`, which is the house style 'LS1 1UR' until the
        # text holds a character Python escapes (`'LS1\u200b1UR'`) or a quote (`"LS1'"`): shown as people read it.
        detail = detail.replace(written, shown)
    return problem_response(
        request,
        error.problem,
        detail=detail,
        field=error.field,
        value=error.value,
        extra=error.extra,
        headers=error.headers or None,
    )


def _json_safe(value: Any) -> Any:
    """The offending value as the caller sent it, in a form JSON can carry (bodies may be bytes, or anything)."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
        return text if len(text) <= 200 else text[:197] + "..."
    try:
        return jsonable_encoder(value)
    except (TypeError, ValueError):
        return repr(value)[:200]


def _field_name(location: tuple[Any, ...]) -> str:
    # ('query', 'age') -> 'age'; ('body', 'locations', 0, 'postcode') -> 'locations.0.postcode'; ('query', '') -> ''
    # (a parameter with no name, `?=LS1`); ('body',) -> 'body' (the body as a whole).
    if len(location) > 1 and location[0] in {"query", "path", "body"}:
        return ".".join(str(part) for part in location[1:])
    return ".".join(str(part) for part in location)


# A pattern that is a plain choice of words, `^(map|heatmap)$`, says its own words.
_CHOICE = re.compile(r"\^\(?(\w+(?:\|\w+)*)\)?\$")


def _pattern_message(pattern: str) -> str:
    """What a value that does not match `pattern` should be, in words: never the regular expression."""
    if hint := PATTERN_HINTS.get(pattern) or HSDS_PATTERN_HINTS.get(pattern):
        return f"must be {hint}"
    if choice := _CHOICE.fullmatch(pattern):
        *others, last = choice.group(1).split("|")
        return f"must be {', '.join(others)} or {last}" if others else f"must be {last}"
    return "is not in the form this parameter takes (its description in the API documentation says which)"


def _message(item: Mapping[str, Any], field: str) -> str:
    kind = item.get("type")
    if kind == "string_pattern_mismatch":
        return _pattern_message(str((item.get("ctx") or {}).get("pattern", "")))
    if field == "body" and kind in {"model_attributes_type", "dict_type"}:
        return "must be a JSON object"
    return str(item.get("msg", "")).removeprefix("Value error, ")


def _error_item(item: Mapping[str, Any]) -> dict[str, Any]:
    cause = (item.get("ctx") or {}).get("error")
    if isinstance(cause, FieldValueError):  # a model-level check that knows which field is at fault
        # Its field is within the model that raised it ('maximum_age' of 'eligibility').
        parent = tuple(item.get("loc", ()))
        parent = parent[1:] if parent and parent[0] in {"query", "path", "body"} else parent
        field = ".".join([*(str(part) for part in parent), cause.field])
        return {"field": field, "value": _json_safe(cause.value), "message": str(cause)}
    field = _field_name(tuple(item.get("loc", ())))
    # A missing field's input is the object it is missing from, not a value of its own.
    value = None if item.get("type") == "missing" else _json_safe(item.get("input"))
    return {"field": field, "value": value, "message": _message(item, field)}


def described(error: Mapping[str, Any]) -> str:
    """An error item as a detail: the field, the value as people read it (none when there is none), what is wrong."""
    if error["field"] is None:
        return str(error["message"])
    if error["value"] is None:
        return f"{error['field']}: {error['message']}"
    return f"{error['field']} {quoted(error['value'])}: {error['message']}"


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    found = error.errors()
    broken = next((e for e in found if e.get("type") == "json_invalid"), None)
    if broken is not None:
        # Not a value that cannot be used but a body that cannot be read: 400, saying where it breaks.
        position = tuple(broken.get("loc", ()))[1:2]
        at = f" at character {position[0]}" if position else ""
        return problem_response(
            request,
            PROBLEM_TYPES["malformed-body"],
            detail=f"the body is not valid JSON{at}: {broken.get('ctx', {}).get('error', 'cannot be parsed')}",
            field="body",
            value=None,
        )
    errors = [_error_item(item) for item in found]
    # A name no parameter or body field has: the same 400 whether it came in the query string or a JSON body.
    unknown = [
        e
        for e in found
        if e.get("type") == "extra_forbidden" and tuple(e.get("loc", ()))[:1] in {("query",), ("body",)}
    ]
    if unknown:
        names = [_field_name(tuple(e["loc"])) for e in unknown]
        where = "query parameter" if unknown[0]["loc"][0] == "query" else "body field"
        named = quoted(names[0]) if names[0] else "with no name"
        return problem_response(
            request,
            PROBLEM_TYPES["unknown-parameter"],
            detail=f"unknown {where} {named}" + (f" (and {len(names) - 1} more)" if len(names) > 1 else ""),
            field=names[0],
            value=_json_safe(unknown[0].get("input")),
            extra={"errors": [{"field": n, "message": "unknown parameter"} for n in names]},
        )
    first = errors[0] if errors else {"field": None, "value": None, "message": "invalid request"}
    return problem_response(
        request,
        PROBLEM_TYPES["invalid-parameter"],
        detail=described(first),
        field=first["field"],
        value=first["value"],
        extra={"errors": errors},
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    # One title per type whatever the framework's words ("Not Found" for a path, where an unknown id says "Not
    # found"): its words go in the detail.
    problem = PROBLEM_TYPES[{404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")]
    headers = dict(error.headers) if error.headers else {}
    # Starlette names only the first route that matched the path; a path served by several (GET and POST
    # /v1/search; GET, PUT, PATCH, DELETE /v1/services/{id}) allows all of their methods. A mount (the docs'
    # static files) names none of its own: then Allow is left as Starlette gave it.
    if error.status_code == 405 and (allowed := _allowed(request)):
        headers["Allow"] = ", ".join(allowed)
    if is_fhir_path(request.url.path):
        # A FHIR client reads only FHIR: an unknown path or method under /fhir is an OperationOutcome too.
        code = {404: "not-found", 405: "not-supported"}.get(error.status_code, "processing")
        diagnostics = f"{request.method} {request.url.path}: {error.detail}"
        return JSONResponse(
            operation_outcome(code, diagnostics), status_code=error.status_code, media_type=FHIR_JSON, headers=headers
        )
    return problem_response(
        request,
        problem,
        status=error.status_code,
        detail=f"{request.method} {request.url.path}: {error.detail}",
        headers=headers or None,
    )


def _allowed(request: Request) -> list[str]:
    methods = {method for route in flat_routes(request.app.router.routes) for method in _methods_at(route, request)}
    if "GET" in methods:
        methods.add("HEAD")  # HeadMiddleware serves it
    return sorted(methods)


def flat_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    # FastAPI keeps an included router as one entry that holds the router it included (no prefix is added at
    # inclusion here: every router carries its own).
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from flat_routes(included.routes) if included is not None else (route,)


# The name prefix of a route that exists only to refuse its method in its own words (the pages answer a POST with an
# HTML 405 that still gives the numbers to call): `Allow` must not offer it.
REFUSES = "refuses-"


def _methods_at(route: BaseRoute, request: Request) -> set[str]:
    if (
        isinstance(route, Route)
        and route.methods
        and not route.name.startswith(REFUSES)
        and route.matches(request.scope)[0] is not Match.NONE
    ):
        return set(route.methods)
    return set()


async def _store_down(request: Request, error: Exception) -> JSONResponse:
    logger.warning("store unavailable on %s: %s", request.method, type(error).__name__)
    return problem_response(
        request,
        PROBLEM_TYPES["store-unavailable"],
        detail="The directory store is not answering; try again shortly. Search keeps answering from the last index.",
        headers={"Retry-After": "5"},
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # The route template is on the log line; the raw path is not logged (it is the caller's to choose).
    logger.exception("unhandled error on %s", request.method)
    # Rendered outside every middleware (Starlette's ServerErrorMiddleware), so the ids are set here.
    return problem_response(
        request,
        PROBLEM_TYPES["internal-error"],
        detail=f"The error has been logged. {URGENT_HELP}",
        headers={
            "X-Request-ID": getattr(request.state, "request_id", ""),
            "X-Correlation-ID": getattr(request.state, "correlation_id", ""),
            # Sent from outside every middleware, so the headers they add are added here: a browser integrator
            # must be able to read this body (its safety_net, for a search), and nothing may store it.
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
            **(
                {name.decode(): value.decode() for name, value in CORS_HEADERS}
                if is_public_read(request.method, request.url.path)
                else {}
            ),
        },
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceFinderError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # The store failing, whatever the driver calls it: unreachable (OperationalError) or a file that is not a database
    # any more (SQLite's DatabaseError itself, after a disk fault or a bad copy) is 503 with Retry-After, as search
    # goes on answering from the last index. Errors a retry cannot mend (a constraint, a value, a statement the code
    # got wrong) are bugs: 500, logged with their stack.
    app.add_exception_handler(DatabaseError, _store_down)
    for bug in (IntegrityError, DataError, ProgrammingError):
        app.add_exception_handler(bug, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
