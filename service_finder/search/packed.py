"""Service records kept compressed in a large directory, and decoded when a search or a page needs one.

A `ServiceRecord` held as pydantic objects costs ~6 KB (records sharing parts) to ~18 KB (sharing nothing) of
memory: 6 to 18 GB at 1,000,000 services. The search reads a record only for the few services it answers with or
explains (the hard filters, scores and open states run on the index's arrays), so a directory larger than
`PACK_ABOVE` keeps each record as its JSON compressed with zstd against a dictionary learnt from the directory's
first records (about 160-250 bytes a record, where zlib and a 32 KB window of sample records gave 480), all in one
buffer, and keeps the most recently used `DECODED` records decoded. Smaller directories keep the objects: decoding
costs ~70 µs a record, which a search at 100,000 services would pay on most of its results.

Decoding is exact: a record is written with `model_dump_json` and read back with `model_validate_json` as stored
records are read; `tests/search/test_packed.py` checks every record shipped in `data/` reads back equal.
"""

from __future__ import annotations

import operator
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import SupportsIndex, overload

import numpy as np
import numpy.typing as npt
import zstandard

from service_finder.schemas import ServiceRecord

Dictionary = zstandard.ZstdCompressionDict | None

# Directories above this many services keep their records packed. England has a few thousand crisis services; the
# threshold is for the scale benchmarks (1,000,000) and leaves every smaller directory exactly as fast as before.
PACK_ABOVE = 200_000
# Records kept decoded, most recently used first: a search touches ~10-30 (results, explain's exclusions, local
# lines), and the per-snapshot memos keep what is derived from them. ~18 KB each at most: 75 MB.
DECODED = 4096
# The compression dictionary is learnt from the JSON of the first records (zstd's trainer; 0.1 s).
DICTIONARY_RECORDS = 2000
DICTIONARY_BYTES = 64 * 1024
LEVEL = 9  # 20 µs a record


class PackedRecords(Sequence[ServiceRecord]):
    """An immutable sequence of records stored as deflated JSON; `records[i]` decodes (or finds) record i."""

    def __init__(self, data: bytes, offsets: npt.NDArray[np.int64], dictionary: Dictionary, *, decoded: int = DECODED):
        # One buffer and the offsets of its records (record i is data[offsets[i]:offsets[i + 1]]): a million bytes
        # objects would cost 33 bytes of header each and be scattered through memory.
        self._data = data
        self._offsets = offsets
        self._dictionary = dictionary
        self._readers = threading.local()  # a zstd decompressor is not to be shared between threads
        self._limit = decoded
        self._decoded: OrderedDict[int, ServiceRecord] = OrderedDict()
        # Searches run in worker threads: the LRU's moves and evictions are made under the lock, decoding is not.
        self._lock = threading.Lock()

    @property
    def packed_bytes(self) -> int:
        """What the records take packed: the deflated JSON, its offsets and the dictionary."""
        return len(self._data) + self._offsets.nbytes + (len(self._dictionary.as_bytes()) if self._dictionary else 0)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, position: SupportsIndex) -> ServiceRecord: ...
    @overload
    def __getitem__(self, position: slice) -> Sequence[ServiceRecord]: ...
    def __getitem__(self, position: SupportsIndex | slice) -> ServiceRecord | Sequence[ServiceRecord]:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        at = operator.index(position)  # numpy's integers too
        if at < 0:
            at += len(self)
        if not 0 <= at < len(self):
            raise IndexError(position)
        with self._lock:
            found = self._decoded.get(at)
            if found is not None:
                self._decoded.move_to_end(at)
                return found
        found = self._decode(at)
        with self._lock:
            self._decoded[at] = found
            if len(self._decoded) > self._limit:
                self._decoded.popitem(last=False)
        return found

    def __iter__(self) -> Iterator[ServiceRecord]:
        # A whole pass (an export, a quality report) decodes without filling the LRU with records no search asked for.
        for at in range(len(self)):
            yield self._decode(at)

    def scan(self, positions: Iterable[int]) -> Iterator[ServiceRecord]:
        """The records at these positions, as a whole pass reads them: those kept decoded are used, the others
        decoded without being kept (a filter reading thousands would push out the records searches answer with)."""
        for at in positions:
            with self._lock:
                found = self._decoded.get(at)
            yield found if found is not None else self._decode(at)

    def _decode(self, at: int) -> ServiceRecord:
        reader = getattr(self._readers, "reader", None)
        if reader is None:
            reader = self._readers.reader = zstandard.ZstdDecompressor(dict_data=self._dictionary)
        text = reader.decompress(self._data[int(self._offsets[at]) : int(self._offsets[at + 1])])
        # Read as the store's records are read (context "stored"): a record kept from before a rule was tightened
        # was indexed as it is, and must read back as it is, never fail in the middle of a search.
        return ServiceRecord.model_validate_json(text, context={"stored": True})


