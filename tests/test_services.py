"""Failures in the middle of a write leave nothing behind."""

import io

import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from PIL import Image as PILImage

from images import services
from images.imaging import crop as cropping
from images.models import Image, ImageRevision
from tests.factories import encode, image_bytes, pattern

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_removes_the_stored_file_when_the_row_cannot_be_written(monkeypatch, files):
    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Image, "save", fail)

    with pytest.raises(RuntimeError):
        services.image_create(file=io.BytesIO(image_bytes("PNG")), name="x")

    assert files() == []


@pytest.mark.parametrize(
    "sources",
    [{}, {"file": io.BytesIO(image_bytes("PNG")), "url": "http://127.0.0.1:9/plate.png"}],
    ids=["neither", "both"],
)
def test_create_takes_exactly_one_of_a_file_and_a_url(sources, files):
    with pytest.raises(TypeError):
        services.image_create(name="x", **sources)

    assert files() == []
    assert not Image.objects.exists()


def test_create_names_an_image_after_its_file_when_no_name_is_given():
    file = io.BytesIO(image_bytes("PNG"))
    file.name = "plates/plate 7.png"

    assert services.image_create(file=file).name == "plate 7"
    assert services.image_create(file=io.BytesIO(image_bytes("JPEG"))).name == "image"


def test_crop_removes_its_new_file_when_the_row_cannot_be_updated(monkeypatch, files):
    image = services.image_create(file=io.BytesIO(image_bytes("PNG", (40, 40))), name="x")
    before = files()

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Image, "save", fail)
    with pytest.raises(RuntimeError):
        services.image_crop(image_id=image.pk, width=10, height=10)

    assert files() == before
    monkeypatch.undo()
    assert Image.objects.get(pk=image.pk).width == 40


def test_crop_of_an_image_whose_file_vanished_fails_without_changing_the_row(files):
    image = services.image_create(file=io.BytesIO(image_bytes("PNG", (40, 40))), name="x")
    default_storage.delete(image.file.name)

    with pytest.raises(FileNotFoundError):
        services.image_crop(image_id=image.pk, width=10, height=10)

    assert Image.objects.get(pk=image.pk).sha256 == image.sha256
    assert files() == []


def test_default_name_is_the_file_name_without_extension():
    assert services.image_default_name("plate.01.png") == "plate.01"
    assert services.image_default_name("") == "image"


@pytest.fixture
def meanwhile(monkeypatch):
    """Run ``action`` right after the service's next crops were encoded and stored, before
    they switch the row: as if another request had acted in between (which it cannot while
    the crop holds the row lock, inside a transaction)."""

    def meanwhile(action, times: int = 1):
        real = cropping.crop
        calls = {"left": times, "busy": False}

        def crop(*args, **kwargs):
            info = real(*args, **kwargs)
            if calls["left"] and not calls["busy"] and not connection.in_atomic_block:
                calls["left"] -= 1
                calls["busy"] = True
                try:
                    action()
                finally:
                    calls["busy"] = False
            return info

        monkeypatch.setattr(cropping, "crop", crop)

    return meanwhile


def test_crop_of_a_file_replaced_meanwhile_starts_again_from_the_new_one(meanwhile, files):
    source = pattern((100, 100))
    image = services.image_create(file=io.BytesIO(encode(source, "PNG")), name="x")
    meanwhile(lambda: services.image_crop(image_id=image.pk, width=80, height=80, left=0, top=0))

    cropped = services.image_crop(image_id=image.pk, width=60, height=60)

    # Centred in the 80x80 top-left crop, not in the 100x100 original.
    with default_storage.open(cropped.file.name) as stored:
        assert PILImage.open(stored).tobytes() == source.crop((10, 10, 70, 70)).tobytes()
    assert (cropped.width, cropped.height) == (60, 60)
    crops = ImageRevision.objects.filter(image=image, operation="crop").order_by("revision")
    assert [revision.crop for revision in crops] == [
        {"left": 0, "top": 0, "width": 80, "height": 80},
        {"left": 10, "top": 10, "width": 60, "height": 60},  # in the 80x80's pixels
    ]
    assert len(files()) == 3  # the original and each crop; the stale attempt's file is gone


def test_crop_that_keeps_losing_the_race_crops_under_the_lock(meanwhile, files):
    image = services.image_create(file=io.BytesIO(image_bytes("PNG", (100, 100))), name="x")
    sizes = iter(range(99, 0, -1))
    meanwhile(
        lambda: services.image_crop(image_id=image.pk, width=(s := next(sizes)), height=s),
        times=10,
    )

    cropped = services.image_crop(image_id=image.pk, width=50, height=50)

    assert Image.objects.get(pk=image.pk).width == cropped.width == 50
    # The original, the two crops that won the races, and this one; no stale attempt's file.
    assert len(files()) == ImageRevision.objects.count() == 4


def test_crop_of_an_image_deleted_meanwhile_leaves_no_file_of_its_own(meanwhile, files):
    image = services.image_create(file=io.BytesIO(image_bytes("PNG", (40, 40))), name="x")
    before = files()
    meanwhile(lambda: services.image_delete(image_id=image.pk))

    with pytest.raises(Image.DoesNotExist):
        services.image_crop(image_id=image.pk, width=10, height=10)

    assert files() == before  # the trashed image's own file stays, until it is purged


def test_crop_whose_file_is_replaced_as_it_opens_it_starts_again(monkeypatch, files):
    """Another crop switches the row while this crop opens the file it read from the row."""
    source = pattern((100, 100))
    image = services.image_create(file=io.BytesIO(encode(source, "PNG")), name="x")
    services.image_crop(image_id=image.pk, width=90, height=90)  # current != original
    real_open = FileSystemStorage.open
    raced = []

    def open_(storage, name, mode="rb"):
        if not raced and not connection.in_atomic_block:
            raced.append(name)
            services.image_crop(image_id=image.pk, width=80, height=80, left=0, top=0)
        return real_open(storage, name, mode)

    monkeypatch.setattr(FileSystemStorage, "open", open_)

    cropped = services.image_crop(image_id=image.pk, width=60, height=60)

    assert default_storage.exists(raced[0])  # a crop removes nothing: it is a revision
    with default_storage.open(cropped.file.name) as stored:
        assert PILImage.open(stored).tobytes() == source.crop((15, 15, 75, 75)).tobytes()
    assert len(files()) == 4  # the original and the three crops


def test_restore_to_a_revision_whose_file_vanished_fails_without_changing_the_row():
    image = services.image_create(file=io.BytesIO(image_bytes("PNG", (64, 48))), name="a")
    cropped = services.image_crop(image_id=image.pk, width=32, height=24)
    default_storage.delete(image.original.name)  # revision 1's bytes, gone under its row

    with pytest.raises(FileNotFoundError):
        services.image_restore(image_id=image.pk, revision=1)

    assert Image.objects.get(pk=image.pk).file.name == cropped.file.name
    assert ImageRevision.objects.filter(image=image).count() == 2
