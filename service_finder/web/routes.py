"""The search page people use: `/` (full page) and `/embed` (for charities' and councils' websites), server-rendered.

The page works with JavaScript off: a plain GET form, answered by the same search engine as /v1/search, called in
process. `page.js` only makes it update in place and tell an embedding page its height. Every asset comes from this
service (no CDN, no web fonts), the Content-Security-Policy allows nothing else, and no cookie is ever set.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import QueryParams

from service_finder.api.deps import LONDON, GazetteerDep, SnapshotDep, public_base
from service_finder.api.problems import REFUSES
from service_finder.api.routes.search import resolve_location
from service_finder.config import Settings
from service_finder.domain.opening_hours import to_london
from service_finder.domain.postcode import PostcodeError
from service_finder.domain.taxonomy import KINDS, ReferralRoute, ServiceKind
from service_finder.errors import ServiceFinderError
from service_finder.geocoding.gazetteer import Gazetteer, PostcodeNotFound, PostcodeOutsideEngland
from service_finder.schemas import ResolvedLocation, SafetyNetEntry, SearchRequest, SearchResponse, SearchResult
from service_finder.search.engine import search, unnamed
from service_finder.web import views

logger = logging.getLogger("service_finder.web")

WEB = Path(__file__).resolve().parent
STATIC_PREFIX = "/embed/static"
templates = Jinja2Templates(directory=WEB / "templates")
# Less whitespace on the wire: the page has a weight budget and many people read it on mobile data.
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True

router = APIRouter(include_in_schema=False)


# --- assets -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    version: str


_MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}


def _load_assets(root: Path) -> dict[str, Asset]:
    # Read and compressed once per process: the page's weight budget counts bytes on the wire, and a cheap phone on
    # a poor connection should not wait for an uncompressed stylesheet.
    assets = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in _MEDIA_TYPES:
            body = path.read_bytes()
            assets[path.relative_to(root).as_posix()] = Asset(
                body=body,
                gzipped=gzip.compress(body, compresslevel=9, mtime=0),
                media_type=_MEDIA_TYPES[path.suffix],
                version=hashlib.sha256(body).hexdigest()[:12],
            )
    return assets


ASSETS = _load_assets(WEB / "static")


def asset_url(request: Request, name: str) -> str:
    # The version in the URL lets browsers keep assets for a year and still see a new release at once.
    return f"{_root(request)}{STATIC_PREFIX}/{name}?v={ASSETS[name].version}"


def _asset_response(request: Request, asset: Asset) -> Response:
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get(STATIC_PREFIX + "/{name:path}")
async def web_asset(request: Request, name: str) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain", headers=_NOT_FOUND_HEADERS)
    return _asset_response(request, asset)


_NOT_FOUND_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


@router.get("/embed.js")
async def embed_script(request: Request) -> Response:
    # Integrators load this from their own pages; it must not be cached for long under a fixed URL.
    response = _asset_response(request, ASSETS["embed.js"])
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@router.get("/embed/theme.css")
async def theme(accent: str | None = None) -> Response:
    colour = views.accent_colour(accent)
    css = ""
    if colour is not None:
        css = (
            f":root{{--sf-accent:{colour};--sf-accent-text:{views.text_on(colour)};"
            f"--sf-accent-shadow:{views.darker(colour)}}}\n"
        )
    return Response(
        css,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


# --- security headers -------------------------------------------------------------------------------------------

_SOURCE = re.compile(r"^(\*|'self'|'none'|https?://[A-Za-z0-9.*-]+(:\d{1,5})?|https?:|[A-Za-z0-9.*-]+(:\d{1,5})?)$")


def frame_ancestors(settings: Settings) -> str:
    """Who may embed /embed: Settings.frame_ancestors (SERVICE_FINDER_FRAME_ANCESTORS), default any site."""
    value = str(getattr(settings, "frame_ancestors", "*")).strip() or "*"
    sources = value.split()
    if all(_SOURCE.match(s) for s in sources):
        return " ".join(sources)
    # A typo must not open a hole in the header (a ';' would start a new directive): refuse to be framed instead.
    logger.warning("frame_ancestors %r is not a list of CSP sources; embedding is refused until it is fixed", value)
    return "'none'"


def _page_headers(ancestors: str) -> dict[str, str]:
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "frame-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        # The page's address carries the postcode searched for: never send it to a site a person follows a link to.
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Permissions-Policy": "geolocation=(self), camera=(), microphone=(), payment=()",
        # Results depend on the minute and on what the person typed: no shared cache may keep them.
        "Cache-Control": "no-store",
    }


def _html(
    request: Request, template: str, context: dict[str, Any], headers: dict[str, str], *, status: int = 200
) -> HTMLResponse:
    body = templates.get_template(template).render({"request": request, **context}).encode()
    # Compressed here rather than by a middleware: the page's weight and first render on a slow phone connection
    # are part of its contract (benchmarks/bench_page.py), so they must not depend on how the app is assembled.
    if accepts_gzip(request.headers.get("accept-encoding", "")):
        headers = {**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        body = gzip.compress(body, compresslevel=6, mtime=0)
    return HTMLResponse(body, status_code=status, headers=headers)


def accepts_gzip(header: str) -> bool:
    """Whether Accept-Encoding allows gzip: named (or '*') with a q-value above 0. 'gzip;q=0' refuses it."""
    allowed = False
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        coding = name.strip().lower()
        if coding == "gzip":
            return quality > 0  # named explicitly: that decides, whatever '*' says
        if coding == "*":
            allowed = quality > 0
    return allowed


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


# --- the search page --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    response: SearchResponse
    results: list[SearchResult]


def _search(request: SearchRequest, *, walk_in: bool, snapshot: SnapshotDep, gazetteer: GazetteerDep) -> Outcome:
    # As GET /v1/search does it (api/routes/search.py): the same location rules, the same engine, the same clock.
    location = resolve_location(request, gazetteer)
    now = datetime.now(LONDON)
    response = search(
        snapshot.index,
        request,
        location=location,
        at=to_london(request.at) if request.at is not None else now,
        today=now.date(),
        district_name=gazetteer.district_name if gazetteer else unnamed,
        stale_index=snapshot.stale,
    )
    results = response.results
    if walk_in:
        index = snapshot.index
        results = [
            r
            for r in results
            if ReferralRoute.walk_in in (index.services[index.position[r.service.id]].eligibility.referral_routes or [])
        ][: views.MAX_RESULTS]
    return Outcome(response, results)


def _lines(entries: list[SafetyNetEntry]) -> list[tuple[SafetyNetEntry, list[views.Phone], str]]:
    # The banner at the top already gives 999, 111, Samaritans and Shout; list the others (local 24/7 lines, ...).
    # Each says when it was last checked, as a card does: a local line past its review date, shown without it,
    # read as a number known to be current (hazard H04).
    return [
        (entry, [views.phone_link(p) for p in entry.phones], views.verified_words(entry.verified_at, stale=entry.stale))
        for entry in entries
        if not {p.number.removeprefix("+44") for p in entry.phones} <= views.BANNER_NUMBERS
    ]


NO_GAZETTEER = "Searching by postcode is not available just now: use your location instead"
# Outside Great Britain only the lines that answer there too, already in the safety net: 999 and Samaritans.
_ANYWHERE_IN_THE_UK = "Call 999 in an emergency, or Samaritans free on 116 123, day or night"
_ELSEWHERE_HELP = {
    "scotland": "In Scotland, call NHS 24 on 111 for urgent help",
    "wales": "In Wales, call 111 and choose option 2 for urgent mental health help",
    "northern_ireland": _ANYWHERE_IN_THE_UK,
    "isle_of_man": _ANYWHERE_IN_THE_UK,
    "jersey": _ANYWHERE_IN_THE_UK,
    "guernsey": _ANYWHERE_IN_THE_UK,
}


def _postcode_problem(postcode: str, gazetteer: Gazetteer | None) -> str | None:
    """What stops a search near a typed postcode, in the page's own words (the API's `detail` is written for
    developers, with Python's quoting); None when nothing does. Said next to the postcode field."""
    if gazetteer is None:
        return NO_GAZETTEER
    try:
        gazetteer.resolve(postcode)
    except PostcodeError as error:
        if error.district is not None:  # a postcode sector, 'CA1 5'
            return f"{postcode} is part of a postcode. Enter the whole postcode, or {error.district} for the area"
        return f"{postcode} is not a UK postcode. Enter a postcode in England, like LS1 1UR or LS1"
    except PostcodeNotFound as error:
        what = "postcode district" if " " not in error.postcode else "postcode"
        return f"{error.postcode} is not a known {what}. Enter a postcode in England, like LS1 1UR or LS1"
    except PostcodeOutsideEngland as error:
        where = f"{error.postcode} is in {error.place}, outside England, which this search covers"
        help_there = _ELSEWHERE_HELP.get(error.country)
        return f"{where}. {help_there}" if help_there else where
    return None


