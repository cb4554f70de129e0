"""Tags and metadata through the API: set on upload, URL create and PATCH, edited in bulk;
bad values answer 400 with invalid_tags or invalid_metadata and store nothing."""

import io

import pytest

from images.models import Image, ImageMetadataValue, ImageTag
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

API = "/api/v1/images"


def upload_with(api, **fields):
    file = io.BytesIO(image_bytes("PNG"))
    file.name = "plate.png"
    return api.post(f"{API}/upload", {"file": file, **fields}, format="multipart")


@pytest.fixture
def stored(api):
    def stored(**fields) -> dict:
        response = upload_with(api, **fields)
        assert response.status_code == 201, response.content
        return response.json()

    return stored


def test_an_upload_takes_tags_repeated_and_comma_separated_and_metadata_as_json(api, stored):
    body = stored(tags=["plate, control", "re-imaged", "plate"], metadata='{"well": "B7", "t": 3}')

    assert body["tags"] == ["plate", "control", "re-imaged"]
    assert body["metadata"] == {"t": 3, "well": "B7"}
    assert api.get(f"{API}/{body['id']}").json()["tags"] == ["plate", "control", "re-imaged"]
    found = api.get(f"{API}/", {"tag": "control", "metadata.t": "3"}).json()
    assert [image["id"] for image in found["results"]] == [body["id"]]


