"""One error type per failure, each carrying its HTTP status; one handler renders them as RFC 9457 problems."""

from __future__ import annotations

import json
import math
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


class RecordUnreadable(ServiceFinderError):
    """A stored service no longer reads as a valid record (changed outside the API, or stored before a rule was
    tightened). Search keeps its last readable version; an editor replaces it with PUT and the ETag given."""

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


class StoreUnavailable(ServiceFinderError):
    status = 503
    slug = "store-unavailable"
    title = "The directory store cannot be reached"
    headers: ClassVar[dict[str, str]] = {"Retry-After": "5"}


class MalformedBody(ServiceFinderError):
    status = 400
    slug = "malformed-body"
    title = "The request body is not valid JSON"


class UnsupportedMediaType(ServiceFinderError):
    status = 415
    slug = "unsupported-media-type"
    title = "The request body must be JSON"


class FieldValueError(ValueError):
    """A model-level check's failure that names the field at fault: pydantic gives such errors the model's location,
    so the one problem handler reads the field from here instead."""

    def __init__(self, message: str, *, field: str, value: Any) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class ImportRejected(ServiceFinderError):
    status = 422
    slug = "import-rejected"
    title = "The import was rejected; nothing was written"


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
    title = "An API key is needed for this"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="service-finder"'}


class Forbidden(ServiceFinderError):
    status = 403
    slug = "forbidden"
    title = "This API key may not do that"


class Gone(ServiceFinderError):
    status = 410
    slug = "gone"
    title = "The service was removed from the directory"