def _elsewhere(location: ResolvedLocation | None) -> str | None:
    """Said above the results when "use my location" places the person in Wales or Scotland: answered, not
    refused (near the border they may use services across it), but with the help a postcode there is given."""
    country = location.country if location is not None else None
    if country is None or country == "england":
        return None
    where = f"Your location seems to be in {country.title()}, outside England, which this search covers"
    help_there = _ELSEWHERE_HELP.get(country)
    return f"{where}. {help_there}" if help_there else where


def _location_message(error: ServiceFinderError) -> str:
    """A location outside England, or no gazetteer loaded: said next to the postcode field, the one the person can
    change. (A typed postcode is checked first, by _postcode_problem.)"""
    if error.field in {"lat", "lon"}:
        return (
            "Your location seems to be outside England, which this search covers: enter a postcode in England, like "
            "LS1 1UR. In Scotland, call NHS 24 on 111 for urgent help; in Wales, call 111 and choose option 2 for "
            "urgent mental health help"
        )
    if error.field == "postcode":
        return NO_GAZETTEER
    return views.LOCATION_UNUSABLE


def _option(params: QueryParams, name: str) -> str | None:
    """An integrator's option (accent, heading, the snippet's postcode). Given twice with different values, it is
    ignored, as an option that cannot be used is, rather than one of them picked."""
    values = set(params.getlist(name))
    return values.pop() if len(values) == 1 else None


