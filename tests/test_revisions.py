"""images/services/revisions.py: numbering, the bound, and which files a dropped revision frees."""

import io

import pytest

from images import selectors, services
from images.models import ImageRevision
from images.services import revisions
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def create():
    return services.image_create(file=io.BytesIO(image_bytes("PNG", (80, 80))), name="x")


def test_revision_1_names_the_original_and_a_crop_the_new_current_file():
    image = create()
    cropped = services.image_crop(image_id=image.pk, width=40, height=40)

    first, second = ImageRevision.objects.filter(image=image).order_by("revision")

    assert (first.revision, first.operation, first.file.name) == (1, "upload", image.original.name)
    assert (second.revision, second.operation, second.file.name) == (
        2,
        "crop",
        cropped.file.name,
    )
    assert (second.width, second.height, second.phash) == (40, 40, cropped.phash)


def test_numbers_go_on_after_dropped_revisions(settings):
    settings.IMAGES_MAX_REVISIONS = 2
    image = create()
    for size in (70, 60, 50):
        services.image_crop(image_id=image.pk, width=size, height=size)

    numbers = list(ImageRevision.objects.filter(image=image).values_list("revision", flat=True))

    assert sorted(numbers) == [1, 4]


def test_a_dropped_revision_keeps_its_file_while_another_revision_names_it(settings, files):
    settings.IMAGES_MAX_REVISIONS = 3
    image = create()
    services.image_crop(image_id=image.pk, width=60, height=60)  # 2
    services.image_restore(image_id=image.pk)  # 3: the original's file
    services.image_restore(image_id=image.pk, revision=2)  # 4: revision 2's file; drops 2

    kept = ImageRevision.objects.filter(image=image).order_by("revision")

    assert [r.revision for r in kept] == [1, 3, 4]
    assert kept[2].file.name == selectors.image_get(image_id=image.pk).file.name
    assert len(files()) == 2  # revision 2's file is revision 4's


def test_revision_of_a_trashed_image_is_not_found():
    image = create()
    services.image_delete(image_id=image.pk)

    with pytest.raises(ImageRevision.DoesNotExist):
        revisions.revision_of(image_id=image.pk, revision=1)
