"""Reading images: lookups by id."""

import concurrent.futures
import datetime
import io
import uuid

import pytest
from django.db import connections

from images import selectors, services
from images.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("source_url", [None, "http://lab.example/plates/ü 1.png"])
def test_get_reads_the_image_as_it_was_stored_in_every_thread(source_url):
    created = services.image_create(
        file=io.BytesIO(image_bytes("PNG")),
        name="plate ü",
        description="row 3",
        source_url=source_url,
    )
    fields = [field.attname for field in Image._meta.concrete_fields]
    expected = {field: getattr(created, field) for field in fields}

    def read() -> dict:
        image = selectors.image_get(image_id=created.pk)
        return {field: getattr(image, field) for field in fields}

    def read_and_close() -> dict:
        try:
            return read()
        finally:
            connections.close_all()  # this thread's own connection

    with concurrent.futures.ThreadPoolExecutor(1) as other_thread:
        elsewhere = other_thread.submit(read_and_close).result()
    assert read() == expected
    assert elsewhere == expected
    assert isinstance(expected["created_at"], datetime.datetime)
    assert expected["created_at"].tzinfo is not None


def test_an_image_read_is_saved_in_place_not_inserted_again():
    created = services.image_create(file=io.BytesIO(image_bytes("PNG")), name="plate")

    image = selectors.image_get(image_id=created.pk)
    image.description = "re-imaged"
    image.save()

    assert list(Image.objects.values_list("pk", "description")) == [(created.pk, "re-imaged")]


def test_get_of_an_unknown_id_is_does_not_exist():
    with pytest.raises(Image.DoesNotExist):
        selectors.image_get(image_id=uuid.uuid4())


def labelled(width: int, metadata: dict) -> Image:
    data = io.BytesIO(image_bytes("PNG", (width, 20)))
    return services.image_create(file=data, name=f"w{width}", metadata=metadata)


def test_metadata_keys_are_the_keys_most_images_have_then_by_key():
    labelled(30, {"plate": "P-1", "well": "B7", "timepoint": 1})
    labelled(31, {"plate": "P-1", "well": "B8"})
    labelled(32, {"plate": "P-2", "operator": "jdoe"})
    gone = labelled(33, {"operator": "x", "zeta": 1})
    services.image_delete(image_id=gone.pk)  # the trash's images do not count

    assert selectors.metadata_keys(limit=3) == ["plate", "well", "operator"]
    assert selectors.metadata_keys(limit=10) == ["plate", "well", "operator", "timepoint"]


def test_history_of_a_trashed_image_only_when_asked():
    image = labelled(30, {})
    services.image_delete(image_id=image.pk)

    with pytest.raises(Image.DoesNotExist):
        selectors.image_history(image_id=image.pk)
    events = selectors.image_history(image_id=image.pk, trashed=True)
    assert [event.action for event in events] == ["deleted", "created"]
