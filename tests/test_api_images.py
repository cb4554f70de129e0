"""Reading, comparing, downloading and deleting stored images."""

import io
import uuid

import imagehash
import pytest
from PIL import Image as PILImage

from images.models import Image
from tests.factories import encode, image_bytes, pattern

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stored(upload):
    """Upload an image; return its metadata."""

    def stored(data: bytes | None = None, filename: str = "plate.png", **fields) -> dict:
        response = upload(data or image_bytes("PNG"), filename, **fields)
        assert response.status_code == 201, response.content
        return response.json()

    return stored


def test_get_returns_the_metadata_the_upload_returned(api, stored):
    image = stored()

    for path in (f"/api/v1/images/{image['id']}", f"/api/v1/images/{image['id']}/"):
        response = api.get(path)
        assert response.status_code == 200
        assert response.json() == image


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/images/{uuid.uuid4()}",
        "/api/v1/images/not-a-uuid",
        "/api/v1/images/12345/file",
        f"/api/v1/images/{uuid.uuid4()}/original",
        f"/api/v1/images/{uuid.uuid4()}/diff/{uuid.uuid4()}",
        "/api/v1/nothing-here",
    ],
)
def test_unknown_or_malformed_ids_answer_json_404(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["detail"] != "Not found."  # it names what was not found


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_to_an_unknown_image_answer_404(api, method):
    response = getattr(api, method)(f"/api/v1/images/{uuid.uuid4()}?width=1&height=1")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_restore_of_an_unknown_image_answers_404(api):
    assert api.post(f"/api/v1/images/{uuid.uuid4()}/restore").json()["code"] == "not_found"


def test_list_is_newest_first_and_paginated(api, stored):
    ids = [stored(image_bytes("PNG", (20 + i, 20)), f"p{i}.png")["id"] for i in range(5)]

    page = api.get("/api/v1/images/?page_size=2").json()

    assert page["count"] == 5
    assert [image["id"] for image in page["results"]] == ids[::-1][:2]
    assert page["previous"] is None
    second = api.get(page["next"]).json()
    assert [image["id"] for image in second["results"]] == ids[::-1][2:4]
    assert api.get("/api/v1/images").json()["count"] == 5


def test_list_filters_by_name_sha256_phash_and_format(api, stored):
    plate = stored(image_bytes("PNG", (30, 30)), "Plate-A1.png")
    other = stored(image_bytes("JPEG", (30, 30)), "scan.jpg")

    def ids(query: str) -> list[str]:
        response = api.get(f"/api/v1/images/?{query}")
        assert response.status_code == 200, response.content
        return [image["id"] for image in response.json()["results"]]

    assert ids("name=plate-a") == [plate["id"]]
    assert ids(f"sha256={other['sha256']}") == [other["id"]]
    assert ids(f"sha256={other['sha256'].upper()}") == [other["id"]]
    assert ids(f"phash={plate['phash']}") == [plate["id"]]
    assert ids("format=JPEG") == [other["id"]]
    assert ids("format=png") == [plate["id"]]
    assert ids("name=nothing") == []


@pytest.mark.parametrize("query", ["sha256=xyz", "phash=123", "format=GIF", "page=99"])
def test_list_with_bad_filters_or_page_answers_json_error(api, query):
    response = api.get(f"/api/v1/images/?{query}")

    assert response.status_code in (400, 404)
    assert response.json()["code"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sha256=xyz", "64 hexadecimal digits"),
        (f"sha256={'a' * 63}", "64 hexadecimal digits"),
        ("phash=123", "16 hexadecimal digits"),
        (f"phash={'g' * 16}", "16 hexadecimal digits"),
    ],
)
def test_a_malformed_hash_filter_is_told_what_is_expected(api, query, expected):
    response = api.get(f"/api/v1/images/?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    field = query.split("=")[0]
    assert expected in body["errors"][field][0]
    assert "pattern" not in body["detail"] + body["errors"][field][0]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_file_download_has_type_length_etag_and_the_bytes(api, stored, fmt):
    data = image_bytes(fmt, (40, 30))
    image = stored(data, f"x.{fmt.lower()}")

    response = api.get(f"/api/v1/images/{image['id']}/file", HTTP_ACCEPT="image/*")

    assert response.status_code == 200
    assert response["Content-Type"] == image["content_type"]
    assert response["Content-Length"] == str(len(data))
    assert response["ETag"] == f'"{image["sha256"]}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == data


@pytest.mark.parametrize("path", ["file", "original"])
def test_downloads_are_named_by_the_id_never_by_what_the_client_sent(api, stored, path):
    image = stored(image_bytes("PNG"), '../../x"; filename=evil.html', name="<script>")

    response = api.get(f"/api/v1/images/{image['id']}/{path}")

    assert response["Content-Disposition"] == f'inline; filename="{image["id"]}.png"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_file_download_answers_304_when_the_etag_matches(api, stored):
    image = stored()
    url = f"/api/v1/images/{image['id']}/file"

    assert api.get(url, HTTP_IF_NONE_MATCH=f'"{image["sha256"]}"').status_code == 304
    assert api.get(url, HTTP_IF_NONE_MATCH=f'W/"{image["sha256"]}"').status_code == 304
    assert api.get(url, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200


def test_diff_of_an_image_with_itself_and_a_copy_is_zero(api, stored):
    data = image_bytes("PNG")
    first, copy = stored(data), stored(data)

    body = api.get(f"/api/v1/images/{first['id']}/diff/{copy['id']}").json()

    assert body == {
        "source_image_id": first["id"],
        "target_image_id": copy["id"],
        "diff": 0,
        "similarity": 1.0,
        "algorithm": "phash",
        "identical": True,
        "image_url": (f"http://testserver/api/v1/images/{first['id']}/diff/{copy['id']}/image"),
    }


def test_diff_of_different_images_is_the_hamming_distance_imagehash_gives(api, stored):
    a = encode(pattern((64, 64)), "PNG")
    b = encode(pattern((64, 64), variant=2).rotate(90), "PNG")
    first, second = stored(a), stored(b)

    body = api.get(f"/api/v1/images/{first['id']}/diff/{second['id']}/").json()

    expected = imagehash.phash(PILImage.open(io.BytesIO(a))) - imagehash.phash(
        PILImage.open(io.BytesIO(b))
    )
    assert expected > 0
    assert body["diff"] == expected
    assert body["similarity"] == pytest.approx(1 - expected / 64)
    assert body["identical"] is False


@pytest.mark.parametrize("known", ["source", "target"])
def test_diff_with_one_unknown_image_answers_404(api, stored, known):
    image, unknown = stored()["id"], uuid.uuid4()
    source, target = (image, unknown) if known == "source" else (unknown, image)

    response = api.get(f"/api/v1/images/{source}/diff/{target}")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_diff_reads_no_file(api, stored, media_root):
    import shutil

    first, second = stored(), stored(image_bytes("JPEG"), "b.jpg")
    shutil.rmtree(media_root)  # if the diff needed the files, it would fail now

    assert api.get(f"/api/v1/images/{first['id']}/diff/{second['id']}").status_code == 200


def test_delete_with_no_trash_days_removes_the_row_and_its_files(api, stored, files, settings):
    settings.IMAGES_TRASH_DAYS = 0
    image = stored()
    assert len(files()) == 1

    response = api.delete(f"/api/v1/images/{image['id']}")

    assert response.status_code == 204
    assert api.get(f"/api/v1/images/{image['id']}").status_code == 404
    assert Image.all_objects.count() == 0
    assert files() == []


def test_delete_with_no_trash_days_of_a_cropped_image_removes_every_revision(
    api, stored, files, settings
):
    settings.IMAGES_TRASH_DAYS = 0
    image = stored(image_bytes("PNG", (50, 50)))
    api.put(f"/api/v1/images/{image['id']}?width=20&height=20")
    assert len(files()) == 2

    api.delete(f"/api/v1/images/{image['id']}")

    assert files() == []


def test_unknown_api_path_and_wrong_method_answer_json(api):
    assert api.get("/api/v2/images/").json()["code"] == "not_found"
    response = api.delete("/api/v1/images/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
