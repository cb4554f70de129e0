"""Counting images through the tag and metadata index: how many images have each tag, or
each value of a metadata key, among the ones a filter matches."""

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, F, QuerySet

from images.labels.index import facet_value, value_of
from images.labels.queries import matching_ids
from images.labels.rules import Filters, Value
from images.models import FacetCount, Image, ImageMetadataValue, ImageTag


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
        counts[facet_value(value_of(*stored))] += count
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
