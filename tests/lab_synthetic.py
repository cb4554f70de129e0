"""Images with random tags and metadata (rows without files), and the brute-force answers
the index's filters, orderings and facets are compared with: plain Python over the rows."""

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import transaction

from images.labels import index as metadata_index
from images.labels import rules as lab_metadata
from images.labels.rules import Condition, Filters, Ordering
from images.models import Image
from tests.synthetic import clustered_phashes, store_rows

TAG_POOL = ["plate", "Plate", "control", "re-imaged", "qc:ok", "µm", "a b", "x/y", "z_1", "t.2"]
LONG = "L" * 300  # longer than the indexed prefix: these differ only after it
TEXTS = ["A01", "B7", "b7", "", "Ä", "a", "z", "P-0042", LONG + "a", LONG + "b", LONG[:256]]
NAMES = ["plate", "Plate", "ä", "a", "b", "Z", "plate 2", "plate-2", "", "ß"]


@dataclass(frozen=True)
class Row:
    id: UUID
    name: str
    created_at: datetime
    tags: list[str]
    metadata: dict


def random_labels(rng: random.Random) -> tuple[list[str], dict]:
    tags = rng.sample(TAG_POOL, rng.randrange(0, 5))
    metadata = {}
    if rng.random() < 0.9:
        metadata["plate"] = rng.choice(["P1", "P2", "P3", "P10"])
    if rng.random() < 0.8:
        metadata["timepoint"] = rng.choice([0, 1, 2, 3, 3.0, 3.5, -1, 10, 100])
    if rng.random() < 0.7:
        metadata["conc"] = rng.choice([round(rng.uniform(-5, 5), 2), rng.randrange(-5, 6)])
    if rng.random() < 0.5:
        metadata["ok"] = rng.random() < 0.5
    if rng.random() < 0.8:  # every type under one key: the order across types shows
        metadata["mixed"] = rng.choice([*TEXTS, 0, 1, 2.5, -0.0, True, False, 1.0])
    if rng.random() < 0.3:
        metadata["rare.key:x"] = rng.choice(TEXTS)
    return tags, metadata


def store_labelled(count: int, *, seed: int = 3) -> list[Row]:
    """``count`` images (every 7th created at the same instant as the one before), each
    with random names, tags and metadata, written with their index rows."""
    rng = random.Random(seed)
    images = store_rows(clustered_phashes(count, seed=seed))
    rows = []
    with transaction.atomic():
        for image in images:
            tags, metadata = random_labels(rng)
            name = rng.choice(NAMES)
            Image.objects.filter(pk=image.pk).update(name=name, tags=tags, metadata=metadata)
            metadata_index.apply_changes(
                [metadata_index.Change(image.pk, image.created_at, [], tags, {}, metadata)]
            )
            rows.append(Row(image.pk, name, image.created_at, tags, metadata))
    return rows


# Queries over such rows: each filter and ordering, alone and together; most find some of
# the rows and not all (test_metadata_index checks that).
QUERIES = [
    "",
    "ordering=created_at",
    "ordering=name",
    "ordering=-name",
    "tag=plate",
    "tag=Plate",
    "tag=plate&tag=control",
    "tag=a b&tag=x/y&tag=µm",
    "tag=absent",
    "metadata.plate=P1",
    "metadata.plate=P10&tag=qc:ok",
    "metadata.plate=p1",
    "metadata.timepoint=3",
    "metadata.timepoint=3.0",
    "metadata.timepoint=3.5",
    "metadata.timepoint=-1",
    "metadata.mixed=1",
    "metadata.mixed=0",
    "metadata.mixed=true",
    "metadata.mixed=false",
    "metadata.mixed=",
    "metadata.mixed=B7",
    f"metadata.mixed={LONG}a",
    f"metadata.mixed={LONG[:256]}",
    f"metadata.mixed={LONG}",
    "metadata.ok=true",
    "metadata.ok=1",
    "metadata.conc__gt=0",
    "metadata.conc__gte=-1&metadata.conc__lt=2.5",
    "metadata.conc__lte=-2",
    "metadata.mixed__gte=0",
    "metadata.timepoint__gt=2&metadata.timepoint__lte=10&tag=plate",
    "metadata.ok__exists=true",
    "metadata.ok__exists=false",
    "metadata.ok__exists=false&metadata.plate=P2",
    "metadata.rare.key:x__exists=true&tag=control",
    "metadata.nokey__exists=false&metadata.timepoint=0",
    "metadata.plate=P1&metadata.plate=P2",
    "ordering=metadata.timepoint",
    "ordering=-metadata.timepoint",
    "ordering=metadata.mixed",
    "ordering=-metadata.mixed",
    "ordering=metadata.nokey",
    "ordering=metadata.rare.key:x",
    "ordering=metadata.mixed&tag=plate",
    "ordering=-metadata.timepoint&metadata.plate=P3",
    "ordering=metadata.conc&metadata.conc__gt=-1",
    "ordering=metadata.ok&metadata.ok__exists=false",
    "ordering=name&tag=control",
    "ordering=-name&metadata.mixed=B7",
    "ordering=created_at&metadata.timepoint__lt=3",
    "ordering=-metadata.mixed&metadata.ok__exists=true",
]


