"""Rate limits per client and scope: 429 with Retry-After, shared through the cache."""

import concurrent.futures
import io
import logging
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.core.cache import cache

from access.models import ApiToken
from images.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()


@pytest.fixture
def rates(settings):
    def set_rates(read: str | None = None, write: str | None = None, uploads: str | None = None):
        settings.IMAGES_THROTTLE_RATES = {"read": read, "write": write, "uploads": uploads}

    return set_rates


def send_upload(api, **extra):
    file = io.BytesIO(image_bytes("PNG"))
    file.name = "plate.png"
    return api.post("/api/v1/images/upload", {"file": file}, format="multipart", **extra)


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert response.json()["detail"].startswith("Request was throttled.")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_reads_over_the_rate_are_refused_with_429_and_retry_after(api, rates):
    rates(read="2/min")

    assert [api.get("/api/v1/images/").status_code for _ in range(2)] == [200, 200]
    assert_throttled(api.get("/api/v1/images/"))


def test_uploads_have_their_own_scope_and_a_refused_one_stores_nothing(api, rates, files):
    rates(uploads="1/min")

    assert send_upload(api).status_code == 201
    assert_throttled(send_upload(api))
    assert Image.objects.count() == 1
    assert len(files()) == 1
    assert api.get("/api/v1/images/").status_code == 200  # reads are another scope


def test_url_creations_count_as_uploads_and_a_refused_one_fetches_nothing(
    api, rates, origin, settings
):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True  # the origin is on 127.0.0.1
    rates(uploads="1/min")
    url = origin.serve("/plate.png", image_bytes("PNG"))

    assert send_upload(api).status_code == 201
    assert_throttled(api.post("/api/v1/images/", {"url": url}, format="json"))
    assert origin.requests == []


IMAGE = "/api/v1/images/{id}"


@pytest.mark.parametrize(
    ("costly", "cheap"),
    [
        (("get", IMAGE + "/diff/{id}/image", None), ("get", IMAGE + "/diff/{id}", None)),
        (("post", "/api/v1/images/search", {"phash": "0" * 16}), ("get", IMAGE + "/similar", None)),
    ],
    ids=["diff-picture", "search"],
)
def test_the_scope_is_the_actions_the_diff_picture_and_a_search_count_as_uploads(
    api, rates, costly, cheap
):
    # The same method may be costly or cheap: what decodes an image is known by its action.
    image_id = send_upload(api).json()["id"]
    rates(uploads="1/min", read="10/min", write="10/min")
    cache.clear()

    def send(method: str, path: str, body: dict | None):
        return getattr(api, method)(path.format(id=image_id), body, format="json")

    assert send(*costly).status_code == 200
    assert_throttled(send(*costly))
    assert [send(*cheap).status_code for _ in range(3)] == [200, 200, 200]


def test_crops_and_restores_count_as_uploads_renames_as_writes(api, rates):
    rates(uploads="3/min", write="5/min")
    image_id = send_upload(api).json()["id"]
    url = f"/api/v1/images/{image_id}"

    assert api.put(f"{url}?width=20&height=20").status_code == 200
    assert api.post(f"{url}/restore").status_code == 200
    assert_throttled(api.patch(url, {"width": 10, "height": 10}, format="json"))
    assert api.patch(url, {"name": "renamed"}, format="json").status_code == 200
    assert api.delete(url).status_code == 204


def test_a_crop_is_charged_as_costly_once_valid_and_a_refused_one_changes_nothing(
    api, rates, files
):
    rates(uploads="1/min")
    image = send_upload(api).json()
    url = f"/api/v1/images/{image['id']}"

    invalid = api.patch(url, {"width": 10}, format="json")  # no height: told so, not 429
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "invalid_crop"
    assert_throttled(api.patch(url, {"width": 10, "height": 10}, format="json"))
    assert api.get(url).json()["width"] == image["width"]
    assert len(files()) == 1


