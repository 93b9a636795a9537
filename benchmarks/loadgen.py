"""A loopback HTTP/1.1 load generator: open loop at a constant rate, or closed loop to saturation.

    run(Job(mode="open", port=8000, paths=[...], seconds=60, connections=256, rate=150), processes=1, scratch=dir)

Each run is one or more processes of this file, started by `run()`, so the generator's CPU is its own and can be
measured: on a small machine it competes with the server for the same cores, and the caller can say how much.
Only the standard library (and uvloop when it is installed, as it is with uvicorn[standard]) is imported. A process
builds every request's bytes before the first is due, keeps its connections alive, and reads only the status line
and the body's length of each answer, so the per-request work is a few microseconds of Python.

Open loop: request i is due at start + i / rate whatever happened to the earlier ones. Its latency runs from the
due instant (or from the send, if the event loop's millisecond timers woke early) to the answer's last byte, so a
stall shows in the latencies instead of quietly lowering the rate (coordinated omission), and the generator's own
lateness counts against the server, never for it; that lateness is reported too. A request waits for a free
connection when `connections` are all busy, and that wait counts.
Closed loop: `connections` clients each send their next request as soon as the previous answer is complete;
their connections are opened one by one before the start (see `_prime`), so that a multi-worker server shares
them out.

A request that fails on a kept-alive connection the server had just closed (its keep-alive timeout racing our
send) is retried once on a new connection, as HTTP clients do for idempotent requests; retries are counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

HOST = "127.0.0.1"  # loopback only: a benchmark tool, never pointed at another machine
START_DELAY = 1.0  # seconds from launching the processes to the first request: every process is up by then
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Job:
    mode: Literal["open", "closed"]
    port: int
    paths: list[str]
    seconds: float
    connections: int  # closed loop: the clients; open loop: the most connections opened at once
    rate: float = 0.0  # open loop: requests per second, over all processes
    watch_pids: list[int] = field(default_factory=list)  # server processes whose CPU time is read over the run
    drain_seconds: float = 10.0  # how long answers are awaited after the last send; later ones are errors


@dataclass(slots=True)
class Outcome:
    latencies_ms: list[float]
    send_lag_ms: list[float]  # open loop: how late the generator sent each request after its due instant
    statuses: dict[int, int]
    failures: dict[str, int]  # no HTTP answer: "connect" refused, "connection" closed, "unanswered" by the drain
    sent: int
    retries: int
    elapsed: float  # seconds from the start to the last answer
    window: float  # seconds over which the CPU times below were read: the start to the last answer or the drain
    generator_cpu: float  # CPU seconds the generator processes used
    watched_cpu: dict[int, float]  # CPU seconds each watched process used
    machine_cpu: float  # CPU seconds every process on the machine used, this generator and the server included
    processes: int
    event_loop: str
    connections_opened: int

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return self.answered - self.statuses.get(200, 0) + sum(self.failures.values())

    @property
    def rate(self) -> float:
        return self.answered / self.elapsed if self.elapsed > 0 else 0.0


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process from /proc (Linux), or None once it has gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            # The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
            fields = stat.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat(5)


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine since boot, from /proc/stat (Linux)."""
    with open("/proc/stat", encoding="ascii") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class _Usage:
    wall: float
    own: float
    machine: float
    watched: dict[int, float | None]

    @classmethod
    def now(cls, pids: Sequence[int]) -> _Usage:
        times = os.times()
        watched = {pid: cpu_seconds(pid) for pid in pids}
        return cls(time.perf_counter(), times.user + times.system, machine_cpu_seconds(), watched)


def descendants(pid: int) -> list[int]:
    """pid and every process below it (uvicorn's workers are children of its supervisor)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    parents[int(entry)] = int(stat.read().rpartition(")")[2].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        tree.extend(children)
        frontier = children
    return tree


def _parse_head(head: bytes) -> tuple[int, int | None, bool]:
    """Status, body length (None when chunked) and whether the server closes the connection after this answer."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = 0  # uvicorn always sends Content-Length or chunks; no close-delimited bodies
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value:
            length = None
        elif name == b"connection" and value == b"close":
            close = True
    return status, length, close


