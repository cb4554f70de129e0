"""GET /api/v1/images/{id}/renditions/{spec}: made on first request, stored, reused."""

import concurrent.futures
import hashlib
import io
import threading
from datetime import timedelta

import pytest
import requests
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from images.imaging import resize
from images.models import Image, Rendition
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

CHROME_IMG_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


@pytest.fixture
def image(upload) -> dict:
    response = upload(image_bytes("JPEG", (400, 300)), "plate.jpg")
    assert response.status_code == 201
    return response.json()


def rendition(api, image_id: str, spec: str, **headers):
    return api.get(f"/api/v1/images/{image_id}/renditions/{spec}", **headers)


def content(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def decoded(response) -> PILImage.Image:
    return PILImage.open(io.BytesIO(content(response)))


@pytest.fixture
def decodes(monkeypatch):
    """How many images Pillow has been asked to open since the test began (observed, not
    replaced: every call goes through to Pillow)."""
    calls = []
    real_open = PILImage.open

    def counting_open(*args, **kwargs):
        calls.append(args)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(PILImage, "open", counting_open)
    return calls


def test_rendition_answers_the_bytes_with_the_contracts_headers(api, image, files):
    before = len(files())

    response = rendition(api, image["id"], "max-100x100")

    data = content(response)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Length"] == str(len(data))
    assert response["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response["Content-Disposition"] == f'inline; filename="{image["id"]}-max-100x100.jpg"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert decoded(response).size == (100, 75)
    assert len(files()) == before + 1
    row = Rendition.objects.get()
    assert (row.spec, row.format, row.width, row.height) == ("max-100x100", "JPEG", 100, 75)
    assert (row.sha256, row.file_size) == (hashlib.sha256(data).hexdigest(), len(data))


@pytest.mark.parametrize(
    ("spec", "size", "content_type"),
    [
        ("max-100x100", (100, 75), "image/jpeg"),
        ("max-1000x1000", (400, 300), "image/jpeg"),  # never enlarged
        ("fill-50x50", (50, 50), "image/jpeg"),
        ("fill-600x600", (300, 300), "image/jpeg"),  # the largest centred square, unscaled
        ("width-200", (200, 150), "image/jpeg"),
        ("height-30", (40, 30), "image/jpeg"),
        ("width-120.png", (120, 90), "image/png"),
        ("fill-64x32.webp", (64, 32), "image/webp"),
        ("max-80x80.avif", (80, 60), "image/avif"),
        ("max-80x80.jpg", (80, 60), "image/jpeg"),
    ],
)
def test_each_spec_and_format_gives_its_size_and_type(api, image, spec, size, content_type):
    response = rendition(api, image["id"], spec)

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    picture = decoded(response)
    assert picture.size == size
    assert resize.CONTENT_TYPES[picture.format] == content_type
    extension = content_type.removeprefix("image/").replace("jpeg", "jpg")
    name = spec.split(".")[0]
    assert response["Content-Disposition"].endswith(f'"{image["id"]}-{name}.{extension}"')


def test_without_a_suffix_a_png_stays_png(api, upload):
    png = upload(image_bytes("PNG", (60, 40)), "p.png").json()

    response = rendition(api, png["id"], "max-30x30")

    assert response["Content-Type"] == "image/png"
    assert decoded(response).format == "PNG"


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (CHROME_IMG_ACCEPT, "image/avif"),
        ("image/webp,*/*", "image/webp"),
        ("*/*", "image/jpeg"),
        (None, "image/jpeg"),
    ],
)
def test_auto_answers_avif_or_webp_by_accept_and_varies_on_it(api, image, accept, content_type):
    headers = {"HTTP_ACCEPT": accept} if accept else {}

    response = rendition(api, image["id"], "max-64x64.auto", **headers)

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert resize.CONTENT_TYPES[decoded(response).format] == content_type
    assert "Accept" in response["Vary"]


def test_auto_stores_one_rendition_per_format_it_answered_with(api, image):
    rendition(api, image["id"], "max-64x64.auto", HTTP_ACCEPT="image/webp")
    rendition(api, image["id"], "max-64x64.auto", HTTP_ACCEPT="image/webp")
    rendition(api, image["id"], "max-64x64.auto", HTTP_ACCEPT="image/avif")

    assert sorted(Rendition.objects.values_list("format", flat=True)) == ["AVIF", "WEBP"]


def test_an_explicit_format_does_not_vary_on_accept(api, image):
    response = rendition(api, image["id"], "max-64x64.png", HTTP_ACCEPT=CHROME_IMG_ACCEPT)

    assert response["Content-Type"] == "image/png"
    assert "Accept" not in response.get("Vary", "")


def test_if_none_match_answers_304_made_or_stored(api, image):
    first = rendition(api, image["id"], "max-50x50")
    etag = first["ETag"]

    again = rendition(api, image["id"], "max-50x50", HTTP_IF_NONE_MATCH=etag)
    weak = rendition(api, image["id"], "max-50x50", HTTP_IF_NONE_MATCH=f"W/{etag}")
    other = rendition(api, image["id"], "max-50x50", HTTP_IF_NONE_MATCH='"0000"')

    assert (again.status_code, weak.status_code, other.status_code) == (304, 304, 200)
    assert again["ETag"] == etag
    assert again.content == b""


