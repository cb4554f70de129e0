"""images/services/trash.py: trashing and restoring keep the index, the facets and the similarity
feed right in the same transaction; a purge removes files only once committed."""

import io

import pytest
from django.db import transaction

from images import services, similarity
from images.labels import queries as label_queries
from images.labels.rules import Filters
from images.models import FacetCount, Image, ImageMetadataValue, ImageTag
from images.services import trash
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def create(size: tuple[int, int] = (40, 40), **labels) -> Image:
    labels = {"tags": ["plate", "dmso"], "metadata": {"well": "B7", "dose": 3}, **labels}
    return services.image_create(file=io.BytesIO(image_bytes("PNG", size)), name="plate", **labels)


def index_of(image: Image) -> tuple[set, set]:
    tags = set(ImageTag.objects.filter(image_id=image.pk).values_list("tag", flat=True))
    values = ImageMetadataValue.objects.filter(image_id=image.pk)
    return tags, set(values.values_list("key", "text", "number"))


def facet_counts() -> dict:
    return dict(FacetCount.objects.values_list("field", "count").order_by("field"))


def test_trashing_removes_the_index_rows_and_facet_counts_and_restoring_puts_them_back():
    image = create()
    other = create((41, 40), tags=["plate"], metadata={})
    before_index, before_counts = index_of(image), facet_counts()

    trash.image_delete(image_id=image.pk)

    assert index_of(image) == (set(), set())
    assert facet_counts() == {"tags": 1}  # the other image's "plate"
    assert label_queries.filtered(Image.objects.all(), Filters(tags=("dmso",))).count() == 0

    trash.image_undelete(image_id=image.pk)

    assert index_of(image) == before_index
    assert facet_counts() == before_counts
    assert set(label_queries.filtered(Image.objects.all(), Filters(tags=("plate",)))) == {
        image,
        other,
    }


@pytest.mark.parametrize("write", ["image_delete", "image_undelete"])
def test_trashing_and_restoring_stamp_the_next_similarity_revision(write):
    image = create()
    if write == "image_undelete":
        trash.image_delete(image_id=image.pk)
    before = similarity.current_revision()

    getattr(trash, write)(image_id=image.pk)

    assert similarity.current_revision() == before + 1
    assert Image.all_objects.get(pk=image.pk).revision == before + 1


def test_a_failed_trash_changes_nothing(monkeypatch):
    image = create()
    before = index_of(image), facet_counts()

    def fail() -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(similarity, "next_revision", fail)
    with pytest.raises(RuntimeError):
        trash.image_delete(image_id=image.pk)

    assert Image.objects.get(pk=image.pk).deleted_at is None
    assert (index_of(image), facet_counts()) == before


@pytest.mark.parametrize("write", ["image_undelete", "image_purge"])
def test_undelete_and_purge_refuse_an_image_not_in_the_trash(write):
    image = create()

    with pytest.raises(Image.DoesNotExist):
        getattr(trash, write)(image_id=image.pk)

    assert Image.objects.get(pk=image.pk)


def test_a_purge_removes_files_only_once_its_transaction_commits(files):
    image = create()
    trash.image_delete(image_id=image.pk)
    stored = files()

    seen_before_commit = []

    def purge_then_fail() -> None:
        with transaction.atomic():
            trash.image_purge(image_id=image.pk)
            seen_before_commit.append(files())  # a reader may still open them
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        purge_then_fail()

    assert seen_before_commit == [stored]
    assert files() == stored
    assert Image.all_objects.get(pk=image.pk).deleted_at is not None
    trash.image_purge(image_id=image.pk)
    assert files() == []
