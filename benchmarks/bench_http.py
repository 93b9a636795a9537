"""GET /v1/search over HTTP: one uvicorn worker on loopback, a bounded load run.

Targets (issue 4): (a) /v1/search throughput at saturation >= 60 % of the throughput of a fixed JSON response of
the same size, served with the same uvicorn settings; (b) p99 < 10 ms at a constant 150 requests/s.

    .venv/bin/python benchmarks/bench_http.py [--seconds 10] [--rate 150] [--rate-seconds 30] [--connections 16]

What it does: loads the demonstration directory into a temporary SQLite file (`service-finder demo load`), starts
`service-finder serve --port P` (one worker) on a free loopback port, and builds a few hundred mixed search URLs
around the demonstration towns (postcodes and postcode districts, ages, needs, drinking, open modes, explain).
(a) `wrk` (Debian: apt-get install -y wrk; a closed-loop httpx generator if it is missing) saturates /v1/search
with a Lua script cycling through the URLs, then a tiny FastAPI app started by this script with the same uvicorn
settings (one worker, no access log, the service's own request-id middleware; the service's rate limiter is left
on with limits set out of reach) serving a fixed search response of
the same mean size as a dict (FastAPI encodes it on every request, as it encodes a search response).
(b) An open-loop asyncio + httpx generator sends requests at a constant rate (wrk cannot hold a rate; wrk2 is not
in Debian) and measures each latency from the instant the request was due, so a stall is not hidden by the
generator waiting (coordinated omission). Load generator and server share the machine's cores: on a 2-core machine
the figures are a floor, not the server's ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # synthetic.py beside this script
import synthetic

REPO = synthetic.REPO
CLI = REPO / ".venv" / "bin" / "service-finder"
TARGET_THROUGHPUT_SHARE = 0.60
TARGET_P99_MS = 10.0
NEEDS = ["self_harm", "suicidal_thoughts", "alcohol", "substance_use", "psychosis", "anxiety_depression"]
AT = ["2026-06-10T20:30:00+01:00", "2026-06-13T18:45:00+01:00", "2026-06-11T02:15:00+01:00"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def search_paths(count: int, seed: int) -> list[str]:
    """Searches around the demonstration towns, where the demo directory has services to find."""
    rng = random.Random(seed)
    directory = json.loads((synthetic.DATA / "demo" / "directory.json").read_text(encoding="utf-8"))
    postcodes = sorted({loc["postcode"] for item in directory for loc in item["locations"]})
    paths = []
    for _ in range(count):
        postcode = rng.choice(postcodes)
        params: list[tuple[str, str]] = [
            ("postcode", postcode if rng.random() < 0.8 else postcode.split(" ")[0]),
            ("at", rng.choice(AT)),
            ("open", rng.choice(["now", "now", "now", "within:120", "any"])),
        ]
        if rng.random() < 0.8:
            params.append(("age", str(rng.randint(14, 85))))
        params.extend(("needs", need) for need in rng.sample(NEEDS, rng.choice([0, 1, 2])))
        if rng.random() < 0.2:
            params.append(("intoxicated", "true"))
        if rng.random() < 0.3:
            params.append(("uses_substances", "true"))
        if rng.random() < 0.3:
            params.append(("referral", "professional"))
        if rng.random() < 0.2:
            params.append(("explain", "true"))
        paths.append("/v1/search?" + urlencode(params))
    return paths


def wait_ready(base: str, process: subprocess.Popen[bytes], path: str = "/healthz", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server for {base} exited with status {process.returncode} before it was ready")
        try:
            if httpx.get(base + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server for {base} did not answer {path} within {timeout:g} s")


@contextmanager
def running(command: list[str], env: dict[str, str], base: str, ready_path: str) -> Iterator[None]:
    # The server logs a JSON line per request: to a file, since an unread pipe would fill and stall it.
    with tempfile.TemporaryFile(prefix="bench-http-server-") as log:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_ready(base, process, ready_path)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def fixed_app(payload_file: str) -> Any:
    """The baseline server: the same framework path for a response that costs nothing to compute."""
    from fastapi import FastAPI  # noqa: PLC0415

    from service_finder.api.middleware import RequestIdMiddleware  # noqa: PLC0415

    payload = json.loads(Path(payload_file).read_text(encoding="utf-8"))
    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)

    @app.get("/fixed")
    async def fixed() -> dict[str, Any]:
        return payload  # type: ignore[no-any-return]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_fixed(port: int, payload_file: str) -> None:
    import uvicorn  # noqa: PLC0415

    from service_finder.api.http_protocol import PROTOCOL  # noqa: PLC0415

    # The same settings as `service-finder serve`: one worker, no access log, no proxy headers, its HTTP protocol
    # (which sends a response's head and body in one write).
    uvicorn.run(
        fixed_app(payload_file), host="127.0.0.1", port=port, access_log=False, proxy_headers=False, http=PROTOCOL
    )


def wrk_throughput(base: str, paths: list[str], seconds: int, connections: int, scratch: Path) -> dict[str, float]:
    script = scratch / f"paths{len(paths)}.lua"
    listed = ",\n".join(json.dumps(p) for p in paths)
    script.write_text(
        f"local paths = {{\n{listed}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n",
        encoding="utf-8",
    )
    wrk = shutil.which("wrk")
    assert wrk is not None
    result = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    )
    text = result.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    return {
        "rps": float(rate.group(1)) if rate else float("nan"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "requests": float(total.group(1)) if total else 0.0,
    }


async def _closed_loop(base: str, paths: list[str], seconds: float, connections: int) -> dict[str, float]:
    done, errors = 0, 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:

        async def worker(offset: int) -> None:
            nonlocal done, errors
            i = offset
            while time.perf_counter() < deadline:
                response = await client.get(paths[i % len(paths)])
                errors += response.status_code >= 300
                done += 1
                i += connections

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(connections)))
        elapsed = time.perf_counter() - started
    return {"rps": done / elapsed, "non_2xx": float(errors), "requests": float(done)}


def throughput(base: str, paths: list[str], seconds: int, connections: int, scratch: Path) -> dict[str, float]:
    if shutil.which("wrk"):
        return wrk_throughput(base, paths, seconds, connections, scratch)
    return asyncio.run(_closed_loop(base, paths, seconds, connections))


async def constant_rate(base: str, paths: list[str], rate: float, seconds: float) -> tuple[list[float], int]:
    """Open loop: request i is due at start + i / rate whether or not earlier ones have answered."""
    count = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def one(i: int, due: float) -> None:
            nonlocal errors
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            response = await client.get(paths[i % len(paths)])
            latencies.append((time.perf_counter() - due) * 1000)
            errors += response.status_code != 200

        start = time.perf_counter() + 0.2
        await asyncio.gather(*(one(i, start + i / rate) for i in range(count)))
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each saturation run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=150.0, help="requests/s for the constant-rate run")
    parser.add_argument("--rate-seconds", type=float, default=30.0)
    parser.add_argument("--urls", type=int, default=400)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--serve-fixed", nargs=2, metavar=("PORT", "PAYLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fixed:
        serve_fixed(int(args.serve_fixed[0]), args.serve_fixed[1])
        return
    if args.seconds > 120 or args.rate_seconds > 120:
        raise SystemExit(f"runs are bounded: --seconds {args.seconds} / --rate-seconds {args.rate_seconds} over 120")
    if not CLI.exists():
        raise SystemExit(f"{CLI} is missing: create the virtual environment first")

    with tempfile.TemporaryDirectory(prefix="bench-http-") as scratch_dir:
        scratch = Path(scratch_dir)
        env = {
            **os.environ,
            "SERVICE_FINDER_DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
            # The rate limiter stays in the path (its cost is real) with limits no load run can reach.
            "SERVICE_FINDER_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "1000000000",
            "SERVICE_FINDER_RATE_LIMIT_ANONYMOUS_BURST": "1000000000",
        }
        subprocess.run([str(CLI), "demo", "load"], env=env, cwd=REPO, check=True, capture_output=True)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        paths = search_paths(args.urls, args.seed)
        generator = "wrk" if shutil.which("wrk") else "httpx closed loop (wrk not installed: apt-get install -y wrk)"
        print(f"server: service-finder serve --port {port} (1 uvicorn worker), demo directory in SQLite")
        print(f"load generator: {generator}, {args.connections} connections, {args.seconds} s per saturation run")

        with running([str(CLI), "serve", "--port", str(port)], env, base, "/healthz"):
            try:
                bodies = [httpx.get(base + p, timeout=30) for p in paths]
            except httpx.TransportError as error:
                raise SystemExit(f"a search URL got no answer from {base} within 30 s: {error!r}") from None
            bad = [r for r in bodies if r.status_code != 200]
            if bad:
                raise SystemExit(
                    f"{len(bad)} of {len(paths)} search URLs failed, e.g. {bad[0].status_code}: {bad[0].text[:300]}"
                )
            sizes = [len(r.content) for r in bodies]
            mean_size = sum(sizes) / len(sizes)
            typical = min(bodies, key=lambda r: abs(len(r.content) - mean_size))
            results = [len(r.json()["results"]) for r in bodies]
            print(
                f"{len(paths)} search URLs, response {mean_size / 1000:.1f} KB mean "
                f"({min(sizes) / 1000:.1f}-{max(sizes) / 1000:.1f} KB), {sum(results) / len(results):.1f} results"
            )
            search_run = throughput(base, paths, args.seconds, args.connections, scratch)
            latencies, rate_errors = asyncio.run(constant_rate(base, paths, args.rate, args.rate_seconds))

        payload = scratch / "fixed.json"
        payload.write_text(typical.text, encoding="utf-8")
        fixed_port = free_port()
        fixed_base = f"http://127.0.0.1:{fixed_port}"
        fixed_command = [sys.executable, __file__, "--serve-fixed", str(fixed_port), str(payload)]
        with running(fixed_command, env, fixed_base, "/healthz"):
            fixed_size = len(httpx.get(fixed_base + "/fixed").content)
            fixed_run = throughput(fixed_base, ["/fixed"], args.seconds, args.connections, scratch)

    share = search_run["rps"] / fixed_run["rps"]
    print(f"\n(a) saturation, {args.seconds} s each")
    print(
        f"  /v1/search        {search_run['rps']:9.0f} requests/s  ({search_run['requests']:.0f} requests, "
        f"{search_run['non_2xx']:.0f} not 2xx)"
    )
    print(
        f"  fixed JSON {fixed_size / 1000:.1f} KB {fixed_run['rps']:9.0f} requests/s  ({fixed_run['requests']:.0f} "
        f"requests, {fixed_run['non_2xx']:.0f} not 2xx)"
    )
    verdict = "ok" if share >= TARGET_THROUGHPUT_SHARE else "BELOW TARGET"
    print(f"  search / fixed = {share:.0%} (target >= {TARGET_THROUGHPUT_SHARE:.0%})  {verdict}")

    ordered = sorted(latencies)
    p50, p95, p99 = (synthetic.percentile(ordered, f) for f in (0.50, 0.95, 0.99))
    print(f"\n(b) constant {args.rate:g} requests/s for {args.rate_seconds:g} s (open loop, latency from due time)")
    print(
        f"  {len(ordered)} requests, {rate_errors} not 200: p50 {p50:.2f} ms  p95 {p95:.2f} ms  p99 {p99:.2f} ms  "
        f"max {ordered[-1]:.2f} ms"
    )
    verdict = "ok" if p99 < TARGET_P99_MS else "OVER TARGET"
    print(f"  p99 {p99:.2f} ms: target < {TARGET_P99_MS:g} ms, ratio {p99 / TARGET_P99_MS:.2f}  {verdict}")


if __name__ == "__main__":
    main()