@pytest.mark.parametrize(
    "spec",
    ["max-100", "fill-0x10", "width-10x10", "max-4097x10", "max-10x10.gif", "huge-1x1",
     "max-010x10", "max-10x10.JPG", "max-10x10.jpg.png"],
)  # fmt: skip
def test_invalid_spec_is_400_invalid_rendition_and_stores_nothing(api, image, files, spec):
    before = files()

    response = rendition(api, image["id"], spec)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_rendition"
    assert files() == before
    assert Rendition.objects.count() == 0


def test_the_size_limit_is_images_rendition_max_size(api, image, settings):
    settings.IMAGES_RENDITION_MAX_SIZE = 64

    assert rendition(api, image["id"], "max-64x64").status_code == 200
    assert rendition(api, image["id"], "max-65x64").json()["code"] == "invalid_rendition"


@pytest.mark.parametrize("image_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_unknown_image_is_404_not_found(api, image_id):
    response = rendition(api, image_id, "max-10x10")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_path_with_a_trailing_slash_answers_the_same(api, image):
    response = api.get(f"/api/v1/images/{image['id']}/renditions/max-10x10/")

    assert response.status_code == 200
    assert decoded(response).size == (10, 8)


def test_second_request_is_served_from_storage_without_decoding(api, image, files, decodes):
    first = rendition(api, image["id"], "fill-40x40.webp")
    stored = len(files())
    # The source file gone: only the stored rendition can answer now.
    default_storage.delete(Image.objects.get(pk=image["id"]).file.name)
    decodes.clear()

    second = rendition(api, image["id"], "fill-40x40.webp")

    assert second.status_code == 200
    assert content(second) == content(first)
    assert second["ETag"] == first["ETag"]
    assert second["Content-Length"] == first["Content-Length"]
    assert decodes == []
    assert len(files()) == stored - 1  # nothing written, the source removed above


def test_a_rendition_whose_file_is_missing_is_made_again(api, image, files):
    first = rendition(api, image["id"], "max-60x60")
    default_storage.delete(Rendition.objects.get().file.name)

    again = rendition(api, image["id"], "max-60x60")

    assert again.status_code == 200
    assert content(again) == content(first)
    row = Rendition.objects.get()
    assert default_storage.exists(row.file.name)


CROP = ("put", "?width=200&height=200")
RESTORE = ("post", "/restore")


@pytest.mark.parametrize(
    ("before", "change", "size"),
    [([], CROP, (100, 100)), ([CROP], RESTORE, (100, 75))],
    ids=["crop", "restore"],
)
def test_crop_and_restore_drop_the_renditions_and_the_next_shows_the_new_file(
    api, image, before, change, size
):
    def send(method: str, suffix: str):
        return getattr(api, method)(f"/api/v1/images/{image['id']}{suffix}")

    for step in before:
        send(*step)
    rendition(api, image["id"], "max-100x100")
    old = Rendition.objects.get().file.name

    assert send(*change).status_code == 200

    assert Rendition.objects.count() == 0  # dropped once the change committed
    assert not default_storage.exists(old)
    assert decoded(rendition(api, image["id"], "max-100x100")).size == size


def test_rename_keeps_the_renditions(api, image):
    rendition(api, image["id"], "max-100x100")

    api.patch(f"/api/v1/images/{image['id']}", {"name": "other"}, format="json")

    assert Rendition.objects.count() == 1


def test_purge_removes_the_renditions_with_the_image(api, image, files):
    for spec in ("max-10x10", "fill-20x20.webp", "width-30.png"):
        rendition(api, image["id"], spec)

    assert api.delete(f"/api/v1/images/{image['id']}").status_code == 204
    assert len(files()) == 4  # in the trash: every file stays
    assert api.delete(f"/api/v1/trash/{image['id']}").status_code == 204

    assert files() == []
    assert Rendition.objects.count() == 0


def test_each_image_keeps_at_most_its_bound_the_least_recently_used_go(api, image, settings):
    settings.IMAGES_RENDITIONS_PER_IMAGE = 3
    for spec in ("width-10", "width-20", "width-30"):
        rendition(api, image["id"], spec)
    # An hour passes; then width-10 is served again, so width-20 is the least recently used.
    Rendition.objects.update(last_used_at=timezone.now() - timedelta(hours=1))
    cache.clear()  # as an hour does: entries live IMAGES_RENDITION_CACHE_SECONDS (600)
    rendition(api, image["id"], "width-10")

    rendition(api, image["id"], "width-40")

    kept = sorted(Rendition.objects.values_list("spec", flat=True))
    assert kept == ["width-10", "width-30", "width-40"]
    stored = {row.file.name for row in Rendition.objects.all()}
    image_files = set(Image.objects.values_list("file", "original").get())
    assert {name for name in _all_files() if name not in image_files} == stored


def _all_files() -> set[str]:
    names, pending = set(), ["images"]
    while pending:
        folder = pending.pop()
        try:
            folders, found = default_storage.listdir(folder)
        except FileNotFoundError:
            continue
        pending += [f"{folder}/{name}" for name in folders]
        names |= {f"{folder}/{name}" for name in found}
    return names


def test_the_bound_is_per_image(api, image, upload, settings):
    settings.IMAGES_RENDITIONS_PER_IMAGE = 1
    other = upload(image_bytes("PNG", (50, 50)), "o.png").json()

    rendition(api, image["id"], "width-10")
    rendition(api, other["id"], "width-10")

    assert Rendition.objects.count() == 2


@pytest.fixture
def together(monkeypatch):
    """Hold each rendition's making until ``count`` requests are making it at once, so that
    every one of them has missed the stored one (the making itself is real)."""

    def hold(count: int) -> None:
        barrier = threading.Barrier(count, timeout=20)
        real_render = resize.render

        def render(*args, **kwargs):
            barrier.wait()
            return real_render(*args, **kwargs)

        monkeypatch.setattr(resize, "render", render)

    return hold


def test_concurrent_first_requests_all_get_the_same_bytes_and_one_file(
    live_server, image, files, together
):
    clients = 4
    together(clients)
    before = len(files())
    url = f"{live_server.url}/api/v1/images/{image['id']}/renditions/fill-64x64.webp"

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(lambda _: requests.get(url, timeout=30), range(clients)))

    assert [answer.status_code for answer in answers] == [200] * clients
    assert len({answer.content for answer in answers}) == 1
    assert len({answer.headers["ETag"] for answer in answers}) == 1
    row = Rendition.objects.get()
    assert answers[0].headers["ETag"] == f'"{row.sha256}"'
    assert len(files()) == before + 1


