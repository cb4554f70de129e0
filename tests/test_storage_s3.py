"""The service on S3-compatible storage: a real S3 server over HTTP on 127.0.0.1 (moto's)."""

import hashlib
import io
import socket
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from images.models import Image
from tests.factories import image_bytes
from tests.servers import TcpProxy

pytestmark = pytest.mark.django_db(transaction=True)


def stored(upload, data: bytes, filename: str = "plate.png") -> dict:
    response = upload(data, filename)
    assert response.status_code == 201, response.content
    return response.json()


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_upload_crop_restore_and_delete_keep_bucket_and_row_in_step(api, upload, s3):
    data = image_bytes("PNG", (60, 40))

    image = stored(upload, data)
    url = f"/api/v1/images/{image['id']}"

    [key] = s3.stored_keys()
    assert key.startswith(s3.prefix + "images/")  # AWS_LOCATION prefixes every key
    assert s3.read(key) == data

    cropped = api.put(f"{url}?width=20&height=10").json()
    assert len(s3.stored_keys()) == 2  # the original and the crop
    crop_key = next(k for k in s3.stored_keys() if k != key)
    assert hashlib.sha256(s3.read(crop_key)).hexdigest() == cropped["sha256"]
    assert PILImage.open(io.BytesIO(s3.read(crop_key))).size == (20, 10)

    assert api.post(f"{url}/restore").json()["sha256"] == image["sha256"]
    assert s3.stored_keys() == sorted([key, crop_key])  # the crop stays: a revision

    assert api.delete(url).status_code == 204
    assert s3.stored_keys() == sorted([key, crop_key])  # in the trash
    assert api.delete(f"/api/v1/trash/{image['id']}").status_code == 204
    assert s3.stored_keys() == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_downloads_stream_the_stored_bytes_with_the_rows_headers(api, upload, s3, fmt):
    data = image_bytes(fmt, (40, 30))
    image = stored(upload, data, f"x.{fmt.lower()}")
    api.put(f"/api/v1/images/{image['id']}?width=10&height=10")
    current = api.get(f"/api/v1/images/{image['id']}").json()

    file = api.get(f"/api/v1/images/{image['id']}/file")
    original = api.get(f"/api/v1/images/{image['id']}/original")

    assert file.status_code == original.status_code == 200
    assert hashlib.sha256(body(file)).hexdigest() == file["ETag"].strip('"') == current["sha256"]
    assert body(original) == data
    assert original["ETag"] == f'"{image["sha256"]}"'
    assert original["Content-Type"] == image["content_type"]
    assert original["Content-Length"] == str(len(data))
    not_modified = api.get(
        f"/api/v1/images/{image['id']}/original", HTTP_IF_NONE_MATCH=original["ETag"]
    )
    assert not_modified.status_code == 304


def test_presigned_downloads_redirect_to_a_short_lived_url_of_the_bytes(
    api, upload, use_s3, live_server
):
    use_s3(IMAGES_S3_PRESIGNED_DOWNLOADS="true", IMAGES_S3_PRESIGNED_TTL="60")
    data = image_bytes("JPEG", (32, 32))
    image = stored(upload, data, "p.jpg")
    path = f"/api/v1/images/{image['id']}/original"

    redirect = api.get(path)

    assert redirect.status_code == 302
    assert redirect["ETag"] == f'"{image["sha256"]}"'
    query = parse_qs(urlsplit(redirect["Location"]).query)
    assert query["X-Amz-Expires"] == ["60"]
    assert "X-Amz-Signature" in query
    followed = requests.get(live_server.url + path, timeout=10)
    assert followed.status_code == 200
    assert followed.history[0].status_code == 302
    assert followed.content == data
    assert followed.headers["Content-Type"] == "image/jpeg"
    # A client that has the bytes is answered by the service itself, without a redirect.
    assert api.get(path, HTTP_IF_NONE_MATCH=redirect["ETag"]).status_code == 304