def _chunked_end(buffer: bytearray, start: int) -> int | None:
    """Where a chunked body that starts at `start` ends, or None while it is incomplete."""
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
        if size == 0:  # the last chunk, then optional trailers and an empty line
            end = buffer.find(b"\r\n\r\n", line_end)
            return None if end < 0 else end + 4
        position = line_end + 2 + size + 2
        if position > len(buffer):
            return None


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight (no pipelining)."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._answer: asyncio.Future[int] | None = None
        self._head: tuple[int, int | None, bool] | None = None
        self._body_start = 0
        self.usable = True
        self.answers = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def send(self, request: bytes) -> asyncio.Future[int]:
        assert self._transport is not None
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._answer = answer
        self._transport.write(request)
        return answer

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._answer is not None:
            if self._head is None:
                head_end = self._buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    return
                self._head = _parse_head(bytes(self._buffer[:head_end]))
                self._body_start = head_end + 4
            status, length, close = self._head
            end = self._body_start + length if length is not None else _chunked_end(self._buffer, self._body_start)
            if end is None or len(self._buffer) < end:
                return
            del self._buffer[:end]
            self._head = None
            self.answers += 1
            if close:
                self.usable = False
            answer, self._answer = self._answer, None
            if not answer.done():
                answer.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(ConnectionError("the server closed the connection before answering"))

    def close(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.close()


async def _connect(port: int) -> _Connection:
    _, connection = await asyncio.get_running_loop().create_connection(_Connection, HOST, port)
    return connection


class _Pool:
    """Open loop: reuse idle connections, open up to `limit`, then queue for the next one freed."""

    def __init__(self, port: int, limit: int) -> None:
        self._port = port
        self._limit = limit
        self._idle: list[_Connection] = []
        self._waiting: deque[asyncio.Future[_Connection]] = deque()
        self._open = 0
        self.opened = 0

    async def acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()  # the most recently used: least likely to have timed out
            if connection.usable:
                return connection
            self._open -= 1
        if self._open < self._limit:
            return await self._new()
        waiter: asyncio.Future[_Connection] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        return await waiter

    async def _new(self) -> _Connection:
        self._open += 1
        try:
            connection = await _connect(self._port)
        except OSError:
            self._open -= 1
            raise
        self.opened += 1
        return connection

    def release(self, connection: _Connection) -> None:
        if connection.usable:
            while self._waiting:
                waiter = self._waiting.popleft()
                if not waiter.done():
                    waiter.set_result(connection)
                    return
            self._idle.append(connection)
            return
        connection.close()
        self._open -= 1
        if self._waiting:  # a queued request would otherwise wait for a connection that will never be freed
            asyncio.get_running_loop().create_task(self._hand_new(self._waiting.popleft()))

    async def _hand_new(self, waiter: asyncio.Future[_Connection]) -> None:
        try:
            connection = await self._new()
        except OSError as error:
            if not waiter.done():
                waiter.set_exception(error)
            return
        if waiter.done():
            self.release(connection)
        else:
            waiter.set_result(connection)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()


@dataclass(slots=True)
class _Tally:
    latencies: list[float] = field(default_factory=list)
    send_lag: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    retries: int = 0
    last_answer: float = 0.0
    opened: int = 0

    def answer(self, status: int, began: float) -> None:
        self.last_answer = time.perf_counter()
        self.latencies.append((self.last_answer - began) * 1000)
        self.statuses[status] += 1


async def _drain(tasks: set[asyncio.Task[None]], seconds: float, tally: _Tally) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=seconds)
    tally.failures["unanswered"] += len(pending)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def _open_loop(job: Job, requests: Sequence[bytes], index: int, processes: int, start: float) -> _Tally:
    tally = _Tally()
    pool = _Pool(job.port, job.connections)
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, due: float) -> None:
        retried = False
        while True:
            try:
                connection = await pool.acquire()
            except OSError:
                tally.failures["connect"] += 1
                return
            sent = time.perf_counter()
            if not retried:
                tally.send_lag.append((sent - due) * 1000)
            try:
                status = await connection.send(requests[i % len(requests)])
            except ConnectionError:
                stale = connection.answers > 0
                pool.release(connection)
                if stale and not retried:
                    retried = True
                    tally.retries += 1
                    continue
                tally.failures["connection"] += 1
                return
            tally.answer(status, min(due, sent))
            pool.release(connection)
            return

    count = round(job.rate * job.seconds)
    for i in range(index, count, processes):
        due = start + i / job.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        tally.sent += 1
    await _drain(tasks, job.drain_seconds, tally)
    pool.close()
    tally.opened = pool.opened
    return tally


