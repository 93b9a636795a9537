"""Swagger UI at /docs and ReDoc at /redoc, with every asset served from the installed package, never a CDN.

The pages are read by NHS and charity staff on locked-down networks and by integrators working offline, so
nothing on them may reach another host: the scripts, stylesheet and favicon come from `fastapi-offline`'s
bundled copies, ReDoc is told not to load Google Fonts and its bundle is served without its vendor's logo URL, and
Swagger UI's online validator badge is switched off.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from service_finder.api.limits import produces, rate_limited, time_limited
from service_finder.errors import PROBLEM_BASE, PROBLEM_TYPES
from service_finder.interop.fhir import FHIR_JSON, error_outcome, is_fhir_path
from service_finder.schemas import Problem

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
STATIC_PREFIX = "/docs/static"

router = APIRouter(include_in_schema=False)
REDOC_BUNDLE = "redoc.standalone.js"
# ReDoc's footer ("API docs by Redocly") shows its vendor's logo from this address: blocked by the pages' policy, it
# left a broken image and a policy error in the console, and offline a failed request. A transparent image inline
# stands in for it.
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_IMAGE = b"data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

# Swagger UI sends the document to https://validator.swagger.io for a badge unless told not to.
SWAGGER_PARAMETERS = {
    "validatorUrl": None,
    "deepLinking": True,
    "displayOperationId": True,
    "defaultModelsExpandDepth": 0,
    "tryItOutEnabled": True,
}


def _root(request: Request) -> str:
    # Behind a proxy that mounts the app under a prefix, every URL on the page must carry it.
    return str(request.scope.get("root_path", "")).rstrip("/")


def _openapi_url(request: Request) -> str:
    return _root(request) + (request.app.openapi_url or "/openapi.json")


# The docs pages are the frameworks' own HTML, with inline script and style, so 'unsafe-inline' there (they show
# no data a caller sent). Everything else is this server's, and img-src 'self' data: would keep any image another
# host serves from loading (ReDoc's bundle is served without the one it had: see REDOC_LOGO).
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page


def _in_english(page: HTMLResponse) -> HTMLResponse:
    # FastAPI writes a bare <html>: with no language named, a screen reader guesses, and may read the English in
    # another language's voice (axe: html-has-lang).
    body = bytes(page.body).replace(b"<html>", b'<html lang="en">', 1)
    return HTMLResponse(body, status_code=page.status_code)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    static = _root(request) + STATIC_PREFIX
    return _with_policy(
        _in_english(
            get_swagger_ui_html(
                openapi_url=_openapi_url(request),
                title=f"{request.app.title} - Swagger UI",
                swagger_js_url=f"{static}/swagger-ui-bundle.js",
                swagger_css_url=f"{static}/swagger-ui.css",
                swagger_favicon_url=f"{static}/favicon.png",
                oauth2_redirect_url=_root(request) + "/docs/oauth2-redirect",
                swagger_ui_parameters=SWAGGER_PARAMETERS,
            )
        )
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return _with_policy(get_swagger_ui_oauth2_redirect_html())  # inline script too: it had no policy at all


@cache
def _redoc_bundle() -> bytes:
    return (ASSETS / REDOC_BUNDLE).read_bytes().replace(REDOC_LOGO, BLANK_IMAGE)


# Before the static mount below, which would otherwise serve the bundle as installed.
@router.get(f"{STATIC_PREFIX}/{REDOC_BUNDLE}")
async def redoc_bundle() -> Response:
    return Response(_redoc_bundle(), media_type="text/javascript; charset=utf-8")


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    static = _root(request) + STATIC_PREFIX
    return _with_policy(
        _in_english(
            get_redoc_html(
                openapi_url=_openapi_url(request),
                title=f"{request.app.title} - ReDoc",
                redoc_js_url=f"{static}/redoc.standalone.js",
                redoc_favicon_url=f"{static}/favicon.png",
                with_google_fonts=False,
            )
        )
    )


router.mount(STATIC_PREFIX, StaticFiles(directory=ASSETS), name="docs-static")


# --- error responses in the OpenAPI document ---------------------------------------------------------------------

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    400: "The request has a parameter this operation does not take, or a body that cannot be parsed.",
    401: "No API key, or a key that is not valid.",
    403: "The API key does not have the scope this operation needs.",
    404: "Nothing with that id.",
    406: "The Accept header allows none of the media types this operation returns.",
    409: "The change conflicts with the directory as it is.",
    410: "The service was removed from the directory; drop your copy.",
    412: "If-Match names a revision that is no longer current, or is a weak ETag (W/...), which never matches.",
    413: "The request body is too large.",
    415: "The request body is not JSON.",
    422: "A parameter or body field has a value that cannot be used; `errors` lists every one.",
    428: "This write needs an If-Match header.",
    429: "Too many requests from this client; wait for the seconds in Retry-After.",
    500: "Something went wrong on our side; the error has been logged.",
    503: "A part of the service this operation needs is unavailable; try again after Retry-After.",
}
# The problem type an example shows for each status unless the route names another (errors.py: PROBLEM_TYPES holds
# each type's one title).
_DEFAULT_SLUGS = {
    400: "unknown-parameter",
    401: "unauthorised",
    403: "forbidden",
    404: "not-found",
    406: "not-acceptable",
    409: "conflict",
    410: "gone",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-parameter",
    428: "precondition-required",
    429: "too-many-requests",
    500: "internal-error",
    503: "store-unavailable",
}


def problem_example(
    status: int, *, detail: str, instance: str, slug: str | None = None, **members: Any
) -> dict[str, Any]:
    problem = PROBLEM_TYPES[slug or _DEFAULT_SLUGS[status]]
    return {
        "type": problem.type,
        "title": problem.title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": "6f1c0a9e2b7d4c1e9a3f5b8d7c6e4a21",
        **members,
    }


# Response headers, documented once (components.headers) and referred to from each response that carries them.
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "This request's id: the X-Request-ID you sent or, when you sent none, your X-Correlation-ID; "
        "else one the server made (a value that is not 1 to 64 of `A-Z a-z 0-9 . _ : -` is replaced too). Quote "
        "it when reporting a problem.",
        "schema": {"type": "string"},
    },
    "X-Correlation-ID": {
        "description": "The X-Correlation-ID you sent (same rule as X-Request-ID), else this request's id.",
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": "The representation's version: send it back in If-None-Match (304 when unchanged) or, for "
        "an editor's write, If-Match.",
        "schema": {"type": "string"},
    },
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}},
    "Location": {"description": "The new service's address.", "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": "How to send an API key: Bearer.", "schema": {"type": "string"}},
}
# Headers each problem type's answer always carries.
_PROBLEM_HEADERS = {
    "unauthorised": ("WWW-Authenticate",),
    "too-many-requests": ("Retry-After",),
    "store-unavailable": ("Retry-After",),
    "gazetteer-unavailable": ("Retry-After",),
    "request-timeout": ("Retry-After",),
}


def header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


# A read that answers 304 to a matching If-None-Match.
NOT_MODIFIED: dict[int | str, Any] = {
    304: {
        "description": "Not modified: the ETag sent in If-None-Match is still current.",
        "headers": header_refs("ETag"),
    }
}


def problem_responses(
    *statuses: int, instance: str, examples: dict[int, dict[str, Any]] | None = None
) -> dict[int | str, Any]:
    """`responses=` for a route decorator: each status documented as an RFC 9457 problem with an example. What the
    middleware in front of every route answers (401, 406, 429, 503 request-timeout) is added by `complete_document`.

    `model` registers the Problem schema (FastAPI also lists it under application/json, the route's media
    type); the problem+json entry is what the server actually sends.
    """
    chosen = examples or {}
    responses: dict[int | str, Any] = {}
    for status in sorted(statuses):
        example = chosen.get(status) or problem_example(status, detail=_DESCRIPTIONS[status], instance=instance)
        headers = _PROBLEM_HEADERS.get(str(example["type"]).removeprefix(PROBLEM_BASE), ())
        responses[status] = {
            "model": Problem,
            "description": _DESCRIPTIONS[status],
            **({"headers": header_refs(*headers)} if headers else {}),
            "content": {"application/problem+json": {"schema": _PROBLEM_REF, "example": example}},
        }
    return responses


def fhir_resource_schema(resource_type: str, **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"A FHIR R4 {resource_type} resource (https://hl7.org/fhir/R4/).",
        "required": ["resourceType", *properties],
        "properties": {
            "resourceType": {"const": resource_type, "description": "The FHIR resource type."},
            **properties,
        },
    }


OUTCOME_SCHEMA = fhir_resource_schema(
    "OperationOutcome", issue={"type": "array", "minItems": 1, "description": "What was wrong, one issue each."}
)

# --- what the middleware answers, on every operation it can answer for ----------------------------------------------

_MIDDLEWARE_SAYS = {
    "not-acceptable": "The Accept header allows none of the media types this operation returns (`not-acceptable`).",
    "unauthorised": "An API key was sent and is not valid (`unauthorised`): this operation needs none, but a key "
    "that is sent is checked. Send none, or a valid one.",
    "too-many-requests": "Too many requests from this client (`too-many-requests`); wait for the seconds in "
    "Retry-After.",
    "request-timeout": "No answer within the server's time limit, 10 s by default (`request-timeout`); retry "
    "after Retry-After.",
    "payload-too-large": "A request body larger than the server takes, 1 MiB by default (`payload-too-large`): "
    "this operation reads no body, but one that is sent is still limited. Send none.",
    "slow-body": "The request body did not arrive within the server's time limit, 10 s by default "
    "(`request-timeout`); retry after Retry-After. The search itself is never cut short: it takes milliseconds.",
}


def _uses_the_thread_pool(route: APIRoute) -> bool:
    """Whether FastAPI runs the handler or one of its dependencies in the thread pool: a request then waits with
    the event loop free, so the time limit's 503 can reach it (limits.py: time_limited). Found from the code, so a
    route turned from `async def` to `def` is documented as it then behaves."""
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        call = dependant.call
        if call is not None and not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)):
            return True
        pending.extend(dependant.dependencies)
    return False


def middleware_answers(method: str, route: APIRoute) -> list[tuple[str, str]]:
    """(problem slug, description) for each answer the middleware in front of `route` can give a `method` request
    instead of the route's own (api/limits.py). An operation that takes a body documents its own 413."""
    path = route.path_format
    answers = []
    if route.body_field is None:  # BodyLimitMiddleware limits every request's body, wanted or not
        answers.append(("payload-too-large", _MIDDLEWARE_SAYS["payload-too-large"]))
    if produces(path) is not None:
        answers.append(("not-acceptable", _MIDDLEWARE_SAYS["not-acceptable"]))
    if rate_limited(path):
        answers += [(slug, _MIDDLEWARE_SAYS[slug]) for slug in ("unauthorised", "too-many-requests")]
    if time_limited(method, path):
        # Otherwise the handler computes on the event loop and has answered before the timer can fire; with a body
        # (POST /v1/search), the wait for the body still can.
        if _uses_the_thread_pool(route):
            answers.append(("request-timeout", _MIDDLEWARE_SAYS["request-timeout"]))
        elif route.body_field is not None:
            answers.append(("request-timeout", _MIDDLEWARE_SAYS["slow-body"]))
    return answers


