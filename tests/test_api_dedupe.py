"""Deduplicated creation: ?dedupe=true on upload, "dedupe": true on the URL create."""

import concurrent.futures
import io

import pytest
import requests

from images.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_dedupe_upload_of_stored_bytes_returns_the_stored_image_and_stores_nothing(
    api, upload, files
):
    data = image_bytes("PNG")
    first = upload(data, "a.png")
    stored = files()

    again = api.post("/api/v1/images/upload?dedupe=true", {"file": named(data)}, "multipart")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert Image.objects.count() == 1
    assert files() == stored


def test_without_dedupe_the_same_bytes_are_stored_again(api, upload):
    data = image_bytes("PNG")
    upload(data, "a.png")

    again = api.post("/api/v1/images/upload?dedupe=false", {"file": named(data)}, "multipart")

    assert again.status_code == 201
    assert Image.objects.count() == 2


def test_dedupe_upload_of_new_bytes_is_stored_as_usual(api, upload):
    upload(image_bytes("PNG"), "a.png")

    new = api.post(
        "/api/v1/images/upload?dedupe=true", {"file": named(image_bytes("JPEG"))}, "multipart"
    )

    assert new.status_code == 201
    assert Image.objects.count() == 2


def test_dedupe_compares_with_the_current_bytes_of_a_cropped_image(api, upload):
    data = image_bytes("PNG", (64, 48))
    first = upload(data, "a.png").json()
    api.put(f"/api/v1/images/{first['id']}?width=32&height=32")

    again = api.post("/api/v1/images/upload?dedupe=true", {"file": named(data)}, "multipart")

    assert again.status_code == 201
    assert again.json()["id"] != first["id"]


def test_dedupe_with_several_twins_returns_the_oldest(api, upload):
    data = image_bytes("PNG")
    oldest = upload(data, "a.png").json()
    upload(data, "b.png")

    again = api.post("/api/v1/images/upload?dedupe=true", {"file": named(data)}, "multipart")

    assert again.json()["id"] == oldest["id"]


def test_dedupe_must_be_a_boolean(api):
    response = api.post(
        "/api/v1/images/upload?dedupe=maybe", {"file": named(image_bytes())}, "multipart"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert Image.objects.count() == 0


def test_dedupe_url_create_returns_the_stored_image(api, upload, origin, settings, files):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True
    data = image_bytes("PNG")
    first = upload(data, "a.png").json()
    url = origin.serve("/a.png", data, "image/png")
    stored = files()

    again = api.post("/api/v1/images/", {"url": url, "dedupe": True}, format="json")
    plain = api.post("/api/v1/images/", {"url": url}, format="json")

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again["Location"].endswith(f"/api/v1/images/{first['id']}")
    assert plain.status_code == 201
    assert Image.objects.count() == 2
    assert len(files()) == len(stored) + 1


def test_parallel_dedupe_uploads_of_the_same_new_bytes_store_one_image(live_server, files):
    data = image_bytes("PNG", (50, 40))

    def send(i: int) -> tuple[int, str]:
        response = requests.post(
            f"{live_server.url}/api/v1/images/upload?dedupe=true",
            files={"file": (f"p{i}.png", data, "image/png")},
            timeout=60,
        )
        return response.status_code, response.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send, range(6)))

    assert sorted(status for status, _ in answers) == [200] * 5 + [201]
    assert len({image_id for _, image_id in answers}) == 1
    assert Image.objects.count() == 1
    assert len(files()) == 1


def named(data: bytes, name: str = "photo.png"):
    file = io.BytesIO(data)
    file.name = name
    return file
