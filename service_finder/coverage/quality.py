"""The directory's data-quality report: what a directory manager should fix before anyone relies on a record."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, Field

from service_finder.domain.provenance import review_due
from service_finder.domain.schedule import MINUTES_PER_DAY, format_hhmm, gives_hours, next_day_overlaps
from service_finder.schemas import ScheduleRecord, ServiceRecord
from service_finder.search.index import DirectoryIndex, haversine_km, visited_in_person

# Two listings with the same phone number this close together are one service listed twice.
DUPLICATE_DISTANCE_KM = 0.05


class Check(StrEnum):
    stale = "stale"
    no_schedule = "no_schedule"
    no_phone = "no_phone"
    no_location = "no_location"
    hours_text_conflict = "hours_text_conflict"
    hours_overlap_next_day = "hours_overlap_next_day"
    duplicate = "duplicate"
    demo = "demo"


CHECK_LABELS = {
    Check.stale: "Never verified, or past its review date (verify_due)",
    Check.no_schedule: "No opening hours from today on (none recorded, notes only, or ended)",
    Check.no_phone: "No phone number",
    Check.no_location: "In-person service with no location",
    Check.hours_text_conflict: "Hours notes mention times the structured hours do not have",
    Check.hours_overlap_next_day: "Overnight hours run into the next day's (back-to-back bank holidays, or days of "
    "one exception)",
    Check.duplicate: "Probably listed twice",
    Check.demo: "Demonstration record, not a real service",
}


class Finding(BaseModel):
    """One problem with one record."""

    check: Check = Field(description="Which check found it.")
    service_id: str = Field(description="The service's id.")
    name: str = Field(description="The service's name.")
    detail: str = Field(description="What is wrong, naming the value.")


class CheckCount(BaseModel):
    """How many services one check flagged."""

    check: Check = Field(description="The check.")
    label: str = Field(description="The check in words.")
    services: int = Field(description="Services flagged.")


class QualityReport(BaseModel):
    """Data-quality findings over the whole directory."""

    today: date = Field(description="The date staleness was judged against.")
    data_version: int = Field(description="The directory version checked.")
    services: int = Field(description="Services checked (active or not).")
    counts: list[CheckCount] = Field(description="Services flagged per check, in check order.")
    findings: list[Finding] = Field(description="Every finding, by check then service id.")


def quality_report(index: DirectoryIndex, today: date) -> QualityReport:
    findings: list[Finding] = []
    stale = index.stale(today)
    for position, record in enumerate(index.services):
        findings.extend(_record_findings(record, bool(stale[position]), today))
    findings.extend(_duplicates(index.services))
    order = list(Check)
    findings.sort(key=lambda f: (order.index(f.check), f.service_id, f.detail))
    counts = [
        CheckCount(
            check=check, label=CHECK_LABELS[check], services=len({f.service_id for f in findings if f.check is check})
        )
        for check in Check
    ]
    return QualityReport(today=today, data_version=index.version, services=len(index), counts=counts, findings=findings)


def _record_findings(record: ServiceRecord, stale: bool, today: date) -> list[Finding]:
    found: list[Finding] = []

    def add(check: Check, detail: str) -> None:
        found.append(Finding(check=check, service_id=record.id, name=record.name, detail=detail))

    provenance = record.provenance
    if stale:
        if provenance.verified_at is None:
            add(Check.stale, "never verified")
        else:
            due = review_due(provenance.verified_at, provenance.verify_due)
            if provenance.verify_due is not None and due is not None and due < provenance.verify_due:
                # A review date further off than a check counts for (domain.provenance.MAX_REVIEW_INTERVAL).
                detail = f"review due by {due.isoformat()}, before its verify_due {provenance.verify_due.isoformat()}"
                add(Check.stale, f"{detail} (last verified {provenance.verified_at:%Y-%m-%d})")
            elif provenance.verify_due is not None:
                add(
                    Check.stale,
                    f"verify_due {provenance.verify_due.isoformat()} has passed "
                    f"(last verified {provenance.verified_at:%Y-%m-%d})",
                )
            else:
                # No date of its own: due DEFAULT_REVIEW_INTERVAL after the check, a date the manager never wrote.
                add(
                    Check.stale,
                    f"review date {due.isoformat() if due else 'unknown'} has passed (no verify_due: a year after last "
                    f"verified {provenance.verified_at:%Y-%m-%d})",
                )
    if not record.schedules:
        add(Check.no_schedule, "no schedules: shown as hours unknown, never as open")
    elif not gives_hours([s.to_domain() for s in record.schedules], today):
        # Notes alone or hours that have ended say no more than no schedule at all (hazard log H02).
        why = "; ".join(_no_hours(schedule, today) for schedule in record.schedules)
        add(Check.no_schedule, f"no opening hours from {today.isoformat()} on: {why}")
    if not record.phones:
        add(Check.no_phone, "no phone number to call before travelling")
    # Asked as the search asks it (has_door): no location is expected of a line, nor of a service whose ways in
    # leave out in person (an online peer group was flagged as visited, while search offered it as a line).
    if not record.locations and visited_in_person(record):
        add(Check.no_location, f"kind {record.kind.value!r} is visited in person but has no location")
    for schedule in record.schedules:
        for problem in hours_text_conflicts(schedule):
            add(Check.hours_text_conflict, f"schedule {schedule.id!r}: {problem}")
        for problem in next_day_overlaps(schedule.to_domain()):
            add(Check.hours_overlap_next_day, f"schedule {schedule.id!r}: {problem}")
    if record.is_demo:
        add(Check.demo, "source_name is 'demo'")
    return found


def _no_hours(schedule: ScheduleRecord, today: date) -> str:
    if schedule.valid_to is not None and schedule.valid_to < today:
        said = f"hours ended {schedule.valid_to.isoformat()}"
    elif any(not e.closed for e in schedule.exceptions):
        said = f"only special openings, none on or after {today.isoformat()}"
    else:
        said = "no hours"
    notes = schedule.notes.strip()
    return f"schedule {schedule.id!r}: {said}" + (f" (notes {notes!r})" if notes else "")


# A time of day, not a price: "£2.50" and "$3.30" are not 02:50 and 03:30. Nor a date: "24.12.2026" is no time.
_TIME = re.compile(
    r"(?<![£$€\d.])\b(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?\s*(?P<ampm>am|pm)\b"
    r"|(?<![£$€\d.])\b(?P<h24>\d{1,2})(?P<sep>[:.])(?P<m24>\d{2})\b(?!\.\d)",
    re.IGNORECASE,
)
# Open around the clock ("24/7", "24 hours", "24hrs", "24-hour service"), not "within 24 hours" (a callback promise).
_ALWAYS = re.compile(r"24\s*/\s*7|(?<!within )\b24\s*-?\s*h(?:ou)?rs?\b|round the clock|always open", re.IGNORECASE)
_WORDS = {"midnight": 0, "noon": 720, "midday": 720}


def mentioned_minutes(text: str) -> set[int]:
    """Times of day written in free text ('5pm', '17:30', 'midnight'), as minutes after midnight (midnight = 0)."""
    found: set[int] = set()
    for match in _TIME.finditer(text):
        if match["h24"] is not None:
            hours, minutes = int(match["h24"]), int(match["m24"])
            if match["sep"] == "." and 1 <= hours <= 31 and 1 <= minutes <= 12:
                # "closed 24.12" is Christmas Eve, not 00:12; with no am or pm, a day.month reading wins.
                continue
        else:
            hours, minutes = int(match["h"]) % 12, int(match["m"] or 0)
            if match["ampm"].lower() == "pm":
                hours += 12
        if hours <= 24 and minutes < 60:
            found.add((hours * 60 + minutes) % MINUTES_PER_DAY)
    lowered = text.lower()
    # Whole words: "afternoon" holds "noon" and says no time at all.
    found.update(_WORDS[word] for word in re.findall(r"\b(midnight|noon|midday)\b", lowered))
    return found


def hours_text_conflicts(schedule: ScheduleRecord) -> list[str]:
    """What a schedule's notes say that its structured hours contradict."""
    notes = schedule.notes.strip()
    if not notes:
        return []
    domain = schedule.to_domain()
    problems = []
    if _ALWAYS.search(notes) and not domain.always_open:
        problems.append(f"notes {notes!r} say open around the clock, but the schedule is not always_open")
    ranges = [s.hours for s in domain.sessions] + list(domain.bank_holiday_hours)
    ranges += [r for e in domain.exceptions for r in e.hours]
    known = {r.opens % MINUTES_PER_DAY for r in ranges} | {r.closes % MINUTES_PER_DAY for r in ranges}
    if domain.always_open:
        known.add(0)
    missing = sorted(mentioned_minutes(notes) - known)
    if missing:
        times = ", ".join(format_hhmm(m) for m in missing)
        problems.append(f"notes {notes!r} mention {times}, which no session opens or closes at")
    return problems


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", text.replace("(demo)", "")).strip()


