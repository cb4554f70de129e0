"""The writes of tags and metadata (images/services/edits.py): the image rows, their index rows
and the facet counts change together, also when writers overlap."""

import io
import threading

import pytest
from django.db import connection

from images import services
from images.errors import InvalidMetadata, InvalidTags
from images.labels import index as metadata_index
from images.models import FacetCount, Image, ImageTag
from images.services import edits as labels
from tests.factories import encode, pattern
from tests.synthetic import clustered_phashes, store_rows


def counts() -> set:
    return set(FacetCount.objects.values_list("field", "digest", "count"))


def assert_counts_are_a_recount():
    kept = counts()
    metadata_index.recount()
    assert counts() == kept


@pytest.mark.django_db
def test_a_created_image_is_indexed_with_its_labels_and_counted():
    image = services.image_create(
        file=io.BytesIO(encode(pattern((40, 30)), "PNG")),
        name="plate",
        tags=["b", "a", "b"],
        metadata={"well": "B7", "t": 3},
    )

    assert (image.tags, image.metadata) == (["b", "a"], {"well": "B7", "t": 3})
    assert set(ImageTag.objects.values_list("tag", flat=True)) == {"a", "b"}
    assert FacetCount.objects.get(field="metadata.well").count == 1
    assert_counts_are_a_recount()


@pytest.mark.django_db
def test_a_deduplicated_upload_returns_the_twin_as_it_is():
    data = encode(pattern((40, 30)), "PNG")
    first = services.image_create(file=io.BytesIO(data), name="first", tags=["kept"])

    twin = services.image_create(
        file=io.BytesIO(data), name="second", tags=["ignored"], metadata={"a": 1}, dedupe=True
    )

    assert (twin.pk, twin.deduplicated, twin.tags, twin.metadata) == (first.pk, True, ["kept"], {})
    assert not ImageTag.objects.filter(tag="ignored").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda pk: labels.image_retag(image_id=pk, tags=["a#"]), InvalidTags),
        (lambda pk: labels.image_annotate(image_id=pk, metadata={"a": [1]}), InvalidMetadata),
        (lambda pk: labels.image_annotate(image_id=pk, metadata=["a"]), InvalidMetadata),
        (
            lambda pk: labels.image_bulk_edit(image_ids=[pk], add_tags=["x"], remove_tags=["x"]),
            InvalidTags,
        ),
    ],
)
def test_the_services_check_what_they_are_given_whoever_calls_them(call, error):
    image = store_rows(clustered_phashes(1))[0]

    with pytest.raises(error):
        call(image.pk)

    assert Image.objects.get(pk=image.pk).tags == []


@pytest.mark.django_db
def test_a_bulk_edit_names_at_most_1000_images():
    with pytest.raises(ValueError, match="at most 1000"):
        labels.image_bulk_edit(image_ids=[f"{i:032x}" for i in range(1001)], add_tags=["x"])


@pytest.mark.django_db(transaction=True)
def test_overlapping_bulk_edits_queue_and_leave_exact_counts():
    """Two writers editing the same images, named in opposite orders, at once: both
    finish (no deadlock on PostgreSQL), every edit is kept, the counts stay exact."""
    images = store_rows(clustered_phashes(200))
    ids = [image.pk for image in images]
    errors = []

    def edit(tag: str, order: list, rounds: int = 5) -> None:
        try:
            for n in range(rounds):
                labels.image_bulk_edit(
                    image_ids=order, add_tags=[tag], metadata={tag: n, "last": tag}
                )
        except Exception as exc:  # reported below, with the test's own assertion
            errors.append(exc)
        finally:
            connection.close()

    writers = [
        threading.Thread(target=edit, args=("left", ids)),
        threading.Thread(target=edit, args=("right", ids[::-1])),
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)

    assert not any(writer.is_alive() for writer in writers)
    assert errors == []
    for image in Image.objects.all():
        assert sorted(image.tags) == ["left", "right"]
        assert image.metadata["left"] == image.metadata["right"] == 4
    assert FacetCount.objects.get(field="tags", text="left").count == 200
    assert (
        sum(FacetCount.objects.filter(field="metadata.last").values_list("count", flat=True)) == 200
    )
    assert_counts_are_a_recount()
