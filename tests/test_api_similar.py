"""Similar images: GET /images/{id}/similar and POST /images/search, checked against a
brute-force scan of every stored row, also after other processes cropped and deleted."""

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from images.imaging import hashing
from images.models import Image
from tests.factories import encode, image_bytes, pattern, plate_photo
from tests.synthetic import brute_force, clustered_phashes, store_rows

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parent.parent
DISTANCES = [0, 4, 10, 16, 32]


@pytest.fixture
def rows():
    """3,000 rows with clustered synthetic phashes."""
    return store_rows(clustered_phashes(3000))


def answer(body: dict) -> list[tuple[int, str]]:
    return [(result["distance"], result["image"]["id"]) for result in body["results"]]


def similar(api, image_id, **params) -> dict:
    response = api.get(f"/api/v1/images/{image_id}/similar", params)
    assert response.status_code == 200, response.content
    return response.json()


def search(api, **body) -> dict:
    params = {key: body.pop(key) for key in ("max_distance", "limit") if key in body}
    query = "&".join(f"{key}={value}" for key, value in params.items())
    response = api.post(f"/api/v1/images/search?{query}", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def assert_matches_brute_force(body: dict, phash_value: int, distance: int, limit: int, **kw):
    expected = brute_force(phash_value, distance, **kw)
    assert body["count"] == len(expected)
    assert answer(body) == expected[:limit]


@pytest.mark.parametrize("distance", DISTANCES)
def test_similar_is_exactly_the_brute_force_answer(api, rows, distance):
    for row in rows[:5] + rows[1000:1003]:  # cluster centres, then ordinary rows
        body = similar(api, row.pk, max_distance=distance, limit=100)

        assert_matches_brute_force(body, row.phash_value, distance, 100, exclude=row.pk)


@pytest.mark.parametrize("distance", DISTANCES)
def test_search_by_phash_is_exactly_the_brute_force_answer(api, rows, distance):
    for row in rows[5:10]:
        body = search(api, phash=row.phash.upper(), max_distance=distance, limit=50)

        assert_matches_brute_force(body, row.phash_value, distance, 50)


@pytest.mark.parametrize("filtered", ["tag=absent", "metadata.plate=none"])
def test_a_search_among_no_image_forgets_no_stored_hash(api, rows, filtered):
    """Hashes missing among the images a filter keeps are still stored: the index, which
    drops the values no stored image holds, must not drop these."""
    centre = rows[0]
    assert (
        similar(api, centre.pk, max_distance=32, limit=1, **dict([filtered.split("=")]))["count"]
        == 0
    )

    body = similar(api, centre.pk, max_distance=32, limit=100)

    assert_matches_brute_force(body, centre.phash_value, 32, 100, exclude=centre.pk)


def test_similar_defaults_to_distance_10_and_20_results_and_never_lists_the_image(api, rows):
    centre = rows[0]
    body = similar(api, centre.pk)

    assert_matches_brute_force(body, centre.phash_value, 10, 20, exclude=centre.pk)
    assert body["count"] > 20  # the centre's cluster is bigger than one page
    assert str(centre.pk) not in {result["image"]["id"] for result in body["results"]}


def test_results_carry_the_image_metadata_as_everywhere_else(api, upload):
    first = upload(image_bytes("PNG"), "a.png").json()
    twin = upload(image_bytes("PNG"), "b.png").json()

    body = similar(api, first["id"])

    assert body == {"count": 1, "results": [{"distance": 0, "image": twin}]}


def test_ties_are_listed_newest_first(api):
    hashes = [0x0F0F] * 5 + [0x0F0E] * 3
    stored = store_rows(hashes, tie_every=3)  # rows 3 and 6 share a time with the one before

    body = search(api, phash="0000000000000f0f", max_distance=1)

    assert [result["distance"] for result in body["results"]] == [0] * 5 + [1] * 3
    assert answer(body) == brute_force(0x0F0F, 1)
    assert answer(body)[0][1] == str(stored[4].pk)


def test_new_images_and_crops_are_found_by_the_next_search(api, upload, rows):
    photo = upload(encode(plate_photo(), "JPEG", quality=90), "plate.jpg").json()
    value = hashing.phash_to_int(photo["phash"])
    assert (0, photo["id"]) in answer(search(api, phash=photo["phash"], max_distance=0))

    cropped = api.put(f"/api/v1/images/{photo['id']}?width=200&height=150").json()

    assert cropped["phash"] != photo["phash"]
    moved = hashing.phash_to_int(cropped["phash"])
    assert_matches_brute_force(search(api, phash=cropped["phash"], max_distance=6), moved, 6, 20)
    assert_matches_brute_force(search(api, phash=photo["phash"], max_distance=6), value, 6, 20)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"max_distance": 33}, "max_value"),
        ({"max_distance": -1}, "min_value"),
        ({"max_distance": "ten"}, "invalid"),
        ({"limit": 0}, "min_value"),
        ({"limit": 101}, "max_value"),
        ({"limit": "all"}, "invalid"),
    ],
)
def test_similar_refuses_bad_parameters_with_400(api, upload, params, code):
    image = upload(image_bytes("PNG"), "a.png").json()

    response = api.get(f"/api/v1/images/{image['id']}/similar", params)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert list(response.json()["errors"]) == list(params)


