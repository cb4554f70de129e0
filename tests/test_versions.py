"""Versioned URLs (images/infra/versions.py): the metadata's links name the version of the
bytes they answer with, which may then be kept for a year; an old version is a 404; the
unversioned URLs answer as before."""

import hashlib

import pytest
import requests

from access.models import ApiToken
from images.models import Rendition
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

IMMUTABLE = "public, max-age=31536000, immutable"
LINKS = ["file_url", "original_url", "thumbnail_url"]


@pytest.fixture
def image(upload) -> dict:
    return upload(image_bytes("PNG", (120, 80)), "plate.png").json()


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def crop(api, image_id: str) -> dict:
    response = api.put(f"/api/v1/images/{image_id}?width=60&height=40")
    assert response.status_code == 200, response.content
    return response.json()


def revision_links(api, image_id: str) -> list[str]:
    answer = api.get(f"/api/v1/images/{image_id}/revisions").json()
    return [row["file_url"] for row in answer["results"]]


def test_every_link_of_the_metadata_names_the_version_of_its_bytes(api, image):
    version = image["sha256"][:16]

    for link in LINKS:
        assert image[link].endswith(f"?v={version}"), link
    [revision] = revision_links(api, image["id"])
    assert revision.endswith(f"/revisions/1/file?v={version}")
    listed = api.get("/api/v1/images/").json()["results"][0]
    assert [listed[link] for link in LINKS] == [image[link] for link in LINKS]


@pytest.mark.parametrize("link", [*LINKS, "revision"])
def test_a_versioned_url_may_be_kept_for_a_year_and_its_304_too(api, image, link):
    url = revision_links(api, image["id"])[0] if link == "revision" else image[link]

    response = api.get(url)
    again = api.get(url, HTTP_IF_NONE_MATCH=response["ETag"])

    assert response.status_code == 200
    assert response["Cache-Control"] == IMMUTABLE
    assert again.status_code == 304
    assert again["Cache-Control"] == IMMUTABLE
    if link != "thumbnail_url":
        assert hashlib.sha256(body(response)).hexdigest() == image["sha256"]


@pytest.mark.parametrize("path", ["file", "original", "renditions/max-256x256", "revisions/1/file"])
def test_the_unversioned_urls_answer_as_before(api, image, path):
    url = f"/api/v1/images/{image['id']}/{path}"

    response = api.get(url)
    again = api.get(url, HTTP_IF_NONE_MATCH=response["ETag"])

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache"
    assert again.status_code == 304
    assert again["Cache-Control"] == "no-cache"


def test_after_a_crop_the_old_versions_of_the_current_file_are_gone(api, image):
    api.get(image["thumbnail_url"])  # stored, then dropped by the crop
    cropped = crop(api, image["id"])

    for link in ("file_url", "thumbnail_url"):
        response = api.get(image[link])
        assert response.status_code == 404, link
        assert response.json()["code"] == "version_gone"
        assert response["Cache-Control"] == "no-cache"
        new = api.get(cropped[link])
        assert new.status_code == 200
        assert new["Cache-Control"] == IMMUTABLE
    # The original and the first revision are the same bytes as before: still served.
    assert cropped["original_url"] == image["original_url"]
    assert api.get(image["original_url"]).status_code == 200
    first, second = revision_links(api, image["id"])
    assert api.get(first).status_code == 200
    assert second.endswith(f"?v={cropped['sha256'][:16]}")


def test_a_restore_makes_the_old_version_current_again(api, image):
    crop(api, image["id"])
    response = api.post(f"/api/v1/images/{image['id']}/restore", {"revision": 1}, format="json")
    assert response.status_code == 200, response.content

    restored = api.get(image["file_url"])

    assert restored.status_code == 200
    assert restored["Cache-Control"] == IMMUTABLE
    assert response.json()["file_url"] == image["file_url"]


@pytest.mark.parametrize("version", ["0123456789abcdef", "", "x" * 64, "zz"])
def test_a_version_never_issued_is_a_404_and_makes_no_rendition(api, image, version):
    for path in ("file", "original", "renditions/max-100x100", "revisions/1/file"):
        response = api.get(f"/api/v1/images/{image['id']}/{path}?v={version}")
        assert response.status_code == 404, path
        assert response.json()["code"] == "version_gone"
    assert Rendition.objects.count() == 0


def test_a_trashed_image_s_versioned_urls_are_404(api, image):
    assert api.delete(f"/api/v1/images/{image['id']}").status_code == 204

    for link in LINKS:
        assert api.get(image[link]).status_code == 404, link


def test_with_token_auth_a_versioned_answer_is_private(api, upload, settings):
    settings.IMAGES_AUTH = "token"
    token = ApiToken(name="dashboard")
    key = token.set_new_key()
    token.save()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    image = upload(image_bytes("PNG", (120, 80)), "plate.png").json()

    for link in LINKS:
        response = api.get(image[link])
        assert response.status_code == 200, link
        assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    api.credentials()
    assert api.get(image["file_url"]).status_code == 401


def test_versioned_urls_on_s3(api, upload, s3):
    image = upload(image_bytes("PNG", (120, 80)), "plate.png").json()

    for link in LINKS:
        response = api.get(image[link])
        assert response.status_code == 200, link
        assert response["Cache-Control"] == IMMUTABLE
    cropped = crop(api, image["id"])
    gone = api.get(image["thumbnail_url"])
    assert gone.status_code == 404
    assert gone.json()["code"] == "version_gone"
    served = api.get(cropped["file_url"])
    assert hashlib.sha256(body(served)).hexdigest() == cropped["sha256"]
    assert served["Cache-Control"] == IMMUTABLE


def test_presigned_downloads_of_a_version_are_kept_for_half_the_urls_life(
    api, upload, s3, settings
):
    settings.IMAGES_S3_PRESIGNED_DOWNLOADS = True
    settings.IMAGES_S3_PRESIGNED_TTL = 300
    image = upload(image_bytes("PNG", (120, 80)), "plate.png").json()

    versioned = api.get(image["file_url"])
    unversioned = api.get(f"/api/v1/images/{image['id']}/file")
    from_store = requests.get(versioned["Location"], timeout=30)

    assert versioned.status_code == unversioned.status_code == 302
    assert versioned["Cache-Control"] == "private, max-age=150"
    assert unversioned["Cache-Control"] == "no-store"  # the URL it names expires
    assert from_store.status_code == 200
    assert from_store.headers["Cache-Control"] == IMMUTABLE
    assert hashlib.sha256(from_store.content).hexdigest() == image["sha256"]
