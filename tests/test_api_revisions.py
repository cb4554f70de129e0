"""Revisions: GET /images/{id}/revisions, /revisions/{n}/file, POST /restore {"revision"}."""

import hashlib
import io
import uuid

import pytest
from django.core.management import call_command
from PIL import Image as PILImage

from images.models import ImageRevision
from tests.factories import encode, image_bytes, pattern

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = [
    "revision",
    "operation",
    "crop",
    "width",
    "height",
    "format",
    "file_size",
    "sha256",
    "phash",
    "created_at",
    "file_url",
    "current",
]


@pytest.fixture
def image(upload) -> dict:
    response = upload(encode(pattern((100, 80)), "PNG"), "plate.png")
    assert response.status_code == 201
    return response.json()


def revisions(api, image_id) -> list[dict]:
    body = api.get(f"/api/v1/images/{image_id}/revisions").json()
    assert body["count"] == len(body["results"])
    return body["results"]


def revision_bytes(api, image_id, n: int) -> bytes:
    response = api.get(f"/api/v1/images/{image_id}/revisions/{n}/file")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def current_bytes(api, image_id) -> bytes:
    return b"".join(api.get(f"/api/v1/images/{image_id}/file").streaming_content)


def crop(api, image_id, **box) -> dict:
    response = api.patch(f"/api/v1/images/{image_id}", box, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_an_upload_is_revision_1_and_current(api, image):
    [first] = revisions(api, image["id"])

    assert list(first) == FIELDS
    assert first["revision"] == 1
    assert first["operation"] == "upload"
    assert first["crop"] is None
    assert first["current"] is True
    for field in ("width", "height", "format", "file_size", "sha256", "phash"):
        assert first[field] == image[field], field
    assert first["file_url"] == (
        f"http://testserver/api/v1/images/{image['id']}/revisions/1/file?v={image['sha256'][:16]}"
    )
    assert hashlib.sha256(revision_bytes(api, image["id"], 1)).hexdigest() == image["sha256"]


def test_each_crop_adds_a_revision_with_its_box_in_the_pixels_it_was_cut_from(api, image):
    first = crop(api, image["id"], width=60, height=40, left=10, top=5)
    second = crop(api, image["id"], width=20, height=20)  # centred in the 60x40

    listed = revisions(api, image["id"])

    assert [r["revision"] for r in listed] == [1, 2, 3]
    assert [r["operation"] for r in listed] == ["upload", "crop", "crop"]
    assert [r["current"] for r in listed] == [False, False, True]
    assert listed[1]["crop"] == {"left": 10, "top": 5, "width": 60, "height": 40}
    assert listed[2]["crop"] == {"left": 20, "top": 10, "width": 20, "height": 20}
    assert (listed[1]["width"], listed[1]["height"]) == (60, 40)
    assert listed[1]["sha256"] == first["sha256"]
    assert listed[2]["sha256"] == second["sha256"]
    assert hashlib.sha256(revision_bytes(api, image["id"], 2)).hexdigest() == first["sha256"]


def test_three_crops_then_restore_to_revision_2_serves_its_bytes(api, image, files):
    crop(api, image["id"], width=90, height=70)
    second = revision_bytes(api, image["id"], 2)
    crop(api, image["id"], width=50, height=50)
    crop(api, image["id"], width=30, height=30)
    stored = files()

    response = api.post(f"/api/v1/images/{image['id']}/restore", {"revision": 2}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["width"], body["height"]) == (90, 70)
    assert body["sha256"] == hashlib.sha256(second).hexdigest()
    assert current_bytes(api, image["id"]) == second
    listed = revisions(api, image["id"])
    assert [(r["revision"], r["operation"], r["current"]) for r in listed][-2:] == [
        (4, "crop", False),
        (5, "restore", True),
    ]
    assert listed[4]["crop"] is None
    assert listed[4]["sha256"] == listed[1]["sha256"]
    assert revision_bytes(api, image["id"], 5) == second
    assert files() == stored  # the same stored file: nothing copied
    assert ImageRevision.objects.get(revision=5).file == ImageRevision.objects.get(revision=2).file


def test_restore_without_a_revision_brings_back_the_original(api, image, upload):
    crop(api, image["id"], width=40, height=40)

    body = api.post(f"/api/v1/images/{image['id']}/restore").json()

    assert body["sha256"] == image["sha256"]
    assert [r["operation"] for r in revisions(api, image["id"])] == ["upload", "crop", "restore"]
    assert api.get(f"/api/v1/images/{image['id']}/original").status_code == 200


def test_restore_of_the_current_revision_changes_nothing(api, image):
    crop(api, image["id"], width=40, height=40)

    response = api.post(f"/api/v1/images/{image['id']}/restore", {"revision": 2}, format="json")

    assert response.json()["width"] == 40
    assert len(revisions(api, image["id"])) == 2


@pytest.mark.parametrize("revision", ["two", 0, -1, 1.5, True, None, [2], 2**31, 10**30])
def test_restore_refuses_a_revision_that_is_not_a_positive_integer(api, image, revision):
    crop(api, image["id"], width=40, height=40)

    response = api.post(
        f"/api/v1/images/{image['id']}/restore", {"revision": revision}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}
    assert list(body["errors"]) == ["revision"]
    assert len(revisions(api, image["id"])) == 2


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/images/{id}/restore"),
        ("get", "/api/v1/images/{id}/revisions/7/file"),
        ("get", "/api/v1/images/{id}/revisions/0/file"),
        ("get", "/api/v1/images/{id}/revisions/99999999999999999999/file"),
        ("get", "/api/v1/images/{id}/revisions/-1/file"),
        ("get", "/api/v1/images/{id}/revisions/two/file"),
    ],
)
def test_an_unknown_revision_is_404(api, image, method, path):
    body = {"revision": 7} if method == "post" else None

    response = getattr(api, method)(path.format(id=image["id"]), body, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "path", ["/api/v1/images/{id}/revisions", "/api/v1/images/{id}/revisions/1/file"]
)
def test_revisions_of_an_unknown_image_are_404(api, path):
    response = api.get(path.format(id=uuid.uuid4()))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_revision_download_has_the_headers_etag_and_304_of_file(api, image):
    cropped = crop(api, image["id"], width=40, height=40)
    url = f"/api/v1/images/{image['id']}/revisions/1/file"

    response = api.get(url)
    again = api.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    current = api.get(f"/api/v1/images/{image['id']}/revisions/2/file")

    assert response["ETag"] == f'"{image["sha256"]}"'
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(image["file_size"])
    assert response["Content-Disposition"] == f'inline; filename="{image["id"]}.png"'
    assert response["Cache-Control"] == "no-cache"
    assert again.status_code == 304
    assert current["ETag"] == f'"{cropped["sha256"]}"'