def _example_name(example: dict[str, Any]) -> str:
    if "type" in example:
        return str(example["type"]).removeprefix(PROBLEM_BASE)
    return str(example["issue"][0]["code"])  # a FHIR OperationOutcome


def _add_answer(operation: dict[str, Any], path: str, slug: str, description: str) -> None:
    problem = PROBLEM_TYPES[slug]
    fhir = is_fhir_path(path)
    media, schema = (FHIR_JSON, OUTCOME_SCHEMA) if fhir else ("application/problem+json", _PROBLEM_REF)
    example = (
        error_outcome(problem.status, problem.title, description)
        if fhir
        else problem_example(problem.status, detail=description, instance=path, slug=slug)
    )
    responses = operation.setdefault("responses", {})
    response = responses.setdefault(str(problem.status), {"description": description})
    response.setdefault("headers", {}).update(header_refs(*_PROBLEM_HEADERS.get(slug, ())))
    content = response.setdefault("content", {}).setdefault(media, {"schema": schema})
    if "example" not in content and "examples" not in content:
        content["example"] = example
        return
    if "example" in content and _example_name(content["example"]) == slug:
        return  # the route documents it already
    named = content.setdefault("examples", {})
    if "example" in content:
        existing = content.pop("example")
        named[_example_name(existing)] = {"value": existing}
    if slug not in named:
        named[slug] = {"summary": problem.title, "value": example}
        response["description"] += " " + description


def _problem_type_list() -> str:
    return "".join(
        f"\n- `{problem.slug}` ({problem.status}): {problem.title}. {problem.meaning}"
        for problem in PROBLEM_TYPES.values()
    )


def complete_document(document: dict[str, Any], routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The document FastAPI writes, completed with what no route decorator says: the middleware's answers on each
    operation they can reach, every problem type listed on the Problem schema, and the headers every response
    carries (RequestIdMiddleware). Problems are listed under the one media type they are sent as."""
    document.setdefault("components", {})["headers"] = HEADERS
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            operation = document["paths"][route.path_format][method.lower()]
            for slug, description in middleware_answers(method, route):
                _add_answer(operation, route.path_format, slug, description)
    problem_type = document["components"]["schemas"]["Problem"]["properties"]["type"]
    problem_type["description"] = (
        f"{problem_type['description']} `{PROBLEM_BASE}` followed by one of these (docs/api.md says what to do "
        f"for each):{_problem_type_list()}"
    )
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {}).update(header_refs("X-Request-ID", "X-Correlation-ID"))
                content = response.get("content", {})
                if "application/problem+json" in content:
                    # `model=Problem` (for the schema) also lists application/json, which errors never use.
                    content.pop("application/json", None)
    return document
