"""TIFF (8 and 16 bit), WebP and HEIC: accepted, kept exact, hashed by the 16-bit rule,
cropped in their own format and depth, rendered; the kinds refused, each with its code."""

import io
import struct
import tracemalloc

import imagehash
import numpy as np
import pytest
import tifffile
from PIL import Image

from images.errors import ImageTooLarge
from images.imaging import containers, hashing, resize, tiff
from images.imaging import decode as imaging
from images.models import Image as ImageRow
from tests.factories import encode, pattern, plate_photo

LIMIT = 64_000_000


# --- Files made in memory ----------------------------------------------------------------


def plate16(size=(96, 72), gain=12, offset=300, seed=7) -> np.ndarray:
    """A plate as a 12-bit camera writes it: 16-bit samples, most of the range unused."""
    grey = np.asarray(plate_photo(size, seed=seed).convert("L"), dtype=np.uint32)
    return (grey * gain + offset).astype(np.uint16)


def rgb16(size=(96, 72)) -> np.ndarray:
    rgb = np.asarray(plate_photo(size), dtype=np.uint32)
    return (rgb * 15 + 200).astype(np.uint16)


def tif(samples: np.ndarray, **options) -> bytes:
    out = io.BytesIO()
    photometric = "rgb" if samples.ndim == 3 else "minisblack"
    tifffile.imwrite(out, samples, photometric=photometric, **options)
    return out.getvalue()


def pil_tiff(image: Image.Image, compression: str) -> bytes:
    return encode(image, "TIFF", compression=compression)


KINDS = {
    "tiff grey 8 uncompressed": lambda: pil_tiff(pattern((64, 48), "L"), "raw"),
    "tiff grey 16 LZW": lambda: pil_tiff(Image.fromarray(plate16()), "tiff_lzw"),
    "tiff grey 16 Deflate tiles": lambda: tif(plate16(), tile=(32, 32), compression="zlib"),
    "tiff grey 16 big-endian": lambda: tif(plate16().astype(">u2"), byteorder=">"),
    "tiff rgb 8 PackBits": lambda: pil_tiff(pattern((64, 48)), "packbits"),
    "tiff rgba 8 LZW": lambda: pil_tiff(pattern((64, 48), "RGBA"), "tiff_lzw"),
    "tiff rgb 16 uncompressed": lambda: tif(rgb16()),
    "tiff rgb 16 Deflate tiles": lambda: tif(rgb16(), tile=(16, 32), compression="zlib"),
    "tiff rgb 16 predictor": lambda: tiff.write(rgb16()),
    "webp lossy": lambda: encode(pattern((64, 48)), "WEBP", quality=80),
    "webp lossless": lambda: encode(pattern((64, 48), "RGBA"), "WEBP", lossless=True),
    "heic": lambda: encode(pattern((64, 48)), "HEIF", quality=80),
}
SHOWN = ["tiff grey 16 LZW", "tiff rgb 16 uncompressed", "heic", "webp lossy"]
FORMATS = {
    "tiff": ("TIFF", "image/tiff"),
    "webp": ("WEBP", "image/webp"),
    "heic": ("HEIF", "image/heic"),
}


