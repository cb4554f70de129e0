"""The tag and metadata index: one row per tag (``ImageTag``) and per metadata value
(``ImageMetadataValue``) of every image, kept in step with the images' own ``tags`` and
``metadata`` columns, and the queries that find, order and count images through it.

Every query here is answered from a composite index: (tag, image) for tags, and (key,
value, image) per value type for metadata, so a filter reads the matching entries only and
never the images table as a whole. docs/design/metadata.md has the measurements.
"""

import functools
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Collate

from images.errors import InvalidFilter
from images.labels import rules as lab_metadata
from images.labels.rules import Condition, Filters, Ordering, Value
from images.models import TEXT_PREFIX, FacetCount, Image, ImageMetadataValue, ImageTag

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
            counts["tags", _facet_value(tag)] -= 1
        for tag in after - before:
            counts["tags", _facet_value(tag)] += 1
        new_tags += [
            ImageTag(image_id=change.image_id, tag=tag, image_created_at=change.created_at)
            for tag in after - before
        ]
        old, new = change.metadata_before, change.metadata_after
        for key in old.keys() | new.keys():
            was = _columns(old[key]) if key in old else None
            now = _columns(new[key]) if key in new else None
            if was == now:
                continue
            if was is not None:
                gone_keys[key].append(change.image_id)
                counts[f"metadata.{key}", _facet_value(old[key])] -= 1
            if now is not None:
                counts[f"metadata.{key}", _facet_value(new[key])] += 1
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


def _facet_value(value: Value) -> tuple[str, Value]:
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
        counts["tags", _facet_value(tag)] = n
    values = (
        ImageMetadataValue.objects.order_by()
        .values_list("key", "text", "long_text", "number", "boolean")
        .annotate(n=Count("*"))
    )
    for key, text, long_text, number, boolean, n in values.iterator():
        counts[f"metadata.{key}", _facet_value(_value_of(text, long_text, number, boolean))] += n
    with transaction.atomic():
        FacetCount.objects.all().delete()
        FacetCount.objects.bulk_create(
            (
                FacetCount(field=field, digest=_digest(column, value), count=n, **{column: value})
                for (field, (column, value)), n in counts.items()
            ),
            batch_size=_BATCH,
        )


def _value_of(text: str | None, long_text: str | None, number, boolean) -> Value:
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


def _columns(value: Value) -> dict:
    """A value as its index row's columns; ``True`` is not ``1`` here."""
    if isinstance(value, bool):
        return {"boolean": value}
    if isinstance(value, str):
        if len(value) < TEXT_PREFIX:
            return {"text": value}
        return {"text": value[:TEXT_PREFIX], "long_text": value}
    return {"number": float(value)}


# --- Finding ---------------------------------------------------------------------------
#
# A filtered list is read from the index tables, not from the images table: one condition
# leads (its index range lists the matching images in the API's order, as (created_at,
# id) follow the value in every index), the others are checked per image id, and only the
# images of the page are read at the end. The count reads the index alone.


@dataclass(frozen=True)
class _Clause:
    """One condition on an image, as rows of an index table (``rows``) or, for the
    presence of a key, as a check per image (``key_present``)."""

    rows: QuerySet | None = None
    key: str | None = None
    key_present: bool = True

    def holds_for(self, image_id: str) -> Q | Exists:
        """The condition for the image whose id is the outer query's ``image_id``."""
        if self.rows is not None:
            return Q(**{f"{image_id}__in": self.rows.values("image_id")})
        present = _has_key(self.key or "", image_id)
        return present if self.key_present else ~present


def _clauses(filters: Filters) -> list[_Clause]:
    """The filters as clauses, those that can lead first: equalities (usually the most
    selective: a plate, an experiment), then tags, then numeric ranges. Comparisons of one
    key are one range: an image has one value per key."""
    equal, tags, ranges, presence = [], [], {}, []
    for condition in filters.conditions:
        if condition.operator == "eq":
            equal.append(_Clause(ImageMetadataValue.objects.filter(_equals(condition))))
        elif condition.operator == "exists":
            presence.append(_Clause(key=condition.key, key_present=bool(condition.boolean)))
        else:
            bound = Q(**{f"number__{condition.operator}": condition.number})
            ranges[condition.key] = ranges.get(condition.key, Q(key=condition.key)) & bound
    tags = [_Clause(ImageTag.objects.filter(tag=tag)) for tag in filters.tags]
    in_range = [_Clause(ImageMetadataValue.objects.filter(q)) for q in ranges.values()]
    return [*equal, *tags, *in_range, *presence]


