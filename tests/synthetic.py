"""Image rows with synthetic phashes and no files, for searching at scale, and the
brute-force answer every search is compared with."""

import functools
import random
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from images import similarity
from images.imaging import hashing
from images.models import Image


def clustered_phashes(count: int, *, seed: int = 1, clusters: int = 40) -> list[int]:
    """Unsigned 64-bit hashes: groups around random centres (0 to 20 bits away, exact
    twins included), the rest spread at random; the mix a lab's plates give."""
    rng = random.Random(seed)
    centres = [rng.getrandbits(64) for _ in range(clusters)]
    hashes = list(centres)
    while len(hashes) < count:
        if rng.random() < 0.2:
            hashes.append(rng.getrandbits(64))
            continue
        value = rng.choice(centres)
        for bit in rng.sample(range(64), rng.choice([0, 0, 1, 2, 3, 5, 8, 10, 11, 14, 17, 20])):
            value ^= 1 << bit
        hashes.append(value)
    return hashes[:count]


def store_rows(hashes: list[int], *, tie_every: int = 7) -> list[Image]:
    """Insert one row per hash as a writer does: in one transaction stamped with one
    revision. Every ``tie_every``-th row shares its creation time with the one before."""
    rows, values = _prepared(tuple(hashes), tie_every)
    fields = Image._meta.concrete_fields
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    at = fields.index(Image._meta.get_field("revision"))
    with transaction.atomic():
        revision = similarity.next_revision()
        for row, prepared in zip(rows, values, strict=True):
            row.revision = prepared[at] = revision
        # A plain INSERT: bulk_create would stamp its own creation times.
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {quote(Image._meta.db_table)} ({columns}) VALUES ({marks})", values
            )
    return rows


@functools.cache
def _prepared(hashes: tuple[int, ...], tie_every: int) -> tuple[list[Image], list[list]]:
    """The rows and their column values, made once per test run (tests insert them anew
    into an emptied table)."""
    start = timezone.now() - timedelta(days=1)
    times: list = []
    for i in range(len(hashes)):
        tie = tie_every and i and i % tie_every == 0
        times.append(times[-1] if tie else start + timedelta(milliseconds=i))
    rows = [
        Image(
            name=f"synthetic-{i}",
            file=f"synthetic/{i}.png",
            format="PNG",
            width=8,
            height=8,
            file_size=1,
            sha256=f"{i:064x}",
            phash=hashing.int_to_phash(value),
            phash_value=hashing.phash_to_int(hashing.int_to_phash(value)),
            original=f"synthetic/{i}.png",
            original_format="PNG",
            original_file_size=1,
            original_sha256=f"{i:064x}",
            created_at=when,
            updated_at=when,
        )
        for i, (value, when) in enumerate(zip(hashes, times, strict=True))
    ]
    fields = Image._meta.concrete_fields
    values = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
        for row in rows
    ]
    return rows, values


def brute_force(phash_value: int, max_distance: int, *, exclude=None) -> list[tuple[int, str]]:
    """(distance, id) of every stored image within ``max_distance``, in the API's order:
    nearest first, then newest, then the highest id."""
    near = {
        pk: distance
        for pk, value in Image.objects.values_list("id", "phash_value")
        if pk != exclude and (distance := hashing.hamming(value, phash_value)) <= max_distance
    }
    found = [
        (near[pk], created, pk)
        for chunk in _chunks(list(near))
        for pk, created in Image.objects.filter(pk__in=chunk).values_list("id", "created_at")
    ]
    found.sort(key=lambda row: (row[1], row[2]), reverse=True)
    found.sort(key=lambda row: row[0])
    return [(distance, str(pk)) for distance, _, pk in found]


def _chunks(items: list, size: int = 500) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]
