"""Exact near-duplicate search by phash over every stored image, fast at a million.

Each worker process keeps the phash values of the stored images in a numpy array and scans
it with XOR + popcount (docs/design/similarity.md has the timings). The array is a
*superset* of the values stored right now: it may still hold the value of an image deleted
or cropped since, but it never lacks one that is stored. The values it finds are then
looked up in the database, which is the truth, so the answer is exact although deletes never
reach the array.

The array stays a superset through a change feed. Every write that gives an image a phash
(create, crop, restore; trashing and restoring from the trash, since the index must drop
and take back the value) saves it through ``save_with_revision``, which stamps the row with
the next revision from ``RevisionCounter`` inside its own transaction; the counter row stays
locked until that transaction ends, so revisions follow the order of commits. Before each
search, a worker reads the counter (one query by primary key); when it moved, it reads the
rows stamped after the revision it had seen (one indexed query) and appends their values.
A write committed by any process before a search starts is therefore seen by that search,
in every worker.
"""

import logging
import threading
from dataclasses import dataclass
from uuid import UUID

import numpy as np
from django.db import connection
from django.db.models import Count, Max, QuerySet

from images.imaging.hashing import int_to_phash
from images.infra import counters
from images.models import Image, RevisionCounter

logger = logging.getLogger(__name__)

MAX_DISTANCE = 32
_LOOKUP_CHUNK = 500  # values per IN (...) query, far below every database's parameter limit
_FETCH_ALL = 1000  # up to this many matches are fetched whole in one query
_LOAD_BATCH = 100_000  # rows fetched at a time when a worker loads the index
_SCAN_BLOCK = 65_536  # values scanned at a time: the temporaries stay in the CPU cache


@dataclass(frozen=True)
class Match:
    distance: int
    image: Image


@dataclass(frozen=True)
class Matches:
    count: int
    results: list[Match]


def next_revision() -> int:
    """Take the next revision. Call it inside the writing transaction, as late as possible:
    the counter row stays locked (other writers wait) until that transaction ends."""
    return counters.take(
        RevisionCounter, highest=lambda: Image.all_objects.aggregate(top=Max("revision"))["top"]
    )


def save_with_revision(
    image: Image, *, force_insert: bool = False, update_fields: list[str] | None = None
) -> None:
    """Save an image, stamped with the next revision: the one way a write that changes what
    the index must hold (a phash, or whether the image is live) reaches the database, so
    that every worker's index sees it. Inside the writing transaction, as late as possible:
    the counter stays locked (other writers wait) until that transaction ends."""
    image.revision = next_revision()
    if update_fields is not None:
        update_fields = [*update_fields, "revision"]
    image.save(force_insert=force_insert, update_fields=update_fields)


def current_revision() -> int:
    """The last revision handed out (0 if none); asked before every search."""
    return counters.current(RevisionCounter)


