"""Coverage and gap analysis: where and when can nobody reach an open, eligible service?

`service-finder coverage` and `service-finder quality`; the main CLI registers these commands at top level.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from service_finder.catalogue import load_index
from service_finder.config import get_settings
from service_finder.coverage import report
from service_finder.coverage.analysis import (
    DEFAULT_KINDS,
    CoverageQuery,
    Population,
    Profile,
    Reach,
    TravelMode,
    WindowError,
    compute,
    distinct_instants,
    window_instants,
)
from service_finder.coverage.quality import CHECK_LABELS, quality_report
from service_finder.coverage.report import CoverageReport, OutputFormat
from service_finder.domain.opening_hours import LONDON, to_london
from service_finder.domain.taxonomy import Need, ServiceKind
from service_finder.geocoding.gazetteer import Gazetteer, GazetteerFileError
from service_finder.schemas import EARLIEST_YEAR, LATEST_YEAR, PersonGender, Referral, within_supported_years
from service_finder.search.index import DirectoryIndex
from service_finder.storage import migrate

app = typer.Typer()
console = Console(stderr=True, soft_wrap=True)


def _load_index() -> DirectoryIndex:
    from service_finder.cli import open_store  # noqa: PLC0415  (that module registers this one's commands)

    engine = open_store(get_settings().database_url)
    migrate.upgrade(engine)
    loaded = load_index(engine)
    if loaded.unreadable:  # left out of the analysis, which must say so
        console.print(
            f"[yellow]left out: {len(loaded.unreadable)} stored service(s) that cannot be read: "
            + escape(", ".join(loaded.unreadable[:10]))
        )
    return loaded.index


def _load_gazetteer() -> Gazetteer:
    try:
        return Gazetteer.load(get_settings().gazetteer_path)
    except GazetteerFileError as error:
        console.print(f"[red]{escape(str(error))}")
        raise typer.Exit(2) from None


def _refuse(message: str) -> NoReturn:
    console.print(f"[red]{escape(message)}", highlight=False)
    raise typer.Exit(2)


def parse_instant(text: str) -> datetime:
    try:
        # The API's bounds too (1900-2199): at the ends of the calendar an offset overflows the date.
        return to_london(within_supported_years(datetime.fromisoformat(text)))
    except (ValueError, OverflowError):
        raise typer.BadParameter(
            f"instant {text!r} is not an ISO 8601 date-time between {EARLIEST_YEAR} and {LATEST_YEAR} "
            "(e.g. 2025-06-07T02:00)"
        ) from None


@app.command("coverage")
def coverage_command(
    at: Annotated[
        list[str] | None, typer.Option("--at", help="An instant (ISO 8601, London time if no offset); repeatable")
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            help="Hours of a week: week, weekday-evenings, nights, weekend, or 'DAYS HH:MM[-HH:MM]' "
            "(e.g. 'sat 02:00', 'fri-sat 22:00-04:00'); several joined with ';'",
        ),
    ] = None,
    week_of: Annotated[
        datetime | None, typer.Option("--week-of", formats=["%Y-%m-%d"], help="A date in the week (default: this week)")
    ] = None,
    age: Annotated[int | None, typer.Option("--age", min=0, max=120)] = None,
    gender: Annotated[PersonGender | None, typer.Option("--gender")] = None,
    intoxicated: Annotated[bool, typer.Option("--intoxicated", help="Has been drinking or using drugs")] = False,
    uses_substances: Annotated[bool, typer.Option("--uses-substances")] = False,
    need: Annotated[list[Need] | None, typer.Option("--need", help="A service must list every need given")] = None,
    referral: Annotated[Referral, typer.Option("--referral")] = Referral.self,
    strict: Annotated[bool, typer.Option("--strict", help="Count only services known to accept the person")] = False,
    kind: Annotated[
        list[ServiceKind] | None,
        typer.Option("--kind", help=f"Kinds counted (default: {', '.join(k.value for k in DEFAULT_KINDS)})"),
    ] = None,
    km: Annotated[float | None, typer.Option("--km", min=0.1, help="Reach, straight-line km (default 10)")] = None,
    minutes: Annotated[float | None, typer.Option("--minutes", help="Reach as estimated minutes of travel")] = None,
    mode: Annotated[TravelMode, typer.Option("--mode", help="Travel mode for --minutes")] = TravelMode.transport,
    include_remote: Annotated[
        bool, typer.Option("--include-remote", help="Phone, text and online services cover their catchment")
    ] = False,
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Where to write the files")] = Path(
        "var/coverage"
    ),
    formats: Annotated[
        list[OutputFormat] | None, typer.Option("--format", help="Files to write (default: all); repeatable")
    ] = None,
) -> None:
    """Share of England's postcodes that can reach an open, eligible service, by instant, district and hour."""
    # Either alone would be ignored and the figures given for now, a time nobody asked about.
    if window is not None and not window.strip():
        _refuse(
            "--window is blank: nothing computed. Give hours of the week (e.g. --window 'sat 02:00'), or leave "
            "it out for now."
        )
    if week_of is not None and not window:
        _refuse(
            f"--week-of {week_of:%Y-%m-%d} picks the week of a --window, but no --window is given: nothing "
            "computed. Add --window (e.g. --window 'sat 02:00'), or give exact instants with --at."
        )
    if km is not None and minutes is not None:
        raise typer.BadParameter("give --km or --minutes, not both")
    try:
        reach = (
            Reach.by_minutes(minutes, mode)
            if minutes is not None
            else Reach.straight_line(km if km is not None else 10.0)
        )
        instants = [parse_instant(text) for text in at or []]
        if window:
            week = week_of.date() if week_of else datetime.now(LONDON).date()
            if not EARLIEST_YEAR <= week.year <= LATEST_YEAR:
                raise typer.BadParameter(f"--week-of {week} is not between {EARLIEST_YEAR} and {LATEST_YEAR}")
            instants += window_instants(window, week)
    except (ValueError, WindowError) as error:
        raise typer.BadParameter(str(error)) from None
    if not instants:
        instants = [datetime.now(LONDON).replace(second=0, microsecond=0)]
    instants = distinct_instants(instants)
    query = CoverageQuery(
        profile=Profile(
            age=age,
            gender=gender,
            intoxicated=intoxicated,
            uses_substances=uses_substances,
            needs=tuple(need or ()),
            referral=referral,
            strict=strict,
        ),
        kinds=tuple(kind) if kind else DEFAULT_KINDS,
        reach=reach,
        include_remote=include_remote,
    )
    index, gazetteer = _load_index(), _load_gazetteer()
    with console.status(f"computing coverage at {len(instants)} instant(s) over {len(gazetteer):,} postcodes"):
        result = compute(index, Population.from_gazetteer(gazetteer), query, instants)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats or list(OutputFormat):
        for name, content in report.files(result, fmt).items():
            (output_dir / name).write_bytes(content)
            written.append(name)
    _print_summary(report.to_report(result))
    console.print(f"wrote {', '.join(written)} to {escape(str(output_dir))}")


