"""Eager renditions (images/worker/eager.py): made by the worker after a create, crop or
restore, listed by GET /api/v1/images/{id}/renditions, then served without decoding."""

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from images.models import Image, Rendition, WorkerCursor
from images.worker import eager, loop
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def decodes(monkeypatch):
    """Every image Pillow is asked to open (observed: each call goes through)."""
    calls = []
    real_open = PILImage.open

    def counting_open(*args, **kwargs):
        calls.append(args)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(PILImage, "open", counting_open)
    return calls


@pytest.fixture
def image(upload) -> dict:
    response = upload(image_bytes("JPEG", (400, 300)), "plate.jpg")
    assert response.status_code == 201
    return response.json()


def work() -> None:
    loop.run_until_idle(eager.eager_specs())


def listed(api, image_id: str) -> list[dict]:
    response = api.get(f"/api/v1/images/{image_id}/renditions")
    assert response.status_code == 200
    return response.json()["results"]


def test_an_upload_gets_its_thumbnail_and_the_first_request_decodes_nothing(api, image, decodes):
    assert listed(api, image["id"]) == []

    work()

    [thumbnail] = listed(api, image["id"])
    assert thumbnail["spec"] == "max-256x256"
    assert (thumbnail["format"], thumbnail["width"], thumbnail["height"]) == ("JPEG", 256, 192)
    assert set(thumbnail) == {"spec", "format", "width", "height", "bytes", "sha256", "created_at"}
    # The source file gone: only the stored rendition can answer.
    default_storage.delete(Image.objects.get(pk=image["id"]).file.name)
    decodes.clear()
    response = api.get(f"/api/v1/images/{image['id']}/renditions/max-256x256")
    assert response.status_code == 200
    assert decodes == []
    assert int(response["Content-Length"]) == thumbnail["bytes"]


def test_a_crop_and_a_restore_get_theirs_for_the_new_file(api, image, settings):
    settings.IMAGES_EAGER_RENDITIONS = ["max-64x64", "width-32.webp"]
    work()
    assert api.put(f"/api/v1/images/{image['id']}?width=200&height=200").status_code == 200
    work()
    after_crop = listed(api, image["id"])
    assert [(r["spec"], r["format"], r["width"]) for r in after_crop] == [
        ("max-64x64", "JPEG", 64),
        ("width-32", "WEBP", 32),
    ]
    assert api.post(f"/api/v1/images/{image['id']}/restore", {"revision": 1}).status_code == 200
    work()
    restored = listed(api, image["id"])
    assert [(r["width"], r["height"]) for r in restored] == [(64, 48), (32, 24)]


def test_a_rendition_made_twice_is_stored_once(api, image, files):
    work()
    stored = files()
    WorkerCursor.objects.filter(job=eager.JOB).update(cursor=0)  # a worker killed before it moved

    work()

    assert Rendition.objects.count() == 1
    assert files() == stored


def test_without_eager_specs_nothing_is_made(api, image, settings):
    settings.IMAGES_EAGER_RENDITIONS = []
    work()
    assert listed(api, image["id"]) == []


@pytest.mark.parametrize("spec", ["max-10", "max-10x10.auto", "thumb"])
def test_a_bad_eager_spec_stops_the_worker_at_its_start(settings, spec):
    from django.core.exceptions import ImproperlyConfigured

    settings.IMAGES_EAGER_RENDITIONS = [spec]
    with pytest.raises(ImproperlyConfigured, match="IMAGES_EAGER_RENDITIONS"):
        eager.eager_specs()


def test_a_trashed_or_unknown_image_has_no_listing(api, image):
    assert api.delete(f"/api/v1/images/{image['id']}").status_code == 204
    work()  # the trashed image is skipped
    response = api.get(f"/api/v1/images/{image['id']}/renditions")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Rendition.objects.count() == 0
