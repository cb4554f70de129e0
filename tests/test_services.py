"""Failures in the middle of a write leave nothing behind."""

import io

import pytest
from django.core.files.storage import default_storage

from images import services
from images.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_removes_the_stored_file_when_the_row_cannot_be_written(monkeypatch, files):
    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Image, "save", fail)

    with pytest.raises(RuntimeError):
        services.image_create(file=io.BytesIO(image_bytes("PNG")), name="x")

    assert files() == []


def test_crop_removes_its_new_file_when_the_row_cannot_be_updated(monkeypatch, files):
    image = services.image_create(file=io.BytesIO(image_bytes("PNG", (40, 40))), name="x")
    before = files()

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Image, "save", fail)
    with pytest.raises(RuntimeError):
        services.image_update(image_id=image.pk, width=10, height=10)

    assert files() == before
    monkeypatch.undo()
    assert Image.objects.get(pk=image.pk).width == 40


def test_crop_of_an_image_whose_file_vanished_fails_without_changing_the_row(files):
    image = services.image_create(file=io.BytesIO(image_bytes("PNG", (40, 40))), name="x")
    default_storage.delete(image.file.name)

    with pytest.raises(FileNotFoundError):
        services.image_update(image_id=image.pk, width=10, height=10)

    assert Image.objects.get(pk=image.pk).sha256 == image.sha256
    assert files() == []


def test_default_name_is_the_file_name_without_extension():
    assert services.image_default_name("plate.01.png") == "plate.01"
    assert services.image_default_name("") == "image"