def test_upload_refused_by_the_object_store_answers_503_and_leaves_nothing(upload, s3):
    s3.server.refuse_writes = True

    response = upload(image_bytes("PNG"), "a.png")

    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert Image.objects.count() == 0
    assert s3.stored_keys() == []


def test_crop_whose_write_is_refused_leaves_the_image_as_it_was(api, upload, s3):
    data = image_bytes("PNG", (50, 50))
    image = stored(upload, data)
    keys = s3.stored_keys()
    s3.server.refuse_writes = True  # the crop reads the image, then fails to store the result

    response = api.put(f"/api/v1/images/{image['id']}?width=10&height=10")

    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert s3.stored_keys() == keys
    assert api.get(f"/api/v1/images/{image['id']}").json() == image
    assert body(api.get(f"/api/v1/images/{image['id']}/file")) == data


def test_missing_bucket_answers_503(upload, s3):
    s3.client.delete_bucket(Bucket=s3.name)

    response = upload(image_bytes("PNG"), "a.png")

    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert Image.objects.count() == 0


def test_unreachable_object_store_answers_503_and_metadata_still_answers(api, upload, use_s3):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{unused.getsockname()[1]}"  # nothing listens there
    bucket = use_s3()
    image = stored(upload, image_bytes("PNG"))
    use_s3(AWS_S3_ENDPOINT_URL=gone, AWS_STORAGE_BUCKET_NAME=bucket.name)

    assert api.get(f"/api/v1/images/{image['id']}").status_code == 200
    for response in (
        api.get(f"/api/v1/images/{image['id']}/file"),
        api.put(f"/api/v1/images/{image['id']}?width=5&height=5"),
        upload(image_bytes("PNG"), "b.png"),
    ):
        assert response.status_code == 503
        assert response.json()["code"] == "storage_unavailable"
    assert Image.objects.count() == 1


def test_saving_under_a_taken_name_never_replaces_the_stored_object(s3):
    first = default_storage.save("images/aa/same.png", ContentFile(b"first"))

    second = default_storage.save("images/aa/same.png", ContentFile(b"second"))

    assert second != first
    assert s3.read(s3.prefix + first) == b"first"
    assert s3.read(s3.prefix + second) == b"second"


@pytest.fixture
def paused_store(s3_server, use_s3):
    """The service's S3 traffic through a proxy that can pause: accept, and pass nothing."""
    proxy = TcpProxy(("127.0.0.1", int(s3_server.url.rsplit(":", 1)[1]))).start()
    yield proxy, use_s3(AWS_S3_ENDPOINT_URL=proxy.url, IMAGES_STORAGE_TIMEOUT="4")
    proxy.stop()


def test_a_paused_object_store_answers_503_within_the_storage_timeout(
    live_server, paused_store, settings
):
    proxy, bucket = paused_store
    base = f"{live_server.url}/api/v1/images"
    data = image_bytes("PNG", (30, 30))
    image = requests.post(f"{base}/upload", files={"file": ("a.png", data)}, timeout=30).json()
    keys = bucket.stored_keys()

    proxy.pause()
    for method, url, files in [
        ("GET", f"{base}/{image['id']}/file", None),
        ("PUT", f"{base}/{image['id']}?width=10&height=10", None),
        ("POST", f"{base}/upload", {"file": ("b.png", image_bytes("PNG"))}),
    ]:
        started = time.monotonic()
        response = requests.request(method, url, files=files, timeout=60)
        # One storage operation, or two for an upload: its write, then removing what it
        # may have written. The old settings held a request for about 90 s.
        assert time.monotonic() - started < 2 * settings.IMAGES_STORAGE_TIMEOUT + 2
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "storage_unavailable"
        assert int(response.headers["Retry-After"]) > 0
    assert requests.get(f"{base}/{image['id']}", timeout=30).json() == image  # metadata

    proxy.resume()
    assert requests.get(f"{base}/{image['id']}/file", timeout=30).content == data
    assert bucket.stored_keys() == keys  # nothing stored by the requests that failed
