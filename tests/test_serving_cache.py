"""Stored files and renditions remembered in the cache (images/infra/serving_cache.py): served
without the database, and never once a write changed what the image's files or renditions
are."""

import io
import logging
import runpy
import time
from datetime import timedelta

import pytest
import requests
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from images.infra import serving_cache
from images.models import Image as ImageRow
from images.models import Rendition
from tests.factories import image_bytes
from tests.servers import RedisServer, TcpProxy
from tests.service import REPO, Gunicorn

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def image(upload) -> dict:
    response = upload(image_bytes("JPEG", (400, 300)), "plate.jpg")
    assert response.status_code == 201
    return response.json()


def rendition(api, image_id: str, spec: str = "max-100x100"):
    return api.get(f"/api/v1/images/{image_id}/renditions/{spec}")


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def size_of(response) -> tuple[int, int]:
    return PILImage.open(io.BytesIO(content(response))).size


@pytest.mark.parametrize("spec", ["max-100x100", "fill-40x40.webp", "width-30.auto"])
def test_a_stored_rendition_asked_again_is_served_without_the_database(
    api, image, spec, django_assert_num_queries
):
    made = rendition(api, image["id"], spec)
    rendition(api, image["id"], spec)  # found in the database, remembered

    with django_assert_num_queries(0):
        again = rendition(api, image["id"], spec)

    assert again.status_code == 200
    assert content(again) == content(made)
    assert again["ETag"] == made["ETag"]


def test_with_no_cache_seconds_every_request_reads_the_database(
    api, image, settings, django_assert_num_queries
):
    settings.IMAGES_RENDITION_CACHE_SECONDS = 0
    made = rendition(api, image["id"])

    with django_assert_num_queries(1):
        again = rendition(api, image["id"])

    assert content(again) == content(made)


@pytest.mark.parametrize("which", ["file", "original"])
def test_a_file_asked_again_is_served_without_the_database(
    api, image, which, django_assert_num_queries
):
    first = api.get(f"/api/v1/images/{image['id']}/{which}")  # read, remembered

    with django_assert_num_queries(0):
        again = api.get(f"/api/v1/images/{image['id']}/{which}")

    assert (first.status_code, again.status_code) == (200, 200)
    body = content(first)
    assert content(again) == body
    assert again["ETag"] == first["ETag"] == f'"{image["sha256"]}"'
    assert again["Content-Length"] == str(len(body))


@pytest.mark.parametrize(
    ("change", "file_size", "original_size"),
    [
        (lambda api, image_id: _crop(api, image_id), (200, 200), (400, 300)),
        (lambda api, image_id: _restore(api, image_id), (400, 300), (400, 300)),
        (lambda api, image_id: _trash(api, image_id), None, None),
    ],
    ids=["crop", "restore", "trash"],
)
def test_after_a_change_the_remembered_file_is_not_served(
    api, image, change, file_size, original_size
):
    path = f"/api/v1/images/{image['id']}"
    for which in ("file", "original", "file", "original"):  # read, then remembered
        assert api.get(f"{path}/{which}").status_code == 200

    change(api, image["id"])
    file, original = api.get(f"{path}/file"), api.get(f"{path}/original")

    if file_size is None:
        assert (file.status_code, original.status_code) == (404, 404)
        return
    assert size_of(file) == file_size
    assert size_of(original) == original_size
    assert file["ETag"] == f'"{api.get(path).json()["sha256"]}"'


def test_an_image_asked_again_is_answered_without_the_database(
    api, image, django_assert_num_queries
):
    first = api.get(f"/api/v1/images/{image['id']}")  # read, remembered

    with django_assert_num_queries(0):
        again = api.get(f"/api/v1/images/{image['id']}")

    assert again.json() == first.json() == image


def _patch(api, image_id):
    body = {"tags": ["reviewed"], "metadata": {"well": "B7"}, "name": "renamed"}
    assert api.patch(f"/api/v1/images/{image_id}", body, format="json").status_code == 200


def _bulk(api, image_id):
    body = {"ids": [image_id], "add_tags": ["reviewed"], "metadata": {"well": "B7"}}
    assert api.post("/api/v1/images/bulk", body, format="json").status_code == 200


def _admin_edit(api, image_id):
    row = ImageRow.objects.get(pk=image_id)  # as the admin's form saves it
    row.name, row.tags, row.metadata = "renamed", ["reviewed"], {"well": "B7"}
    row.save()


@pytest.mark.parametrize("write", [_patch, _bulk, _admin_edit], ids=["patch", "bulk", "save"])
def test_an_image_written_is_answered_as_written(api, image, write):
    path = f"/api/v1/images/{image['id']}"
    api.get(path)
    api.get(path)  # remembered

    write(api, image["id"])
    after = api.get(path).json()

    assert after["tags"] == ["reviewed"]
    assert after["metadata"] == {"well": "B7"}