async def _render(request: Request, *, embed: bool, snapshot: SnapshotDep, gazetteer: GazetteerDep) -> HTMLResponse:
    params = request.query_params
    form, search_request = views.parse_form({name: params.getlist(name) for name in params})
    accent = views.accent_colour(_option(params, "accent"))
    # An integrator's heading is for their embed only: on the service's own page anyone could put words
    # ("lines closed today: call ...") under its masthead with a link.
    heading = _option(params, "heading")
    custom_heading = views.heading_text(heading) if embed and heading else None
    if form.postcode and "postcode" not in form.errors:
        # Checked even when another field has a mistake: every mistake at once, as the NHS.UK error summary does
        # (a Scottish postcode beside an age that is not a number is said now, with where to get help in Scotland).
        problem = _postcode_problem(form.postcode, gazetteer)
        if problem is not None:
            form = replace(form, errors={**form.errors, "postcode": problem})
            search_request = None
    outcome: Outcome | None = None
    if search_request is not None:
        try:
            outcome = _search(search_request, walk_in=form.walk_in, snapshot=snapshot, gazetteer=gazetteer)
        except ServiceFinderError as error:
            form = replace(form, errors={"postcode": _location_message(error)})
    now = datetime.now(LONDON)
    context: dict[str, Any] = {
        "embed": embed,
        "searched": bool(params),  # see layout.html: robots
        "action": _root(request) + ("/embed" if embed else "/"),
        "heading": custom_heading or views.DEFAULT_HEADING,
        "form": form,
        "accent": accent,
        "theme_url": f"{_root(request)}/embed/theme.css?accent={accent.removeprefix('#')}" if accent else None,
        "hidden": views.hidden_options(form, accent=accent, heading=custom_heading),
        "needs": views.need_choices(form),
        "access_choices": views.access_choices(form),
        "access_note": views.access_note(form),
        "open_choices": views.open_choices(form),
        "kind_labels": [KINDS[k].label for k in form.kinds],
        "asset": lambda name: asset_url(request, name),
        "root": _root(request),
        "outcome": outcome,
        "cards": [],
        "lines": [],
    }
    if outcome is not None:
        at = outcome.response.query.at
        pinned = bool(form.at)
        asked = outcome.response.query.request
        location = outcome.response.query.location
        elsewhere = _elsewhere(location)
        context["elsewhere"] = elsewhere
        context["cards"] = [
            views.card(r, now=at, today=now.date(), request=asked, pinned=pinned, outside_england=bool(elsewhere))
            for r in outcome.results
        ]
        context["lines"] = _lines(outcome.response.safety_net)
        context["results_heading"] = views.results_heading(
            len(outcome.results),
            form,
            form.open,
            pinned=at if pinned else None,
            searched=location.postcode if location is not None else None,
        )
        context["pinned_text"] = views.moment_words(at) if pinned else None
    ancestors = frame_ancestors(request.app.state.service_finder.settings) if embed else "'self'"
    # A person's typing mistake is the form doing its job (200, said beside the field); a choice in the address
    # that this search does not know is the embedding site's mistake, and a status its checks can see.
    status = 422 if form.errors.keys() & views.ADDRESS_FIELDS else 200
    return _html(request, "search.html", context, _page_headers(ancestors), status=status)


