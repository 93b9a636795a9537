"""Opening-hours engine speed: open-now for 100,000 services at one instant, full state for the top 50.

Run: .venv/bin/python benchmarks/bench_opening_hours.py
Targets: open-now for 100,000 services < 20 ms; opens_next_at for 50 results < 1 ms.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from service_finder.domain.opening_hours import CompiledWeek
from service_finder.domain.schedule import (
    ALWAYS_OPEN,
    BankHolidayPolicy,
    DatedException,
    Session,
    TimeRange,
    WeeklySchedule,
)

LDN = ZoneInfo("Europe/London")
SERVICES = 100_000


def realistic(rng: random.Random) -> WeeklySchedule:
    kind = rng.random()
    if kind < 0.1:
        return ALWAYS_OPEN
    if kind < 0.5:
        return WeeklySchedule(
            sessions=tuple(Session(d, TimeRange(540, 1020)) for d in range(5)), bank_holidays=BankHolidayPolicy.closed
        )
    if kind < 0.8:
        days = rng.sample(range(7), rng.randint(1, 4))
        opens = rng.choice([1020, 1080, 1140])
        return WeeklySchedule(sessions=tuple(Session(d, TimeRange(opens, rng.choice([1320, 1440, 120]))) for d in days))
    start = date(2026, 12, 24)
    return WeeklySchedule(
        sessions=(Session(1, TimeRange(1080, 1320)), Session(3, TimeRange(1080, 1320))),
        exceptions=(DatedException(start, date(2027, 1, 2), reason="Christmas"),),
    )


def best_of(runs: int, action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    rng = random.Random(7)
    services = [[realistic(rng)] for _ in range(SERVICES)]
    started = time.perf_counter()
    compiled = CompiledWeek.compile(services)
    print(f"compile {SERVICES:,} services: {(time.perf_counter() - started) * 1000:.0f} ms (once per index build)")
    for label, at in [
        ("ordinary Wednesday 20:00", datetime(2026, 6, 10, 20, 0, tzinfo=LDN)),
        ("Good Friday 01:00 (bank holiday)", datetime(2026, 4, 3, 1, 0, tzinfo=LDN)),
        ("29 Dec 19:00 (10% in a closure)", datetime(2026, 12, 29, 19, 0, tzinfo=LDN)),
    ]:
        seconds = best_of(5, lambda at=at: compiled.open_now(at))  # type: ignore[misc]
        print(
            f"open-now, {SERVICES:,} services, {label}: {seconds * 1000:.2f} ms (target 20 ms, {seconds / 0.020:.2f}x)"
        )
    top = rng.sample(range(SERVICES), 50)
    for label, at in [
        ("ordinary evening", datetime(2026, 6, 10, 20, 0, tzinfo=LDN)),
        ("Easter eve", datetime(2026, 4, 2, 20, 0, tzinfo=LDN)),
    ]:
        seconds = best_of(20, lambda at=at: compiled.open_states(top, at))  # type: ignore[misc]
        ratio = seconds / 0.001
        print(f"open state with opens_next_at, top 50, {label}: {seconds * 1000:.2f} ms (target 1 ms, {ratio:.2f}x)")


if __name__ == "__main__":
    main()