# --- Brute force ----------------------------------------------------------------------


def holds(condition: Condition, metadata: dict) -> bool:
    if condition.operator == "exists":
        return (condition.key in metadata) == condition.boolean
    if condition.key not in metadata:
        return False
    value = metadata[condition.key]
    if condition.operator == "eq":
        if isinstance(value, bool):
            return condition.boolean is not None and value == condition.boolean
        if isinstance(value, str):
            return value == condition.text
        return condition.number is not None and float(value) == condition.number
    if isinstance(value, bool | str):
        return False
    compare = {
        "gt": float.__gt__,
        "gte": float.__ge__,
        "lt": float.__lt__,
        "lte": float.__le__,
    }[condition.operator]
    return compare(float(value), condition.number)


def matching(rows: list[Row], filters: Filters) -> list[Row]:
    return [
        row
        for row in rows
        if all(tag in row.tags for tag in filters.tags)
        and all(holds(condition, row.metadata) for condition in filters.conditions)
    ]


def _type_and_value(value) -> tuple:
    if isinstance(value, bool):
        return 2, value
    if isinstance(value, str):
        return 1, value
    return 0, float(value)


def in_order(rows: list[Row], ordering: Ordering) -> list[UUID]:
    """The ids in the API's order: by the field, then creation time, then id, all in the
    ordering's direction; by a key: numbers, strings, false, true, then images without it."""
    reverse = ordering.descending
    if ordering.field == "created_at":
        found = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=reverse)
    elif ordering.field == "name":
        found = sorted(rows, key=lambda r: (r.name, r.created_at, r.id), reverse=reverse)
    else:
        key = ordering.key
        having = [r for r in rows if key in r.metadata]
        found = sorted(
            having,
            key=lambda r: (*_type_and_value(r.metadata[key]), r.created_at, r.id),
            reverse=reverse,
        )
        missing = [r for r in rows if key not in r.metadata]
        found += sorted(missing, key=lambda r: (r.created_at, r.id), reverse=reverse)
    return [row.id for row in found]


def facet_counts(rows: list[Row], key: str | None, limit: int) -> list[tuple]:
    counts: Counter = Counter()
    for row in rows:
        if key is None:
            counts.update((1, tag) for tag in row.tags)
        elif key in row.metadata:
            kind, value = _type_and_value(row.metadata[key])
            counts[kind, (value or 0.0) if kind == 0 else value] += 1  # -0.0 is 0.0
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(_shown(kind, value), n) for (kind, value), n in ranked[:limit]]


def _shown(kind: int, value):
    if kind == 0 and float(value).is_integer():
        return int(value)
    return value


def parse(query: str) -> tuple[Filters, Ordering]:
    from urllib.parse import parse_qs

    params = parse_qs(query, keep_blank_values=True)
    filters = lab_metadata.parse_filters(params.items())
    ordering = lab_metadata.parse_ordering(params.get("ordering", [None])[-1])
    return filters, ordering