@router.get("/", response_class=HTMLResponse)
async def search_page(request: Request, snapshot: SnapshotDep, gazetteer: GazetteerDep) -> HTMLResponse:
    return await _render(request, embed=False, snapshot=snapshot, gazetteer=gazetteer)


@router.get("/embed", response_class=HTMLResponse)
async def embed_page(request: Request, snapshot: SnapshotDep, gazetteer: GazetteerDep) -> HTMLResponse:
    return await _render(request, embed=True, snapshot=snapshot, gazetteer=gazetteer)


_SNIPPET_POSTCODE = re.compile(r"[A-Z0-9 ]{0,8}")


def _snippet_base(request: Request) -> tuple[str, bool]:
    """The address snippets point at, and whether it is the configured one (SERVICE_FINDER_PUBLIC_BASE_URL, which
    production requires). Unconfigured, it is the address this page was asked on, whose host is whatever the
    client's Host header said (Starlette keeps only a well-formed host[:port], else the server's own address): the
    page then tells the integrator to check it before pasting."""
    return public_base(request), bool(request.app.state.service_finder.settings.public_base_url)


@router.get("/embed/snippet", response_class=HTMLResponse)
async def snippet_page(request: Request) -> HTMLResponse:
    """For integrators: the options, the snippet to paste, and a live preview of it."""
    params = request.query_params
    base, configured = _snippet_base(request)
    options: list[tuple[str, str]] = []
    # Every option that reaches the snippet is checked here: a postcode's letters and digits, known kinds, a hex
    # colour, a heading as text. Anything else is left out, as /embed would ignore it.
    postcode = " ".join((_option(params, "postcode") or "").upper().split())
    if not _SNIPPET_POSTCODE.fullmatch(postcode):
        postcode = ""
    if postcode:
        options.append(("postcode", postcode))
    kinds = [k for k in ServiceKind if k.value in params.getlist("kinds")]
    options.extend(("kinds", k.value) for k in kinds)
    accent = views.accent_colour(_option(params, "accent"))
    if accent:
        options.append(("accent", accent.removeprefix("#")))
    raw_heading = _option(params, "heading")
    heading = views.heading_text(raw_heading) if raw_heading else None
    if heading:
        options.append(("heading", heading))
    query = urlencode(options)
    src = f"{base}/embed" + (f"?{query}" if query else "")
    title = heading or views.DEFAULT_HEADING
    context: dict[str, Any] = {
        "base": base,
        "configured": configured,
        "code": views.snippet_code(src=src, title=title, script=f"{base}/embed.js"),
        "preview_src": _root(request) + "/embed" + (f"?{query}" if query else ""),
        "title": title,
        "postcode": postcode,
        "kinds": kinds,
        "all_kinds": [(k, KINDS[k].label) for k in ServiceKind if k is not ServiceKind.emergency],
        "accent": accent or "",
        "heading": heading or "",
        "asset": lambda name: asset_url(request, name),
        "root": _root(request),
    }
    return _html(request, "snippet.html", context, _page_headers("'self'"))


