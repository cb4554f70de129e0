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