def _print_summary(summary: CoverageReport) -> None:
    out = Console(soft_wrap=True)
    out.print(f"[bold]{summary.reach}[/bold]; kinds: {', '.join(k.value for k in summary.kinds)}")
    if summary.demo:
        out.print("[yellow]Includes demonstration data: fictional services, not real provision.")
    table = Table("instant (London)", "open services", "postcodes covered", "share", title="By instant")
    for item in summary.instants[:48]:
        table.add_row(f"{item.at:%a %d %b %Y %H:%M}", str(item.open_services), f"{item.covered:,}", f"{item.share:.1%}")
    if len(summary.instants) > 48:
        table.add_row("...", "", "", "")
    out.print(table)
    worst = Table("district", "postcodes", "mean share", "lowest", "worst at", title="Least covered districts")
    for district in summary.districts[:15]:
        worst.add_row(
            escape(f"{district.name or '-'} ({district.code or 'none'})"),
            f"{district.postcodes:,}",
            f"{district.mean_share:.1%}",
            f"{district.min_share:.1%}",
            f"{district.worst_at:%a %H:%M}",
        )
    out.print(worst)
    out.print(f"mean share over all instants: [bold]{summary.mean_share:.1%}[/bold]")
    out.print(summary.attribution, style="dim")


@app.command("quality")
def quality_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON file to write")] = Path("var/quality.json"),
    today: Annotated[
        datetime | None, typer.Option("--today", formats=["%Y-%m-%d"], help="Judge staleness as of this date")
    ] = None,
    show: Annotated[int, typer.Option("--show", min=0, help="Findings to list per check")] = 10,
) -> None:
    """Data-quality report: stale, no hours, no phone, no location, hours notes that disagree, duplicates, demo."""
    index = _load_index()
    day: date = today.date() if today else datetime.now(LONDON).date()
    result = quality_report(index, day)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(result.model_dump_json(indent=1))
    out = Console(soft_wrap=True)
    counts = Table("check", "services", title=f"Data quality: {result.services} services, as of {day}")
    for count in result.counts:
        counts.add_row(count.label, str(count.services))
    out.print(counts)
    for count in result.counts:
        items = [f for f in result.findings if f.check is count.check]
        if not items or show == 0:
            continue
        table = Table("service", "detail", title=CHECK_LABELS[count.check])
        for finding in items[:show]:
            # Names and details are the data's own words ('Old line [/closed]'): text, never Rich markup.
            table.add_row(escape(f"{finding.name} ({finding.service_id})"), escape(finding.detail))
        if len(items) > show:
            table.add_row(f"... and {len(items) - show} more", f"see {escape(str(output))}")
        out.print(table)
    console.print(f"wrote {escape(str(output))}")
