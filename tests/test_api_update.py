"""Renaming, cropping and restoring images."""

import concurrent.futures
import hashlib
import io

import imagehash
import pytest
from PIL import Image as PILImage
from PIL import ImageChops, ImageStat

from tests.factories import black_centred_png, image_bytes, pattern

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stored(upload):
    def stored(data: bytes, filename: str = "plate.png") -> dict:
        response = upload(data, filename)
        assert response.status_code == 201, response.content
        return response.json()

    return stored


def current_bytes(api, image_id) -> bytes:
    return b"".join(api.get(f"/api/v1/images/{image_id}/file").streaming_content)


def test_centre_crop_of_black_centred_png_is_all_black(api, stored):
    image = stored(black_centred_png(256, black=100))

    response = api.put(f"/api/v1/images/{image['id']}?width=100&height=100")

    assert response.status_code == 200
    body = response.json()
    assert (body["width"], body["height"]) == (100, 100)
    cropped = PILImage.open(io.BytesIO(current_bytes(api, image["id"]))).convert("L")
    assert cropped.size == (100, 100)
    assert cropped.getextrema() == (0, 0)


def test_box_crop_with_left_and_top_takes_that_box(api, stored):
    source = pattern((80, 60))
    image = stored(image_bytes("PNG", (80, 60)))

    response = api.patch(
        f"/api/v1/images/{image['id']}",
        {"width": 30, "height": 20, "left": 10, "top": 5},
        format="json",
    )

    assert response.status_code == 200
    cropped = PILImage.open(io.BytesIO(current_bytes(api, image["id"]))).convert("RGB")
    assert cropped.tobytes() == source.crop((10, 5, 40, 25)).tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_crop_metadata_describes_the_stored_file_exactly(api, stored, fmt):
    image = stored(image_bytes(fmt, (90, 70)), f"p.{fmt.lower()}")

    body = api.put(f"/api/v1/images/{image['id']}?width=50&height=40").json()

    data = current_bytes(api, image["id"])
    decoded = PILImage.open(io.BytesIO(data))
    assert body["format"] == decoded.format == fmt
    assert (body["width"], body["height"]) == decoded.size == (50, 40)
    assert body["file_size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["phash"] == str(imagehash.phash(decoded))
    assert body["sha256"] != image["sha256"]


def test_jpeg_crop_is_saved_without_visible_loss(api, stored):
    source = pattern((400, 300))
    data = io.BytesIO()
    source.save(data, "JPEG", quality=95)
    image = stored(data.getvalue(), "photo.jpg")

    api.put(f"/api/v1/images/{image['id']}?width=200&height=150&left=100&top=75")

    before = PILImage.open(io.BytesIO(data.getvalue())).crop((100, 75, 300, 225))
    after = PILImage.open(io.BytesIO(current_bytes(api, image["id"])))
    mean_error = sum(ImageStat.Stat(ImageChops.difference(before, after)).mean) / 3
    assert mean_error < 1.5  # out of 255: invisible


def test_name_and_description_update_as_json_or_query_parameters(api, stored):
    image = stored(image_bytes("PNG"))
    url = f"/api/v1/images/{image['id']}"

    assert api.patch(url, {"name": "Plate B"}, format="json").json()["name"] == "Plate B"
    body = api.put(f"{url}?description=re-imaged").json()
    assert body["description"] == "re-imaged"
    assert body["name"] == "Plate B"
    assert body["sha256"] == image["sha256"]


def test_crop_and_rename_in_one_request(api, stored):
    image = stored(image_bytes("PNG", (60, 60)))

    body = api.put(
        f"/api/v1/images/{image['id']}", {"name": "centre", "width": 10, "height": 10}
    ).json()

    assert (body["name"], body["width"], body["height"]) == ("centre", 10, 10)


def test_rename_with_a_crop_outside_the_image_changes_nothing(api, stored, files):
    image = stored(image_bytes("PNG", (60, 60)))

    response = api.put(
        f"/api/v1/images/{image['id']}", {"name": "renamed", "width": 61, "height": 10}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_crop"
    assert api.get(f"/api/v1/images/{image['id']}").json() == image
    assert len(files()) == 1


@pytest.mark.parametrize(
    "query",
    [
        "width=-10&height=10",
        "width=0&height=10",
        "width=abc&height=10",
        "width=10.5&height=10",
        "width=10",
        "height=10",
        "width=10&height=10&left=5",
        "width=61&height=10",
        "width=10&height=10&left=55&top=0",
        "width=10&height=10&left=0&top=51",
        "width=10&height=10&left=-1&top=0",
        "left=1&top=1",
    ],
)
def test_invalid_crop_is_refused_with_400_and_the_image_is_unchanged(api, stored, files, query):
    image = stored(image_bytes("PNG", (60, 60)))

    response = api.put(f"/api/v1/images/{image['id']}?{query}")

    assert response.status_code == 400, query
    assert response.json()["code"] == "invalid_crop"
    assert api.get(f"/api/v1/images/{image['id']}").json() == image
    assert len(files()) == 1


def test_update_with_a_json_list_body_is_refused_with_400(api, stored):
    image = stored(image_bytes("PNG"))

    response = api.put(f"/api/v1/images/{image['id']}", [1, 2], format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_original_stays_as_received_after_crops_and_restore_brings_it_back(api, stored, files):
    data = image_bytes("JPEG", (64, 64))
    image = stored(data, "photo.jpg")
    url = f"/api/v1/images/{image['id']}"
    api.put(f"{url}?width=40&height=40")
    api.put(f"{url}?width=20&height=20")

    original = api.get(f"{url}/original")
    assert original["ETag"] == f'"{image["sha256"]}"'
    assert b"".join(original.streaming_content) == data
    assert len(files()) == 3  # the original and each crop: every revision is kept

    restored = api.post(f"{url}/restore")

    assert restored.status_code == 200
    body = restored.json()
    for field in ("format", "width", "height", "file_size", "sha256", "phash"):
        assert body[field] == image[field], field
    assert current_bytes(api, image["id"]) == data
    assert len(files()) == 3  # the restore names the original's file: nothing copied


def test_restore_of_an_uncropped_image_changes_nothing(api, stored):
    image = stored(image_bytes("PNG"))

    body = api.post(f"/api/v1/images/{image['id']}/restore/").json()

    assert body["sha256"] == image["sha256"]


def test_concurrent_crops_of_one_image_apply_one_after_another(live_server, stored, files):
    """Twelve clients crop one 100x100 image at once, each to its own smaller size. Applied
    one after another, the smallest crop wins and every larger one that comes after it is
    refused; a crop working on a stale image would leave a larger size. Either way the row
    must describe the file it names, and every applied crop is a revision of its own."""
    import requests

    image = stored(image_bytes("PNG", (100, 100)))
    url = f"{live_server.url}/api/v1/images/{image['id']}"
    sizes = list(range(99, 87, -1))

    def crop(size: int) -> tuple[int, dict]:
        response = requests.put(f"{url}?width={size}&height={size}", timeout=60)
        return response.status_code, response.json()

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(sizes)) as pool:
        results = list(pool.map(crop, sizes))

    for size, (status, body) in zip(sizes, results, strict=True):
        assert status in (200, 400), body
        if status == 200:
            assert body["width"] == body["height"] == size
        else:
            assert body["code"] == "invalid_crop"
    final = requests.get(url, timeout=10).json()
    assert final["width"] == final["height"] == min(sizes)
    data = requests.get(f"{url}/file", timeout=10).content
    assert PILImage.open(io.BytesIO(data)).size == (final["width"], final["height"])
    assert final["sha256"] == hashlib.sha256(data).hexdigest()
    assert final["file_size"] == len(data)
    applied = [body for status, body in results if status == 200]
    revisions = requests.get(f"{url}/revisions", timeout=10).json()["results"]
    assert [r["width"] for r in revisions[1:]] == sorted(
        (b["width"] for b in applied), reverse=True
    )
    assert len(files()) == 1 + len(applied)  # the original and each crop's file


def history_actions(api, image_id) -> list[str]:
    return [e["action"] for e in api.get(f"/api/v1/images/{image_id}/history").json()["results"]]


def test_put_of_what_get_gave_with_a_new_name_renames_and_changes_no_bytes(
    api, stored, files, temp_folder
):
    # GET, change `name`, PUT the whole JSON back: it re-encoded the JPEG before (a
    # full-frame "crop"), with a new revision, a `cropped` event and another sha256.
    image = stored(image_bytes("JPEG", (120, 90), quality=95), "plate.jpg")
    before = files()
    got = api.get(f"/api/v1/images/{image['id']}").json()

    response = api.put(f"/api/v1/images/{image['id']}", {**got, "name": "renamed"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "renamed"
    unchanged = ["id", "sha256", "phash", "file_size", "width", "height", "format", "created_at"]
    assert {k: body[k] for k in unchanged} == {k: got[k] for k in unchanged}
    assert files() == before
    assert api.get(f"/api/v1/images/{image['id']}/revisions").json()["count"] == 1
    assert history_actions(api, image["id"]) == ["updated", "created"]
    assert list(temp_folder.iterdir()) == []


@pytest.mark.parametrize(
    "box",
    [{"width": 80, "height": 60}, {"width": 80, "height": 60, "left": 0, "top": 0}],
    ids=["centre", "box"],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_full_frame_box_is_no_crop_and_decodes_nothing(api, stored, media_root, box, method):
    image = stored(image_bytes("PNG", (80, 60)))
    # The stored file no longer decodes: a crop would answer 400 or worse, so a 200 here
    # shows that nothing was decoded.
    stored_file = next(media_root.rglob("*.png"))
    stored_file.write_bytes(b"not an image any more")

    response = getattr(api, method)(
        f"/api/v1/images/{image['id']}", {**box, "description": "whole"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["description"] == "whole"
    assert response.json()["sha256"] == image["sha256"]
    assert history_actions(api, image["id"]) == ["updated", "created"]


def test_a_full_frame_box_alone_changes_nothing_at_all(api, stored, files):
    image = stored(image_bytes("PNG", (80, 60)))
    before = files()

    response = api.put(f"/api/v1/images/{image['id']}?width=80&height=60")

    assert response.status_code == 200
    assert response.json()["updated_at"] == image["updated_at"]
    assert files() == before
    assert history_actions(api, image["id"]) == ["created"]


def test_read_only_fields_sent_on_put_are_ignored(api, stored):
    image = stored(image_bytes("PNG", (80, 60)))
    sent = {
        "id": "00000000-0000-4000-8000-000000000000",
        "sha256": "0" * 64,
        "phash": "0" * 16,
        "format": "JPEG",
        "content_type": "image/jpeg",
        "file_size": 1,
        "created_at": "2000-01-01T00:00:00Z",
        "file_url": "http://elsewhere.example/x",
        "source_url": "http://elsewhere.example/x",
        "name": "kept apart",
    }

    response = api.put(f"/api/v1/images/{image['id']}", sent, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "kept apart"
    assert {k: body[k] for k in sent if k != "name"} == {k: image[k] for k in sent if k != "name"}


def test_patch_with_width_and_height_as_strings_still_crops(api, stored):
    # PATCH {"width": "100", "height": "100"}: the seed's contract, a centre crop.
    image = stored(black_centred_png(256, black=100))

    response = api.patch(
        f"/api/v1/images/{image['id']}", {"width": "100", "height": "100"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["width"], response.json()["height"]) == (100, 100)
    assert api.get(f"/api/v1/images/{image['id']}/revisions").json()["count"] == 2
    assert history_actions(api, image["id"]) == ["cropped", "created"]
