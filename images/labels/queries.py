"""Finding and ordering images through the tag and metadata index (images/labels/index.py
keeps it): the filters of the list, the similar images and the admin, and the list's
orderings by name or by a metadata value."""

import functools
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Collate

from images.errors import InvalidFilter
from images.labels import rules as lab_metadata
from images.labels.index import columns
from images.labels.rules import Condition, Filters, Ordering
from images.models import FacetCount, Image, ImageMetadataValue, ImageTag

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
    match = Q(key=key, **columns(text))
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