def _duplicates(services: Sequence[ServiceRecord]) -> list[Finding]:
    by_name_postcode: dict[tuple[str, str], list[ServiceRecord]] = defaultdict(list)
    by_phone: dict[str, list[tuple[ServiceRecord, float, float]]] = defaultdict(list)
    for record in services:
        for location in record.locations:
            by_name_postcode[(_normal(record.name), location.postcode.replace(" ", ""))].append(record)
            for phone in record.phones:
                by_phone[phone.number].append((record, location.latitude, location.longitude))
    pairs: dict[tuple[str, str], str] = {}
    for (_, postcode), records in by_name_postcode.items():
        ids = sorted({r.id for r in records})
        for a in ids:
            for b in ids:
                if a < b:
                    pairs.setdefault((a, b), f"same name and postcode ({postcode}) as {{other}}")
    for number, places in by_phone.items():
        if len({r.id for r, _, _ in places}) < 2:
            continue
        lat = np.array([p[1] for p in places])
        lon = np.array([p[2] for p in places])
        for record, la, lo in places:
            near = haversine_km(la, lo, lat, lon) <= DUPLICATE_DISTANCE_KM
            for j in np.flatnonzero(near):
                other = places[int(j)][0]
                if record.id < other.id:
                    pairs.setdefault(
                        (record.id, other.id),
                        f"same phone {number} within {DUPLICATE_DISTANCE_KM * 1000:.0f} m of {{other}}",
                    )
    names = {r.id: r.name for r in services}
    found = []
    for (a, b), detail in sorted(pairs.items()):
        found.append(Finding(check=Check.duplicate, service_id=a, name=names[a], detail=detail.format(other=repr(b))))
        found.append(Finding(check=Check.duplicate, service_id=b, name=names[b], detail=detail.format(other=repr(a))))
    return found