def reference_8bit(samples: np.ndarray) -> np.ndarray:
    """The documented 16-bit rule computed the slow, obvious way: sort, pick the ranks."""
    ordered = np.sort(samples.reshape(-1).astype(np.int64))
    n = ordered.size
    lo = int(ordered[max(1, -(-n // 1000)) - 1])
    hi = int(ordered[max(1, -(-n * 999 // 1000)) - 1])
    values = samples.astype(np.int64)
    if hi == lo:
        return (values >> 8).astype(np.uint8)
    return np.clip(((values - lo) * 255 + (hi - lo) // 2) // (hi - lo), 0, 255).astype(np.uint8)


def samples_of(data: bytes) -> np.ndarray:
    """A TIFF's samples as tifffile reads them (Pillow for LZW, which tifffile reads only
    with imagecodecs; Pillow reads 8-bit and 16-bit grey exactly)."""
    try:
        return tifffile.imread(io.BytesIO(data))
    except ValueError:
        return np.asarray(Image.open(io.BytesIO(data)))


def expected_phash(data: bytes) -> str:
    """The phash as the docs define it, reading 16-bit TIFFs with tifffile, not Pillow."""
    if data[:4] in imaging.TIFF_HEADS:
        samples = samples_of(data)
        if samples.dtype == np.uint16:
            mode = "RGB" if samples.ndim == 3 else "L"
            return str(imagehash.phash(Image.fromarray(reference_8bit(samples), mode)))
    return str(imagehash.phash(Image.open(io.BytesIO(data))))


def body_of(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


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


def test_the_16_bit_rule_matches_a_hand_computation():
    # 4000 samples: three dark outliers (0), three hot ones (65535), and 1000..4993.
    values = np.array([0] * 3 + [65535] * 3 + list(range(1000, 4994)), dtype=np.uint16)
    samples = values.reshape(40, 100)

    # ranks ceil(4000 * 0.001) = 4 and ceil(4000 * 0.999) = 3996 of the sorted samples
    assert hashing.stretch_range(samples) == (1000, 4992)
    out = hashing.to_8bit(samples).reshape(-1)
    # (v - 1000) * 255 + 1996, floor-divided by 3992, clamped to 0..255
    assert out[0] == 0
    assert out[3] == 255
    assert out[6] == 0  # 1000 -> 1996 // 3992
    assert out[6 + 1996] == 128  # 2996 -> (1996 * 255 + 1996) // 3992 = 128 exactly
    assert out[6 + 3992] == 255  # 4992
    assert out[6 + 100] == (100 * 255 + 1996) // 3992  # 1100 -> 6
    assert np.array_equal(hashing.to_8bit(samples), reference_8bit(samples))


def test_a_flat_16_bit_image_keeps_its_top_8_bits():
    assert hashing.to_8bit(np.full((4, 4), 0x8123, np.uint16)).max() == 0x81


def test_16_bit_phash_is_the_same_whatever_reads_the_file_and_not_the_clipped_one():
    samples = plate16()
    pillow_read = imaging.analyze(io.BytesIO(tif(samples)), max_pixels=LIMIT).phash
    clipped = str(imagehash.phash(Image.open(io.BytesIO(tif(samples)))))  # Pillow's "L"

    assert pillow_read == str(imagehash.phash(Image.fromarray(reference_8bit(samples))))
    assert pillow_read != clipped


def test_two_exposures_of_one_plate_hash_near():
    short = imaging.analyze(io.BytesIO(tif(plate16(gain=6, offset=100))), max_pixels=LIMIT)
    long = imaging.analyze(io.BytesIO(tif(plate16(gain=40, offset=900))), max_pixels=LIMIT)

    assert hashing.hamming(int(short.phash, 16), int(long.phash, 16)) <= 2


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


def test_a_16_bit_tiff_rendition_and_thumbnail_follow_the_hash_rule():
    samples = plate16()
    data = tif(samples)

    body, kind = imaging.thumbnail(io.BytesIO(data), size=200, max_pixels=LIMIT)

    assert kind == "image/jpeg"
    thumb = np.asarray(Image.open(io.BytesIO(body)).convert("L"), dtype=np.int16)
    assert np.abs(thumb - reference_8bit(samples).astype(np.int16)).mean() < 5  # JPEG noise


def test_a_tiff_rendition_is_turned_upright_by_its_orientation_tag():
    data = tif(plate16((60, 40)), extratags=[(274, "H", 1, 6, True)])  # rotate 90 clockwise
    spec = resize.parse_spec("max-100x100.png", max_size=4000)

    rendered = resize.render(io.BytesIO(data), spec=spec, format="PNG", max_pixels=LIMIT)

    assert (rendered.width, rendered.height) == (40, 60)
    assert Image.open(io.BytesIO(rendered.data)).info.get("exif") is None


# --- Refused -----------------------------------------------------------------------------


def tiff_header(width: int, height: int, *, strips: int = 1, magic: int = 42) -> bytes:
    """A little-endian TIFF of one 8-bit grey page whose header claims these sizes."""
    rows = max(1, -(-height // strips))
    entries = [
        (256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
        (273, 4, 0), (277, 3, 1), (278, 4, rows), (279, 4, 1),
    ]  # fmt: skip
    if strips > 1:  # offsets and counts out of line
        table = 8 + 2 + 12 * len(entries) + 4
        entries[5] = (273, 4, table)
        entries[8] = (279, 4, table)
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        count = strips if tag in (273, 279) else 1
        ifd += struct.pack("<HHII", tag, kind, count, value)
    ifd += struct.pack("<I", 0)
    return b"II" + struct.pack("<HI", magic, 8) + ifd + struct.pack("<I", 8) * strips + b"\0" * 64


def webp_canvas(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4)
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def heic_claiming(width: int, height: int) -> bytes:
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    ispe = box(b"ispe", bytes(4) + struct.pack(">II", width, height))
    meta = box(b"meta", bytes(4) + box(b"iprp", box(b"ipco", ispe)))
    return box(b"ftyp", b"heic" + bytes(4) + b"mif1heic") + meta


def multi_page_tiff() -> bytes:
    out = io.BytesIO()
    pattern((16, 16)).save(out, "TIFF", save_all=True, append_images=[pattern((16, 16), variant=2)])
    return out.getvalue()


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


def animated_webp() -> bytes:
    out = io.BytesIO()
    frames = [pattern((16, 16), variant=2)]
    pattern((16, 16)).save(out, "WEBP", save_all=True, append_images=frames)
    return out.getvalue()


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


@pytest.mark.parametrize(
    "data",
    [tiff_header(100_000, 100_000), webp_canvas(16384, 16384), heic_claiming(60000, 60000)],
    ids=["tiff", "webp", "heic"],
)
def test_bombs_are_refused_from_the_header_with_little_memory(data):
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge):
            imaging.analyze(io.BytesIO(data), max_pixels=LIMIT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 1024 * 1024


def test_the_checks_say_lossless_for_a_lossless_webp():
    lossless = encode(pattern((16, 16)), "WEBP", lossless=True)
    lossy = encode(pattern((16, 16)), "WEBP", quality=50)

    assert containers.check_webp(lossless, max_pixels=LIMIT) is True
    assert containers.check_webp(lossy, max_pixels=LIMIT) is False


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


def test_without_a_hevc_encoder_a_heic_crop_is_a_png_and_says_so(monkeypatch):
    from images.imaging import crop as cropping

    # As on a libheif built without x265: the capability is read once, at import.
    monkeypatch.setattr(cropping, "HEIF_WRITABLE", False)
    out = io.BytesIO()

    info = cropping.crop(io.BytesIO(KINDS["heic"]()), out, box=(4, 4, 24, 14), max_pixels=LIMIT)

    assert (info.format, info.width, info.height) == ("PNG", 20, 10)
    assert Image.open(io.BytesIO(out.getvalue())).format == "PNG"
    assert info.phash == str(imagehash.phash(Image.open(io.BytesIO(out.getvalue()))))


def test_a_16_bit_rgb_tiff_is_turned_upright_as_pillow_turns_the_others_and_keeps_its_icc():
    from images.imaging import crop as cropping
    from tests.factories import linear_rgb_icc

    icc = linear_rgb_icc()
    source = tiff.write(rgb16(), orientation=6, icc_profile=icc)  # 90 degrees clockwise
    upright = np.rot90(rgb16(), -1)
    out = io.BytesIO()

    info = cropping.crop(io.BytesIO(source), out, box=(3, 4, 33, 24), max_pixels=LIMIT)

    assert imaging.analyze(io.BytesIO(source), max_pixels=LIMIT).width == 72  # as Pillow's
    assert (info.width, info.height) == (30, 20)
    with tifffile.TiffFile(io.BytesIO(out.getvalue())) as file:
        page = file.pages[0]
        assert "Orientation" not in page.tags  # the pixels are upright now
        assert page.tags["InterColorProfile"].value == icc
        assert np.array_equal(page.asarray(), upright[4:24, 3:33])
    spec = resize.parse_spec("max-200x200.png", max_size=4000)
    rendered = resize.render(io.BytesIO(source), spec=spec, format="PNG", max_pixels=LIMIT)
    assert (rendered.width, rendered.height) == (72, 96)  # turned once, not twice


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_16_bit_rgb_tiff_is_turned_as_pillow_turns_a_grey_one(orientation):
    samples = rgb16((30, 20))
    rgb = tiff.write(samples, orientation=orientation)
    grey = Image.open(io.BytesIO(tiff.write(samples[..., 0].copy(), orientation=orientation)))
    grey.load()  # Pillow turns it here

    with imaging.open_image(io.BytesIO(rgb), max_pixels=LIMIT, keep_depth=True) as image:
        assert image.size == grey.size
        assert np.array_equal(image.samples16[..., 0], np.asarray(grey))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind", ["tiff grey 16 LZW", "tiff rgb 16 uncompressed", "heic", "webp lossy"]
)
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
