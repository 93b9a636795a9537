"""Answers served from the in-memory index say whether that index may be behind the store.

/v1/search says so in its body (`stale_index`). The other formats read from the index (HSDS, FHIR, GeoJSON,
coverage) are standards a client parses strictly, so every answer of theirs carries the X-Index-Stale header, and
the body says it too where the format has a place for it (a FHIR meta tag, a GeoJSON foreign member, the coverage
report's own field). The header is set from the very snapshot the handler answered from: FastAPI resolves SnapshotDep
once per request, so `note_staleness` and the handler share it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from service_finder.api.deps import SnapshotDep
from service_finder.errors import ServiceFinderError

STALE_HEADER = "X-Index-Stale"
STALE_HEADER_DOC: dict[str, Any] = {
    STALE_HEADER: {
        "description": "`true` when this answer came from the server's last index while it could not read the "
        "directory store (or could not build the store's newest version): it may be out of date, so say so, or "
        "confirm with the service. `false` otherwise.",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
}


def with_stale_header(responses: dict[int | str, Any], *statuses: int) -> dict[int | str, Any]:
    """`responses=` for a route decorator, with X-Index-Stale documented on each of `statuses`."""
    for status in statuses:
        response = responses.setdefault(status, {})
        response["headers"] = {**response.get("headers", {}), **STALE_HEADER_DOC}
    return responses


async def note_staleness(request: Request, snapshot: SnapshotDep) -> None:
    request.state.index_stale = snapshot.stale


NoteStaleness = Depends(note_staleness)


def _noted(request: Request) -> bool | None:
    noted: bool | None = getattr(request.state, "index_stale", None)
    return noted


class IndexRoute(APIRoute):
    """A route answered from the index: its answer, a domain error (a 404 for an id the stale index lacks) included,
    carries X-Index-Stale once its dependencies have read the snapshot (NoteStaleness on the router)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_marked(request: Request) -> Response:
            try:
                response = await handle(request)
            except ServiceFinderError as error:
                if _noted(request) is None:
                    raise
                # Rendered here by the app's one problem handler, so that the header can be added to it.
                render = request.app.exception_handlers[ServiceFinderError]
                response = await render(request, error)
            stale = _noted(request)
            if stale is not None:
                response.headers[STALE_HEADER] = "true" if stale else "false"
            return response

        return handle_marked
