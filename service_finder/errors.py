"""One error type per failure, each carrying its HTTP status; one handler renders them as RFC 9457 problems."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

PROBLEM_BASE = "https://service-finder.invalid/problems/"
# Said in every answer that carries no results, so even an error tells a person in crisis where to turn.
URGENT_HELP = "In an emergency call 999; for urgent mental-health help call NHS 111, option 2."
# The most of a value a message repeats: the value itself goes back whole in the problem's `value`.
QUOTED_LIMIT = 200


def quoted(value: Any) -> str:
    """A value as a message shows it to a person, never as Python writes it (`None`, `True`, `'LS1\\u200b1UR'`):
    text in single quotes as it was sent, naming each character that would not show (a control character, a
    zero-width space) by its code point; anything else (true, null, a number, a list, an object) as JSON writes it."""
    if isinstance(value, str):
        shown = "".join(c if c.isprintable() else f"<U+{ord(c):04X}>" for c in value)
        return f"'{shown}'" if len(shown) <= QUOTED_LIMIT else f"'{shown[: QUOTED_LIMIT - 3]}...'"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):  # an integer too long to write, or nesting near the recursion limit
        return f"(a {type(value).__name__} too large to show)"
    return text if len(text) <= QUOTED_LIMIT else text[: QUOTED_LIMIT - 3] + "..."


class ServiceFinderError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Something went wrong on our side"
    # Response headers this failure always carries (Retry-After on a 503, WWW-Authenticate on a 401).
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, detail: str, *, field: str | None = None, value: Any = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.value = value
        self.extra = extra

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug

    @property
    def problem(self) -> ProblemType:
        return ProblemType(self.slug, self.status, self.title)


class RecordUnreadable(ServiceFinderError):
    """A stored service no longer reads as a valid record (changed outside the API, or stored before a rule was
    tightened). Search keeps its last readable version where a server had one; an editor replaces it with PUT and
    the ETag given."""

    status = 500
    slug = "record-unreadable"
    title = "This service's stored record cannot be read"


class NotFound(ServiceFinderError):
    status = 404
    slug = "not-found"
    title = "Not found"


class InvalidParameter(ServiceFinderError):
    status = 422
    slug = "invalid-parameter"
    title = "A parameter has a value that cannot be used"


class UnknownParameter(ServiceFinderError):
    status = 400
    slug = "unknown-parameter"
    title = "The request has a parameter this endpoint does not take"


class FieldValueError(ValueError):
    """A model-level check's failure that names the field at fault: pydantic gives such errors the model's location,
    so the one problem handler reads the field from here instead."""

    def __init__(self, message: str, *, field: str, value: Any) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class GazetteerUnavailable(ServiceFinderError):
    status = 503
    slug = "gazetteer-unavailable"
    title = "Postcode search is not available on this server"
    headers: ClassVar[dict[str, str]] = {"Retry-After": "60"}


class PreconditionFailed(ServiceFinderError):
    status = 412
    slug = "precondition-failed"
    title = "The service has changed since you fetched it"


class PreconditionRequired(ServiceFinderError):
    status = 428
    slug = "precondition-required"
    title = "Send If-Match with the ETag you fetched, so two editors cannot overwrite each other"


class Conflict(ServiceFinderError):
    status = 409
    slug = "conflict"
    title = "That identifier is already in use"


class Unauthorised(ServiceFinderError):
    status = 401
    slug = "unauthorised"
    title = "The API key is missing or not valid"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="service-finder"'}


class Forbidden(ServiceFinderError):
    status = 403
    slug = "forbidden"
    title = "This API key may not do that"


class Busy(ServiceFinderError):
    status = 503
    slug = "busy"
    title = "The server is already running a computation of this kind"
    headers: ClassVar[dict[str, str]] = {"Retry-After": "5"}


class Gone(ServiceFinderError):
    status = 410
    slug = "gone"
    title = "The service was removed from the directory"


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One kind of problem the server can send: its `type` is PROBLEM_BASE + slug, its title is always the same, and
    docs/api.md and the OpenAPI document list every one (tests/api/test_contract_problems.py holds them to this)."""

    slug: str
    status: int
    title: str
    meaning: str = ""
    action: str = ""

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug


def _of(error: type[ServiceFinderError], meaning: str, action: str) -> ProblemType:
    return ProblemType(error.slug, error.status, error.title, meaning, action)


