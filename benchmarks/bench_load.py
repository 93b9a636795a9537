"""Load run for issue 7: the real server under mixed search traffic, at a constant rate and then at saturation.

Targets: p99 < 10 ms with zero errors at 150 requests/s sustained for 60 s; at least 3,000 search requests/s at
saturation with two workers, on this 2-core machine.

    .venv/bin/python benchmarks/bench_load.py [--seconds 60] [--rate 150] [--saturation-seconds 10]
        [--connections 16] [--generator-processes 1] [--urls 1000] [--postgres URL]

What it does: loads the demonstration directory into a throwaway SQLite file (or, with --postgres, a throwaway
database on that server, dropped at the end), and builds --urls GET /v1/search URLs with synthetic.queries' mix
(full postcodes, postcode districts, no location, ages, needs, drinking, referral, open modes, radius, limit,
kinds, explain, instants across evenings, nights and bank holidays), centred on the demonstration towns 80 % of the
time and anywhere in England otherwise, a tenth of full postcodes sent as lat/lon instead. Every URL is checked for
a 200 before any timing.
Phase 1: `service-finder serve` (one worker) on a loopback port; an open loop sends --rate requests/s for
--seconds, each latency measured from the request's due instant (no coordinated omission).
Phase 2: saturation, closed loop with --connections keep-alive clients for --saturation-seconds, after a 2 s
warm-up: the service with one worker, then with two (`--workers 2`), then bench_http's fixed-JSON app (a response
of the search responses' mean size, same uvicorn settings) with one and two workers, as the framework's ceiling.
The load generator is benchmarks/loadgen.py in --generator-processes processes of its own (raw keep-alive
sockets on uvloop; wrk and locust are not installed here). It shares the machine's cores with the server: the
cores the server, the generator and every other process used are printed for every run. Server logs go to files
in the scratch directory (an unread pipe would stall the server). Nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from service_finder.schemas import SearchRequest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_http.py, loadgen.py, synthetic.py beside this
import bench_http
import loadgen
import synthetic

HERE = Path(__file__).resolve().parent
REPO = synthetic.REPO
CLI = bench_http.CLI
TARGET_P99_MS = 10.0
TARGET_SATURATION_RPS = 3000.0
NEAR_DEMO_SHARE = 0.8  # the demo directory's services sit in its towns; elsewhere only remote lines answer
COORDINATES_SHARE = 0.1  # of searches by full postcode, sent as lat/lon (an app's location) instead
WARM_UP_SECONDS = 2.0
OPEN_LOOP_CONNECTIONS = 256  # most connections the open loop opens at once when answers are slow
FIXED_PAYLOAD_ENV = "BENCH_LOAD_FIXED_PAYLOAD"
STARTED = b"Application startup complete."  # uvicorn logs it once per worker


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    workers: int
    outcome: loadgen.Outcome
    server: dict[int, str]  # process id: "supervisor", "worker" or "helper" (multiprocessing's resource tracker)


def query_params(request: SearchRequest) -> list[tuple[str, str]]:
    """The request's non-default fields, except where, as a query string's pairs (lists repeat)."""
    params: list[tuple[str, str]] = []
    dumped = request.model_dump(mode="json", exclude_defaults=True, exclude={"postcode", "lat", "lon", "at"})
    for name, value in dumped.items():
        for item in value if isinstance(value, list) else [value]:
            params.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
    return params


def search_paths(count: int, seed: int) -> tuple[list[str], Counter[str]]:
    """synthetic.queries' mix as GET /v1/search URLs, and a count of what the mix holds."""
    rng = random.Random(seed)
    directory = json.loads((synthetic.DATA / "demo" / "directory.json").read_text(encoding="utf-8"))
    towns = sorted(
        {(loc["postcode"], loc["latitude"], loc["longitude"]) for item in directory for loc in item["locations"]}
    )
    mix: Counter[str] = Counter()
    paths = []
    for query in synthetic.queries(count, seed=seed):
        location = query.location
        where: list[tuple[str, str]] = []
        if location is None or location.postcode is None:
            mix["no location"] += 1
        else:
            postcode, latitude, longitude = location.postcode, location.latitude, location.longitude
            if rng.random() < NEAR_DEMO_SHARE:
                postcode, latitude, longitude = rng.choice(towns)
                mix["near a demo town"] += 1
            if location.source == "postcode_district":
                where = [("postcode", postcode.split(" ")[0])]
                mix["postcode district"] += 1
            elif rng.random() < COORDINATES_SHARE:
                where = [("lat", f"{latitude:.5f}"), ("lon", f"{longitude:.5f}")]
                mix["lat/lon"] += 1
            else:
                where = [("postcode", postcode)]
                mix["full postcode"] += 1
        mix[f"open={query.request.open}"] += 1
        mix["explain"] += query.request.explain
        params = [*where, ("at", query.at.isoformat()), *query_params(query.request)]
        paths.append("/v1/search?" + urlencode(params))
    return paths, mix


