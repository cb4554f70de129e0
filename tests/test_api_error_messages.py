"""Errors that say what is wrong: a 404 names what was not found, a bulk edit names the ids
that are not stored, a refused private URL names the setting that allows it, and a
rendition size of 0 is told the range."""

import io
import uuid

import pytest

from images import services
from images.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

API = "/api/v1"
GONE = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def image() -> Image:
    file = io.BytesIO(image_bytes("PNG", (40, 30)))
    return services.image_create(file=file, name="plate")


def test_an_unknown_revision_is_404_naming_revision_and_image(api, image):
    # GET /api/v1/images/<id>/revisions/99/file: "Not found." before
    response = api.get(f"{API}/images/{image.pk}/revisions/99/file")

    assert response.status_code == 404
    assert response.json() == {
        "detail": f"revision 99 of image {image.pk} does not exist",
        "code": "not_found",
    }


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/images/{gone}", None),
        ("put", "/images/{gone}", {"name": "x"}),
        ("patch", "/images/{gone}", {"width": 10, "height": 10}),
        ("delete", "/images/{gone}", None),
        ("get", "/images/{gone}/file", None),
        ("get", "/images/{gone}/original", None),
        ("get", "/images/{gone}/revisions", None),
        ("get", "/images/{gone}/revisions/1/file", None),
        ("get", "/images/{gone}/renditions/max-20x20", None),
        ("get", "/images/{gone}/similar", None),
        ("get", "/images/{gone}/history", None),
        ("post", "/images/{gone}/restore", None),
        ("get", "/images/{id}/diff/{gone}", None),
        ("get", "/images/{gone}/diff/{id}/image", None),
    ],
)
def test_a_404_names_the_image_that_is_not_there(api, image, method, path, body):
    url = API + path.format(gone=GONE, id=image.pk)

    response = getattr(api, method)(url, body, format="json")

    assert response.status_code == 404
    detail = response.json()["detail"]
    assert GONE in detail
    assert detail.endswith("does not exist")


def test_a_diff_of_two_unknown_images_names_both(api):
    other = str(uuid.uuid4())

    response = api.get(f"{API}/images/{GONE}/diff/{other}")

    assert response.json()["detail"] == f"image {GONE} and image {other} does not exist"


def test_restoring_an_unknown_revision_names_it(api, image):
    response = api.post(f"{API}/images/{image.pk}/restore", {"revision": 7}, format="json")

    assert response.status_code == 404
    assert response.json()["detail"] == f"revision 7 of image {image.pk} does not exist"


@pytest.mark.parametrize(("method", "suffix"), [("post", "/restore"), ("delete", "")])
def test_trash_operations_on_an_image_not_in_the_trash_say_so(api, image, method, suffix):
    response = getattr(api, method)(f"{API}/trash/{image.pk}{suffix}")

    assert response.status_code == 404
    assert response.json()["detail"] == f"image {image.pk} is not in the trash"


def test_a_trashed_image_is_404_by_its_id(api, image):
    services.image_delete(image_id=image.pk)

    response = api.get(f"{API}/images/{image.pk}")

    assert response.json()["detail"] == f"image {image.pk} does not exist"


def test_a_path_that_matches_no_endpoint_is_named(api):
    response = api.get(f"{API}/images/not-a-uuid")

    assert response.status_code == 404
    assert response.json()["detail"] == (
        f"Nothing at {API}/images/not-a-uuid: no endpoint has this path, or an id in it is "
        "malformed."
    )


def test_a_bulk_edit_with_unknown_ids_names_them_and_changes_nothing(api, image):
    unknown = [str(uuid.uuid4()) for _ in range(2)]

    response = api.post(
        f"{API}/images/bulk",
        {"ids": [str(image.pk), *unknown], "add_tags": ["x"]},
        format="json",
    )

    assert response.status_code == 404
    assert response.json()["detail"] == (
        f"2 ids name no stored image (nothing was changed): {unknown[0]}, {unknown[1]}."
    )
    image.refresh_from_db()
    assert image.tags == []


def test_a_bulk_edit_names_ten_unknown_ids_at_most(api):
    unknown = [str(uuid.uuid4()) for _ in range(12)]

    response = api.post(f"{API}/images/bulk", {"ids": unknown, "add_tags": ["x"]}, format="json")

    assert response.json()["detail"] == (
        f"12 ids name no stored image (nothing was changed): {', '.join(unknown[:10])} and 2 more."
    )


def test_a_refused_private_url_names_the_setting_that_allows_it(api, origin, settings):
    settings.IMAGES_ALLOW_PRIVATE_URLS = False
    url = origin.serve("/x.png", image_bytes("PNG"), "image/png")

    response = api.post(f"{API}/images/", {"url": url}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "The host 127.0.0.1 resolves to a non-public address (127.0.0.1); the "
        "service fetches from private addresses only with the setting "
        "IMAGES_ALLOW_PRIVATE_URLS=true.",
        "code": "url_not_allowed",
    }
    assert origin.requests == []


def test_a_host_off_the_allow_list_names_the_setting(api, origin, settings):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True
    settings.IMAGES_URL_ALLOWED_HOSTS = ["images.lab.example"]

    response = api.post(f"{API}/images/", {"url": origin.serve("/x", b"x")}, format="json")

    assert "IMAGES_URL_ALLOWED_HOSTS" in response.json()["detail"]


@pytest.mark.parametrize("spec", ["max-0x0", "width-0", "height-0", "fill-0x10", "max-5000x10"])
def test_a_rendition_size_out_of_range_is_told_the_range(api, image, spec):
    response = api.get(f"{API}/images/{image.pk}/renditions/{spec}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_rendition"
    assert response.json()["detail"] == "spec: Rendition sizes are 1 to 4096 pixels."


@pytest.mark.parametrize("spec", ["max-00x10", "width-010"])
def test_a_size_with_leading_zeros_is_no_spec(api, image, spec):
    response = api.get(f"{API}/images/{image.pk}/renditions/{spec}")

    assert response.json()["detail"] == f"spec: {spec!r} is not a rendition spec."


def test_a_bulk_edit_with_one_unknown_id_among_others_names_it(api, image):
    response = api.post(
        f"{API}/images/bulk", {"ids": [str(image.pk), GONE], "add_tags": ["x"]}, format="json"
    )

    assert response.json()["detail"] == (
        f"1 id names no stored image (nothing was changed): {GONE}."
    )