def _equals(condition: Condition) -> Q:
    """Equality: the string, and the number or boolean the value also reads as. Each
    alternative names the key, so that each is a range of one index."""
    key, text = condition.key, condition.text or ""
    match = Q(key=key, **_columns(text))
    if condition.number is not None:
        match |= Q(key=key, number=condition.number)
    if condition.boolean is not None:
        match |= Q(key=key, boolean=condition.boolean)
    return match


def _has_key(key: str, image_id: str = "pk") -> Exists:
    # EXISTS on the primary key (image, key) rather than NOT IN: PostgreSQL runs NOT IN
    # over a large subquery row by row.
    return Exists(ImageMetadataValue.objects.filter(image_id=OuterRef(image_id), key=key))


def _leading_rows(clauses: list[_Clause], within: QuerySet[Image] | None) -> QuerySet | None:
    """Index rows, one per image that meets every clause, or None when no clause can
    lead (there are none, or only the presence of keys)."""
    if not clauses or clauses[0].rows is None:
        return None
    rows = clauses[0].rows
    for clause in clauses[1:]:
        rows = rows.filter(clause.holds_for("image_id"))
    if within is not None:
        rows = rows.filter(image_id__in=within.values("pk"))
    return rows


def _checked_images(clauses: list[_Clause], within: QuerySet[Image] | None) -> QuerySet[Image]:
    images = Image.objects.all() if within is None else within
    for clause in clauses:
        images = images.filter(clause.holds_for("pk"))
    return images


def filtered(images: QuerySet[Image], filters: Filters) -> QuerySet[Image]:
    """``images`` restricted to those with every tag and meeting every metadata condition."""
    if not filters:
        return images
    clauses = _clauses(filters)
    rows = _leading_rows(clauses, None)
    if rows is None:
        return _checked_images(clauses, images)
    return images.filter(pk__in=rows.values("image_id"))


def matching_ids(filters: Filters, *, within: QuerySet[Image] | None = None) -> QuerySet | None:
    """The ids of the images that match (a subquery), or None for every image."""
    if not filters:
        return None if within is None else within.values("pk")
    clauses = _clauses(filters)
    rows = _leading_rows(clauses, within)
    return (
        rows.values("image_id")
        if rows is not None
        else _checked_images(clauses, within).values("pk")
    )


def labelled_with(term: str) -> Q:
    """The images with ``term`` as a tag or as a metadata value (the admin's search):
    ``KEY=VALUE`` is that key's value, as ``?metadata.KEY=VALUE`` finds it; a plain term,
    the value of any key that has it (the facet counts say which keys do)."""
    key, equals, value = term.partition("=")
    try:
        if equals and lab_metadata.KEY_PATTERN.fullmatch(key):
            filters = lab_metadata.parse_filters([(f"metadata.{key}", [value])])
            return Q(pk__in=matching_ids(filters))
        condition = lab_metadata.parse_filters([("metadata.any", [term])]).conditions[0]
    except InvalidFilter:  # no stored value can be this
        return Q(pk__in=[])
    found = Q(pk__in=ImageTag.objects.filter(tag=term).values("image_id"))
    facets = FacetCount.objects.filter(_facet_matches(condition), field__startswith="metadata.")
    keys = sorted(
        {field.removeprefix("metadata.") for field in facets.values_list("field", flat=True)}
    )
    if keys:
        values = Q()
        for key in keys:
            values |= _equals(
                Condition(key, "eq", condition.text, condition.number, condition.boolean)
            )
        found |= Q(pk__in=ImageMetadataValue.objects.filter(values).values("image_id"))
    return found


def _facet_matches(condition: Condition) -> Q:
    match = Q(text=condition.text)
    if condition.number is not None:
        match |= Q(number=condition.number)
    if condition.boolean is not None:
        match |= Q(boolean=condition.boolean)
    return match


