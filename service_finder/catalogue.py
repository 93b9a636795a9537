"""The live directory snapshot: built from the store, swapped whole when the store's data version moves.

Every API process polls the one-row data_version table (cheap: a primary-key read), so several processes or
replicas sharing one PostgreSQL each rebuild within a poll interval of a change made by any of them. When the store
cannot be reached, the last index keeps answering and is marked stale; polling recovers without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from service_finder.search.index import DirectoryIndex
from service_finder.storage import repository

logger = logging.getLogger("service_finder.catalogue")


@dataclass(frozen=True, slots=True)
class Snapshot:
    index: DirectoryIndex
    # True while the store is unreachable: answers come from the last index built.
    store_unreachable: bool
    checked_at: datetime
    # True when the store holds a newer version that could not be built into an index (see Catalogue.refresh).
    build_failed: bool = False

    @property
    def stale(self) -> bool:
        """Whether answers may be behind the store: it could not be read, or its newest version not built."""
        return self.store_unreachable or self.build_failed


def load_index(engine: Engine) -> DirectoryIndex:
    with Session(engine) as session:
        version = repository.data_version(session).version
        stored = list(repository.iter_all_services(session))
    return DirectoryIndex.build(
        [s.record for s in stored],
        version=version,
        built_at=datetime.now(UTC),
        last_modified={s.record.id: s.last_modified for s in stored},
    )


class Catalogue:
    """Holds the current Snapshot. Readers take `catalogue.snapshot` once per request; it never changes under them."""

    def __init__(self, engine: Engine, *, poll_seconds: float) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self._snapshot = Snapshot(
            DirectoryIndex.build([], version=-1, built_at=datetime.now(UTC)), True, datetime.now(UTC)
        )
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()

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
            with Session(self.engine) as session:
                version = repository.data_version(session).version
            current = self._snapshot.index
            if version == current.version:
                self._snapshot = Snapshot(current, False, now)
                return False
            started = time.perf_counter()
            index = load_index(self.engine)
        except SQLAlchemyError as error:
            if not self._snapshot.store_unreachable:
                logger.warning("store unreachable, serving the last index: %s", type(error).__name__)
            self._snapshot = Snapshot(self._snapshot.index, True, now)
            return False
        except Exception:
            logger.exception("index rebuild failed, serving the last index (marked stale)")
            self._snapshot = Snapshot(self._snapshot.index, False, now, build_failed=True)
            return False
        if index.version < self._snapshot.index.version:
            # Versions only grow: an older build finishing last (were two ever to run at once) is dropped.
            return False
        self._snapshot = Snapshot(index, False, now)
        logger.info(
            "index rebuilt: version %s, %s services, %.0f ms",
            index.version,
            len(index),
            (time.perf_counter() - started) * 1000,
        )
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # the poller must outlive any one failure
                logger.exception("index refresh failed")

    @contextlib.contextmanager
    def polling(self) -> Iterator[None]:
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="catalogue-poll")
        try:
            yield
        finally:
            self._task.cancel()
