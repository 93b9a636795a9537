"""The live directory snapshot: built from the store, swapped whole when the store's data version moves.

Every API process polls the one-row data_version table (cheap: a primary-key read), so several processes or
replicas sharing one PostgreSQL each rebuild within a poll interval of a change made by any of them. When the store
cannot be reached, the last index keeps answering and is marked stale; polling recovers without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from service_finder.schemas import ServiceRecord
from service_finder.search import packed as packing
from service_finder.search.index import DirectoryIndex
from service_finder.storage import repository
from service_finder.storage.db import snapshot_session

logger = logging.getLogger("service_finder.catalogue")

# A look at the store's version is a primary-key read: one that has not answered in this long means a store that
# hangs rather than refuses (a stopped server, a network that drops packets). The index is then marked stale, so
# /readyz, /metrics and answers say so, while the look carries on; it is judged again at the next poll.
STORE_CHECK_DEADLINE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    index: DirectoryIndex
    # True while the store is unreachable: answers come from the last index built.
    store_unreachable: bool
    checked_at: datetime
    # True when the store holds a newer version that could not be built into an index (see Catalogue.refresh).
    build_failed: bool = False
    # Stored services that no longer validate: the index holds their last readable version, if it had one.
    unreadable: tuple[str, ...] = ()
    # When the store last answered this process (None until it ever has): how long an outage has lasted.
    answered_at: datetime | None = None

    @property
    def stale(self) -> bool:
        """Whether answers may be behind the store: it could not be read, or its newest version not built."""
        return self.store_unreachable or self.build_failed


@dataclass(frozen=True, slots=True)
class Loaded:
    index: DirectoryIndex
    unreadable: tuple[str, ...]


class StoreWatch:
    """Since when this process has been waiting on the store's next answer (monotonic), or None while it is not
    waiting: a read under way restarts the clock with each answer, so a long read that keeps answering is never
    taken for a store that hangs, and the build after it (CPU, seconds at a million services) is not watched."""

    def __init__(self) -> None:
        self.since: float | None = None

    def answered(self) -> None:
        self.since = time.monotonic()

    def done(self) -> None:
        self.since = None

    def overdue(self, seconds: float) -> bool:
        """Whether an answer has been awaited for `seconds` or more."""
        since = self.since
        return since is not None and time.monotonic() - since >= seconds


def release_freed_memory() -> None:
    """Hand back to the system what a build allocated and freed. glibc keeps freed memory for the process unless
    told: after building a million services, 1.5 GB of the build's scratch stayed resident beside a 0.8 GB index
    (benchmarks/README.md). Elsewhere, nothing to do."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):  # a C library without malloc_trim (musl): it is only a hint
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """No cyclic garbage collection while an index is built; with `freeze`, what was built is frozen (Settings.
    gc_freeze) before the collector runs again. Everything a build makes lives as long as the index, so collecting
    it only walks it, holding the GIL while every search in flight waits: at 100,000 services, full collections of
    ~1 s during the build, or, paused, one collection of the youngest generation (then holding all of it) of ~0.7 s
    as soon as the collector resumed (benchmarks/bench_rebuild.py). Frozen first, the collector never walks it.
    Other threads' cyclic garbage waits for the build's end; reference counting frees everything else as usual, the
    frozen index too when it is replaced."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if enabled:
            gc.enable()


def load_index(
    engine: Engine, previous: DirectoryIndex | None = None, *, watch: StoreWatch | None = None, freeze: bool = False
) -> Loaded:
    """The index of every readable service. One that no longer validates (changed outside the API, or stored
    before a rule was tightened) does not stop the build: taking every other change out of search, and at start-up
    the whole directory, would be worse. It keeps its version in `previous` when there is one (its last readable
    state, better than vanishing from search) and is named in the log, /readyz and /metrics until repaired.
    `watch` is told of each answer from the store while it is read, and when reading is done. `freeze`: see
    collector_paused."""
    watch = watch or StoreWatch()
    unreadable: list[repository.UnreadableService] = []
    last_modified: dict[str, datetime] = {}

    def read(session: Session) -> Iterator[ServiceRecord]:
        # Streamed into the build, a batch at a time: a large directory's records never all exist as objects at
        # once (the index packs them as they come, see search/packed.py).
        try:
            for service in repository.iter_all_services(session, unreadable=unreadable):
                last_modified[service.record.id] = service.last_modified
                watch.answered()
                yield service.record
        finally:
            watch.done()
        for bad in unreadable:
            at = None if previous is None else previous.position.get(bad.id)
            if previous is not None and at is not None:
                if (modified := previous.last_modified[at]) is not None:
                    last_modified[bad.id] = modified
                yield previous.services[at]

    try:
        # One snapshot for the version and every batch: read batch by batch under PostgreSQL's default, a change
        # committed meanwhile showed in some services and not others (one organisation with two names).
        with snapshot_session(engine) as session:
            watch.answered()
            version = repository.data_version(session).version
            # Packed or not, decided before the first record: switching part-way would repack the records kept so
            # far (seconds at 200,000, taken for a store that hangs) after holding them all as objects.
            packed = repository.count_services(session) > packing.PACK_ABOVE
            watch.answered()
            # last_modified is filled as the records are read, and the build reads it after the last of them.
            with collector_paused(freeze=freeze):
                index = DirectoryIndex.build(
                    read(session),
                    version=version,
                    built_at=datetime.now(UTC),
                    last_modified=last_modified,
                    packed=packed,
                )
    finally:
        watch.done()
    release_freed_memory()
    if unreadable:
        logger.error(
            "stored services cannot be read (search keeps each one's last readable version, if any; repair with "
            "PUT): %s",
            "; ".join(f"{bad.id} at {', '.join(bad.fields)}" for bad in unreadable),
        )
    return Loaded(index, tuple(bad.id for bad in unreadable))


class Catalogue:
    """Holds the current Snapshot. Readers take `catalogue.snapshot` once per request; it never changes under them."""

    def __init__(self, engine: Engine, *, poll_seconds: float, freeze: bool = False) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        # Settings.gc_freeze: each index built is moved out of the collector's passes, as start-up's is (see
        # collector_paused). The index replaced is still freed when its last reader lets go: freezing stops the
        # collector walking objects, not reference counting freeing them (tests/test_catalogue.py).
        self.freeze = freeze
        self._snapshot = Snapshot(
            DirectoryIndex.build([], version=-1, built_at=datetime.now(UTC)), True, datetime.now(UTC)
        )
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._watch = StoreWatch()  # while the store is being read; see check_overdue

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def refresh(self) -> bool:
        """Rebuild when the store's version differs from the index's. Returns True when the index was replaced.

        One rebuild at a time: the poller and editors' writes both call this, and two builds racing could install
        an older version over a newer one. Any failure, not only an unreachable store (a record the index cannot be
        built from, say), keeps the last index answering, marked stale, rather than leaving the process without
        one; it is logged with its type and tried again at the next poll."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> bool:
        now = datetime.now(UTC)
        try:
            self._watch.answered()
            try:
                with Session(self.engine) as session:
                    version = repository.data_version(session).version
            finally:
                self._watch.done()
            current = self._snapshot.index
            unreadable = self._snapshot.unreadable
            if version == current.version:
                self._snapshot = Snapshot(current, False, now, unreadable=unreadable, answered_at=now)
                return False
            started = time.perf_counter()
            loaded = load_index(self.engine, current, watch=self._watch, freeze=self.freeze)
        except SQLAlchemyError as error:
            if not self._snapshot.store_unreachable:
                logger.warning("store unreachable, serving the last index: %s", type(error).__name__)
            self._snapshot = Snapshot(
                self._snapshot.index,
                True,
                now,
                unreadable=self._snapshot.unreadable,
                answered_at=self._snapshot.answered_at,
            )
            return False
        except Exception:
            logger.exception("index rebuild failed, serving the last index (marked stale)")
            # The store answered (its version was read); building what it holds is what failed.
            self._snapshot = Snapshot(
                self._snapshot.index,
                False,
                now,
                build_failed=True,
                unreadable=self._snapshot.unreadable,
                answered_at=now,
            )
            return False
        index = loaded.index
        if index.version < self._snapshot.index.version:
            # Versions only grow: an older build finishing last (were two ever to run at once) is dropped.
            return False
        self._snapshot = Snapshot(index, False, now, unreadable=loaded.unreadable, answered_at=now)
        logger.info(
            "index rebuilt: version %s, %s services, %.0f ms",
            index.version,
            len(index),
            (time.perf_counter() - started) * 1000,
        )
        return True

    async def _poll(self) -> None:
        running: asyncio.Future[bool] | None = None
        while True:
            await asyncio.sleep(self.poll_seconds)
            if running is None or running.done():  # a refresh stuck on a hung store is not joined by another
                running = asyncio.ensure_future(asyncio.to_thread(self.refresh))
            try:
                await asyncio.wait_for(asyncio.shield(running), timeout=STORE_CHECK_DEADLINE_SECONDS)
            except TimeoutError:
                self.check_overdue()
            except Exception:  # the poller must outlive any one failure
                logger.exception("index refresh failed")

    def check_overdue(self) -> None:
        """Mark the index stale when the store has kept a read waiting past STORE_CHECK_DEADLINE_SECONDS: the
        version read, or any answer of a rebuild's reads (a whole rebuild may take longer; each answer may not)."""
        if not self._watch.overdue(STORE_CHECK_DEADLINE_SECONDS):
            return
        current = self._snapshot
        if not current.store_unreachable:
            logger.warning("store not answering, serving the last index (marked stale)")
            self._snapshot = Snapshot(
                current.index, True, current.checked_at, unreadable=current.unreadable, answered_at=current.answered_at
            )

    @contextlib.contextmanager
    def polling(self) -> Iterator[None]:
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="catalogue-poll")
        try:
            yield
        finally:
            self._task.cancel()