# --- Ordering --------------------------------------------------------------------------


def listing(
    filters: Filters, ordering: Ordering, *, within: QuerySet[Image] | None = None
) -> "QuerySet[Image] | Listing":
    """The matching images in the order asked for, as something a paginator counts and
    slices. Ties by creation time, then id, in the ordering's direction."""
    clauses = _clauses(filters)
    rows = _leading_rows(clauses, within)
    sign = "-" if ordering.descending else ""
    ties = (f"{sign}image_created_at", f"{sign}image_id")
    if rows is None:
        images = _checked_images(clauses, within)
        if ordering.field != "metadata":
            return _ordered_images(images, ordering)
        key = ordering.key or ""
        parts = _by_value(key, descending=ordering.descending)
        if within is not None or clauses:
            parts = [part.filter(image_id__in=images.values("pk")) for part in parts]
        missing = images.exclude(_has_key(key)).order_by(f"{sign}created_at", f"{sign}id")
        return Listing([*parts, missing.values_list("pk", flat=True)], count=images.count)
    count = functools.cache(rows.count)  # asked by the paginator and by InOrderAmong
    if ordering.field == "created_at":
        parts = [rows.order_by(*ties).values_list("image_id", flat=True)]
    elif ordering.field == "name":
        by_name = rows.order_by(_by_name(F("image__name"), ordering.descending), *ties)
        parts = [by_name.values_list("image_id", flat=True)]
    else:
        key = ordering.key or ""
        missing = rows.exclude(_has_key(key, "image_id")).order_by(*ties)
        parts = [
            *(
                InOrderAmong(part, rows, count)
                for part in _by_value(key, descending=ordering.descending)
            ),
            missing.values_list("image_id", flat=True),
        ]
    return Listing(parts, count=count)


def _ordered_images(images: QuerySet[Image], ordering: Ordering) -> QuerySet[Image]:
    sign = "-" if ordering.descending else ""
    ties = (f"{sign}created_at", f"{sign}id")
    if ordering.field == "name":
        return images.order_by(_by_name(F("name"), ordering.descending), *ties)
    return images.order_by(*ties)


def _by_name(name, descending: bool):
    """Names in code point order, as on SQLite, rather than in the database's locale."""
    if connection.vendor == "postgresql":
        name = Collate(name, "C")
    return name.desc() if descending else name.asc()


def _by_value(key: str, *, descending: bool) -> list[QuerySet]:
    """The ids of the images that have ``key``, by its value: numbers (numerically), then
    strings, then false and true; all reversed for descending. One part per type, each
    read in order from its index."""
    sign = "-" if descending else ""
    values = ImageMetadataValue.objects.filter(key=key)
    ties = (f"{sign}image_created_at", f"{sign}image_id")
    numbers = values.filter(number__isnull=False).order_by(f"{sign}number", *ties)
    # A string's indexed prefix orders it; the whole string, only among long ones.
    texts = values.filter(text__isnull=False).order_by(f"{sign}text", f"{sign}long_text", *ties)
    booleans = values.filter(boolean__isnull=False).order_by(f"{sign}boolean", *ties)
    parts = [booleans, texts, numbers] if descending else [numbers, texts, booleans]
    return [part.values_list("image_id", flat=True) for part in parts]


# The first window of an ordered index that InOrderAmong checks against the matches.
FIRST_WINDOW = 4096


class InOrderAmong:
    """The ids of ``ordered`` (index rows in order) that are among ``matching`` (index
    rows of the images that match), in that order, as a part of a Listing.

    Looking up the value of every match and sorting costs a lookup per match: 10,000 of
    them, 200 ms and more, for a filter that keeps 1% of a million images. Instead, a
    window of the ordered index is read (in order, from the index alone) and checked
    against the matches, in one query; the window grows eightfold until it holds the
    slice asked for. Once it would be larger than four times the matches are many, the
    matches are looked up and sorted after all, which then is the cheaper way.
    """

    def __init__(self, ordered: QuerySet, matching: QuerySet, matches) -> None:
        self.ordered, self.matching, self.matches = ordered, matching, matches
        self._count: int | None = None  # known once a window held the whole part

    def _among(self) -> QuerySet:
        return self.ordered.filter(image_id__in=self.matching.values("image_id"))

    def count(self) -> int:
        if self._count is None:
            self._count = self._among().count()
        return self._count

    def __getitem__(self, index: slice) -> list:
        start, stop = index.start or 0, index.stop
        window = FIRST_WINDOW
        while stop is not None and window < 4 * self.matches():
            # The matches within the window, in order: the window is read in the database,
            # from the index alone; only the matches come back, each looked up once.
            in_window = self.matching.filter(image_id__in=self.ordered[:window])
            found = list(self.ordered.filter(image_id__in=in_window.values("image_id"))[:stop])
            if len(found) >= stop:
                return found[start:stop]
            if not list(self.ordered[window : window + 1]):  # the window held the whole part
                self._count = len(found)
                return found[start:stop]
            window *= 8
        return list(self._among()[start:stop])