# --- an address with a slash at the end ------------------------------------------------------------------------
# The app does not redirect slashes (an API path has one spelling), but a charity that pastes `/embed/` into its
# frame got a 404 problem that no frame may show: a blank box where the urgent numbers should be. 308 keeps the
# method, so a form posted there still gets the page that says how to search.


def _canonical(request: Request, page: str) -> Response:
    query = request.url.query
    location = _root(request) + page + (f"?{query}" if query else "")
    # The query holds what the person searched for: no cache may keep the redirect.
    return Response(status_code=308, headers={"Location": location, "Cache-Control": "no-store"})


@router.api_route("/embed/", methods=["GET", "POST"])
async def embed_page_with_slash(request: Request) -> Response:
    return _canonical(request, "/embed")


@router.api_route("/embed/snippet/", methods=["GET", "POST"])
async def snippet_page_with_slash(request: Request) -> Response:
    return _canonical(request, "/embed/snippet")


# --- a form sent with POST ----------------------------------------------------------------------------------------
# The pages are GET forms, so a search has an address a person can share or go back to. A POST (an integrator's
# form with method="post", a re-sent form) gets 405 as a page with the urgent numbers and a link to the search,
# never a JSON problem: its body is not read, so nothing in it is kept or searched for.


def _method_not_allowed(request: Request, *, page: str, embed: bool) -> HTMLResponse:
    query = urlencode(request.query_params.multi_items())
    context: dict[str, Any] = {
        "embed": embed,
        "searched": True,  # see layout.html: robots
        "page_url": _root(request) + page + (f"?{query}" if query else ""),
        "snippet": page == "/embed/snippet",
        "asset": lambda name: asset_url(request, name),
        "root": _root(request),
    }
    ancestors = frame_ancestors(request.app.state.service_finder.settings) if embed else "'self'"
    headers = {**_page_headers(ancestors), "Allow": "GET, HEAD"}
    return _html(request, "not_allowed.html", context, headers, status=405)


@router.post("/", response_class=HTMLResponse, name=f"{REFUSES}post_search_page")
async def post_search_page(request: Request) -> HTMLResponse:
    return _method_not_allowed(request, page="/", embed=False)


@router.post("/embed", response_class=HTMLResponse, name=f"{REFUSES}post_embed_page")
async def post_embed_page(request: Request) -> HTMLResponse:
    return _method_not_allowed(request, page="/embed", embed=True)


@router.post("/embed/snippet", response_class=HTMLResponse, name=f"{REFUSES}post_snippet_page")
async def post_snippet_page(request: Request) -> HTMLResponse:
    return _method_not_allowed(request, page="/embed/snippet", embed=False)