def describe_mix(mix: Counter[str], count: int) -> str:
    def share(key: str) -> str:
        return f"{key} {mix[key] / count:.0%}"

    places = ", ".join(share(k) for k in ("full postcode", "postcode district", "lat/lon", "no location"))
    opens = ", ".join(share(k) for k in sorted(mix) if k.startswith("open="))
    return f"{places}; {share('near a demo town')}; {opens}; {share('explain')}"


def log_tail(log: Path, lines: int = 15) -> str:
    # The service never logs postcodes, coordinates, ages or needs, so its log can be shown as it is.
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def wait_started(process: subprocess.Popen[bytes], base: str, workers: int, log: Path, timeout: float = 120) -> None:
    """Until every worker has logged its startup and /healthz answers (a worker still loading takes no requests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server {base} exited with status {process.returncode} while starting:\n{log_tail(log)}")
        if log.read_bytes().count(STARTED) >= workers:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    raise SystemExit(f"server {base} did not start {workers} worker(s) within {timeout:g} s:\n{log_tail(log)}")


def role(pid: int, *, single: bool) -> str:
    if single:
        return "worker"
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        command = cmdline.read()
    # uvicorn's workers are multiprocessing children started by spawn_main; the first process supervises them.
    if b"spawn_main" in command:
        return "worker"
    return "helper" if b"multiprocessing" in command else "supervisor"


@contextmanager
def serving(command: list[str], env: dict[str, str], port: int, workers: int, log: Path) -> Iterator[dict[int, str]]:
    """The server's processes and their roles once every worker is up; stopped on the way out."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
    tree = [process.pid]
    try:
        wait_started(process, f"http://127.0.0.1:{port}", workers, log)
        tree = loadgen.descendants(process.pid)
        yield {pid: role(pid, single=len(tree) == 1) for pid in tree}
    finally:
        process.terminate()  # the supervisor stops its workers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            for pid in tree[1:]:  # a supervisor killed this way leaves its workers behind
                if loadgen.cpu_seconds(pid) is not None:
                    os.kill(pid, signal.SIGKILL)


def check_urls(base: str, paths: Sequence[str]) -> list[httpx.Response]:
    """Every URL answers 200 before anything is timed (this also warms the worker up)."""
    with httpx.Client(base_url=base, timeout=30) as client:
        try:
            answers = [client.get(path) for path in paths]
        except httpx.TransportError as error:
            raise SystemExit(f"a search URL got no answer from {base} within 30 s: {error!r}") from None
    bad = [answer for answer in answers if answer.status_code != 200]
    if bad:
        raise SystemExit(
            f"{len(bad)} of {len(paths)} search URLs failed, e.g. {bad[0].status_code}: {bad[0].text[:300]}"
        )
    return answers


def saturate(
    label: str,
    port: int,
    paths: list[str],
    workers: int,
    server: dict[int, str],
    args: argparse.Namespace,
    scratch: Path,
) -> Row:
    warm_up = loadgen.Job("closed", port, paths, WARM_UP_SECONDS, args.connections)
    loadgen.run(warm_up, processes=args.generator_processes, scratch=scratch)
    job = loadgen.Job("closed", port, paths, args.saturation_seconds, args.connections, watch_pids=list(server))
    return Row(label, workers, loadgen.run(job, processes=args.generator_processes, scratch=scratch), server)


def fixed_app_from_env() -> Any:
    """bench_http's fixed-JSON app, by import string so that uvicorn can start it in several workers."""
    return bench_http.fixed_app(os.environ[FIXED_PAYLOAD_ENV])


