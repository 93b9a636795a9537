"""OpenStreetMap `opening_hours` strings to and from `WeeklySchedule`.

What we read and write (the part of the OSM language the directory can hold exactly):

    Mo-Fr 09:00-17:00; Sa 10:00-12:00,13:00-15:00   weekly sessions; a later rule replaces the days it names
    Fr,Sa 18:00-02:00   Su 22:00-26:00              overnight sessions (ends after the start, or past 24:00)
    Mo-Th 18:00-02:00, Fr 18:00-03:00               ',' (OSM's additional rule) adds to the days it names
    24/7                                            open all the time (so is every day 00:00-24:00)
    PH off   PH 10:00-14:00                         England bank holidays: closed / special hours
    2026 Dec 24-2027 Jan 02 off "Christmas"         a dated closure (with its reason as an OSM comment)
    2026 Dec 24 10:00-14:00                         a dated special opening
    off                                             no opening hours

`PH` means the England bank holidays of `bank_holidays` (GOV.UK's list), not the `opening_hours` package's own
GB calendar, which misses several of them. Dated rules must carry a year: the directory stores dated exceptions,
not yearly ones, so `Dec 24-Jan 02 off` is refused rather than guessed. Dated rules come last (in OSM a later
rule overrides, here a dated exception always does), and only they may carry a comment (the exception's reason).
Anything else the OSM language can say (school holidays, sunrise, week numbers, fallback rules...) is refused
with its position, never half-read.

Our reading is compared with OSM evaluators' (the `opening_hours` package) on a week no dated rule comes near and
around both ends of every dated rule (bank holidays aside: `PH` is ours). Next to sessions past midnight they
differ, and our reading stands (a session belongs to the day it starts; a dated closure stops sessions starting on
its days), except where `_refusal` says the string is refused. `to_osm` joins weekday rules with ',' where a
session runs into another rule's day, so both read weekly hours alike, and `osm_misreading` names the hours that
`to_osm` can only write as a string `parse_osm` refuses.
`to_osm` does not write valid_from/valid_to or notes: those travel beside the hours string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

import opening_hours

from service_finder.domain.hours_text import WHOLE_DAY, group_days
from service_finder.domain.opening_hours import day_plan
from service_finder.domain.schedule import (
    DAY_CODES,
    DAY_NAMES,
    MINUTES_PER_DAY,
    BankHolidayPolicy,
    DatedException,
    ScheduleError,
    Session,
    TimeRange,
    WeeklySchedule,
)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class OsmHoursError(ScheduleError):
    """An `opening_hours` string we cannot read; `position` is the 1-based character where reading stopped."""

    def __init__(self, text: str, position: int, problem: str) -> None:
        self.text = text
        self.position = position
        self.problem = problem
        super().__init__(f"opening_hours {text!r} is not valid at position {position}: {problem}")


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<always>24/7)
  | (?P<time>\d{1,2}:\d{2})
  | (?P<year>\d{4})
  | (?P<number>\d{1,2})
  | (?P<comment>"[^"]*")
  | (?P<word>[A-Za-z]+)
  | (?P<punct>[-,;])
  | (?P<other>.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    position: int  # 1-based


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind != "space":
            found.append(_Token(kind, match.group(), match.start() + 1))
    return found


@dataclass(slots=True)
class _Rule:
    position: int
    end: int = 0  # 0-based index just past the rule's last character
    additional: bool = False  # joined to the rule before by ',': adds to the days it names, replacing nothing
    always: bool = False
    dates: tuple[date, date] | None = None
    days: tuple[int, ...] = ()
    holidays: bool = False
    spans: tuple[TimeRange, ...] = ()
    off: bool = False
    comment: str = ""

    @property
    def selects_weekdays(self) -> bool:
        return bool(self.days) or self.holidays or self.dates is not None


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise self.error(len(self.text) + 1, "the string ends too early")
        self.index += 1
        return token

    def error(self, position: int, problem: str) -> OsmHoursError:
        return OsmHoursError(self.text, position, problem)

    def at(self, kind: str, text: str | None = None) -> bool:
        token = self.peek()
        return token is not None and token.kind == kind and (text is None or token.text == text)

    def rules(self) -> list[_Rule]:
        found: list[_Rule] = []
        additional = False
        while self.peek() is not None:
            if self.at("punct", ";") or self.at("punct", ","):
                raise self.error(self.take().position, "empty rule")
            rule = self.rule()
            rule.additional = additional
            if additional and (rule.always or rule.dates or rule.holidays or rule.off or not rule.days):
                raise self.error(
                    rule.position,
                    "a rule after ',' adds opening times to weekdays: give weekdays and times, e.g. "
                    "'Mo-Th 18:00-02:00, Fr 18:00-03:00'",
                )
            found.append(rule)
            token = self.peek()
            rule.end = token.position - 1 if token is not None else len(self.text)
            if token is None:
                break
            separator = self.take()
            if separator.text not in (";", ","):
                raise self.error(separator.position, f"expected ';' between rules, found {separator.text!r}")
            if self.peek() is None:
                raise self.error(separator.position, f"a {separator.text!r} must be followed by another rule")
            additional = separator.text == ","
        return found

    def rule(self) -> _Rule:
        first = self.peek()
        assert first is not None  # rules() only calls with a token ahead
        rule = _Rule(first.position)
        if self.at("always"):
            self.take()
            rule.always = True
        else:
            if self.at("year") or (self.at("word") and first.text in MONTHS):
                rule.dates = self.date_range()
            self.weekdays(rule)
            if self.at("time"):
                rule.spans = self.spans()
        if self.at("word"):
            state = self.take()
            if state.text in ("off", "closed"):
                if rule.spans:
                    raise self.error(state.position, f"{state.text!r} after opening times")
                rule.off = True
            elif state.text != "open":
                raise self.error(state.position, f"{state.text!r} is not a weekday, PH, off, closed or open")
        if self.at("comment"):
            rule.comment = self.take().text.strip('"')
        token = self.peek()
        if token is not None and not (self.at("punct", ";") or self.at("punct", ",")):
            raise self.error(token.position, f"unexpected {token.text!r}")
        if rule.dates is not None and (rule.days or rule.holidays):
            raise self.error(first.position, "a dated rule cannot also name weekdays or PH")
        return rule

    def date_range(self) -> tuple[date, date]:
        start = self.date(None, None)
        end = start
        if self.at("punct", "-"):
            self.take()
            year = int(self.take().text) if self.at("year") else start.year
            month = self.month() if self.at("word") else start.month
            end = self.date(year, month)
            if end < start:
                raise self.error(self.tokens[self.index - 1].position, f"dates end {end.isoformat()} before they start")
        return start, end

    def month(self) -> int:
        token = self.take()
        if token.text not in MONTHS:
            raise self.error(token.position, f"{token.text!r} is not a month (Jan to Dec)")
        return MONTHS.index(token.text) + 1

    def date(self, year: int | None, month: int | None) -> date:
        if year is None:
            if not self.at("year"):
                token = self.take()
                raise self.error(token.position, "dated rules need a year, e.g. '2026 Dec 24-2027 Jan 02 off'")
            year = int(self.take().text)
        if month is None:
            month = self.month()
        token = self.take()
        if token.kind != "number":
            raise self.error(token.position, f"expected a day of the month, found {token.text!r}")
        try:
            return date(year, month, int(token.text))
        except ValueError:
            raise self.error(token.position, f"{year} {MONTHS[month - 1]} {token.text} is not a date") from None

    def weekdays(self, rule: _Rule) -> None:
        days: list[int] = []
        while self.at("word") and (self.peek_text() in DAY_CODES or self.peek_text() == "PH"):
            token = self.take()
            if token.text == "PH":
                rule.holidays = True
            else:
                first = DAY_CODES.index(token.text)
                last = first
                if self.at("punct", "-"):
                    self.take()
                    end = self.take()
                    if end.text not in DAY_CODES:
                        raise self.error(end.position, f"{end.text!r} is not a weekday (Mo to Su)")
                    last = DAY_CODES.index(end.text)
                # Mo-Fr runs forward; Sa-Mo wraps over the weekend.
                days.extend((first + step) % 7 for step in range((last - first) % 7 + 1))
            if not self.at("punct", ","):
                break
            self.take()
            if not self.at("word"):
                token = self.take()
                raise self.error(token.position, f"expected a weekday or PH after ',', found {token.text!r}")
        rule.days = tuple(dict.fromkeys(days))
        if self.at("word") and self.peek_text() in ("SH", "easter", "sunrise", "sunset", "dawn", "dusk", "week"):
            token = self.take()
            raise self.error(token.position, f"{token.text!r} is not supported by the directory")

    def peek_text(self) -> str:
        token = self.peek()
        return token.text if token else ""

    def spans(self) -> tuple[TimeRange, ...]:
        found: list[TimeRange] = []
        while True:
            opens_token = self.take()
            opens = self.clock(opens_token)
            dash = self.take()
            if dash.text != "-":
                raise self.error(dash.position, f"expected '-' after {opens_token.text}, found {dash.text!r}")
            closes_token = self.take()
            if closes_token.kind != "time":
                raise self.error(closes_token.position, f"expected a closing time, found {closes_token.text!r}")
            closes = self.clock(closes_token)
            if opens >= MINUTES_PER_DAY:
                raise self.error(opens_token.position, f"opening time {opens_token.text} is after 23:59")
            # 18:00-26:00 is OSM's other way to write 18:00-02:00.
            if closes > MINUTES_PER_DAY:
                closes -= MINUTES_PER_DAY
                if closes >= opens:
                    raise self.error(
                        closes_token.position, f"session {opens_token.text}-{closes_token.text} is over 24h"
                    )
            try:
                found.append(TimeRange(opens, closes))
            except ScheduleError as error:
                raise self.error(opens_token.position, str(error)) from None
            # A ',' followed by a weekday is OSM's "additional rule" separator, read by rules().
            if not (self.at("punct", ",") and self.next_is_time()):
                return tuple(found)
            self.take()

    def next_is_time(self) -> bool:
        return self.index + 1 < len(self.tokens) and self.tokens[self.index + 1].kind == "time"

    def clock(self, token: _Token) -> int:
        if token.kind != "time":
            raise self.error(token.position, f"expected a time HH:MM, found {token.text!r}")
        hours, minutes = (int(part) for part in token.text.split(":"))
        if minutes > 59 or hours > 48:
            raise self.error(token.position, f"{token.text!r} is not a time")
        return hours * 60 + minutes


def parse_osm(text: str) -> WeeklySchedule:
    """Read an OSM `opening_hours` string; raises OsmHoursError naming the string and the position."""
    if not text.strip():
        raise OsmHoursError(text, 1, "the string is empty")
    rules = _Reader(text).rules()
    _check_with_library(text)
    schedule = _build(text, rules)
    problems = schedule.problems()
    if problems:
        raise OsmHoursError(text, 1, "; ".join(problems))
    refusal = _refusal(text, rules, schedule)
    if refusal is not None:
        raise refusal
    return schedule


def _said_off(rules: Sequence[_Rule], weekday: int) -> _Rule | None:
    """The weekday rule that leaves `weekday` with no hours, when the day's last word is an explicit `off`."""
    last: _Rule | None = None
    for rule in rules:
        if rule.dates is None and (rule.always or not rule.selects_weekdays or weekday in rule.days):
            last = None if rule.additional else rule
    return last if last is not None and last.off else None