def test_similar_of_an_unknown_image_is_404(api):
    response = api.get(f"/api/v1/images/{uuid.uuid4()}/similar")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_search_by_file_finds_the_stored_image_and_stores_nothing(api, upload, files):
    data = encode(plate_photo(), "JPEG", quality=90)
    stored = upload(data, "plate.jpg").json()
    before = files()

    response = api.post(
        "/api/v1/images/search?max_distance=4",
        {"file": named(encode(plate_photo(), "PNG"), "again.png")},
        format="multipart",
    )

    assert response.status_code == 200, response.content
    assert answer(response.json())[0][1] == stored["id"]
    assert Image.objects.count() == 1
    assert files() == before


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (encode(pattern((16, 16)), "GIF"), 415, "unsupported_image_format"),
        (b"not an image at all", 400, "invalid_image"),
        (b"", 400, "invalid_image"),
    ],
)
def test_search_by_file_refuses_what_an_upload_refuses(api, files, data, status, code):
    response = api.post("/api/v1/images/search", {"file": named(data, "x")}, format="multipart")

    assert response.status_code == status
    assert response.json()["code"] == code
    assert files() == []


def test_search_by_file_over_the_byte_limit_is_413(api, settings):
    settings.IMAGES_MAX_UPLOAD_BYTES = 1000
    data = image_bytes("PNG", (200, 200))
    assert len(data) > 1000

    response = api.post("/api/v1/images/search", {"file": named(data, "x")}, format="multipart")

    assert response.status_code == 413
    assert response.json()["code"] == "image_too_large"


def test_search_by_url_fetches_like_the_url_create(api, upload, origin, settings):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True
    data = image_bytes("PNG")
    stored = upload(data, "a.png").json()
    url = origin.serve("/plate.png", data, "application/octet-stream")

    body = search(api, url=url, max_distance=0)

    assert answer(body) == [(0, stored["id"])]
    assert Image.objects.count() == 1


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("incorrect", "invalid_url"),
        ("file:///etc/passwd", "invalid_url"),
        ("http://127.0.0.1:9/plate.png", "url_not_allowed"),
    ],
)
def test_search_by_url_refuses_what_the_url_create_refuses(api, url, code):
    response = api.post("/api/v1/images/search", {"url": url}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_search"),
        ({"phash": "00000000000000ff", "url": "http://example.test/a.png"}, "invalid_search"),
        ({"phash": "xyz"}, "invalid"),
        ({"phash": "00000000000000fff"}, "invalid"),
        ({"phash": "00000000000000ff", "max_distance": 40}, "max_value"),
    ],
)
def test_search_refuses_bad_input_with_400(api, body, code):
    response = api.post("/api/v1/images/search", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == code


@pytest.mark.parametrize("phash", ["xyz", "00000000000000fff", "0000000000000zzz"])
def test_search_by_a_malformed_phash_is_told_what_is_expected(api, phash):
    response = api.post("/api/v1/images/search", {"phash": phash}, format="json")

    assert response.status_code == 400
    assert "16 hexadecimal digits" in response.json()["errors"]["phash"][0]


def named(data: bytes, name: str) -> io.BytesIO:
    file = io.BytesIO(data)
    file.name = name
    return file


# --- Writes by another process -------------------------------------------------------

OTHER_PROCESS = """
import io, json, os
from images import services
from tests.factories import encode, plate_photo
job = json.loads(os.environ["SIMILAR_JOB"])
out = {}
for image_id in job["crop"]:
    image = services.image_crop(image_id=image_id, width=200, height=150)
    out[image_id] = image.phash
for image_id in job["restore"]:
    out[image_id] = services.image_restore(image_id=image_id).phash
for image_id in job["delete"]:
    services.image_delete(image_id=image_id)
new = services.image_create(file=io.BytesIO(encode(plate_photo(seed=99), "PNG")), name="new")
out["new"] = [str(new.pk), new.phash]
print(json.dumps(out))
"""


def database_url() -> str:
    """The test database as a DATABASE_URL, for a process of its own."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def in_another_process(media_root: Path, **job) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(media_root),
        "SIMILAR_JOB": json.dumps(job),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", OTHER_PROCESS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_crops_restores_deletes_and_creates_by_another_process_are_seen(
    api, upload, rows, media_root
):
    photos = [
        upload(encode(plate_photo(seed=seed), "JPEG", quality=90), f"p{seed}.jpg").json()
        for seed in (1, 2, 3)
    ]
    cropped, restored, deleted_photo = photos
    # This worker's index is loaded and current before the other process writes.
    api.put(f"/api/v1/images/{restored['id']}?width=100&height=100")
    for photo in photos:
        search(api, phash=photo["phash"], max_distance=10)
    centre = rows[0]
    near = [r for r in rows if hashing.hamming(r.phash_value, centre.phash_value) <= 10]
    gone = [str(r.pk) for r in near[1::2]] + [deleted_photo["id"]]

    changed = in_another_process(
        media_root, crop=[cropped["id"]], restore=[restored["id"]], delete=gone
    )

    new_id, new_phash = changed["new"]
    queries = [
        (changed[cropped["id"]], None),  # the crop's new hash
        (cropped["phash"], None),  # the hash it had before
        (changed[restored["id"]], restored["id"]),  # back to the original's hash
        (new_phash, new_id),
        (deleted_photo["phash"], None),
        (centre.phash, centre.pk),
    ]
    for phash, own in queries:
        value = hashing.phash_to_int(phash)
        for distance in (0, 10, 16):
            if own:
                body = similar(api, own, max_distance=distance, limit=100)
                assert_matches_brute_force(body, value, distance, 100, exclude=uuid.UUID(str(own)))
            body = search(api, phash=phash, max_distance=distance, limit=100)
            assert_matches_brute_force(body, value, distance, 100)
            assert not set(gone) & {image_id for _, image_id in answer(body)}
    assert (0, cropped["id"]) in answer(search(api, phash=changed[cropped["id"]], max_distance=0))
    assert (0, new_id) in answer(search(api, phash=new_phash, max_distance=0))