# Every problem type the server sends, in status order: the raised errors above, and what the middleware and the
# framework's handlers answer with (api/limits.py, api/problems.py) where no exception is raised.
PROBLEM_TYPES: dict[str, ProblemType] = {
    problem.slug: problem
    for problem in (
        _of(
            UnknownParameter,
            "A query parameter or JSON body field this operation does not take (a typo such as `postcod`, or a "
            "query string beside a `POST /v1/search` body).",
            "Correct the name in `field`; do not retry unchanged.",
        ),
        ProblemType(  # sent by the middleware and the validation handler (api/limits.py, api/problems.py)
            "malformed-body",
            400,
            "The request body is not valid JSON",
            "The body cannot be read as JSON: it is empty, not valid JSON, not UTF-8 (or starts with a byte order "
            "mark), or nests arrays and objects more than 512 deep.",
            "Send one JSON value, encoded as UTF-8 without a byte order mark.",
        ),
        ProblemType(
            "http-error",
            400,
            "The request could not be handled",
            "Any other refusal by the HTTP framework (rare), or a request that is not valid HTTP/1.1 (its connection "
            "is then closed); `status` says which 4xx it is.",
            "Read `detail`; if it persists, report it with `request_id`.",
        ),
        _of(
            Unauthorised,
            "A write without an API key, or any request (a public read too) that sends an API key that is not "
            "valid, or two different keys (in `Authorization` and `X-API-Key`, or one header twice; the same key "
            "twice is one key); `WWW-Authenticate` says how to send one.",
            "Send one valid key as `Authorization: Bearer <key>`; for a public read, send none.",
        ),
        _of(
            Forbidden,
            "The API key does not have the scope this operation needs (`write` for changes).",
            "Use a key with the scope; do not retry with this one.",
        ),
        _of(
            NotFound,
            "No such path, or nothing with that id.",
            "Check the path and the id; do not retry.",
        ),
        ProblemType(
            "method-not-allowed",
            405,
            "Method not allowed",
            "The path exists but does not take this method; the `Allow` header lists the methods it takes.",
            "Use a method from `Allow`.",
        ),
        ProblemType(
            "not-acceptable",
            406,
            "None of the media types in Accept can be produced",
            "The `Accept` header allows none of the media types the path answers with.",
            "Accept `application/json` (or the operation's own type, such as `application/geo+json`), or `*/*`.",
        ),
        _of(
            Conflict,
            "An id is already in use (a new service's id, or a schedule id another service has), or a change to one "
            "service's location or organisation would also change another service that shares it.",
            "Choose another id (to change an existing service, use `PUT` or `PATCH`), or give the location or "
            "organisation an id of its own.",
        ),
        _of(
            Gone,
            "The service was removed from the directory (a read, or an editor's change, of it).",
            "Drop your copy. An editor brings it back with `POST /v1/services`; nothing else does.",
        ),
        _of(
            PreconditionFailed,
            "`If-Match` names a revision that is no longer current: someone changed the service since you read it. "
            'Or it is a weak ETag (`W/"..."`), which `If-Match` never matches (RFC 9110 compares strongly).',
            "Fetch it again, reapply your change, and send the new `ETag` as it was given (strong, without `W/`).",
        ),
        ProblemType(
            "payload-too-large",
            413,
            "The request body is too large",
            "The body is larger than the server takes (1 MiB by default).",
            "Send a smaller body.",
        ),
        ProblemType(  # sent by the middleware (api/limits.py: BodyLimitMiddleware)
            "unsupported-media-type",
            415,
            "The request body must be JSON",
            "The body says it is not JSON, or has no `Content-Type`, or is compressed (`Content-Encoding`; "
            "`Accept-Encoding: identity` says so).",
            "Send `Content-Type: application/json` (any `application/*+json` is taken), uncompressed.",
        ),
        _of(
            InvalidParameter,
            "A parameter or body field has a value that cannot be used; `errors` lists every one.",
            "Correct the value named in `field`; do not retry unchanged.",
        ),
        _of(
            PreconditionRequired,
            "A change sent without `If-Match`.",
            "Fetch the service and send its `ETag` in `If-Match`.",
        ),
        ProblemType(
            "too-many-requests",
            429,
            "Too many requests",
            "Over the rate limit for this client address, or for this API key.",
            "Wait the seconds in `Retry-After`, then retry.",
        ),
        _of(
            ServiceFinderError,
            "An unexpected fault on the server; it has been logged.",
            "Retry later; if it persists, report it with `request_id`.",
        ),
        _of(
            RecordUnreadable,
            "The stored record of this service cannot be read as a valid record; search keeps its last readable "
            "version where a server had one (a server started since leaves it out).",
            "Readers: report it with `request_id`. Editors: replace it with `PUT` and the `etag` given.",
        ),
        ProblemType(  # answered for the store's own error (api/problems.py: _store_down)
            "store-unavailable",
            503,
            "The directory store cannot be reached",
            "The directory store is not answering; search keeps answering from its last index.",
            "Retry after `Retry-After` seconds.",
        ),
        _of(
            GazetteerUnavailable,
            "This server has no postcode gazetteer, so it cannot place a postcode, nor check the postcodes and "
            "districts of a record an editor writes.",
            "Search by `lat` and `lon` instead; retry a write (or a postcode search) after `Retry-After` seconds.",
        ),
        _of(
            Busy,
            "Coverage figures are computed one at a time in each server process, and another computation is "
            "running; the request was not queued behind it.",
            "Retry after `Retry-After` seconds.",
        ),
        ProblemType(
            "request-timeout",
            503,
            "The request took too long",
            "No answer within the server's time limit (10 s by default): a read answered in the thread pool, or a "
            "request body arriving slower than the limit. Never sent on writes, `GET /v1/search` or the probes.",
            "Retry after `Retry-After` seconds.",
        ),
    )
}