def _refusal(text: str, rules: Sequence[_Rule], schedule: WeeklySchedule) -> OsmHoursError | None:
    """The refusal for a string whose reading here differs from OSM evaluators' in a way that matters, or None.

    Next to a session past midnight the two readings often differ: where a rule names a day OSM evaluators replace
    that whole day, so `Fr 18:00-02:00; Sa 18:00-02:00` closes at midnight on Saturday morning, and a dated closure
    ends the night before at midnight. Here a session belongs to the day it starts and runs its full length, and a
    dated closure stops the sessions starting on its days: that is what publishers mean by those strings, and it is
    accepted. Two differences are refused: a session read here as running into a day a later rule says is `off`
    (the publisher wrote "closed" for a time shown open), and a day two dated rules name, where OSM's later rule
    wins and here a closure wins and special hours add up."""
    readings = _Readings.of(text, rules, schedule)
    for day in readings.differences():
        name = f"{DAY_NAMES[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"
        dated = [rule for rule in rules if rule.dates is not None and rule.dates[0] <= day <= rule.dates[1]]
        if len(dated) > 1 and any(rule.off for rule in dated[:-1]) and not dated[-1].off:
            return OsmHoursError(
                text,
                dated[-1].position,
                f"this rule opens on {name} inside an earlier dated closure: OSM evaluators keep the later rule, "
                f"where here a closure wins. To stay closed write {to_osm(schedule)!r}; to open that day, end the "
                "closure before it and start it again after",
            )
        if len(dated) > 1:
            hours = _spans(day_plan(schedule, day).ranges) or "off"
            return OsmHoursError(
                text,
                dated[-1].position,
                f"two dated rules give {name} special hours: OSM evaluators keep only the later one, where here they "
                f"add up. Give the day's hours in one rule, e.g. '{_date_selector(day, day)} {hours}'",
            )
        off = _said_off(rules, day.weekday())
        if off is not None and readings.open_only_here(day):
            weekday = DAY_NAMES[day.weekday()]
            before = DAY_NAMES[(day.weekday() - 1) % 7]
            cut = replace(
                schedule,
                sessions=tuple(
                    Session(s.day, TimeRange(s.hours.opens, MINUTES_PER_DAY))
                    if s.day == (day.weekday() - 1) % 7 and s.hours.crosses_midnight
                    else s
                    for s in schedule.sessions
                ),
            )
            return OsmHoursError(
                text,
                off.position,
                f"this rule says {weekday}s are off, but the {before} session before it runs on past midnight: here "
                f"it stays open into {weekday} morning, where OSM evaluators close it at midnight. Write which you "
                f"mean: {to_osm(schedule)!r} (open into {weekday} morning) or {to_osm(cut)!r} (closed all "
                f"{weekday})",
            )
    return None


