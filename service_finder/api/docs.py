"""Swagger UI at /docs and ReDoc at /redoc, with every asset served from the installed package, never a CDN.

The pages are read by NHS and charity staff on locked-down networks and by integrators working offline, so
nothing on them may reach another host: the scripts, stylesheet and favicon come from `fastapi-offline`'s
bundled copies, ReDoc is told not to load Google Fonts, and Swagger UI's online validator badge is switched off.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

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


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    static = _root(request) + STATIC_PREFIX
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{static}/swagger-ui-bundle.js",
        swagger_css_url=f"{static}/swagger-ui.css",
        swagger_favicon_url=f"{static}/favicon.png",
        oauth2_redirect_url=_root(request) + "/docs/oauth2-redirect",
        swagger_ui_parameters=SWAGGER_PARAMETERS,
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    static = _root(request) + STATIC_PREFIX
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{static}/redoc.standalone.js",
        redoc_favicon_url=f"{static}/favicon.png",
        with_google_fonts=False,
    )