class PhashIndex:
    """The stored phash values (a superset, see the module's docstring), as uint64."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = np.empty(0, dtype=np.uint64)  # capacity; [:_size] is in use
        self._size = 0
        self._revision: int | None = None  # None: not loaded

    @property
    def size(self) -> int:
        """How many values this process holds (a metric: docs/operating/index.md)."""
        return self._size

    def reset(self) -> None:
        """Forget everything; the next search loads the index again."""
        with self._lock:
            self._values, self._size, self._revision = np.empty(0, dtype=np.uint64), 0, None

    def candidates(self, phash_value: int, max_distance: int) -> tuple[dict[int, int], int | None]:
        """The distinct values within ``max_distance`` bits of ``phash_value``, with their
        distances, and the revision the index was at."""
        values, revision = self.refresh()
        query = np.uint64(phash_value & 0xFFFF_FFFF_FFFF_FFFF)
        xor = np.empty(_SCAN_BLOCK, dtype=np.uint64)
        bits = np.empty(_SCAN_BLOCK, dtype=np.uint8)
        found: dict[int, int] = {}
        for start in range(0, len(values), _SCAN_BLOCK):
            block = values[start : start + _SCAN_BLOCK]
            n = len(block)
            np.bitwise_xor(block, query, out=xor[:n])
            np.bitwise_count(xor[:n], out=bits[:n])
            hits = np.flatnonzero(bits[:n] <= max_distance)
            if len(hits):
                found.update(zip(block[hits].tolist(), bits[hits].tolist(), strict=True))
        return found, revision

    def refresh(self) -> tuple[np.ndarray, int | None]:
        """Catch up with the database; return the values in use and the revision seen
        (None when nothing could be kept, see below)."""
        with self._lock:
            current = current_revision()
            if connection.in_atomic_block:
                # Inside a transaction, what we read may be this transaction's own writes,
                # which may yet roll back: use them for this search, keep nothing.
                if self._revision is None or current < self._revision:
                    return _read_values(), None
                since, _ = _read_since(self._revision)
                return np.concatenate([self._values[: self._size], since]), None
            if self._revision is None or current < self._revision:
                # Not loaded yet, or the database went back (restored from a backup).
                self._values = _read_values()
                self._size, self._revision = len(self._values), current
            elif current > self._revision:
                new, seen = _read_since(self._revision)
                self._append(new)
                # Every revision below one seen here committed before it: none is skipped.
                self._revision = max(current, seen)
            return self._values[: self._size], self._revision

    def forget(self, stale: list[int], *, revision: int | None) -> None:
        """Drop values the database no longer holds, unless the index moved on since
        ``revision`` (a write after the lookup may have stored one of them again)."""
        with self._lock:
            if revision is None or self._revision != revision or not stale:
                return
            kept = self._values[: self._size]
            kept = kept[np.isin(kept, np.array(stale, dtype=np.uint64), invert=True)]
            self._values, self._size = kept.copy(), len(kept)

    def _append(self, new: np.ndarray) -> None:
        if self._size + len(new) > len(self._values):
            grown = np.empty(max(2 * len(self._values), self._size + len(new), 1024), np.uint64)
            grown[: self._size] = self._values[: self._size]
            self._values = grown
        # Written past the end in use: searches running on the old length are not disturbed.
        self._values[self._size : self._size + len(new)] = new
        self._size += len(new)


def _read_values() -> np.ndarray:
    """Every stored value, once. Read after the counter: a row written in between comes
    again with the next catch-up, harmless (a value may be held twice)."""
    # Streamed in batches (a server-side cursor on PostgreSQL), never all rows held at once.
    rows = Image.objects.order_by().values_list("phash_value", flat=True)
    values = np.fromiter(rows.iterator(chunk_size=_LOAD_BATCH), dtype=np.int64)
    return np.unique(values).view(np.uint64)


def _read_since(revision: int) -> tuple[np.ndarray, int]:
    """The values stamped after ``revision``, and the highest revision among them."""
    rows = list(
        Image.objects.filter(revision__gt=revision)
        .order_by()
        .values_list("phash_value", "revision")
    )
    values = [value for value, _ in rows]
    seen = max((stamp for _, stamp in rows), default=revision)
    return np.array(values, dtype=np.int64).view(np.uint64), seen


index = PhashIndex()  # one per worker process


def warm_up() -> None:
    """Load this process's index now rather than at its first search (gunicorn starts this
    in a thread of each new worker). A failure is logged; the first search tries again."""
    try:
        index.refresh()
    except Exception:
        logger.exception("The similarity index could not be loaded ahead of time.")
    finally:
        connection.close()


def search(
    *,
    phash_value: int,
    max_distance: int,
    limit: int,
    exclude_id: UUID | None = None,
    within: QuerySet[Image] | None = None,
) -> Matches:
    """The stored images within ``max_distance`` bits, nearest first, ties newest first;
    only among ``within``, if given."""
    found, revision = index.candidates(phash_value, max_distance)
    distances = {int_to_phash(value): distance for value, distance in found.items()}
    stored = Image.objects.all() if within is None else within
    if exclude_id:
        stored = stored.exclude(pk=exclude_id)
    own = int_to_phash(phash_value) if exclude_id else None
    if within is not None:
        revision = None  # a value missing among some images proves nothing: forget none
    if len(distances) <= _LOOKUP_CHUNK:
        # The usual case, in one query: every image holding a candidate, when not too many.
        images = list(stored.filter(phash__in=list(distances)).order_by()[: _FETCH_ALL + 1])
        if len(images) <= _FETCH_ALL:
            _forget_stale(distances, {image.phash for image in images}, own, revision)
            images.sort(key=lambda image: (image.created_at, image.pk), reverse=True)
            images.sort(key=lambda image: distances[image.phash])
            matches = [Match(distances[image.phash], image) for image in images[:limit]]
            return Matches(count=len(images), results=matches)

    # Many matches: count them per hash, then fetch the nearest levels only.
    counts: dict[str, int] = {}
    for chunk in _chunks(list(distances)):
        counts.update(stored.filter(phash__in=chunk).values_list("phash").annotate(Count("pk")))
    _forget_stale(distances, set(counts), own, revision)
    results: list[Match] = []
    for distance in sorted({distances[h] for h in counts}):
        wanted = limit - len(results)
        if wanted <= 0:
            break
        level = [h for h in counts if distances[h] == distance]
        images = [
            image
            for chunk in _chunks(level)
            for image in stored.filter(phash__in=chunk).order_by("-created_at", "-id")[:wanted]
        ]
        images.sort(key=lambda image: (image.created_at, image.pk), reverse=True)
        results += [Match(distance, image) for image in images[:wanted]]
    return Matches(count=sum(counts.values()), results=results)


def _forget_stale(
    candidates: dict[str, int], present: set[str], own: str | None, revision: int | None
) -> None:
    """Drop from the index the candidates no stored image holds (the searched image's own
    hash is excluded from the lookup, so its absence proves nothing)."""
    stale = [int(h, 16) for h in candidates if h not in present and h != own]
    if stale:
        index.forget(stale, revision=revision)


def _chunks(items: list) -> list[list]:
    return [items[i : i + _LOOKUP_CHUNK] for i in range(0, len(items), _LOOKUP_CHUNK)]