class Listing:
    """Images read through ordered querysets of their ids, one part after the other, for
    a paginator: it counts (``count``) and slices, and a slice reads each part only as far
    as it needs, then the page's images in one query."""

    def __init__(self, parts: list[QuerySet], *, count) -> None:
        self.parts = parts
        self._count = count

    def count(self) -> int:
        return self._count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[Image]:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("Listing supports slices only.")
        start = index.start or 0
        size = None if index.stop is None else max(0, index.stop - start)
        ids: list = []
        for part in self.parts:
            wanted = None if size is None else size - len(ids)
            if wanted is not None and wanted <= 0:
                break
            found = list(part[start : None if wanted is None else start + wanted])
            ids += found
            # This part is used up: the next one is read from its start, or as far on as
            # this part fell short of the offset (counted only then).
            start = max(0, start - part.count()) if start and not found else 0
        images = Image.objects.in_bulk(ids)
        return [images[i] for i in ids if i in images]  # one deleted meanwhile: left out


# --- Counting --------------------------------------------------------------------------


@dataclass(frozen=True)
class Facet:
    value: Value
    count: int


def facets(
    filters: Filters, *, within: QuerySet[Image] | None = None, key: str | None, limit: int
) -> list[Facet]:
    """The most frequent values of a metadata key (``key``) or of the tags (``key`` None)
    among the matching images, most frequent first, then by value (numbers, strings,
    false, true). Over all images, from the counts kept; else counted from the index."""
    ids = matching_ids(filters, within=within)
    field = "tags" if key is None else f"metadata.{key}"
    if ids is None:
        counted = FacetCount.objects.filter(field=field, count__gt=0).order_by(
            "-count", F("number").asc(nulls_last=True), F("text").asc(nulls_last=True), "boolean"
        )
        return [
            Facet(_shown(row.number, row.text, row.boolean), row.count) for row in counted[:limit]
        ]
    if key is None:
        rows = ImageTag.objects.filter(image_id__in=ids).order_by().values_list("tag")
        counted = rows.annotate(n=Count("*")).order_by("-n", "tag")[:limit]
        return [Facet(tag, count) for tag, count in counted]
    # One pass over the matching images' values of the key (each a lookup by the primary
    # key), grouped by the database; the groups are ranked here.
    columns = ("text", "long_text", "number", "boolean")
    grouped = (
        ImageMetadataValue.objects.filter(key=key, image_id__in=ids)
        .order_by()
        .values_list(*columns)
        .annotate(n=Count("*"))
    )
    counts: Counter[tuple[str, Value]] = Counter()
    for *stored, count in grouped:
        counts[_facet_value(_value_of(*stored))] += count
    ranked = sorted(
        counts.items(), key=lambda item: (-item[1], _FACET_ORDER[item[0][0]], item[0][1])
    )
    return [Facet(_shown_value(value), count) for value, count in ranked[:limit]]


_FACET_ORDER = {"number": 0, "text": 1, "boolean": 2}  # numbers, strings, booleans


def _shown_value(value: tuple[str, Value]) -> Value:
    column, stored = value
    return _shown(stored, None, None) if column == "number" else stored


def _shown(number: float | None, text: str | None, boolean: bool | None) -> Value:
    """A counted value as the API shows it: 3 and 3.0 are one number, shown as 3."""
    if number is not None:
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    return text if text is not None else bool(boolean)