def _exception_order(exception: DatedException) -> tuple[date, date, bool, tuple[tuple[int, int], ...], str]:
    return (
        exception.start,
        exception.end,
        exception.closed,
        tuple((r.opens, r.closes) for r in exception.hours),
        exception.reason,
    )


def _build(text: str, rules: Sequence[_Rule]) -> WeeklySchedule:
    by_day: list[tuple[TimeRange, ...]] = [() for _ in range(7)]
    holiday: tuple[TimeRange, ...] | None = None
    exceptions: list[DatedException] = []
    holiday_rule_seen = dated_rule_seen = False
    for rule in rules:
        hours: tuple[TimeRange, ...] = () if rule.off else (rule.spans or (WHOLE_DAY,))
        if dated_rule_seen and rule.dates is None:
            # Same reason: in OSM "2026 Dec 26 10:00-14:00; Sa off" is closed on Saturday 26 Dec, but a dated
            # exception here outranks the weekly hours whatever order they were written in.
            raise OsmHoursError(text, rule.position, "put dated rules last, after the weekday and PH rules")
        dated_rule_seen = dated_rule_seen or rule.dates is not None
        if rule.comment and rule.dates is None:
            # Only a dated rule has somewhere to keep its comment (the exception's reason); dropped, a note such
            # as "by referral only" would vanish without anyone knowing.
            raise OsmHoursError(
                text, rule.position, f"comment {rule.comment!r} would be lost: only a dated rule's comment is kept"
            )
        if holiday_rule_seen and rule.dates is None and not rule.holidays:
            # In OSM a later rule replaces earlier ones on the days it names, bank holidays falling on them
            # included ("PH off; Mo-Fr 09:00-17:00" is open on a Monday bank holiday). Bank-holiday hours here
            # apply to every bank holiday, so that string cannot be held as written: refused, never misread.
            raise OsmHoursError(text, rule.position, "put the PH rule after the weekday rules")
        holiday_rule_seen = holiday_rule_seen or rule.holidays
        if rule.dates is not None:
            exceptions.append(
                DatedException(rule.dates[0], rule.dates[1], closed=not hours, hours=hours, reason=rule.comment)
            )
            continue
        if rule.additional:
            for day in rule.days:
                by_day[day] += hours
            continue
        days = tuple(range(7)) if rule.always or not rule.selects_weekdays else rule.days
        for day in days:
            by_day[day] = hours
        if rule.holidays:
            holiday = hours
    sessions = tuple(Session(day, hours) for day in range(7) for hours in by_day[day])
    holiday_hours: tuple[TimeRange, ...] = ()
    if holiday is None:
        policy = BankHolidayPolicy.as_usual
    elif holiday:
        policy, holiday_hours = BankHolidayPolicy.special, holiday
    else:
        policy = BankHolidayPolicy.closed
    always = all(ranges == (WHOLE_DAY,) for ranges in by_day) and policy is BankHolidayPolicy.as_usual
    return WeeklySchedule(
        sessions=() if always else sessions,
        always_open=always,
        bank_holidays=policy,
        bank_holiday_hours=holiday_hours,
        exceptions=tuple(sorted(exceptions, key=_exception_order)),
    )