def test_each_token_has_its_own_budget(api, rates, settings):
    settings.IMAGES_AUTH = "token"
    rates(read="1/min")
    keys = []
    for name in ("scanner-1", "scanner-2"):
        token = ApiToken(name=name)
        keys.append(token.set_new_key())
        token.save()

    for key in keys:
        assert api.get("/api/v1/images/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert_throttled(api.get("/api/v1/images/", HTTP_AUTHORIZATION=f"Token {keys[0]}"))


def test_anonymous_clients_are_counted_by_address_and_forwarded_for_is_not_trusted(api, rates):
    rates(read="1/min")

    assert api.get("/api/v1/images/", REMOTE_ADDR="192.0.2.1").status_code == 200
    assert api.get("/api/v1/images/", REMOTE_ADDR="192.0.2.2").status_code == 200
    spoofed = api.get("/api/v1/images/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert_throttled(spoofed)


def test_behind_a_proxy_the_address_it_forwarded_counts(api, rates, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rates(read="1/min")
    proxy = "10.0.0.1"

    for client in ("198.51.100.7", "198.51.100.8"):
        response = api.get("/api/v1/images/", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=client)
        assert response.status_code == 200
    assert_throttled(
        api.get("/api/v1/images/", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    )


def test_a_scope_without_rate_is_not_limited(api, rates):
    rates(read=None, uploads="1/min")

    assert {api.get("/api/v1/images/").status_code for _ in range(5)} == {200}


def test_counts_are_shared_with_another_process_through_the_cache(api, rates, settings, tmp_path):
    """What gunicorn's workers do: a second process sees the first one's requests."""
    location = tmp_path / "cache"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(location),
        }
    }
    rates(read="2/min")
    assert [api.get("/api/v1/images/").status_code for _ in range(2)] == [200, 200]

    env = {
        **os.environ,
        "CACHE_URL": f"filecache://{location}",
        "IMAGES_THROTTLE_RATE_READ": "2/min",
        "ALLOWED_HOSTS": "testserver",
        "DJANGO_SETTINGS_MODULE": "imageservice.settings",
    }
    script = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/api/v1/images/'); print(r.status_code, r['Retry-After'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    status, retry_after = result.stdout.split()
    assert status == "429"
    assert 1 <= int(retry_after) <= 60


def test_a_broken_cache_lets_requests_through_and_logs_it(api, rates, broken_cache, caplog):
    rates(read="1/min")

    with caplog.at_level(logging.ERROR, logger="access.throttling"):
        statuses = [api.get("/api/v1/images/").status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert "throttle cache unavailable" in caplog.text


def test_with_default_settings_300_uploads_from_4_parallel_clients_at_one_address_get_201(
    live_server, settings, monkeypatch
):
    """The service's own pipeline is not held to a rate: none is set unless configured."""
    for scope in ("READ", "WRITE", "UPLOAD"):
        monkeypatch.delenv(f"IMAGES_THROTTLE_RATE_{scope}", raising=False)
    defaults = runpy.run_path(str(REPO / "imageservice" / "settings.py"))
    settings.IMAGES_THROTTLE_RATES = defaults["IMAGES_THROTTLE_RATES"]
    url = f"{live_server.url}/api/v1/images/upload"

    def client(number: int) -> list[int]:
        with requests.Session() as session:  # one client: its own keep-alive connection
            return [
                session.post(
                    url,
                    files={"file": ("plate.png", image_bytes("PNG", (16 + number, 16 + i)))},
                    timeout=30,
                ).status_code
                for i in range(75)
            ]

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        statuses = [status for answers in pool.map(client, range(4)) for status in answers]

    assert statuses == [201] * 300
    assert Image.objects.count() == 300


def test_making_a_rendition_is_costly_and_serving_a_stored_one_is_a_read(api, rates):
    image = Image.objects.get(pk=send_upload(api).json()["id"])
    url = f"/api/v1/images/{image.pk}/renditions"
    # Every GET is a read; one that makes a rendition also counts against uploads, as a
    # crop is a write and an upload.
    rates(uploads="1/min", read="3/min")

    assert api.get(f"{url}/max-10x10").status_code == 200  # made: read 1, the one upload
    assert_throttled(api.get(f"{url}/max-20x20"))  # would be made: read 2, upload refused
    assert api.get(f"{url}/max-10x10").status_code == 200  # stored: read 3 only
    assert_throttled(api.get(f"{url}/max-10x10"))  # read 4