def serve_fixed(port: int, workers: int, payload: str) -> None:
    import uvicorn  # noqa: PLC0415

    os.environ[FIXED_PAYLOAD_ENV] = payload  # read by each worker, which imports this module afresh
    from service_finder.api.http_protocol import PROTOCOL  # noqa: PLC0415

    # bench_http's settings for the same app: no access log, no proxy headers, the service's HTTP protocol; plus
    # the worker count.
    uvicorn.run(
        "bench_load:fixed_app_from_env",
        factory=True,
        app_dir=str(HERE),
        host="127.0.0.1",
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=False,
        http=PROTOCOL,
    )


@contextmanager
def store(postgres: str | None, scratch: Path) -> Iterator[tuple[str, str]]:
    """The database URL the server uses, and how to name it in the output."""
    if postgres is None:
        yield f"sqlite:///{scratch / 'bench.sqlite3'}", "SQLite (a temporary file)"
        return
    import sqlalchemy as sa  # noqa: PLC0415

    from service_finder.storage.db import normalise_url  # noqa: PLC0415

    admin = sa.create_engine(normalise_url(postgres), isolation_level="AUTOCOMMIT")
    name = f"bench_load_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.make_url(normalise_url(postgres)).set(database=name).render_as_string(hide_password=False)
        yield url, f"PostgreSQL (throwaway database {name})"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def load_demo(env: dict[str, str]) -> None:
    command = [str(CLI), "demo", "load"]
    loaded = subprocess.run(command, check=False, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    if loaded.returncode != 0:
        raise SystemExit(f"service-finder demo load exited with {loaded.returncode}:\n{loaded.stderr[-2000:]}")


def cores(seconds: float, row: Row) -> float:
    return seconds / row.outcome.window if row.outcome.window > 0 else 0.0


def server_cores(row: Row) -> str:
    total = cores(sum(row.outcome.watched_cpu.get(pid, 0.0) for pid in row.server), row)
    workers = [
        cores(row.outcome.watched_cpu.get(pid, 0.0), row) for pid, role in row.server.items() if role == "worker"
    ]
    if len(workers) == 1:
        return f"{total:.2f}"
    # Each worker's share shows how evenly the kernel spread the connections between them.
    return f"{total:.2f} (workers {' + '.join(f'{w:.2f}' for w in workers)})"


def other_cores(row: Row) -> float:
    """What the rest of the machine (other people's work) used while this run was measured."""
    server = sum(row.outcome.watched_cpu.values())
    return max(0.0, cores(row.outcome.machine_cpu - row.outcome.generator_cpu - server, row))


def print_table(rows: Sequence[Row]) -> None:
    print(
        "\n| run | workers | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms | server cores "
        "| generator cores | other processes' cores |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for row in rows:
        o = row.outcome
        ordered = sorted(o.latencies_ms)
        p50, p95, p99 = (synthetic.percentile(ordered, f) for f in (0.50, 0.95, 0.99)) if ordered else (0.0,) * 3
        print(
            f"| {row.label} | {row.workers} | {o.sent:,} | {o.errors} | {o.rate:,.0f} | {p50:.2f} | {p95:.2f} "
            f"| {p99:.2f} | {ordered[-1] if ordered else 0:.2f} | {server_cores(row)} "
            f"| {cores(o.generator_cpu, row):.2f} | {other_cores(row):.2f} |"
        )


def describe_errors(outcome: loadgen.Outcome) -> str:
    statuses = ", ".join(f"{count} x {status}" for status, count in sorted(outcome.statuses.items()) if status != 200)
    failures = ", ".join(f"{count} x {kind}" for kind, count in sorted(outcome.failures.items()))
    return "; ".join(part for part in (statuses, failures) if part) or "none"


def service_runs(
    args: argparse.Namespace, env: dict[str, str], paths: list[str], scratch: Path
) -> tuple[list[Row], str]:
    """The constant-rate run and saturation with one worker, saturation with two; and a typical response body."""
    rows = []
    port = bench_http.free_port()
    command = [str(CLI), "serve", "--port", str(port), "--workers", "1"]
    with serving(command, env, port, 1, scratch / "service-1.log") as server:
        answers = check_urls(f"http://127.0.0.1:{port}", paths)
        sizes = [len(answer.content) for answer in answers]
        mean_size = sum(sizes) / len(sizes)
        typical = min(answers, key=lambda answer: abs(len(answer.content) - mean_size))
        results = sum(len(answer.json()["results"]) for answer in answers) / len(answers)
        print(
            f"responses {mean_size / 1000:.1f} KB mean ({min(sizes) / 1000:.1f}-{max(sizes) / 1000:.1f} KB), "
            f"{results:.1f} results mean; every URL answered 200"
        )
        print(f"phase 1: {args.rate:g} requests/s for {args.seconds:g} s, open loop, one worker …")
        constant = loadgen.Job(
            "open", port, paths, args.seconds, OPEN_LOOP_CONNECTIONS, args.rate, watch_pids=list(server)
        )
        outcome = loadgen.run(constant, processes=args.generator_processes, scratch=scratch)
        rows.append(Row(f"search, constant {args.rate:g}/s (open loop)", 1, outcome, server))
        print(f"phase 2: saturation, one worker, {args.connections} connections …")
        rows.append(saturate("search, saturation", port, paths, 1, server, args, scratch))
    port = bench_http.free_port()
    command = [str(CLI), "serve", "--port", str(port), "--workers", "2"]
    with serving(command, env, port, 2, scratch / "service-2.log") as server:
        print(f"phase 2: saturation, two workers, {args.connections} connections …")
        rows.append(saturate("search, saturation", port, paths, 2, server, args, scratch))
    return rows, typical.text


def fixed_runs(args: argparse.Namespace, payload: Path, scratch: Path) -> list[Row]:
    rows = []
    for workers in (1, 2):
        port = bench_http.free_port()
        command = [sys.executable, __file__, "--serve-fixed", str(port), str(workers), str(payload)]
        with serving(command, dict(os.environ), port, workers, scratch / f"fixed-{workers}.log") as server:
            size = len(httpx.get(f"http://127.0.0.1:{port}/fixed", timeout=10).content)
            print(f"phase 2: fixed JSON saturation, {workers} worker(s) …")
            rows.append(
                saturate(
                    f"fixed {size / 1000:.1f} KB JSON, saturation", port, ["/fixed"], workers, server, args, scratch
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the constant-rate run")
    parser.add_argument("--rate", type=float, default=150.0, help="requests/s of the constant-rate run")
    parser.add_argument("--saturation-seconds", type=float, default=10.0, help="length of each saturation run")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive clients at saturation")
    parser.add_argument("--generator-processes", type=int, default=1)
    parser.add_argument("--urls", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres", metavar="URL", help="serve from a throwaway database on this server")
    parser.add_argument("--serve-fixed", nargs=3, metavar=("PORT", "WORKERS", "PAYLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fixed:
        serve_fixed(int(args.serve_fixed[0]), int(args.serve_fixed[1]), args.serve_fixed[2])
        return
    if not (0 < args.seconds <= 300 and 0 < args.saturation_seconds <= 120 and 0 < args.rate <= 5000):
        raise SystemExit("runs are bounded: --seconds up to 300, --saturation-seconds up to 120, --rate up to 5000")
    if not (1 <= args.connections <= 256 and 1 <= args.generator_processes <= 4 and 1 <= args.urls <= 20_000):
        raise SystemExit("bounded: --connections 1-256, --generator-processes 1-4, --urls 1-20000")
    if not CLI.exists():
        raise SystemExit(f"{CLI} is missing: create the virtual environment first")

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start")
    print(
        f"load generator: benchmarks/loadgen.py in {args.generator_processes} process(es) of its own (raw HTTP/1.1 "
        "keep-alive sockets; wrk and locust are not used). It runs on the same cores as the server and competes "
        "with it: the cores each used are in the table."
    )
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch_dir:
        scratch = Path(scratch_dir)
        with store(args.postgres, scratch) as (database_url, database_name):
            env = {
                **os.environ,
                "SERVICE_FINDER_DATABASE_URL": database_url,
                # The rate limiter stays in the path (its cost is real) with limits no load run can reach.
                "SERVICE_FINDER_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "1000000000",
                "SERVICE_FINDER_RATE_LIMIT_ANONYMOUS_BURST": "1000000000",
            }
            load_demo(env)
            paths, mix = search_paths(args.urls, args.seed)
            print(f"store: {database_name}, demonstration directory")
            print(f"{len(paths)} search URLs: {describe_mix(mix, len(paths))}")
            rows, typical = service_runs(args, env, paths, scratch)
        payload = scratch / "fixed.json"
        payload.write_text(typical, encoding="utf-8")
        rows.extend(fixed_runs(args, payload, scratch))
    report(rows, args)


def report(rows: Sequence[Row], args: argparse.Namespace) -> None:
    rate_row, search_1, search_2, fixed_1, fixed_2 = rows
    print_table(rows)
    o = rate_row.outcome
    lag = sorted(o.send_lag_ms) or [float("nan")]  # nothing sent: every connection was refused
    print(
        f"\nconstant rate: {o.answered:,} answers in {o.elapsed:.1f} s ({o.rate:.1f}/s achieved of {args.rate:g}); "
        f"latency from each request's due instant; generator send lag p50 {synthetic.percentile(lag, 0.5):.2f} ms, "
        f"p99 {synthetic.percentile(lag, 0.99):.2f} ms (included in the latencies); {o.connections_opened} "
        f"connections opened, {o.retries} retries on stale keep-alive connections; errors: {describe_errors(o)}"
    )
    for row in (search_1, search_2, fixed_1, fixed_2):
        if row.outcome.errors:
            print(f"errors in '{row.label}', {row.workers} worker(s): {describe_errors(row.outcome)}")
    print(
        f"saturation: closed loop, {args.connections} keep-alive connections, {args.saturation_seconds:g} s each "
        f"after a {WARM_UP_SECONDS:g} s warm-up; latency from each send"
    )
    busiest = max(cores(row.outcome.generator_cpu, row) for row in rows)
    others = max(other_cores(row) for row in rows)
    print(
        f"the generator used up to {busiest:.2f} cores of the machine's {os.cpu_count()}, taken from the server, "
        f"and other processes up to {others:.2f}: the figures are a floor for a server with the machine to itself"
    )
    if others > 0.25:
        print(f"  the machine was not quiet (other processes used up to {others:.2f} cores): re-run on a quiet one")
    if busiest >= 0.9 * args.generator_processes:
        print(
            "  the generator was near a full core per process and may have capped the rate: try --generator-processes 2"
        )

    p99 = synthetic.percentile(sorted(o.latencies_ms) or [float("nan")], 0.99)
    print("\ntargets (ratio = figure / target)")
    verdict = "ok" if p99 < TARGET_P99_MS else "OVER TARGET"
    print(
        f"  p99 at {args.rate:g} req/s, one worker: {p99:.2f} ms / {TARGET_P99_MS:g} ms = "
        f"{p99 / TARGET_P99_MS:.2f}  {verdict}"
    )
    verdict = "ok" if o.errors == 0 else "OVER TARGET"
    print(
        f"  errors at {args.rate:g} req/s: {o.errors} of {o.sent:,} ({o.errors / max(o.sent, 1):.2%}), "
        f"target 0  {verdict}"
    )
    two = search_2.outcome.rate
    verdict = "ok" if two >= TARGET_SATURATION_RPS else "BELOW TARGET"
    print(
        f"  saturation, two workers: {two:,.0f} req/s / {TARGET_SATURATION_RPS:,.0f} = "
        f"{two / TARGET_SATURATION_RPS:.2f} (target >= 1.00)  {verdict}"
    )
    one = search_1.outcome.rate
    print(
        f"  saturation, one worker: {one:,.0f} req/s / {TARGET_SATURATION_RPS:,.0f} = {one / TARGET_SATURATION_RPS:.2f}"
    )
    print(f"  two workers / one worker: {two / one:.2f}x" if one else "  one worker answered nothing")
    for workers, search_row, fixed_row in ((1, search_1, fixed_1), (2, search_2, fixed_2)):
        fixed = fixed_row.outcome.rate
        print(
            f"  fixed JSON, {workers} worker(s): {fixed:,.0f} req/s "
            f"({fixed / TARGET_SATURATION_RPS:.2f} of the target); "
            f"search / fixed = {search_row.outcome.rate / fixed:.0%}"
            if fixed
            else f"  fixed JSON, {workers} worker(s): no answers"
        )


if __name__ == "__main__":
    main()
