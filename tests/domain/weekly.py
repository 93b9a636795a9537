"""Weekly schedules written as the tests read them: `weekly((FRI, "18:00", "02:00"))`."""

from __future__ import annotations

from service_finder.domain.schedule import Session, TimeRange, WeeklySchedule

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def weekly(*sessions: tuple[int, str, str], **fields: object) -> WeeklySchedule:
    return WeeklySchedule(
        sessions=tuple(Session(day, TimeRange(hm(a), hm(b))) for day, a, b in sessions),
        **fields,  # type: ignore[arg-type]
    )
