"""The tag and metadata index (images/labels/index.py) and the queries on it (queries.py,
facets.py): every filter, ordering and facet over a few hundred images with random tags
and metadata is exactly what plain Python finds in the same rows, and the index rows and
counts follow every edit."""

import random

import pytest
from django.db import transaction

from images.labels import facets as label_facets
from images.labels import index as metadata_index
from images.labels import queries as label_queries
from images.labels import rules as lab_metadata
from images.models import FacetCount, Image, ImageMetadataValue, ImageTag
from tests.lab_synthetic import (
    QUERIES,
    facet_counts,
    in_order,
    matching,
    parse,
    random_labels,
    store_labelled,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def rows(django_db_setup, django_db_blocker):
    """300 labelled images for the whole module, rolled back at its end (each test runs
    in a savepoint inside)."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield store_labelled(300)
        transaction.set_rollback(True)


@pytest.mark.parametrize("query", QUERIES)
def test_every_page_is_the_brute_force_answer(rows, query):
    filters, ordering = parse(query)
    expected = in_order(matching(rows, filters), ordering)
    listed = label_queries.listing(filters, ordering)

    assert listed.count() == len(expected)
    assert [image.pk for image in listed[0 : len(expected) + 5]] == expected
    for start in sorted({0, 7, 20, len(expected) // 2, max(0, len(expected) - 3)}):
        page = [image.pk for image in listed[start : start + 20]]
        assert page == expected[start : start + 20], (query, start)


# Ordered by a key and filtered: the case InOrderAmong reads in windows.
FILTERED_BY_KEY = [
    q for q in QUERIES if "&" in q and parse(q)[1].field == "metadata" and parse(q)[0]
]


@pytest.mark.parametrize("window", [1, 3, 50])
@pytest.mark.parametrize("query", FILTERED_BY_KEY)
def test_filtered_pages_by_a_key_read_in_windows_are_the_brute_force_answer(
    rows, query, window, monkeypatch
):
    monkeypatch.setattr(label_queries, "FIRST_WINDOW", window)

    test_every_page_is_the_brute_force_answer(rows, query)


def test_the_queries_above_find_something_and_not_everything(rows):
    """The table above means something: most of its filters match some rows, not all."""
    found = [len(matching(rows, parse(query)[0])) for query in QUERIES]

    assert sum(0 < n < len(rows) for n in found) >= 35


@pytest.mark.parametrize("query", QUERIES[:12] + QUERIES[27:38])
def test_filtered_restricts_any_queryset_to_the_matching_images(rows, query):
    filters, _ = parse(query)
    some = Image.objects.filter(pk__in=[row.id for row in rows[::2]])

    found = set(label_queries.filtered(some, filters).values_list("pk", flat=True))

    assert found == {row.id for row in matching(rows[::2], filters)}


FACET_QUERIES = ["", "tag=plate", "metadata.ok=true", "metadata.ok__exists=false", "tag=absent"]
FACET_FIELDS = ["tags", "metadata.plate", "metadata.timepoint", "metadata.mixed", "metadata.ok"]


@pytest.mark.parametrize("query", FACET_QUERIES)
@pytest.mark.parametrize("field", FACET_FIELDS)
@pytest.mark.parametrize("limit", [1, 3, 100])
def test_facets_count_the_matching_images_most_frequent_first_then_by_value(
    rows, query, field, limit
):
    filters, _ = parse(query)
    key = lab_metadata.parse_facet_field(field)

    found = label_facets.facets(filters, key=key, limit=limit)

    expected = facet_counts(matching(rows, filters), key, limit)
    assert [(facet.value, facet.count) for facet in found] == expected
    assert [type(facet.value) for facet in found] == [type(value) for value, _ in expected]


def index_rows() -> tuple[set, set]:
    tags = set(ImageTag.objects.values_list("image_id", "tag", "image_created_at"))
    values = set(
        ImageMetadataValue.objects.values_list(
            "image_id", "key", "text", "long_text", "number", "boolean", "image_created_at"
        )
    )
    return tags, values


def expected_index_rows() -> tuple[set, set]:
    tags, values = set(), set()
    for image in Image.objects.all():
        tags |= {(image.pk, tag, image.created_at) for tag in image.tags}
        for key, value in image.metadata.items():
            columns = {"text": None, "long_text": None, "number": None, "boolean": None}
            columns |= metadata_index.columns(value)
            values.add((image.pk, key, *columns.values(), image.created_at))
    return tags, values


def facet_table() -> set:
    return set(
        FacetCount.objects.values_list("field", "digest", "text", "number", "boolean", "count")
    )


def test_index_rows_and_counts_follow_every_edit(rows):
    rng = random.Random(9)
    edited = rng.sample(rows, 120)
    with transaction.atomic():
        changes = []
        for row in edited:
            image = Image.objects.get(pk=row.id)
            tags, metadata = random_labels(rng)
            if rng.random() < 0.3:  # a patch: some keys removed, one set, the rest kept
                patch = {key: None for key in rng.sample(list(image.metadata), 1) if image.metadata}
                patch["timepoint"] = rng.choice([1, 1.0, True, "1"])
                metadata = lab_metadata.merge_patch(image.metadata, patch)
            changes.append(
                metadata_index.Change(
                    image.pk, image.created_at, image.tags, tags, image.metadata, metadata
                )
            )
            Image.objects.filter(pk=image.pk).update(tags=tags, metadata=metadata)
        metadata_index.apply_changes(changes)

    assert index_rows() == expected_index_rows()
    counted = facet_table()
    metadata_index.recount()
    assert facet_table() == counted
    assert not FacetCount.objects.filter(count__lte=0).exists()


def test_true_and_1_and_1_point_0_are_told_apart_where_they_differ(rows):
    image = Image.objects.get(pk=rows[0].id)
    before = dict(image.metadata)
    steps = [{"flag": 1}, {"flag": True}, {"flag": 1.0}, {"flag": "1"}, {"flag": 1}]
    for after in steps:
        metadata_index.apply_changes(
            [metadata_index.Change(image.pk, image.created_at, [], [], before, after)]
        )
        Image.objects.filter(pk=image.pk).update(metadata=after)
        before = after
        stored = ImageMetadataValue.objects.get(image_id=image.pk, key="flag")
        assert (stored.text, stored.number, stored.boolean) == {
            int: (None, 1.0, None),
            float: (None, 1.0, None),
            bool: (None, None, True),
            str: ("1", None, None),
        }[type(after["flag"])]


def test_deleting_an_image_deletes_its_index_rows(rows):
    image = Image.objects.get(pk=next(row.id for row in rows if row.tags and row.metadata))

    image.delete()

    assert not ImageTag.objects.filter(image_id=image.pk).exists()
    assert not ImageMetadataValue.objects.filter(image_id=image.pk).exists()


def test_a_bulk_change_of_many_images_takes_few_statements(rows, django_assert_max_num_queries):
    images = list(Image.objects.filter(pk__in=[row.id for row in rows[:200]]))
    changes = [
        metadata_index.Change(
            image.pk,
            image.created_at,
            image.tags,
            [*image.tags, "bulk"] if "bulk" not in image.tags else image.tags,
            image.metadata,
            {**image.metadata, "batch": 7},
        )
        for image in images
    ]
    with django_assert_max_num_queries(40):
        metadata_index.apply_changes(changes)

    assert ImageTag.objects.filter(tag="bulk").count() == 200
    assert FacetCount.objects.get(field="metadata.batch").count == 200
