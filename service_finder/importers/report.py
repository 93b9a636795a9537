"""What an import found: every problem named by record, field and value, in one report."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from service_finder.errors import FieldValueError
from service_finder.schemas import PATTERN_HINTS, ServiceRecord


@dataclass(frozen=True, slots=True)
class Problem:
    where: str  # 'row 12' (CSV, counting the header as row 1) or "record 3 (id 'leeds-cafe')" (JSON)
    field: str  # dotted path inside the record, e.g. 'locations.0.postcode'; '' for the whole record
    value: str  # the offending value as written, repr-quoted; '' when there is none
    message: str

    def __str__(self) -> str:
        parts = [self.where]
        if self.field:
            parts.append(f"field {self.field}")
        if self.value:
            parts.append(f"value {self.value}")
        return f"{', '.join(parts)}: {self.message}"


def _as_found(problem: Problem) -> Problem:
    return problem


@dataclass(slots=True)
class Parsed:
    """One source record after conversion: a valid ServiceRecord, or the problems that stopped it."""

    where: str
    record: ServiceRecord | None
    problems: list[Problem] = field(default_factory=list)
    # Names a problem found in the record later (the whole-file checks) as the source does: a CSV row and column
    # rather than 'locations.0.postcode'.
    in_source_terms: Callable[[Problem], Problem] = field(default=_as_found, repr=False, compare=False)


# A GeoJSON Polygon or MultiPolygon is at most five levels deep (object, coordinates, polygons, rings, points);
# anything deeper is not one, and nesting in the hundreds would stop the store's JSON writer.
MAX_GEOJSON_DEPTH = 8


def describe_value(value: Any) -> str:
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested nearly to Python's recursion limit, or an integer too long to print
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= 120 else text[:117] + "..."


class RepeatedKey(ValueError):
    """An object in the file names one key twice: a JSON reader keeps the last value without saying so, so a
    publisher's `"minimum_age": 18, …, "minimum_age": 16` would be imported as 16 (the API refuses such a body)."""


def load_json(text: str | bytes) -> Any:
    """Untrusted JSON; every way it can fail to read is a ValueError saying why, never another exception."""
    repeats: list[tuple[dict[str, Any], str, Any, Any]] = []

    def pairs_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) < len(pairs) and not repeats:
            seen: dict[str, Any] = {}
            for key, value in pairs:
                if key in seen:
                    repeats.append((found, key, seen[key], value))
                    break
                seen[key] = value
        return found

    try:
        document = json.loads(text, object_pairs_hook=pairs_once)
    except RecursionError:
        raise ValueError("it is nested too deeply to read") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise
    except ValueError as error:  # CPython refuses integers of more than 4,300 digits
        raise ValueError(f"it has a number too long to read ({error})") from None
    if repeats:
        holder, key, first, second = repeats[0]
        raise RepeatedKey(
            f"{key!r} is given twice in one object (at {_path_to(document, holder)}: {describe_value(first)}, then "
            f"{describe_value(second)}): give it once"
        )
    return document


def _path_to(document: Any, target: dict[str, Any]) -> str:
    """Where `target` is in `document`, as `[0].eligibility` (without recursion: the nesting may be deep)."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if value is target:
            return path or "the top level"
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return "an object"  # not reached: the object is in the document


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (breadth first: no recursion to run out of)."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            below.extend(
                child for child in (item.values() if isinstance(item, dict) else item) if isinstance(child, dict | list)
            )
        level = below
    return False


def problems_from_validation(where: str, error: ValidationError, *, prefix: str = "") -> list[Problem]:
    found = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "string_pattern_mismatch" and (
            hint := PATTERN_HINTS.get(str((item.get("ctx") or {}).get("pattern")))
        ):
            # In words, as the API's handler says it (api/problems.py): a publisher or an editor cannot act on a
            # regular expression.
            message = f"must be {hint}"
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, FieldValueError):  # a check of a whole object that knows which of its fields is wrong
            path = ".".join(p for p in (prefix, location, cause.field) if p)
            found.append(Problem(where, path, describe_value(cause.value), message))
            continue
        path = ".".join(p for p in (prefix, location) if p)
        found.append(Problem(where, path, describe_value(item.get("input")) if location else "", message))
    return found


def validate_record(where: str, data: Any, *, prefix: str = "") -> Parsed:
    try:
        return Parsed(where, ServiceRecord.model_validate(data))
    except ValidationError as error:
        return Parsed(where, None, problems_from_validation(where, error, prefix=prefix))