def test_a_row_lookup_that_a_crop_overtook_is_never_served(api, image):
    """A reader takes the generation and reads the row; a crop commits before the reader
    stores what it read: that entry names a generation the crop deleted."""
    path = f"/api/v1/images/{image['id']}"
    generation, _ = serving_cache.lookup_image(image_id=image["id"])
    stale = ImageRow.objects.get(pk=image["id"])

    _crop(api, image["id"])  # commits, then forgets the generation
    serving_cache.remember_image(generation=generation, image=stale)

    assert size_of(api.get(f"{path}/file")) == (200, 200)
    assert (api.get(path).json()["width"], api.get(path).json()["height"]) == (200, 200)


def test_a_remembered_row_whose_file_was_purged_meanwhile_answers_404(api, image):
    """An entry the cache could not forget (it failed as the purge committed) names a file
    that is gone: the download reads the row again, and there is none."""
    stale = ImageRow.objects.get(pk=image["id"])
    _trash(api, image["id"])
    assert api.delete(f"/api/v1/trash/{image['id']}").status_code == 204  # purged
    generation, _ = serving_cache.lookup_image(image_id=image["id"])
    serving_cache.remember_image(generation=generation, image=stale)

    for which in ("file", "original"):
        answer = api.get(f"/api/v1/images/{image['id']}/{which}")
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found")


def _crop(api, image_id):
    assert api.put(f"/api/v1/images/{image_id}?width=200&height=200").status_code == 200


def _restore(api, image_id):
    _crop(api, image_id)
    rendition(api, image_id)  # of the crop, remembered
    restored = api.post(f"/api/v1/images/{image_id}/restore", {"revision": 1}, format="json")
    assert restored.status_code == 200


def _trash(api, image_id):
    assert api.delete(f"/api/v1/images/{image_id}").status_code == 204


def _file_gone(api, image_id):
    default_storage.delete(Rendition.objects.get().file.name)


@pytest.mark.parametrize(
    ("change", "status", "size"),
    [
        (_crop, 200, (100, 100)),
        (_restore, 200, (100, 75)),
        (_trash, 404, None),
        (_file_gone, 200, (100, 75)),
    ],
    ids=["crop", "restore", "trash", "file-gone"],
)
def test_after_a_change_the_remembered_rendition_is_not_served(api, image, change, status, size):
    rendition(api, image["id"])
    rendition(api, image["id"])  # found in the database, remembered

    change(api, image["id"])
    after = rendition(api, image["id"])

    assert after.status_code == status
    if size is not None:
        assert size_of(after) == size
        row = Rendition.objects.get()  # the one it answered with is recorded and stored
        assert after["ETag"] == f'"{row.sha256}"'
        assert default_storage.exists(row.file.name)


def test_a_rendition_found_missing_is_made_once_then_remembered_again(
    api, image, django_assert_num_queries
):
    first = rendition(api, image["id"])
    rendition(api, image["id"])  # remembered
    _file_gone(api, image["id"])
    rendition(api, image["id"])  # made again, the remembered one forgotten
    rendition(api, image["id"])  # found in the database, remembered

    with django_assert_num_queries(0):
        again = rendition(api, image["id"])

    assert content(again) == content(first)


def test_a_rendition_evicted_by_the_bound_is_made_again_not_served_from_the_cache(
    api, image, settings
):
    settings.IMAGES_RENDITIONS_PER_IMAGE = 1
    first = rendition(api, image["id"], "width-10")
    evicted = Rendition.objects.get().file.name
    rendition(api, image["id"], "width-20")  # evicts width-10

    again = rendition(api, image["id"], "width-10")

    assert again.status_code == 200
    assert content(again) == content(first)
    assert not default_storage.exists(evicted)
    row = Rendition.objects.get()
    assert (row.spec, default_storage.exists(row.file.name)) == ("width-10", True)


def test_a_trash_restore_serves_the_renditions_again(api, image):
    made = rendition(api, image["id"])
    _trash(api, image["id"])
    assert rendition(api, image["id"]).status_code == 404

    assert api.post(f"/api/v1/trash/{image['id']}/restore").status_code == 200

    again = rendition(api, image["id"])
    assert again.status_code == 200
    assert content(again) == content(made)


def test_a_lookup_that_a_write_overtook_is_never_served(api, image):
    """A reader takes the generation, reads the row; a trash commits before the reader
    stores what it read: that entry names a generation the trash deleted."""
    rendition(api, image["id"])
    row = Rendition.objects.get()
    row.source_sha256 = image["sha256"]  # as selectors.rendition_stored reads it
    generation, _ = serving_cache.lookup(image_id=row.image_id, spec=row.spec, format=None)

    _trash(api, image["id"])  # commits, then forgets the generation
    serving_cache.remember(generation=generation, spec=row.spec, format=None, rendition=row)

    assert rendition(api, image["id"]).status_code == 404


def test_a_broken_cache_serves_from_the_database_and_logs_it(api, image, broken_cache, caplog):
    with caplog.at_level(logging.WARNING, logger="images.infra.serving_cache"):
        made = rendition(api, image["id"])
        again = rendition(api, image["id"])
        _trash(api, image["id"])
        trashed = rendition(api, image["id"])

    assert (made.status_code, again.status_code, trashed.status_code) == (200, 200, 404)
    assert content(again) == content(made)
    assert Rendition.objects.count() == 1
    assert "serving cache unavailable" in caplog.text


