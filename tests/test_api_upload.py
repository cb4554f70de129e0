import io

import imagehash
import pytest
from PIL import Image as PILImage

from images.imaging.checks import PNG_SIGNATURE
from images.imaging.hashing import eight_bit
from images.models import Image
from tests.factories import (
    apng_bytes,
    corrupt_png_crc,
    decoder_cases,
    encode,
    image_bytes,
    jpeg_with_dimensions,
    pattern,
    png_16bit_rgb,
    png_with_header,
    png_without_palette,
    psd_bytes,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("fmt", "filename", "content_type"),
    [("JPEG", "plate.jpg", "image/jpeg"), ("PNG", "plate.png", "image/png")],
)
def test_upload_stores_the_image_and_returns_its_metadata(upload, fmt, filename, content_type):
    data = image_bytes(fmt, (120, 80))

    response = upload(data, filename, description="first plate")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "plate"
    assert body["description"] == "first plate"
    assert body["format"] == fmt
    assert body["content_type"] == content_type
    assert (body["width"], body["height"]) == (120, 80)
    assert body["file_size"] == len(data)
    assert body["source_url"] is None
    assert body["phash"] == str(imagehash.phash(eight_bit(PILImage.open(io.BytesIO(data)))))
    version = body["sha256"][:16]  # the links name the bytes' version
    assert body["file_url"] == f"http://testserver/api/v1/images/{body['id']}/file?v={version}"
    assert body["original_url"] == (
        f"http://testserver/api/v1/images/{body['id']}/original?v={version}"
    )
    assert body["thumbnail_url"] == (
        f"http://testserver/api/v1/images/{body['id']}/renditions/max-256x256?v={version}"
    )
    assert response["Location"] == f"http://testserver/api/v1/images/{body['id']}"
    assert set(body) == {
        "id", "name", "description", "tags", "metadata", "format", "content_type", "width",
        "height", "file_size", "sha256", "phash", "file_url", "original_url", "thumbnail_url",
        "source_url", "created_at", "updated_at",
    }  # fmt: skip
    assert (body["tags"], body["metadata"]) == ([], {})  # what an image without them shows


def test_upload_sha256_is_of_the_bytes_sent(upload):
    import hashlib

    data = image_bytes("PNG")

    body = upload(data, "a.png").json()

    assert body["sha256"] == hashlib.sha256(data).hexdigest()


def test_upload_name_given_wins_over_file_name(upload):
    assert upload(image_bytes(), "x.jpg", name="Plate 7").json()["name"] == "Plate 7"


def test_upload_works_without_trailing_slash_and_with_it(api):
    for path in ("/api/v1/images/upload", "/api/v1/images/upload/"):
        file = io.BytesIO(image_bytes())
        file.name = "a.jpg"
        assert api.post(path, {"file": file}, format="multipart").status_code == 201


def test_upload_format_is_decided_by_content_not_by_name_or_content_type(api):
    file = io.BytesIO(image_bytes("PNG"))
    file.name = "looks-like.jpg"

    response = api.post("/api/v1/images/upload", {"file": file}, format="multipart")

    assert response.status_code == 201
    assert response.json()["format"] == "PNG"


def test_uploaded_bytes_are_stored_unchanged(api, upload):
    data = image_bytes("JPEG", (50, 50))
    body = upload(data).json()

    assert b"".join(api.get(f"/api/v1/images/{body['id']}/file").streaming_content) == data


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("gif", encode(pattern((16, 16)), "GIF")),
        ("avif", encode(pattern((16, 16)), "AVIF")),
        ("bmp", encode(pattern((16, 16)), "BMP")),
        ("psd renamed .png", psd_bytes()),
    ],
)
def test_upload_of_other_image_formats_is_refused_with_415(upload, files, label, data):
    response = upload(data, "renamed.png")

    assert response.status_code == 415, label
    assert response.json()["code"] == "unsupported_image_format"
    assert Image.objects.count() == 0
    assert files() == []


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("empty", b""),
        ("text", b"hello, this is not an image\n" * 10),
        ("garbage", bytes(range(256)) * 8),
        ("truncated jpeg", image_bytes("JPEG", (64, 64))[:300]),
        ("truncated png", image_bytes("PNG", (64, 64))[:-40]),
        ("corrupt png checksum", corrupt_png_crc()),
        ("png signature then html", PNG_SIGNATURE + b"<html><script>alert(1)</script></html>"),
        ("jpeg marker then php", b"\xff\xd8\xff\xe0<?php system($_GET['c']); ?>"),
        ("palette png without its palette", png_without_palette()),
        ("transparent palette png without its palette", png_without_palette(transparency=0)),
        ("palette png with its palette after the data", png_without_palette(late=True)),
    ],
)
def test_upload_of_non_images_is_refused_with_400(upload, files, label, data):
    response = upload(data, "photo.jpg")

    assert response.status_code == 400, label
    assert response.json()["code"] == "invalid_image"
    assert response.json()["detail"]
    assert Image.objects.count() == 0
    assert files() == []