def test_a_rendition_made_from_a_file_a_crop_replaced_meanwhile_is_not_kept(
    api, image, files, monkeypatch
):
    """The crop commits while the rendition of the former file is being made."""
    real_render = resize.render
    url = f"/api/v1/images/{image['id']}"

    def render_then_crop(*args, **kwargs):
        made = real_render(*args, **kwargs)
        monkeypatch.setattr(resize, "render", real_render)
        with concurrent.futures.ThreadPoolExecutor(1) as other:  # another request's thread
            assert other.submit(api.put, f"{url}?width=100&height=100").result().status_code == 200
        return made

    monkeypatch.setattr(resize, "render", render_then_crop)
    before = files()
    made = rendition(api, image["id"], "max-300x300")  # made from the uncropped file

    assert decoded(made).size == (300, 225)  # what was asked for before the crop
    assert Rendition.objects.count() == 0  # it removed itself: its source is gone
    assert len(files()) == len(before) + 1  # the crop added; the rendition removed
    after = rendition(api, image["id"], "max-300x300")
    assert decoded(after).size == (100, 100)


def test_metadata_has_the_absolute_thumbnail_url_and_it_answers(api, image):
    metadata = api.get(f"/api/v1/images/{image['id']}").json()

    assert image["thumbnail_url"] == metadata["thumbnail_url"]
    assert metadata["thumbnail_url"] == (
        f"http://testserver/api/v1/images/{image['id']}/renditions/max-256x256"
        f"?v={image['sha256'][:16]}"
    )
    assert decoded(api.get(metadata["thumbnail_url"])).size == (256, 192)
    listed = api.get("/api/v1/images/").json()["results"][0]
    assert listed["thumbnail_url"] == metadata["thumbnail_url"]


def test_renditions_on_s3_are_stored_served_dropped_and_deleted(api, upload, s3):
    image = upload(image_bytes("PNG", (60, 40)), "plate.png").json()
    url = f"/api/v1/images/{image['id']}"
    [source] = s3.stored_keys()

    made = rendition(api, image["id"], "max-30x30.webp")
    served = rendition(api, image["id"], "max-30x30.webp")

    [key] = [k for k in s3.stored_keys() if k != source]
    assert key.startswith(s3.prefix)
    assert s3.read(key) == content(made) == content(served)
    assert served["ETag"] == made["ETag"]
    api.put(f"{url}?width=20&height=20")
    assert key not in s3.stored_keys()
    rendition(api, image["id"], "max-30x30.webp")
    assert api.delete(url).status_code == 204
    assert api.delete(f"/api/v1/trash/{image['id']}").status_code == 204
    assert s3.stored_keys() == []


def test_a_storage_outage_while_storing_is_503_and_leaves_no_row(api, upload, s3, s3_server):
    image = upload(image_bytes("PNG", (60, 40)), "plate.png").json()
    s3_server.refuse_writes = True

    response = rendition(api, image["id"], "max-30x30")

    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert Rendition.objects.count() == 0
    assert len(s3.stored_keys()) == 1
