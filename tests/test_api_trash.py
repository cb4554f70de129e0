"""The trash: DELETE /api/v1/images/{id} trashes, /api/v1/trash/ lists, restores, purges."""

import io
import uuid
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command

from images.models import FacetCount, Image, ImageRevision, Rendition
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def named(data: bytes, name: str = "p.png") -> io.BytesIO:
    file = io.BytesIO(data)
    file.name = name
    return file


@pytest.fixture
def labelled(upload):
    """Upload an image with a tag and a metadata value; returns its metadata."""

    def labelled(data: bytes | None = None, name: str = "plate.png", **fields) -> dict:
        fields = {"tags": ["plate"], "metadata": '{"well": "B7", "dose": 3}', **fields}
        response = upload(data or image_bytes("PNG", (64, 48)), name, **fields)
        assert response.status_code == 201, response.content
        return response.json()

    return labelled


@pytest.fixture
def trashed(api, labelled):
    """An image cropped once and rendered once, then deleted; and a live twin-looking one."""
    image = labelled()
    api.put(f"/api/v1/images/{image['id']}?width=40&height=40")
    assert api.get(f"/api/v1/images/{image['id']}/renditions/max-16x16").status_code == 200
    other = labelled(image_bytes("PNG", (65, 48)), "other.png", tags=["other"], metadata="{}")
    assert api.delete(f"/api/v1/images/{image['id']}").status_code == 204
    return Image.all_objects.get(pk=image["id"]), other


def path_of(path: str, image: Image, other: dict) -> str:
    return path.format(id=image.pk, other=other["id"])


# Every images endpoint that names the trashed image: each answers 404 not_found.
NAMING_IT = [
    ("get", "/api/v1/images/{id}", None),
    ("put", "/api/v1/images/{id}?name=x", None),
    ("patch", "/api/v1/images/{id}?width=10&height=10", None),
    ("delete", "/api/v1/images/{id}", None),
    ("get", "/api/v1/images/{id}/file", None),
    ("get", "/api/v1/images/{id}/original", None),
    ("get", "/api/v1/images/{id}/renditions/max-16x16", None),
    ("get", "/api/v1/images/{id}/renditions/max-20x20.webp", None),
    ("get", "/api/v1/images/{id}/revisions", None),
    ("get", "/api/v1/images/{id}/revisions/1/file", None),
    ("post", "/api/v1/images/{id}/restore", None),
    ("post", "/api/v1/images/{id}/restore", {"revision": 2}),
    ("get", "/api/v1/images/{id}/similar", None),
    ("get", "/api/v1/images/{id}/diff/{other}", None),
    ("get", "/api/v1/images/{other}/diff/{id}", None),
    ("get", "/api/v1/images/{id}/diff/{other}/image", None),
    ("get", "/api/v1/images/{other}/diff/{id}/image", None),
    ("post", "/api/v1/images/bulk", {"ids": ["{id}"], "add_tags": ["x"]}),
]


@pytest.mark.parametrize(("method", "path", "body"), NAMING_IT)
def test_a_trashed_image_is_not_found_by_any_images_endpoint(api, trashed, method, path, body):
    image, other = trashed
    if body is not None and "ids" in body:
        body = {**body, "ids": [str(image.pk)]}

    response = getattr(api, method)(path_of(path, image, other), body, format="json")

    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"


# Listings and searches that would find it by what it holds.
LISTINGS = [
    "/api/v1/images/",
    "/api/v1/images/?tag=plate",
    "/api/v1/images/?metadata.well=B7",
    "/api/v1/images/?metadata.dose__gte=1",
    "/api/v1/images/?metadata.well__exists=true",
    "/api/v1/images/?name=plate",
    "/api/v1/images/?format=PNG",
    "/api/v1/images/?ordering=metadata.dose",
    "/api/v1/images/?ordering=name",
    "/api/v1/images/?tag=plate&ordering=metadata.dose",
]


@pytest.mark.parametrize("path", LISTINGS)
def test_a_trashed_image_is_not_listed(api, trashed, path):
    image, _ = trashed

    body = api.get(path).json()

    assert str(image.pk) not in [listed["id"] for listed in body["results"]]
    assert body["count"] == len(body["results"])