# The `opening_hours` package reads every date before 1900 as closed, and stops at the end of 9999.
_LIBRARY_DATES = (date(1900, 1, 2), date(9999, 12, 30))
_REFERENCE_MONDAY = date(2001, 1, 1)
_ONE_DAY = timedelta(days=1)
# Days compared from each end of a dated rule: a whole week of it, so every weekday.
_EDGE_DAYS = 6


@dataclass(frozen=True, slots=True)
class _Readings:
    """A string's hours as read here and as the `opening_hours` package reads them, both without `PH`: it means
    England's bank holidays here, a calendar the package does not have."""

    ours: WeeklySchedule
    library: opening_hours.OpeningHours

    @classmethod
    def of(cls, text: str, rules: Sequence[_Rule], schedule: WeeklySchedule) -> _Readings:
        ours = replace(schedule, bank_holidays=BankHolidayPolicy.as_usual, bank_holiday_hours=())
        return cls(ours, opening_hours.OpeningHours(_without_holidays(text, rules)))

    def differences(self) -> list[date]:
        """The days, of those compared, on which the two open at different times."""
        return [day for day in _compared_days(self.ours.exceptions) if self.open_here(day) != self.open_there(day)]

    def open_here(self, day: date) -> list[tuple[datetime, datetime]]:
        start, end = datetime.combine(day, time()), datetime.combine(day + _ONE_DAY, time())
        intervals = []
        for starts in (day - _ONE_DAY, day):  # the day before's sessions may run on past midnight
            midnight = datetime.combine(starts, time())
            for hours in day_plan(self.ours, starts).ranges:
                opens = midnight + timedelta(minutes=hours.opens)
                closes = opens + timedelta(minutes=hours.length)
                if closes > start and opens < end:
                    intervals.append((max(opens, start), min(closes, end)))
        return _merged(intervals)

    def open_there(self, day: date) -> list[tuple[datetime, datetime]]:
        start, end = datetime.combine(day, time()), datetime.combine(day + _ONE_DAY, time())
        found = self.library.intervals(start, end)
        return _merged([(a, b) for a, b, state, _ in found if state == opening_hours.State.OPEN])

    def open_only_here(self, day: date) -> bool:
        there = self.open_there(day)
        return any(not any(a <= start and end <= b for a, b in there) for start, end in self.open_here(day))