def test_upload_over_the_byte_limit_is_refused_with_413(upload, files, settings):
    settings.IMAGES_MAX_UPLOAD_BYTES = 2000
    data = image_bytes("JPEG", (200, 200))
    assert len(data) > 2000

    response = upload(data, "big.jpg")

    assert response.status_code == 413
    assert response.json()["code"] == "image_too_large"
    assert Image.objects.count() == 0
    assert files() == []


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("png 30000x30000 1-bit", png_with_header(30000, 30000)),
        ("png just over the limit", png_with_header(9000, 9000)),
        ("jpeg claiming 60000x60000", jpeg_with_dimensions(60000, 60000)),
        ("animated png", apng_bytes()),
    ],
)
def test_upload_over_the_pixel_limit_or_with_frames_is_refused_with_413(upload, files, label, data):
    response = upload(data, "bomb.png")

    assert response.status_code == 413, label
    assert response.json()["code"] == "image_too_large"
    assert Image.objects.count() == 0
    assert files() == []


STATUS = {"invalid_image": 400, "image_too_large": 413, "unsupported_image_format": 415}


@pytest.mark.parametrize(
    ("data", "code"), [pytest.param(data, code, id=label) for label, data, code in decoder_cases()]
)
def test_hostile_and_odd_uploads_end_in_their_documented_status(upload, files, data, code):
    response = upload(data, "odd.png")

    if code is None:
        assert response.status_code == 201
        assert len(files()) == 1
    else:
        assert response.status_code == STATUS[code]
        assert response.json()["code"] == code
        assert Image.objects.count() == 0
        assert files() == []


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("CMYK jpeg", encode(pattern((80, 60), "CMYK"), "JPEG")),
        ("16-bit grey png", encode(pattern((80, 60), "I;16"), "PNG")),
        ("16-bit colour png", png_16bit_rgb((80, 60))),
    ],
)
def test_cmyk_and_16_bit_uploads_are_accepted_hashed_and_cropped(api, upload, label, data):
    body = upload(data, "odd.img").json()
    url = f"/api/v1/images/{body['id']}"
    assert body["phash"] == str(imagehash.phash(eight_bit(PILImage.open(io.BytesIO(data)))))

    cropped = api.put(f"{url}?width=30&height=20")

    assert cropped.status_code == 200, label
    assert (cropped.json()["width"], cropped.json()["height"]) == (30, 20)
    stored = b"".join(api.get(f"{url}/file").streaming_content)
    stored_image = PILImage.open(io.BytesIO(stored))
    assert stored_image.size == (30, 20)
    assert cropped.json()["phash"] == str(imagehash.phash(eight_bit(stored_image)))


def test_pixel_limit_comes_from_settings(upload, settings):
    settings.IMAGES_MAX_PIXELS = 100 * 100

    assert upload(image_bytes("PNG", (100, 100))).status_code == 201
    assert upload(image_bytes("PNG", (101, 100))).status_code == 413


def test_upload_without_file_is_refused_with_400(api):
    response = api.post("/api/v1/images/upload", {"name": "x"}, format="multipart")

    assert response.status_code == 400
    assert response.json()["errors"]["file"]


def test_upload_with_malformed_multipart_is_refused_with_400(api):
    response = api.generic(
        "POST",
        "/api/v1/images/upload",
        b"--nope\r\nthis is not multipart",
        content_type="multipart/form-data; boundary=zzz",
    )

    assert response.status_code == 400
    assert response.json()["code"]


def test_upload_as_json_is_refused_with_415_unsupported_media_type(api):
    response = api.post("/api/v1/images/upload", {"file": "x"}, format="json")

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_parallel_uploads_all_succeed(transactional_db, live_server):
    import concurrent.futures

    import requests

    def send(i: int) -> int:
        data = image_bytes("PNG", (40 + i, 40))
        files = {"file": (f"p{i}.png", data, "image/png")}
        return requests.post(f"{live_server.url}/api/v1/images/upload", files=files).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(16)))

    assert statuses == [201] * 16
    assert Image.objects.count() == 16
