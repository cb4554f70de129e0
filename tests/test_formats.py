"""TIFF (8 and 16 bit), WebP and HEIC through the API, the admin and import_images:
accepted and kept exact, hashed by the 16-bit rule, cropped in their own format and depth,
rendered; the kinds refused, each with its code."""

import io

import imagehash
import numpy as np
import pytest
import tifffile
from PIL import Image

from images.models import Image as ImageRow
from tests.factories import encode, pattern, plate_photo
from tests.instrument_files import (
    FORMATS,
    KINDS,
    SHOWN,
    animated_webp,
    body_of,
    expected_phash,
    heic_claiming,
    multi_page_tiff,
    pil_tiff,
    plate16,
    samples_of,
    tif,
    tiff_header,
    webp_canvas,
)

# --- Accepted ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_accepted_kind_is_stored_exactly_with_its_format_size_and_phash(api, upload, kind):
    data = KINDS[kind]()
    fmt, content_type = FORMATS[kind.split()[0]]

    response = upload(data, "instrument.bin")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["format"], body["width"], body["height"]) == (
        fmt,
        96 if "16" in kind else 64,
        72 if "16" in kind else 48,
    )
    assert body["phash"] == expected_phash(data)
    download = api.get(f"/api/v1/images/{body['id']}/file")
    assert download["Content-Type"] == content_type
    assert body_of(download) == data
    assert ImageRow.objects.get(pk=body["id"]).original_format == fmt


@pytest.mark.django_db
def test_a_png_and_a_16_bit_tiff_of_one_plate_are_near_in_diff_and_similar(api, upload):
    plate = plate_photo((96, 72)).convert("L")
    png = upload(encode(plate, "PNG"), "plate.png").json()
    deep = upload(tif(plate16()), "plate.tif").json()

    diff = api.get(f"/api/v1/images/{png['id']}/diff/{deep['id']}").json()
    picture = api.get(f"/api/v1/images/{png['id']}/diff/{deep['id']}/image")

    assert diff["diff"] <= 4
    assert picture.status_code == 200
    assert Image.open(io.BytesIO(picture.content)).format == "PNG"
    similar = api.get(f"/api/v1/images/{png['id']}/similar?max_distance=4").json()
    assert deep["id"] in [result["image"]["id"] for result in similar["results"]]


# --- Crops -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "fmt", "dtype", "shape"),
    [
        ("tiff grey 16 LZW", "TIFF", np.uint16, (20, 30)),
        ("tiff rgb 16 Deflate tiles", "TIFF", np.uint16, (20, 30, 3)),
        ("tiff rgba 8 LZW", "TIFF", np.uint8, (20, 30, 4)),
    ],
)
def test_a_tiff_crop_is_a_lossless_tiff_of_the_same_depth(api, upload, kind, fmt, dtype, shape):
    data = KINDS[kind]()
    source = samples_of(data)
    body = upload(data, "x.tif").json()

    cropped = api.put(f"/api/v1/images/{body['id']}?width=30&height=20&left=5&top=7")

    assert cropped.status_code == 200, cropped.json()
    assert cropped.json()["format"] == fmt
    stored = body_of(api.get(f"/api/v1/images/{body['id']}/file"))
    with tifffile.TiffFile(io.BytesIO(stored)) as file:
        samples = file.asarray()
        assert file.pages[0].compression in (8, 32946)  # Deflate: lossless
    assert samples.dtype == dtype
    assert samples.shape == shape
    assert np.array_equal(samples, source[7:27, 5:35])
    assert cropped.json()["phash"] == expected_phash(stored)


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "fmt"), [("webp lossy", "WEBP"), ("heic", "HEIF")])
def test_a_webp_or_heic_crop_stays_in_its_format(api, upload, kind, fmt):
    body = upload(KINDS[kind](), "x.bin").json()

    cropped = api.put(f"/api/v1/images/{body['id']}?width=30&height=20")

    assert cropped.status_code == 200
    assert cropped.json()["format"] == fmt
    stored = body_of(api.get(f"/api/v1/images/{body['id']}/file"))
    assert Image.open(io.BytesIO(stored)).format == fmt
    assert Image.open(io.BytesIO(stored)).size == (30, 20)
    assert cropped.json()["phash"] == str(imagehash.phash(Image.open(io.BytesIO(stored))))


# --- Renditions and previews -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind", ["tiff grey 16 LZW", "tiff rgb 16 uncompressed", "heic", "webp lossy"]
)
@pytest.mark.parametrize("spec", ["max-48x48.png", "fill-32x32.jpg", "width-40.webp"])
def test_renditions_of_every_format_have_their_size_and_a_16_bit_one_is_not_white(
    api, upload, kind, spec
):
    body = upload(KINDS[kind](), "x.bin").json()

    response = api.get(f"/api/v1/images/{body['id']}/renditions/{spec}")

    assert response.status_code == 200
    picture = Image.open(io.BytesIO(body_of(response)))
    expected = {"max-48x48.png": 48, "fill-32x32.jpg": 32, "width-40.webp": 40}[spec]
    assert picture.width == expected
    low, high = np.percentile(np.asarray(picture.convert("L")), [1, 99])
    assert high - low > 100  # the range spans, not a white (or black) field


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("tiff grey 16 LZW", "image/png"), ("heic", "image/jpeg"), ("webp lossy", "image/webp")],
)
def test_a_rendition_without_a_format_is_one_browsers_show_and_is_stored_once(
    api, upload, kind, content_type
):
    from images.models import Rendition

    body = upload(KINDS[kind](), "x.bin").json()
    url = f"/api/v1/images/{body['id']}/renditions/max-40x40"

    first, second = api.get(url), api.get(url)

    assert first.status_code == second.status_code == 200
    assert first["Content-Type"] == second["Content-Type"] == content_type
    assert body_of(first) == body_of(second)
    assert Rendition.objects.count() == 1