def _without_holidays(text: str, rules: Sequence[_Rule]) -> str:
    parts: list[str] = []
    for rule in rules:
        written = text[rule.position - 1 : rule.end].strip()
        if rule.holidays:
            if not rule.days:
                continue
            written = re.sub(r"\bPH\s*,\s*|\s*,\s*PH\b", "", written, count=1)
        parts.append(f"{',' if rule.additional else ';'} {written}" if parts else written)
    return " ".join(parts) or "off"


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def _compared_days(exceptions: Sequence[DatedException]) -> list[date]:
    """The days on which the two readings are compared: a week no dated rule comes near, and the days at and either
    side of both ends of each dated rule."""
    first_day, last_day = _LIBRARY_DATES
    days: set[date] = set()
    monday: date | None = _REFERENCE_MONDAY
    while monday is not None:
        near = [e for e in exceptions if _shift(e.start, -1) <= _shift(monday, 7) and _shift(e.end, 1) >= monday]
        if not near:
            days.update(_shift(monday, day) for day in range(7))
            break
        after = _shift(max(e.end for e in near), 2)
        # Past the last week the package reads, the weekly hours never apply: nothing to compare.
        monday = _shift(after, -after.weekday() % 7) if after < _shift(last_day, -14) else None
    for exception in exceptions:
        start, end = exception.start, exception.end
        for head, tail in ((start, min(end, _shift(start, _EDGE_DAYS))), (max(start, _shift(end, -_EDGE_DAYS)), end)):
            low, high = max(_shift(head, -1), first_day), min(_shift(tail, 1), last_day)
            days.update(_shift(low, day) for day in range((high - low).days + 1))
    return sorted(days)