class Positions(Mapping[str, int]):
    """Each service's position by its id, for a large directory: the ids, sorted, in one array of bytes (a record's
    id is lower-case ASCII, ID_PATTERN), found by binary search; a dict would hold a million strings and entries."""

    def __init__(self, sorted_ids: Sequence[str]) -> None:
        self._ids = np.array([service.encode("ascii") for service in sorted_ids], dtype=np.bytes_)

    def __getitem__(self, service: str) -> int:
        try:
            key = service.encode("ascii")
        except (AttributeError, UnicodeEncodeError):
            raise KeyError(service) from None
        # numpy's bytes drop trailing NULs and would cut a longer key to the ids' width: neither can be an id.
        if not key or key.endswith(b"\0") or len(key) > self._ids.itemsize:
            raise KeyError(service)
        at = int(np.searchsorted(self._ids, key))
        if at < len(self._ids) and self._ids[at] == key:
            return at
        raise KeyError(service)

    def __iter__(self) -> Iterator[str]:
        return (raw.decode("ascii") for raw in self._ids.tolist())

    def key(self, at: int) -> str:
        """The id at this position (the ids' sorted order)."""
        return bytes(self._ids[at]).decode("ascii")

    def starting_with(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(id, position) of every id that starts with `prefix`: one range of the sorted ids, found by two searches."""
        try:
            key = prefix.encode("ascii")
        except UnicodeEncodeError:
            return iter(())
        first = int(np.searchsorted(self._ids, key, side="left"))
        last = first
        while last < len(self._ids) and bytes(self._ids[last]).startswith(key):
            last += 1
        return ((bytes(self._ids[at]).decode("ascii"), at) for at in range(first, last))

    def __len__(self) -> int:
        return len(self._ids)


class Instants(Sequence["datetime | None"]):
    """Aware UTC instants (or None), one per service, as microseconds in one array: a million datetimes would be a
    million objects."""

    NONE = np.iinfo(np.int64).min

    def __init__(self, instants: Sequence[datetime | None]) -> None:
        self._micros = np.array([self.NONE if at is None else instant_micros(at) for at in instants], dtype=np.int64)

    @staticmethod
    def holds(instants: Iterable[datetime | None]) -> bool:
        """Whether every one can be kept exactly: None, or an instant whose offset is UTC's."""
        return all(at is None or (at.tzinfo is not None and at.utcoffset() == timedelta(0)) for at in instants)

    def __len__(self) -> int:
        return len(self._micros)

    @property
    def micros(self) -> npt.NDArray[np.int64]:
        """Each instant as microseconds since 1970 UTC; NONE for None (below every instant)."""
        return self._micros

    @overload
    def __getitem__(self, position: SupportsIndex) -> datetime | None: ...
    @overload
    def __getitem__(self, position: slice) -> Sequence[datetime | None]: ...
    def __getitem__(self, position: SupportsIndex | slice) -> datetime | Sequence[datetime | None] | None:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        micros = int(self._micros[operator.index(position)])
        return None if micros == self.NONE else _EPOCH + timedelta(microseconds=micros)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def instant_micros(at: datetime) -> int:
    """An aware instant as microseconds since 1970 UTC."""
    return (at - _EPOCH) // _MICROSECOND


def micros(instants: Sequence[datetime | None]) -> npt.NDArray[np.int64]:
    """Instants.micros of any sequence of aware instants (or None): a packed directory's array as it is."""
    if isinstance(instants, Instants):
        return instants.micros
    return Instants(instants).micros


class Packer:
    """Packs records one at a time, so a directory being indexed never has all its records as objects at once."""

    def __init__(self) -> None:
        self._waiting: list[bytes] = []  # JSON of the first records, until the dictionary is learnt from them
        self._settled = False
        self._dictionary: Dictionary = None
        self._writer = zstandard.ZstdCompressor(level=LEVEL)
        self._data = bytearray()
        self._ends = array("q")

    @property
    def sizes(self) -> list[int]:
        """Each record's packed size, in the order added (those waiting for the dictionary not yet counted)."""
        return [end - start for start, end in pairwise([0, *self._ends])]

    def add(self, record: ServiceRecord) -> None:
        text = record.model_dump_json().encode()
        if not self._settled:
            self._waiting.append(text)
            if len(self._waiting) >= DICTIONARY_RECORDS:
                self._settle()
            return
        self._append(text)

    def finish(self, order: Sequence[int], *, decoded: int = DECODED) -> PackedRecords:
        """The records packed so far, in `order` (positions in the order they were added)."""
        if not self._settled:
            self._settle()
        ends = np.frombuffer(self._ends, dtype=np.int64)
        starts = ends - np.diff(ends, prepend=0)
        chosen = np.asarray(order, dtype=np.intp)
        lengths = ends[chosen] - starts[chosen]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        if np.array_equal(chosen, np.arange(chosen.size)):
            data = bytes(self._data)
        else:  # one copy of each record, in the new order
            view = memoryview(self._data)
            data = b"".join(view[int(a) : int(b)] for a, b in zip(starts[chosen], ends[chosen], strict=True))
        self._data = bytearray()
        return PackedRecords(data, offsets, self._dictionary, decoded=decoded)

    def _settle(self) -> None:
        self._settled = True
        self._dictionary = learnt(self._waiting)
        self._writer = zstandard.ZstdCompressor(level=LEVEL, dict_data=self._dictionary)
        for text in self._waiting:
            self._append(text)
        self._waiting.clear()

    def _append(self, text: bytes) -> None:
        self._data += self._writer.compress(text)
        self._ends.append(len(self._data))


class Keeper:
    """Keeps the records an index is built from: as they are, or packed. Decided before the first record: switching
    part-way would repack every record kept so far (seconds at 200,000), after holding them all as objects."""

    def __init__(self, packed: bool) -> None:
        self._records: list[ServiceRecord] = []
        self._packer = Packer() if packed else None

    def add(self, record: ServiceRecord) -> None:
        if self._packer is not None:
            self._packer.add(record)
        else:
            self._records.append(record)

    def finish(self, order: Sequence[int]) -> Sequence[ServiceRecord]:
        """The records kept, in `order` (positions in the order they were added)."""
        if self._packer is not None:
            return self._packer.finish(order)
        return tuple(self._records[i] for i in order)


def learnt(samples: list[bytes]) -> Dictionary:
    """A dictionary learnt from `samples`; too few to learn from (a small directory packed by a test), their text
    as it is; none, for none."""
    if not samples:
        return None
    try:
        return zstandard.train_dictionary(DICTIONARY_BYTES, list[bytes | bytearray | memoryview](samples))
    except zstandard.ZstdError:
        return zstandard.ZstdCompressionDict(
            b"".join(samples)[-DICTIONARY_BYTES:], dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
