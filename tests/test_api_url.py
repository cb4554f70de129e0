"""Creating images from a URL: the bytes go through the upload path; the fetch is safe."""

import socket

import pytest

from images.infra import fetch
from images.models import Image
from tests.factories import encode, image_bytes, pattern

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private_ok(settings):
    """The test origin lives on 127.0.0.1: lift the public-address check, as labs may."""
    settings.IMAGES_ALLOW_PRIVATE_URLS = True


def create(api, url, **fields):
    return api.post("/api/v1/images/", {"url": url, **fields}, format="json")


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("PNG", "application/octet-stream")],
)
def test_create_from_url_stores_the_image_with_its_source(
    api, origin, private_ok, fmt, content_type
):
    data = image_bytes(fmt, (48, 32))
    url = origin.serve("/lab/plate-3.img", data, content_type)

    response = create(api, url, description="from the scanner")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["source_url"] == url
    assert body["name"] == "plate-3.img"
    assert body["description"] == "from the scanner"
    assert (body["format"], body["width"], body["height"]) == (fmt, 48, 32)
    assert body["file_size"] == len(data)
    assert response["Location"].endswith(f"/api/v1/images/{body['id']}")
    assert b"".join(api.get(f"/api/v1/images/{body['id']}/file").streaming_content) == data


def test_url_whose_last_segment_decodes_to_nul_gets_a_name_without_it(api, origin, private_ok):
    url = origin.serve("/plate%00-3.png", image_bytes("PNG"), "image/png")

    response = create(api, url)

    assert response.status_code == 201, response.content
    assert response.json()["name"] == "plate-3.png"
    assert response.json()["source_url"] == url


def test_url_image_and_the_same_file_uploaded_diff_zero(api, origin, upload, private_ok):
    data = image_bytes("JPEG", (64, 64))
    from_url = create(api, origin.serve("/a.jpg", data, "image/jpeg"), name="u").json()
    uploaded = upload(data, "a.jpg").json()

    diff = api.get(f"/api/v1/images/{from_url['id']}/diff/{uploaded['id']}").json()

    assert diff["diff"] == 0
    assert diff["identical"] is True


def test_create_from_url_without_trailing_slash(api, origin, private_ok):
    url = origin.serve("/x.png", image_bytes("PNG"))

    assert api.post("/api/v1/images", {"url": url}, format="json").status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "code"),
    [
        ("/page.png", b"<html><body>hello</body></html>", "image/png", 400, "invalid_image"),
        ("/anim.gif", encode(pattern((16, 16)), "GIF"), "image/gif", 415,
         "unsupported_image_format"),
        ("/missing.png", None, "", 400, "download_failed"),
    ],
)  # fmt: skip
def test_create_from_url_refuses_what_is_not_a_jpeg_or_png(
    api, origin, files, private_ok, path, body, content_type, status, code
):
    url = origin.serve(path, body, content_type) if body is not None else origin.base + path

    response = create(api, url)

    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert Image.objects.count() == 0
    assert files() == []


def test_origin_error_status_is_named_in_the_detail(api, origin, private_ok):
    url = origin.serve("/boom", b"oops", "text/plain", status=500)

    response = create(api, url)

    assert response.status_code == 400
    assert response.json()["code"] == "download_failed"
    assert "500" in response.json()["detail"]


def test_redirect_to_an_image_is_followed(api, origin, private_ok):
    target = origin.serve("/final.png", image_bytes("PNG"))
    start = origin.serve("/start", b"", "text/plain", status=302, Location=target)

    response = create(api, start)

    assert response.status_code == 201
    assert response.json()["source_url"] == start


def test_too_many_bytes_is_refused_with_413(api, origin, files, settings, private_ok):
    settings.IMAGES_MAX_UPLOAD_BYTES = 1000
    url = origin.serve("/big.jpg", image_bytes("JPEG", (300, 300)), "image/jpeg")

    response = create(api, url)

    assert response.status_code == 413
    assert response.json()["code"] == "image_too_large"
    assert files() == []


@pytest.mark.parametrize(
    "url",
    ["incorrect", "", "ftp://example.com/a.png", "file:///etc/passwd", "javascript:alert(1)",
     "data:image/png;base64,iVBORw0KGgo=", "http://", "//example.com/a.png"],
)  # fmt: skip
def test_malformed_or_non_http_urls_are_refused_with_invalid_url(api, url):
    response = create(api, url)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_url"


def test_unresolvable_host_is_refused_with_download_failed(api, monkeypatch):
    def no_such_host(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetch, "resolve", no_such_host)

    response = create(api, "http://no-such-host.invalid/a.png")

    assert response.status_code == 400
    assert response.json()["code"] == "download_failed"


def test_private_addresses_are_refused_by_default_without_any_request(api, origin, files):
    url = origin.serve("/a.png", image_bytes("PNG"))

    for target in (url, url.replace("127.0.0.1", "localhost"), "http://169.254.169.254/"):
        response = create(api, target)
        assert response.status_code == 400, target
        assert response.json()["code"] == "url_not_allowed"

    assert origin.requests == []
    assert files() == []


def test_allowed_hosts_limit_fetching_to_those_hosts(api, origin, settings, private_ok):
    url = origin.serve("/a.png", image_bytes("PNG"))
    settings.IMAGES_URL_ALLOWED_HOSTS = ["images.lab.example"]

    response = create(api, url)

    assert response.status_code == 400
    assert response.json()["code"] == "url_not_allowed"
    assert origin.requests == []


def test_slow_origin_is_cut_at_the_deadline(api, settings, private_ok):
    """An origin that trickles its body: the download is cut at IMAGES_URL_TIMEOUT."""
    import threading
    import time

    settings.IMAGES_URL_TIMEOUT = 1.0
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        response = create(api, f"http://127.0.0.1:{listener.getsockname()[1]}/slow.png")
    finally:
        stop.set()
        listener.close()

    assert response.status_code == 400
    assert response.json()["code"] == "download_timeout"