# --- Refused -----------------------------------------------------------------------------


REFUSED = [
    ("gif", encode(pattern((16, 16)), "GIF"), 415, "GIF"),
    ("animated webp", None, 415, "Animated WebP"),
    ("multi-page tiff", multi_page_tiff(), 415, "one page per image"),
    ("BigTIFF", tif(plate16((16, 16)), bigtiff=True), 415, "BigTIFF"),
    ("JPEG-in-TIFF", pil_tiff(pattern((16, 16)), "jpeg"), 415, "JPEG compression"),
    ("palette tiff", pil_tiff(pattern((16, 16), "P"), "raw"), 415, "TIFF is accepted"),
    ("CMYK tiff", pil_tiff(pattern((16, 16), "CMYK"), "raw"), 415, "TIFF is accepted"),
    ("avif", encode(pattern((16, 16)), "AVIF"), 415, "AVIF"),
    ("tiff claiming 100000x100000", tiff_header(100_000, 100_000), 413, "pixels"),
    ("tiff of 70000 strips", tiff_header(70_000, 70_000, strips=70_000), 413, "pixels"),
    ("webp canvas 16384x16384", webp_canvas(16384, 16384), 413, "pixels"),
    ("heic claiming 60000x60000", heic_claiming(60000, 60000), 413, "pixels"),
    ("tiff strip outside the file", tiff_header(4, 4)[:-64] + b"", 400, "outside"),
    ("truncated tiff", tif(plate16((16, 16)))[:100], 400, ""),
    ("truncated webp", encode(pattern((16, 16)), "WEBP")[:40], 400, ""),
    ("truncated heic", encode(pattern((16, 16)), "HEIF")[:200], 400, ""),
]
CODES = {400: "invalid_image", 413: "image_too_large", 415: "unsupported_image_format"}


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "data", "status", "says"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_kinds_end_in_their_code_and_leave_nothing(
    upload, files, label, data, status, says
):
    response = upload(data if data is not None else animated_webp(), "refused.bin")

    assert response.status_code == status, response.json()
    assert response.json()["code"] == CODES[status]
    assert says in response.json()["detail"]
    if status == 415:
        assert (
            "JPEG" in response.json()["detail"]
            or "TIFF is accepted" in response.json()["detail"]
            or "one page" in response.json()["detail"]
        )
    assert ImageRow.objects.count() == 0
    assert files() == []


# --- Every way in ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["tiff grey 16 LZW", "webp lossless", "heic"])
def test_create_from_url_takes_the_new_formats(api, origin, settings, kind):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True  # the test origin is on 127.0.0.1
    data = KINDS[kind]()
    url = origin.serve("/scope/frame", data, "application/octet-stream")

    response = api.post("/api/v1/images/", {"url": url}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["format"] == FORMATS[kind.split()[0]][0]
    assert body_of(api.get(f"/api/v1/images/{response.json()['id']}/original")) == data


@pytest.mark.django_db
def test_search_by_a_16_bit_tiff_finds_the_png_of_the_same_plate(api, upload):
    stored = upload(encode(plate_photo((96, 72)).convert("L"), "PNG"), "plate.png").json()
    file = io.BytesIO(tif(plate16()))
    file.name = "plate.tif"

    response = api.post("/api/v1/images/search?max_distance=4", {"file": file}, format="multipart")

    assert response.status_code == 200, response.content
    assert stored["id"] in [result["image"]["id"] for result in response.json()["results"]]


@pytest.mark.django_db(transaction=True)
def test_import_images_takes_tiff_webp_and_heic_and_refuses_a_stack(tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    folder = tmp_path / "scope"
    folder.mkdir()
    for name, data in [
        ("a.tif", KINDS["tiff rgb 16 uncompressed"]()),
        ("b.webp", KINDS["webp lossy"]()),
        ("c.heic", KINDS["heic"]()),
        ("stack.tif", multi_page_tiff()),
    ]:
        (folder / name).write_bytes(data)
    out = io.StringIO()

    with pytest.raises(CommandError):  # exit 1: one file was refused
        call_command("import_images", str(folder), stdout=out, stderr=io.StringIO())

    assert sorted(ImageRow.objects.values_list("name", "format")) == [
        ("a", "TIFF"),
        ("b", "WEBP"),
        ("c", "HEIF"),
    ]
    assert "stack.tif: unsupported_image_format: Multi-page TIFF" in out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", SHOWN)
def test_the_admin_adds_lists_and_shows_thumbnails_of_the_new_formats(client, kind):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("admin", "admin@example.test", "pw"))
    file = io.BytesIO(KINDS[kind]())
    file.name = "frame.bin"

    added = client.post("/admin/images/image/add/", {"upload": file, "description": ""})
    image = ImageRow.objects.get()
    listing = client.get("/admin/images/image/")
    change = client.get(f"/admin/images/image/{image.pk}/change/")
    thumbnail = client.get(f"/admin/images/image/{image.pk}/thumbnail/96/")

    assert added.status_code == 302
    assert image.format == FORMATS[kind.split()[0]][0]
    assert listing.status_code == change.status_code == thumbnail.status_code == 200
    assert f"/admin/images/image/{image.pk}/thumbnail/" in listing.content.decode()
    preview = np.asarray(Image.open(io.BytesIO(thumbnail.content)).convert("L"))
    assert max(preview.shape) <= 96
    assert np.percentile(preview, 99) - np.percentile(preview, 1) > 100  # not white