@pytest.fixture
def redis(tmp_path, settings, monkeypatch):
    """The cache on a real Redis server, configured from CACHE_URL as settings.py does it,
    reached through a proxy that can stop forwarding (a Redis that hangs)."""
    with RedisServer(tmp_path) as server:
        proxy = TcpProxy(server.address).start()
        monkeypatch.setenv("CACHE_URL", f"redis://127.0.0.1:{proxy.port}/0")
        settings.CACHES = runpy.run_path(str(REPO / "imageservice" / "settings.py"))["CACHES"]
        yield proxy
        proxy.stop()


def test_on_redis_renditions_are_remembered_and_forgotten(
    api, image, redis, django_assert_num_queries
):
    made = rendition(api, image["id"])
    rendition(api, image["id"])  # found in the database, remembered
    with django_assert_num_queries(0):
        again = rendition(api, image["id"])
    _crop(api, image["id"])
    cropped = rendition(api, image["id"])
    _trash(api, image["id"])

    assert content(again) == content(made)
    assert size_of(cropped) == (100, 100)
    assert rendition(api, image["id"]).status_code == 404


def test_a_redis_that_stops_answering_holds_no_request(api, image, redis, settings, caplog):
    settings.IMAGES_RENDITION_CACHE_SECONDS = 2
    made = rendition(api, image["id"])
    rendition(api, image["id"])  # remembered
    redis.pause()

    with caplog.at_level(logging.WARNING, logger="images.infra.serving_cache"):
        started = time.monotonic()
        again = rendition(api, image["id"])  # the database answers once Redis times out
        _trash(api, image["id"])  # commits; the generation cannot be forgotten
        trashed = rendition(api, image["id"])
        waited = time.monotonic() - started

    assert (again.status_code, trashed.status_code) == (200, 404)
    assert content(again) == content(made)
    assert waited < 15  # a few 1 s timeouts, not a hang
    assert "may be served from it for up to 2 s" in caplog.text
    redis.resume()
    time.sleep(2.5)  # the bound the log names: what Redis remembered has expired
    assert rendition(api, image["id"]).status_code == 404


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Two gunicorn workers sharing the file cache, as `make run` starts them."""
    with Gunicorn(tmp_path_factory.mktemp("service")) as running:
        yield running
    assert "Traceback" not in running.log()


def test_what_one_worker_changed_no_worker_serves_from_the_cache(server):
    def get(path: str) -> requests.Response:
        # A new connection each time: gunicorn hands them to either worker.
        return requests.get(f"{server.base}{path}", headers={"Connection": "close"}, timeout=30)

    data = image_bytes("JPEG", (400, 300))
    created = requests.post(
        f"{server.base}/api/v1/images/upload",
        files={"file": ("plate.jpg", io.BytesIO(data), "image/jpeg")},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    path = f"/api/v1/images/{created.json()['id']}"

    def sizes() -> set[tuple[int, int]]:
        answers = [get(f"{path}/renditions/max-100x100") for _ in range(8)]
        return {PILImage.open(io.BytesIO(answer.content)).size for answer in answers}

    def file_sizes() -> set[tuple[int, int]]:
        answers = [get(f"{path}/file") for _ in range(8)]
        return {PILImage.open(io.BytesIO(answer.content)).size for answer in answers}

    def tags() -> set[tuple[str, ...]]:
        return {tuple(get(path).json()["tags"]) for _ in range(8)}

    assert sizes() == {(100, 75)}  # made once, then remembered by the workers' cache
    assert file_sizes() == {(400, 300)}  # read, then remembered
    assert tags() == {()}
    assert requests.patch(f"{server.base}{path}", json={"tags": ["seen"]}, timeout=30).ok
    assert tags() == {("seen",)}
    assert requests.put(f"{server.base}{path}?width=200&height=200", timeout=30).ok
    cropped, cropped_files = sizes(), file_sizes()
    assert requests.delete(f"{server.base}{path}", timeout=30).status_code == 204
    trashed = {get(f"{path}/renditions/max-100x100").status_code for _ in range(8)}
    trashed |= {get(f"{path}/file").status_code for _ in range(8)}

    assert cropped == {(100, 100)}
    assert cropped_files == {(200, 200)}
    assert trashed == {404}


def test_a_remembered_rendition_is_marked_used_once_not_at_every_request(
    api, image, django_assert_num_queries
):
    rendition(api, image["id"])
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Rendition.objects.update(last_used_at=an_hour_ago)
    cache.clear()  # as an hour does: entries live IMAGES_RENDITION_CACHE_SECONDS (600)
    marked = rendition(api, image["id"])  # found last used an hour ago: marked used now
    rendition(api, image["id"])  # found in the database, remembered
    with django_assert_num_queries(0):
        again = rendition(api, image["id"])

    assert (marked.status_code, again.status_code) == (200, 200)
    assert Rendition.objects.get().last_used_at > an_hour_ago