async def _prime(port: int, request: bytes, count: int) -> list[_Connection]:
    """`count` connections opened one after another, each answering one request before the next is opened.

    uvicorn's workers share one listening socket: a burst of connects is queued and accepted all at once by
    whichever worker wakes first, which would leave the other worker idle for the whole closed-loop run.
    """
    primed = []
    for _ in range(count):
        connection = await _connect(port)
        await connection.send(request)
        primed.append(connection)
    return primed


async def _closed_loop(
    job: Job, requests: Sequence[bytes], index: int, processes: int, start: float, primed: list[_Connection]
) -> _Tally:
    tally = _Tally(opened=len(primed))
    deadline = start + job.seconds
    # Client c of all processes' clients sends paths c, c + clients, c + 2 * clients, ...
    clients = list(range(index, job.connections, processes))

    async def client(number: int, connection: _Connection | None) -> None:
        i = number
        while time.perf_counter() < deadline:
            if connection is None or not connection.usable:
                try:
                    connection = await _connect(job.port)
                except OSError:
                    tally.failures["connect"] += 1
                    return  # the server is gone: stop rather than spin on refusals
                tally.opened += 1
            sent = time.perf_counter()
            tally.sent += 1
            try:
                status = await connection.send(requests[i % len(requests)])
            except ConnectionError:
                tally.failures["connection"] += 1
                connection = None
                continue
            tally.answer(status, sent)
            i += job.connections
        if connection is not None:
            connection.close()

    tasks = {
        asyncio.create_task(client(number, connection)) for number, connection in zip(clients, primed, strict=True)
    }
    await _drain(tasks, job.seconds + job.drain_seconds, tally)
    return tally


def _event_loop() -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.new_event_loop, "asyncio"
    return uvloop.new_event_loop, "uvloop"


