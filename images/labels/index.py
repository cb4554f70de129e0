"""The tag and metadata index: one row per tag (``ImageTag``) and per metadata value
(``ImageMetadataValue``) of every image, kept in step with the images' own ``tags`` and
``metadata`` columns, and the facet counts kept with them. The queries that find and order
images through it are in images/labels/queries.py, the ones that count in
images/labels/facets.py.

Every query of the index is answered from a composite index: (tag, image) for tags, and
(key, value, image) per value type for metadata, so a filter reads the matching entries
only and never the images table as a whole. docs/design/metadata.md has the
measurements.
"""

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Count, F

from images.labels.rules import Value
from images.models import TEXT_PREFIX, FacetCount, ImageMetadataValue, ImageTag

_BATCH = 500  # rows per statement, far below every database's parameter limit


# --- Keeping the index in step with the images ------------------------------------------


@dataclass(frozen=True)
class Change:
    """An image's tags and metadata before and after a write (empty before on create)."""

    image_id: UUID
    created_at: datetime
    tags_before: Sequence[str]
    tags_after: Sequence[str]
    metadata_before: dict[str, Value]
    metadata_after: dict[str, Value]


def apply_changes(changes: Iterable[Change]) -> None:
    """Write the index rows the changes call for, inside the caller's transaction: only
    what changed is deleted and inserted, grouped so that a bulk edit of 1,000 images
    takes a few statements."""
    gone_tags: dict[str, list[UUID]] = defaultdict(list)
    gone_keys: dict[str, list[UUID]] = defaultdict(list)
    new_tags: list[ImageTag] = []
    new_values: list[ImageMetadataValue] = []
    counts: Counter[tuple[str, tuple]] = Counter()
    for change in changes:
        before, after = set(change.tags_before), set(change.tags_after)
        for tag in before - after:
            gone_tags[tag].append(change.image_id)
            counts["tags", facet_value(tag)] -= 1
        for tag in after - before:
            counts["tags", facet_value(tag)] += 1
        new_tags += [
            ImageTag(image_id=change.image_id, tag=tag, image_created_at=change.created_at)
            for tag in after - before
        ]
        old, new = change.metadata_before, change.metadata_after
        for key in old.keys() | new.keys():
            was = columns(old[key]) if key in old else None
            now = columns(new[key]) if key in new else None
            if was == now:
                continue
            if was is not None:
                gone_keys[key].append(change.image_id)
                counts[f"metadata.{key}", facet_value(old[key])] -= 1
            if now is not None:
                counts[f"metadata.{key}", facet_value(new[key])] += 1
                new_values.append(
                    ImageMetadataValue(
                        image_id=change.image_id,
                        key=key,
                        image_created_at=change.created_at,
                        **now,
                    )
                )
    for tag, ids in gone_tags.items():
        for chunk in _batched(ids):
            ImageTag.objects.filter(tag=tag, image_id__in=chunk).delete()
    for key, ids in gone_keys.items():
        for chunk in _batched(ids):
            ImageMetadataValue.objects.filter(key=key, image_id__in=chunk).delete()
    ImageTag.objects.bulk_create(new_tags, batch_size=_BATCH)
    ImageMetadataValue.objects.bulk_create(new_values, batch_size=_BATCH)
    _count(counts)


def facet_value(value: Value) -> tuple[str, Value]:
    """A value as the facets count it: 3 and 3.0 are one number, true is not 1."""
    if isinstance(value, bool):
        return "boolean", value
    if isinstance(value, str):
        return "text", value
    return "number", float(value) or 0.0  # -0.0 is 0.0


def _count(counts: Counter[tuple[str, tuple]]) -> None:
    """Add to the facet counts. In one order of (field, value) in every transaction, so
    that two writers on PostgreSQL never wait for each other's rows crosswise."""
    emptied: dict[str, list[str]] = defaultdict(list)
    for (field, (column, value)), added in sorted(counts.items(), key=_lock_order):
        if not added:
            continue
        digest = _digest(column, value)
        row = FacetCount.objects.filter(field=field, digest=digest)
        if added < 0:
            row.update(count=F("count") + added)
            emptied[field].append(digest)
        elif not row.update(count=F("count") + added):
            try:
                with transaction.atomic():  # a savepoint: a twin insert may win the race
                    FacetCount.objects.create(
                        field=field, digest=digest, count=added, **{column: value}
                    )
            except IntegrityError:
                row.update(count=F("count") + added)
    for field, digests in emptied.items():
        for chunk in _batched(digests):
            FacetCount.objects.filter(field=field, digest__in=chunk, count__lte=0).delete()


def recount() -> None:
    """Count the facets again from the index rows (after filling the tables by other
    means than the services, as ``make bench-metadata`` does)."""
    counts: Counter[tuple[str, tuple]] = Counter()
    tags = ImageTag.objects.order_by().values_list("tag").annotate(n=Count("*"))
    for tag, n in tags.iterator():
        counts["tags", facet_value(tag)] = n
    values = (
        ImageMetadataValue.objects.order_by()
        .values_list("key", "text", "long_text", "number", "boolean")
        .annotate(n=Count("*"))
    )
    for key, text, long_text, number, boolean, n in values.iterator():
        counts[f"metadata.{key}", facet_value(value_of(text, long_text, number, boolean))] += n
    with transaction.atomic():
        FacetCount.objects.all().delete()
        FacetCount.objects.bulk_create(
            (
                FacetCount(field=field, digest=_digest(column, value), count=n, **{column: value})
                for (field, (column, value)), n in counts.items()
            ),
            batch_size=_BATCH,
        )


def value_of(text: str | None, long_text: str | None, number, boolean) -> Value:
    """The value an index row holds."""
    if text is not None:
        return long_text or text
    return number if boolean is None else boolean


def _digest(column: str, value: Value) -> str:
    return hashlib.sha256(f"{column}:{value!r}".encode()).hexdigest()[:32]


def _lock_order(item: tuple) -> tuple:
    (field, (column, value)), _ = item
    return field, column, str(value)


def _batched(items: list, size: int = _BATCH) -> Iterable[list]:
    return (items[i : i + size] for i in range(0, len(items), size))


def columns(value: Value) -> dict:
    """A value as its index row's columns; ``True`` is not ``1`` here."""
    if isinstance(value, bool):
        return {"boolean": value}
    if isinstance(value, str):
        if len(value) < TEXT_PREFIX:
            return {"text": value}
        return {"text": value[:TEXT_PREFIX], "long_text": value}
    return {"number": float(value)}