def _merged(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    found: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if found and start <= found[-1][1]:
            found[-1] = (found[-1][0], max(found[-1][1], end))
        else:
            found.append((start, end))
    return found


def _check_with_library(text: str) -> None:
    # A second reader: if the reference implementation refuses what we accepted, trust the refusal.
    if opening_hours.validate(text):
        return
    try:
        opening_hours.OpeningHours(text)
    # The stubs do not declare ParserError (a plain Exception subclass); SyntaxError is what they document.
    except Exception as error:
        found = re.search(r"-->\s*\d+:(\d+)", str(error))
        position = int(found.group(1)) if found else 1
        raise OsmHoursError(text, position, "not valid OpenStreetMap opening_hours syntax") from None
    raise OsmHoursError(text, 1, "not valid OpenStreetMap opening_hours syntax")


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _spans(ranges: tuple[TimeRange, ...]) -> str:
    return ",".join(f"{_clock(r.opens)}-{_clock(r.closes)}" for r in sorted(ranges, key=lambda r: r.opens))


def _day_selector(days: list[int]) -> str:
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = [
        f"{DAY_CODES[run[0]]}-{DAY_CODES[run[-1]]}" if len(run) >= 3 else ",".join(DAY_CODES[d] for d in run)
        for run in runs
    ]
    return ",".join(parts)


def _date_selector(start: date, end: date) -> str:
    first = f"{start.year} {MONTHS[start.month - 1]} {start.day:02d}"
    if start == end:
        return first
    return f"{first}-{end.year} {MONTHS[end.month - 1]} {end.day:02d}"


def _spills_into_another_rule(groups: list[tuple[list[int], tuple[TimeRange, ...]]]) -> bool:
    rule_of = {day: index for index, (days, _) in enumerate(groups) for day in days}
    return any(
        rule_of.get((day + 1) % 7, index) != index
        for index, (days, ranges) in enumerate(groups)
        if any(r.crosses_midnight for r in ranges)
        for day in days
    )


def to_osm(schedule: WeeklySchedule) -> str:
    """The schedule as an OSM `opening_hours` string that `parse_osm` reads back to the same schedule (unless
    `osm_misreading` says OSM evaluators would read it differently)."""
    rules: list[str] = []
    if schedule.always_open:
        rules.append("24/7")
    else:
        groups = group_days(schedule)
        # Joined by ';', a session running past midnight into a day another rule names would end at midnight there
        # for OSM evaluators: joined by ',' (OSM's "additional rule"), no rule replaces another's day.
        joiner = ", " if _spills_into_another_rule(groups) else "; "
        rules.append(joiner.join(f"{_day_selector(days)} {_spans(ranges)}" for days, ranges in groups) or "off")
        if schedule.bank_holidays is BankHolidayPolicy.closed:
            rules.append("PH off")
        elif schedule.bank_holidays is BankHolidayPolicy.special:
            rules.append(f"PH {_spans(schedule.bank_holiday_hours)}")
    # In OSM a later dated rule replaces an earlier one on the dates both name; here a closure wins and special hours
    # add up. Closures go last, and special openings narrowest first, so that where one holds all the others' hours
    # (the only way both readings can agree) it is the one OSM evaluators keep.
    specials = sorted(
        (e for e in schedule.exceptions if not e.closed),
        key=lambda e: (sum(r.length for r in e.hours), e.start, e.end),
    )
    closures = sorted((e for e in schedule.exceptions if e.closed), key=lambda e: (e.start, e.end))
    for exception in [*specials, *closures]:
        state = "off" if exception.closed else _spans(exception.hours)
        # OSM comments cannot contain '"'.
        reason = exception.reason.replace('"', "'")
        comment = f' "{reason}"' if reason else ""
        rules.append(f"{_date_selector(exception.start, exception.end)} {state}{comment}")
    return "; ".join(rules)


def osm_misreading(schedule: WeeklySchedule) -> str | None:
    """Why `to_osm(schedule)` would be refused as read otherwise by OSM evaluators, or None when it is taken.

    A session past midnight next to a dated closure is not named: OSM evaluators end it at midnight, but that is the
    difference `parse_osm` accepts, reading it as this directory does."""
    try:
        parse_osm(to_osm(schedule))
    except OsmHoursError as error:
        return error.problem
    return None