def _run_process(spec: dict[str, Any]) -> Outcome:
    job = Job(**spec["job"])
    index, processes = int(spec["index"]), int(spec["processes"])
    host = f"{HOST}:{job.port}".encode("ascii")
    requests = [
        b"GET " + path.encode("ascii") + b" HTTP/1.1\r\nHost: " + host + b"\r\nAccept: application/json\r\n"
        b"User-Agent: bench-loadgen\r\n\r\n"
        for path in job.paths
    ]
    # Every process starts at the same wall-clock instant, converted to its own monotonic clock.
    start = time.perf_counter() + (float(spec["start_wall"]) - time.time())
    loop_factory, loop_name = _event_loop()

    async def measured() -> tuple[_Tally, float, _Usage, _Usage]:
        clients = len(range(index, job.connections, processes))
        primed = await _prime(job.port, requests[0], clients) if job.mode == "closed" else []
        # CPU times are read from the first request's instant, not from process start-up.
        delay = start - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        before = _Usage.now(job.watch_pids)
        if job.mode == "open":  # due instants are fixed: a late start is lateness, and counts
            return await _open_loop(job, requests, index, processes, start), start, before, _Usage.now(job.watch_pids)
        began = max(start, before.wall)  # priming a slow server may overrun the start; the run still lasts its time
        tally = await _closed_loop(job, requests, index, processes, began, primed)
        return tally, began, before, _Usage.now(job.watch_pids)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        tally, began, before, after = runner.run(measured())
    watched: dict[int, float] = {}
    for pid, was in before.watched.items():
        now = after.watched[pid]
        if was is not None and now is not None:
            watched[pid] = now - was
    return Outcome(
        latencies_ms=tally.latencies,
        send_lag_ms=tally.send_lag,
        statuses=dict(tally.statuses),
        failures={kind: count for kind, count in tally.failures.items() if count},
        sent=tally.sent,
        retries=tally.retries,
        elapsed=max(0.0, tally.last_answer - began),
        window=after.wall - before.wall,
        generator_cpu=after.own - before.own,
        watched_cpu=watched,
        machine_cpu=after.machine - before.machine,
        processes=1,
        event_loop=loop_name,
        connections_opened=tally.opened,
    )


def _merge(parts: Sequence[Outcome]) -> Outcome:
    statuses: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    for part in parts:
        statuses.update(part.statuses)
        failures.update(part.failures)
    return Outcome(
        latencies_ms=[value for part in parts for value in part.latencies_ms],
        send_lag_ms=[value for part in parts for value in part.send_lag_ms],
        statuses=dict(statuses),
        failures=dict(failures),
        sent=sum(part.sent for part in parts),
        retries=sum(part.retries for part in parts),
        elapsed=max(part.elapsed for part in parts),
        # Every process read the machine and the server over the same instants; one view is enough.
        window=parts[0].window,
        generator_cpu=sum(part.generator_cpu for part in parts),
        watched_cpu=parts[0].watched_cpu,
        machine_cpu=parts[0].machine_cpu,
        processes=len(parts),
        event_loop=parts[0].event_loop,
        connections_opened=sum(part.connections_opened for part in parts),
    )


def run(job: Job, *, processes: int, scratch: Path) -> Outcome:
    """Run `job` in `processes` generator processes (the rate and the clients are shared out) and merge them."""
    start_wall = time.time() + START_DELAY
    launched: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
    for index in range(processes):
        spec_file, result_file, error_file = (scratch / f"loadgen-{index}.{suffix}" for suffix in ("job", "out", "err"))
        spec = {"job": asdict(job), "index": index, "processes": processes, "start_wall": start_wall}
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        with error_file.open("wb") as errors:
            command = [sys.executable, str(Path(__file__).resolve()), str(spec_file), str(result_file)]
            launched.append(
                (subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors), result_file, error_file)
            )
    deadline = time.monotonic() + START_DELAY + job.seconds + job.drain_seconds + 30
    parts = []
    try:
        for index, (process, result_file, error_file) in enumerate(launched):
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise SystemExit(f"load generator process {index} did not finish by its deadline") from None
            if process.returncode != 0:
                tail = error_file.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise SystemExit(f"load generator process {index} exited with status {process.returncode}:\n{tail}")
            raw = json.loads(result_file.read_text(encoding="utf-8"))
            raw["statuses"] = {int(status): count for status, count in raw["statuses"].items()}
            raw["watched_cpu"] = {int(pid): seconds for pid, seconds in raw["watched_cpu"].items()}
            parts.append(Outcome(**raw))
    finally:
        for process, _, _ in launched:
            if process.poll() is None:
                process.kill()
                process.wait()
    return _merge(parts)


def main() -> None:
    spec_file, result_file = sys.argv[1:3]
    outcome = _run_process(json.loads(Path(spec_file).read_text(encoding="utf-8")))
    Path(result_file).write_text(json.dumps(asdict(outcome)), encoding="utf-8")


if __name__ == "__main__":
    main()
