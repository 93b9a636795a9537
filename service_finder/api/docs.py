"""Swagger UI at /docs and ReDoc at /redoc, with every asset served from the installed package, never a CDN.

The pages are read by NHS and charity staff on locked-down networks and by integrators working offline, so
nothing on them may reach another host: the scripts, stylesheet and favicon come from `fastapi-offline`'s
bundled copies, ReDoc is told not to load Google Fonts, and Swagger UI's online validator badge is switched off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from service_finder.errors import PROBLEM_BASE
from service_finder.schemas import Problem

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
STATIC_PREFIX = "/docs/static"

router = APIRouter(include_in_schema=False)
router.mount(STATIC_PREFIX, StaticFiles(directory=ASSETS), name="docs-static")

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
# no data a caller sent). Everything else is this server's: ReDoc's bundle shows the vendor's logo from its CDN
# ("API docs by Redocly"), and img-src keeps that request from leaving the machine.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    static = _root(request) + STATIC_PREFIX
    return _with_policy(
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


@router.get("/docs/oauth2-redirect")
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    static = _root(request) + STATIC_PREFIX
    return _with_policy(
        get_redoc_html(
            openapi_url=_openapi_url(request),
            title=f"{request.app.title} - ReDoc",
            redoc_js_url=f"{static}/redoc.standalone.js",
            redoc_favicon_url=f"{static}/favicon.png",
            with_google_fonts=False,
        )
    )


# --- error responses in the OpenAPI document ---------------------------------------------------------------------

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    400: "The request has a parameter this operation does not take, or a body that cannot be parsed.",
    401: "No API key, or a key that is not valid.",
    403: "The API key does not have the scope this operation needs.",
    404: "Nothing with that id.",
    406: "The Accept header allows none of the media types this operation returns.",
    409: "The change conflicts with the directory as it is.",
    412: "If-Match names a revision that is no longer current.",
    413: "The request body is too large.",
    415: "The request body is not JSON.",
    422: "A parameter or body field has a value that cannot be used; `errors` lists every one.",
    428: "This write needs an If-Match header.",
    429: "Too many requests from this client; wait for the seconds in Retry-After.",
    500: "Something went wrong on our side; the error has been logged.",
    503: "A part of the service this operation needs is unavailable; try again after Retry-After.",
}
_SLUGS = {
    400: ("unknown-parameter", "The request has a parameter this endpoint does not take"),
    401: ("unauthorised", "An API key is required"),
    403: ("forbidden", "The API key may not do this"),
    404: ("not-found", "Not found"),
    406: ("not-acceptable", "None of the accepted media types can be produced"),
    409: ("conflict", "The change conflicts with the directory"),
    412: ("precondition-failed", "The record has changed since you read it"),
    413: ("payload-too-large", "The request body is too large"),
    415: ("unsupported-media-type", "The request body must be JSON"),
    422: ("invalid-parameter", "A parameter has a value that cannot be used"),
    428: ("precondition-required", "This write needs an If-Match header"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Something went wrong on our side"),
    503: ("store-unavailable", "The directory store cannot be reached"),
}


def problem_example(status: int, *, detail: str, instance: str, **members: Any) -> dict[str, Any]:
    slug, title = _SLUGS[status]
    return {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": "6f1c0a9e2b7d4c1e9a3f5b8d7c6e4a21",
        **members,
    }


# Response headers, documented once (components.headers) and referred to from each response that carries them.
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "This request's id (yours, if you sent X-Request-ID or X-Correlation-ID): quote it when "
        "reporting a problem.",
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
    """`responses=` for a route decorator: each status documented as an RFC 9457 problem with an example.

    `model` registers the Problem schema (FastAPI also lists it under application/json, the route's media
    type); the problem+json entry is what the server actually sends.
    """
    chosen = examples or {}
    # The rate limiter stands in front of every operation these document (only the probes are exempt).
    statuses = tuple(sorted({*statuses, 429}))
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS[status],
            **(
                {"headers": header_refs("Retry-After")}
                if status in {429, 503}
                else {"headers": header_refs("WWW-Authenticate")}
                if status == 401
                else {}
            ),
            "content": {
                "application/problem+json": {
                    "schema": _PROBLEM_REF,
                    "example": chosen.get(status)
                    or problem_example(status, detail=_DESCRIPTIONS[status], instance=instance),
                }
            },
        }
        for status in statuses
    }
