"""The admin list's tags and metadata: a column of each image's tags, a column for each of
the metadata keys most images have, and a filter for the tags and for each of those keys,
offering their most frequent values (the API's facets)."""

import json

from django.contrib import admin
from django.db.models import QuerySet
from django.utils.html import format_html, format_html_join

from images import selectors
from images.errors import ImageServiceError
from images.labels import queries as label_queries
from images.labels import rules as lab_metadata
from images.models import Image

MAIN_KEYS = 3  # metadata keys shown as columns and filters
VALUES_OFFERED = 50  # values offered by each filter, the most frequent first

CHIP = (
    '<span class="image-tag" style="display:inline-block;margin:0 4px 4px 0;padding:0 6px;'
    "border-radius:9px;background:var(--darkened-bg);border:1px solid var(--hairline-color);"
    'white-space:nowrap">{}</span>'
)


def tag_chips(tags: list[str]) -> str:
    """Tags as a list of labels, not as JSON."""
    if not tags:
        return "none"
    return format_html_join("", CHIP, ((tag,) for tag in tags))


def value_text(value) -> str:
    """A metadata value as a person reads it: yes/no for booleans, 3 for 3.0."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def metadata_table(metadata: dict) -> str:
    """Metadata as a table of keys and values, not as JSON."""
    if not metadata:
        return "none"
    rows = format_html_join(
        "",
        "<tr><th scope=row>{}</th><td>{}</td></tr>",
        ((key, value_text(value)) for key, value in sorted(metadata.items())),
    )
    return format_html('<table class="image-metadata">{}</table>', rows)


@admin.display(description="Tags")
def tags_column(image: Image) -> str:
    return tag_chips(image.tags) if image.tags else ""


def metadata_column(key: str):
    """The list's column of one metadata key's values."""

    @admin.display(description=key)
    def column(image: Image) -> str:
        value = image.metadata.get(key)
        return "" if value is None else value_text(value)

    column.__name__ = f"metadata_{key}"
    return column


class TagFilter(admin.SimpleListFilter):
    """The most used tags; choosing one lists the images with it."""

    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        facets = selectors.image_facets(key=None, limit=VALUES_OFFERED)
        return [(facet.value, facet.value) for facet in facets]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return label_queries.filtered(queryset, lab_metadata.Filters(tags=(self.value(),)))


class MetadataFilter(admin.SimpleListFilter):
    """One key's most frequent values; choosing one lists the images with that value, as
    ``?metadata.KEY=VALUE`` does in the API (a number matches 3 and "3" alike)."""

    key = ""  # set by metadata_filter

    def lookups(self, request, model_admin):
        facets = selectors.image_facets(key=self.key, limit=VALUES_OFFERED)
        return [(_query_text(facet.value), value_text(facet.value)) for facet in facets]

    def queryset(self, request, queryset: QuerySet[Image]) -> QuerySet[Image]:
        if self.value() is None:
            return queryset
        try:
            filters = lab_metadata.parse_filters([(self.parameter_name, [self.value()])])
        except ImageServiceError:
            return queryset.none()  # no stored value can be this
        return label_queries.filtered(queryset, filters)


def metadata_filter(key: str) -> type[MetadataFilter]:
    return type(
        f"MetadataFilter_{key}",
        (MetadataFilter,),
        {"key": key, "title": key, "parameter_name": f"metadata.{key}"},
    )


def _query_text(value) -> str:
    """A value as the API's ``?metadata.KEY=`` takes it."""
    return value if isinstance(value, str) else json.dumps(value)


def main_keys() -> list[str]:
    return selectors.metadata_keys(limit=MAIN_KEYS)