def test_a_trashed_image_is_listed_by_sha256_no_more(api, trashed):
    image, _ = trashed

    assert api.get(f"/api/v1/images/?sha256={image.sha256}").json()["count"] == 0


@pytest.mark.parametrize(
    "path", ["/api/v1/images/facets?field=tags", "/api/v1/images/facets?field=metadata.well"]
)
def test_a_trashed_image_is_not_counted_by_the_facets(api, trashed, path):
    values = {facet["value"] for facet in api.get(path).json()["values"]}

    assert values & {"plate", "B7"} == set()
    assert not FacetCount.objects.filter(text__in=["plate", "B7"]).exists()


def test_a_trashed_image_is_never_matched_by_similar_or_search(api, trashed):
    image, other = trashed

    similar = api.get(f"/api/v1/images/{other['id']}/similar?max_distance=32").json()
    search = api.post("/api/v1/images/search", {"phash": image.phash}, format="json").json()

    assert str(image.pk) not in [m["image"]["id"] for m in similar["results"] + search["results"]]


def test_dedupe_ignores_a_trashed_image_with_the_same_bytes(api, labelled, origin, settings):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True
    data = image_bytes("PNG", (30, 30))
    first = labelled(data)
    api.delete(f"/api/v1/images/{first['id']}")
    url = origin.serve("/a.png", data, "image/png")

    uploaded = api.post("/api/v1/images/upload?dedupe=true", {"file": named(data)}, "multipart")
    fetched = api.post("/api/v1/images/", {"url": url, "dedupe": True}, format="json")

    assert uploaded.status_code == 201
    assert uploaded.json()["id"] != first["id"]
    assert fetched.status_code == 200  # the new upload's twin, not the trashed image
    assert fetched.json()["id"] == uploaded.json()["id"]


def test_delete_keeps_every_file_and_the_trash_lists_it_with_its_dates(api, trashed, files):
    image, _ = trashed

    body = api.get("/api/v1/trash/").json()

    assert body["count"] == 1
    [item] = body["results"]
    assert item["id"] == str(image.pk)
    assert item["name"] == "plate"
    assert item["tags"] == ["plate"]
    deleted_at = datetime.fromisoformat(item["deleted_at"])
    assert datetime.fromisoformat(item["purge_at"]) - deleted_at == timedelta(days=30)
    renditions = Rendition.objects.values_list("file", flat=True)
    names = {image.file.name, image.original.name, *renditions}
    assert len(names) == 3  # the original, the crop, a rendition
    assert len(files()) == len(names) + 1  # and the other image's


def test_the_trash_lists_the_latest_deletion_first_paginated_like_the_list(api, labelled):
    ids = [labelled(image_bytes("PNG", (40 + i, 40)), f"p{i}.png")["id"] for i in range(3)]
    for image_id in (ids[1], ids[0], ids[2]):
        api.delete(f"/api/v1/images/{image_id}")

    first = api.get("/api/v1/trash/?page_size=2").json()
    second = api.get(first["next"]).json()
    slash_twin = api.get("/api/v1/trash?page_size=2").json()

    assert first["count"] == second["count"] == 3
    assert set(first) == set(api.get("/api/v1/images/?page_size=2").json())
    assert [item["id"] for item in first["results"] + second["results"]] == [
        ids[2],
        ids[0],
        ids[1],
    ]
    assert second["next"] is None
    assert slash_twin["results"] == first["results"]
    assert api.get("/api/v1/images/").json()["count"] == 0


