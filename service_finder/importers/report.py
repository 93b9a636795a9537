"""What an import found: every problem named by record, field and value, in one report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from service_finder.schemas import ServiceRecord


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


@dataclass(slots=True)
class Parsed:
    """One source record after conversion: a valid ServiceRecord, or the problems that stopped it."""

    where: str
    record: ServiceRecord | None
    problems: list[Problem] = field(default_factory=list)


def describe_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def problems_from_validation(where: str, error: ValidationError, *, prefix: str = "") -> list[Problem]:
    found = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"])
        path = ".".join(p for p in (prefix, location) if p)
        message = item["msg"].removeprefix("Value error, ")
        found.append(Problem(where, path, describe_value(item.get("input")) if location else "", message))
    return found


def validate_record(where: str, data: Any, *, prefix: str = "") -> Parsed:
    try:
        return Parsed(where, ServiceRecord.model_validate(data))
    except ValidationError as error:
        return Parsed(where, None, problems_from_validation(where, error, prefix=prefix))