def test_an_image_created_from_a_url_takes_tags_and_metadata_as_json(api, origin, settings):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True  # the origin is on 127.0.0.1
    url = origin.serve("/plate.png", image_bytes("PNG"), "image/png")

    response = api.post(
        f"{API}/",
        {"url": url, "tags": ["from-url"], "metadata": {"plate": "P-0042", "ok": True}},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["tags"] == ["from-url"]
    assert response.json()["metadata"] == {"ok": True, "plate": "P-0042"}
    assert ImageMetadataValue.objects.get(key="ok").boolean is True


BAD_UPLOADS = [
    ({"tags": "a#b"}, "invalid_tags"),
    ({"tags": "ok, "}, "invalid_tags"),  # an empty tag after the comma
    ({"tags": ",".join(f"t{i}" for i in range(33))}, "invalid_tags"),
    ({"tags": "x" * 65}, "invalid_tags"),
    ({"metadata": "{not json"}, "invalid_metadata"),
    ({"metadata": '{"a": NaN}'}, "invalid_metadata"),
    ({"metadata": '["a"]'}, "invalid_metadata"),
    ({"metadata": '{"a": {"nested": 1}}'}, "invalid_metadata"),
    ({"metadata": '{"a": null}'}, "invalid_metadata"),
    ({"metadata": '{"bad key": 1}'}, "invalid_metadata"),
    ({"metadata": '{"a": "' + "x" * 1025 + '"}'}, "invalid_metadata"),
    ({"metadata": '{"a": "\\u0000"}'}, "invalid_metadata"),
    ({"metadata": "{" + ",".join(f'"k{i}": {i}' for i in range(65)) + "}"}, "invalid_metadata"),
]


@pytest.mark.parametrize(("fields", "code"), BAD_UPLOADS)
def test_an_upload_with_bad_labels_is_400_and_stores_nothing(api, files, fields, code):
    response = upload_with(api, **fields)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert not Image.objects.exists()
    assert files() == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"tags": "plate"}, "invalid_tags"),
        ({"tags": None}, "invalid_tags"),
        ({"tags": [1]}, "invalid_tags"),
        ({"metadata": '{"a": 1}'}, "invalid_metadata"),  # JSON has objects: no text here
        ({"metadata": None}, "invalid_metadata"),
        ({"metadata": {"a": [1]}}, "invalid_metadata"),
        ({"metadata": {"a": None}}, "invalid_metadata"),  # null on create
    ],
)
def test_a_url_create_with_bad_labels_is_400_and_fetches_nothing(api, origin, settings, body, code):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True
    url = origin.serve("/plate.png", image_bytes("PNG"), "image/png")

    response = api.post(f"{API}/", {"url": url, **body}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert origin.requests == []
    assert not Image.objects.exists()


def test_patch_replaces_the_tags_and_merge_patches_the_metadata(api, stored):
    image = stored(tags=["a", "b"], metadata='{"keep": 1, "change": "x", "drop": true}')

    response = api.patch(
        f"{API}/{image['id']}",
        {"tags": ["c"], "metadata": {"change": "y", "drop": None, "new": 2.5, "absent": None}},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["tags"] == ["c"]
    assert response.json()["metadata"] == {"change": "y", "keep": 1, "new": 2.5}
    assert response.json()["updated_at"] > image["updated_at"]
    assert set(ImageTag.objects.values_list("tag", flat=True)) == {"c"}
    assert set(ImageMetadataValue.objects.values_list("key", flat=True)) == {
        "keep",
        "change",
        "new",
    }


def test_patch_without_labels_leaves_them_alone(api, stored):
    image = stored(tags=["a"], metadata='{"k": 1}')

    body = api.patch(f"{API}/{image['id']}", {"name": "renamed"}, format="json").json()

    assert (body["name"], body["tags"], body["metadata"]) == ("renamed", ["a"], {"k": 1})


def test_patch_that_would_give_65_keys_changes_nothing_not_even_the_name(api, stored):
    image = stored(metadata="{" + ",".join(f'"k{i}": {i}' for i in range(64)) + "}")

    response = api.patch(
        f"{API}/{image['id']}", {"name": "renamed", "metadata": {"k64": 64}}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_metadata"
    after = api.get(f"{API}/{image['id']}").json()
    assert after["name"] == image["name"]
    assert len(after["metadata"]) == 64


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"tags": None}, "invalid_tags"),
        ({"tags": ["ok", "not,ok"]}, "invalid_tags"),
        ({"metadata": None}, "invalid_metadata"),
        ({"metadata": ["a"]}, "invalid_metadata"),
        ({"metadata": {"a": {"b": 1}}}, "invalid_metadata"),
        ({"metadata": {"a": "x" * 1025}}, "invalid_metadata"),
    ],
)
def test_patch_with_bad_labels_is_400(api, stored, body, code):
    image = stored(tags=["a"])

    response = api.patch(f"{API}/{image['id']}", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert api.get(f"{API}/{image['id']}").json()["tags"] == ["a"]


def bulk(api, **body):
    return api.post(f"{API}/bulk", body, format="json")


def test_bulk_adds_and_removes_tags_and_patches_metadata_of_every_image(api, stored):
    first = stored(tags=["old", "keep"], metadata='{"a": 1, "b": 2}')
    second = stored(tags=["keep"])

    response = bulk(
        api,
        ids=[first["id"], second["id"], first["id"]],
        add_tags=["new", "keep"],
        remove_tags=["old"],
        metadata={"b": None, "batch": "B-1"},
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"updated": 2}
    assert api.get(f"{API}/{first['id']}").json()["tags"] == ["keep", "new"]
    assert api.get(f"{API}/{first['id']}").json()["metadata"] == {"a": 1, "batch": "B-1"}
    assert api.get(f"{API}/{second['id']}").json()["tags"] == ["keep", "new"]
    found = api.get(f"{API}/", {"metadata.batch": "B-1", "tag": "new"}).json()
    assert found["count"] == 2


def labels_of(api, ids) -> list:
    return [
        (image["tags"], image["metadata"], image["updated_at"])
        for image in (api.get(f"{API}/{i}").json() for i in ids)
    ]


@pytest.mark.parametrize(
    ("edit", "status", "code"),
    [
        ({"ids": ["unknown"], "add_tags": ["x"]}, 404, "not_found"),
        ({"add_tags": [f"t{i}" for i in range(31)]}, 400, "invalid_tags"),  # 33 on one image
        ({"metadata": {f"k{i}": i for i in range(64)}}, 400, "invalid_metadata"),  # 65 on one
        ({"add_tags": ["x"], "remove_tags": ["x"]}, 400, "invalid_tags"),
        ({"add_tags": ["bad#tag"]}, 400, "invalid_tags"),
        ({"metadata": {"a": [1]}}, 400, "invalid_metadata"),
    ],
)
def test_a_bulk_edit_that_fails_for_one_image_changes_none(api, stored, edit, status, code):
    images = [stored(tags=["a"]), stored(tags=["a", "b"], metadata='{"z": 0}')]
    ids = [image["id"] for image in images]
    if edit.get("ids") == ["unknown"]:
        edit = {**edit, "ids": [*ids, "00000000-0000-4000-8000-000000000000"]}
    before = labels_of(api, ids)

    response = bulk(api, **{"ids": ids, **edit})

    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert labels_of(api, ids) == before
    assert api.get(f"{API}/", {"tag": "x"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("ids", "code"),
    [
        ([], "min_length"),
        (["not-a-uuid"], "invalid"),
        ([f"00000000-0000-4000-8000-{i:012x}" for i in range(1001)], "max_length"),
    ],
)
def test_bulk_names_1_to_1000_image_ids(api, ids, code):
    response = bulk(api, ids=ids, add_tags=["x"])

    assert response.status_code == 400
    assert response.json()["code"] == code


def test_bulk_edits_1000_images_at_once(api, stored):
    from tests.synthetic import clustered_phashes, store_rows

    rows = store_rows(clustered_phashes(1000))

    response = bulk(api, ids=[str(row.pk) for row in rows], add_tags=["all"], metadata={"n": 1})

    assert response.json() == {"updated": 1000}
    assert api.get(f"{API}/", {"tag": "all", "metadata.n": "1"}).json()["count"] == 1000