def test_restore_brings_back_bytes_labels_revisions_and_similar_matches(api, labelled):
    data = image_bytes("PNG", (64, 48))
    image = labelled(data)
    twin = labelled(image_bytes("JPEG", (64, 48)), "twin.jpg", tags=["twin"], metadata="{}")
    url = f"/api/v1/images/{image['id']}"
    api.put(f"{url}?width=40&height=40")
    api.post(f"{url}/restore")
    before = {
        "metadata": api.get(url).json(),
        "file": b"".join(api.get(f"{url}/file").streaming_content),
        "revisions": api.get(f"{url}/revisions").json(),
        "similar": api.get(f"/api/v1/images/{twin['id']}/similar").json()["count"],
        "facets": api.get("/api/v1/images/facets").json(),
    }
    assert before["similar"] == 1
    api.delete(url)
    # A search meanwhile drops the trashed image's hash from this worker's index.
    assert api.get(f"/api/v1/images/{twin['id']}/similar").json()["count"] == 0

    restored = api.post(f"/api/v1/trash/{image['id']}/restore")

    assert restored.status_code == 200
    after = api.get(url).json()
    assert restored.json() == after
    for field in ("id", "name", "description", "tags", "metadata", "sha256", "phash", "created_at"):
        assert after[field] == before["metadata"][field], field
    assert b"".join(api.get(f"{url}/file").streaming_content) == data
    assert api.get(f"{url}/revisions").json() == before["revisions"]
    assert api.get(f"/api/v1/images/{twin['id']}/similar").json()["count"] == 1
    assert api.get("/api/v1/images/facets").json() == before["facets"]
    assert api.get("/api/v1/images/?tag=plate").json()["count"] == 1
    assert api.get("/api/v1/images/?metadata.well=B7").json()["count"] == 1
    assert api.get("/api/v1/trash/").json()["count"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/api/v1/trash/{id}/restore"), ("delete", "/api/v1/trash/{id}")],
)
@pytest.mark.parametrize("which", ["unknown", "live", "not a uuid"])
def test_trash_endpoints_answer_404_for_an_id_not_in_the_trash(api, labelled, method, path, which):
    image_id = {"unknown": uuid.uuid4, "live": lambda: labelled()["id"], "not a uuid": str}[which]()
    image_id = image_id or "nope"

    response = getattr(api, method)(path.format(id=image_id))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Image.objects.count() == (1 if which == "live" else 0)


def test_purge_removes_every_file_and_row_then_404_everywhere(api, trashed, files):
    image, other = trashed
    assert ImageRevision.objects.filter(image_id=image.pk).count() == 2

    response = api.delete(f"/api/v1/trash/{image.pk}")

    assert response.status_code == 204
    assert len(files()) == 1  # the other image's only
    assert not Image.all_objects.filter(pk=image.pk).exists()
    assert not ImageRevision.objects.filter(image_id=image.pk).exists()
    assert not Rendition.objects.exists()
    assert api.get("/api/v1/trash/").json()["count"] == 0
    for method, path in [
        ("post", "/api/v1/trash/{id}/restore"),
        ("delete", "/api/v1/trash/{id}"),
        ("get", "/api/v1/images/{id}"),
        ("delete", "/api/v1/images/{id}"),
    ]:
        assert getattr(api, method)(path_of(path, image, other)).status_code == 404
    call_command("images_check", "--min-age", "0", stdout=io.StringIO())  # exits 1 on trouble


def test_with_no_trash_days_a_delete_purges_at_once(api, labelled, files, settings):
    settings.IMAGES_TRASH_DAYS = 0
    image = labelled()
    api.put(f"/api/v1/images/{image['id']}?width=20&height=20")

    assert api.delete(f"/api/v1/images/{image['id']}").status_code == 204

    assert files() == []
    assert api.get("/api/v1/trash/").json()["count"] == 0
    assert not Image.all_objects.exists()
    assert not FacetCount.objects.filter(count__gt=0).exists()


def test_the_trash_days_set_purge_at_when_the_image_is_trashed(api, labelled, settings):
    settings.IMAGES_TRASH_DAYS = 7
    image = labelled()
    api.delete(f"/api/v1/images/{image['id']}")
    settings.IMAGES_TRASH_DAYS = 90  # a later change keeps the date already promised

    [item] = api.get("/api/v1/trash/").json()["results"]

    gap = datetime.fromisoformat(item["purge_at"]) - datetime.fromisoformat(item["deleted_at"])
    assert gap == timedelta(days=7)


def test_purge_on_s3_removes_every_object(api, upload, s3):
    image = upload(image_bytes("PNG", (60, 40)), "plate.png").json()
    url = f"/api/v1/images/{image['id']}"
    api.put(f"{url}?width=30&height=30")
    api.put(f"{url}?width=20&height=20")
    assert api.get(f"{url}/renditions/max-10x10.webp").status_code == 200
    api.delete(url)
    assert len(s3.stored_keys()) == 4  # in the trash, all kept

    assert api.delete(f"/api/v1/trash/{image['id']}").status_code == 204

    assert s3.stored_keys() == []
    call_command("images_check", "--min-age", "0", stdout=io.StringIO())
