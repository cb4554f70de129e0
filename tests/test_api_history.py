"""GET /api/v1/images/{id}/history: newest first, paginated, each change with who made it."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from access.models import ApiToken
from images.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def new_token(name: str, *, read_only: bool = False) -> str:
    token = ApiToken(name=name, read_only=read_only)
    key = token.set_new_key()
    token.save()
    return key


def history(api, image_id, **query) -> dict:
    response = api.get(f"/api/v1/images/{image_id}/history", query)
    assert response.status_code == 200, response.content
    return response.json()


def test_each_change_is_an_entry_newest_first_with_at_action_actor_and_changes(api, upload):
    image_id = upload(image_bytes("PNG", (64, 48)), "plate.png").json()["id"]
    api.patch(f"/api/v1/images/{image_id}", {"name": "plate 7", "tags": ["E12"]}, format="json")
    api.put(f"/api/v1/images/{image_id}?width=20&height=10")
    api.post(f"/api/v1/images/{image_id}/restore")

    body = history(api, image_id)

    assert body["count"] == 4
    assert [entry["action"] for entry in body["results"]] == [
        "restored",
        "cropped",
        "updated",
        "created",
    ]
    assert body["results"][2]["changes"] == {"name": ["plate", "plate 7"], "tags": [[], ["E12"]]}
    assert {tuple(entry) for entry in body["results"]} == {("at", "action", "actor", "changes")}
    anonymous = {"kind": "anonymous", "name": None, "address": "127.0.0.1"}
    assert all(entry["actor"] == anonymous for entry in body["results"])
    ats = [entry["at"] for entry in body["results"]]
    assert ats == sorted(ats, reverse=True)


def test_a_patch_with_a_crop_and_edits_is_a_cropped_and_an_updated_entry(api, upload):
    image_id = upload(image_bytes("PNG", (64, 48))).json()["id"]

    api.patch(f"/api/v1/images/{image_id}?width=20&height=10&name=small", format="json")

    entries = history(api, image_id)["results"]
    assert [(entry["action"], entry["changes"]) for entry in entries[:2]] == [
        ("updated", {"name": ["photo", "small"]}),
        (
            "cropped",
            {
                "crop": {"left": 22, "top": 19, "width": 20, "height": 10},
                "width": [64, 20],
                "height": [48, 10],
            },
        ),
    ]


def test_a_patch_that_changes_nothing_adds_no_entry(api, upload):
    image_id = upload(image_bytes("PNG")).json()["id"]

    api.patch(f"/api/v1/images/{image_id}", {"name": "photo", "tags": []}, format="json")

    assert history(api, image_id)["count"] == 1


def test_the_history_is_paginated_like_the_image_list(api, upload):
    image_id = upload(image_bytes("PNG")).json()["id"]
    for n in range(4):
        api.patch(f"/api/v1/images/{image_id}", {"name": f"plate {n}"}, format="json")

    first = history(api, image_id, page_size=2)
    last = history(api, image_id, page_size=2, page=3)

    assert first["count"] == 5
    assert [e["changes"]["name"][1] for e in first["results"]] == ["plate 3", "plate 2"]
    assert first["next"].endswith("page=2&page_size=2")
    assert [e["action"] for e in last["results"]] == ["created"]
    assert last["next"] is None


def test_an_unknown_image_has_no_history(api):
    response = api.get(f"/api/v1/images/{UNKNOWN}/history")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_token_is_recorded_by_its_name_and_the_address_the_throttle_sees(api, settings):
    settings.IMAGES_AUTH = "token"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    api.credentials(HTTP_AUTHORIZATION=f"Token {new_token('scanner-1')}")
    file = io.BytesIO(image_bytes("PNG"))
    file.name = "plate.png"
    image_id = api.post(
        "/api/v1/images/upload",
        {"file": file},
        format="multipart",
        HTTP_X_FORWARDED_FOR="192.0.2.10",  # the proxy in front saw the client at this address
    ).json()["id"]

    entries = history(api, image_id)["results"]

    assert entries[0]["actor"] == {"kind": "token", "name": "scanner-1", "address": "192.0.2.10"}


@pytest.mark.parametrize("mode", ["open", "token"])
def test_an_admin_session_is_recorded_by_the_users_name(api, upload, settings, mode):
    settings.IMAGES_AUTH = mode
    api.force_login(User.objects.create_superuser("curator", "c@example.test", "pw"))
    image_id = upload(image_bytes("PNG")).json()["id"]
    api.delete(f"/api/v1/images/{image_id}")

    feed = api.get("/api/v1/events").json()["results"]  # the image is gone: read the feed

    assert [(e["action"], e["actor"]) for e in feed] == [
        ("created", {"kind": "user", "name": "curator", "address": "127.0.0.1"}),
        ("deleted", {"kind": "user", "name": "curator", "address": "127.0.0.1"}),
    ]


def test_a_bulk_edit_records_an_entry_for_each_image_with_the_actor(api, upload):
    ids = [upload(image_bytes("PNG", (40 + n, 30))).json()["id"] for n in range(2)]

    api.post("/api/v1/images/bulk", {"ids": ids, "add_tags": ["reviewed"]}, format="json")

    for image_id in ids:
        entry = history(api, image_id)["results"][0]
        assert (entry["action"], entry["changes"]) == ("updated", {"tags": [[], ["reviewed"]]})
        assert entry["actor"]["kind"] == "anonymous"


def test_a_url_create_is_recorded_as_created_with_its_source(api, origin, settings):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True
    url = origin.serve("/plate.png", image_bytes("PNG"), "image/png")

    image_id = api.post("/api/v1/images/", {"url": url}, format="json").json()["id"]

    entry = history(api, image_id)["results"][0]
    assert (entry["action"], entry["changes"]["source_url"]) == ("created", url)


def test_import_images_is_recorded_as_the_command_without_an_address(api, tmp_path):
    (tmp_path / "plate-1.png").write_bytes(image_bytes("PNG"))
    call_command("import_images", str(tmp_path), stdout=io.StringIO(), stderr=io.StringIO())

    image = Image.objects.get()

    entry = history(api, image.pk)["results"][0]
    assert entry["action"] == "created"
    assert entry["actor"] == {"kind": "command", "name": "import_images", "address": None}


def test_in_token_mode_the_history_needs_a_token_and_a_read_only_one_may_read(
    api, upload, settings
):
    image_id = upload(image_bytes("PNG")).json()["id"]
    settings.IMAGES_AUTH = "token"

    refused = api.get(f"/api/v1/images/{image_id}/history")
    api.credentials(HTTP_AUTHORIZATION=f"Token {new_token('viewer', read_only=True)}")

    assert refused.status_code == 401
    assert history(api, image_id)["count"] == 1


def test_the_trash_restore_is_undeleted_a_purge_records_nothing_and_the_feed_keeps_it(
    api, upload, settings
):
    settings.IMAGES_AUTH = "token"
    api.credentials(HTTP_AUTHORIZATION=f"Token {new_token('curation')}")
    image_id = upload(image_bytes("PNG", (64, 48))).json()["id"]
    api.delete(f"/api/v1/images/{image_id}")
    assert api.get(f"/api/v1/images/{image_id}/history").status_code == 404  # in the trash

    assert api.post(f"/api/v1/trash/{image_id}/restore").status_code == 200
    assert [e["action"] for e in history(api, image_id)["results"]] == [
        "undeleted",
        "deleted",
        "created",
    ]
    api.delete(f"/api/v1/images/{image_id}")
    assert api.delete(f"/api/v1/trash/{image_id}").status_code == 204

    assert api.get(f"/api/v1/images/{image_id}/history").status_code == 404
    feed = api.get("/api/v1/events").json()["results"]
    assert [(e["image_id"], e["action"], e["actor"]["name"]) for e in feed] == [
        (image_id, action, "curation") for action in ("created", "deleted", "undeleted", "deleted")
    ]