def test_a_revision_download_on_s3_is_a_presigned_redirect_when_configured(api, upload, use_s3):
    bucket = use_s3(IMAGES_S3_PRESIGNED_DOWNLOADS="true")
    image = upload(image_bytes("PNG", (40, 30)), "p.png").json()
    crop(api, image["id"], width=20, height=20)

    response = api.get(f"/api/v1/images/{image['id']}/revisions/1/file")
    original = api.get(f"/api/v1/images/{image['id']}/original")

    assert response.status_code == original.status_code == 302
    assert bucket.name in response["Location"]
    assert response["ETag"] == original["ETag"] == f'"{image["sha256"]}"'
    assert response["Cache-Control"] == original["Cache-Control"]


def test_the_revisions_are_bounded_oldest_first_never_1_nor_the_current(
    api, image, files, settings
):
    settings.IMAGES_MAX_REVISIONS = 3
    for size in (70, 60, 50, 40):
        crop(api, image["id"], width=size, height=size)

    assert [r["revision"] for r in revisions(api, image["id"])] == [1, 4, 5]
    assert len(files()) == 3  # revisions 2 and 3's files removed

    api.post(f"/api/v1/images/{image['id']}/restore", {"revision": 5}, format="json")  # current
    api.post(f"/api/v1/images/{image['id']}/restore", {"revision": 4}, format="json")
    assert [r["revision"] for r in revisions(api, image["id"])] == [1, 5, 6]
    assert len(files()) == 3  # revision 6 names revision 4's file: kept
    api.post(f"/api/v1/images/{image['id']}/restore", {"revision": 1}, format="json")

    listed = revisions(api, image["id"])
    assert [(r["revision"], r["operation"]) for r in listed] == [
        (1, "upload"),
        (6, "restore"),
        (7, "restore"),
    ]
    assert len(files()) == 2  # revision 5's file went with it; 6 still names 4's
    for revision in listed:
        response = api.get(f"/api/v1/images/{image['id']}/revisions/{revision['revision']}/file")
        assert response.status_code == 200
    call_command("images_check", "--min-age", "0", stdout=io.StringIO())


def test_crops_and_restores_leave_images_check_clean(api, image):
    crop(api, image["id"], width=50, height=50)
    api.post(f"/api/v1/images/{image['id']}/restore")
    crop(api, image["id"], width=30, height=30)
    api.delete(f"/api/v1/images/{image['id']}")  # a trashed image's files are no orphans

    out = io.StringIO()
    call_command("images_check", "--min-age", "0", stdout=out)

    assert "0 missing, 0 orphans" in out.getvalue()


def test_images_check_reports_a_missing_revision_file(api, image):
    from django.core.files.storage import default_storage
    from django.core.management.base import CommandError

    crop(api, image["id"], width=50, height=50)
    crop(api, image["id"], width=30, height=30)
    middle = ImageRevision.objects.get(revision=2).file.name
    default_storage.delete(middle)

    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("images_check", "--min-age", "0", stdout=out)

    assert f"missing revision 2 {image['id']} {middle}" in out.getvalue()


def test_a_revision_file_is_a_real_image_of_its_size(api, image):
    crop(api, image["id"], width=30, height=20, left=0, top=0)

    shown = PILImage.open(io.BytesIO(revision_bytes(api, image["id"], 2)))

    assert shown.size == (30, 20)
