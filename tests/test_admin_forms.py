"""The admin's forms (images/admin/forms.py, images/admin/widgets.py): adding several files
at once with tags and metadata, all or none refused before anything is stored; metadata
typed as rows of key, type and value, or as JSON in the box beside them."""

import io
import json

import pytest
from django.contrib.auth.models import User

from images import services
from images.models import Image, ImageEvent
from tests.factories import encode, image_bytes, pattern

pytestmark = pytest.mark.django_db(transaction=True)

ADD = "/admin/images/image/add/"


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("admin", "admin@example.test", "pw")
    client.force_login(user)
    return client


def upload(data: bytes, filename: str):
    file = io.BytesIO(data)
    file.name = filename
    return file


def pngs(*names: str) -> list:
    return [upload(image_bytes("PNG", (30 + n, 20)), name) for n, name in enumerate(names)]


def rows(*rows: tuple[str, str, str], shown: str = "", box: str = "") -> dict:
    """The form's metadata as the page posts it: rows, the JSON box and its copy."""
    return {
        "metadata-key": [row[0] for row in rows],
        "metadata-type": [row[1] for row in rows],
        "metadata-value": [row[2] for row in rows],
        "metadata": box,
        "metadata-shown": shown,
    }


LABELS = rows(("plate", "text", "P-0042"), ("timepoint", "number", "3"), ("", "text", ""))


def test_several_files_become_images_with_the_same_tags_and_metadata(staff, files):
    response = staff.post(
        ADD,
        {"upload": pngs("B7.png", "B8.png", "B9.png"), "description": "", "tags": "P-0042, dapi"}
        | LABELS,
        follow=True,
    )

    assert response.redirect_chain[-1][0] == "/admin/images/image/"
    assert "3 images added: " in response.content.decode()
    images = Image.objects.order_by("name")
    assert [image.name for image in images] == ["B7", "B8", "B9"]
    for image in images:
        assert image.tags == ["P-0042", "dapi"]
        assert image.metadata == {"plate": "P-0042", "timepoint": 3}
    assert len(files()) == 3
    events = ImageEvent.objects.filter(action="created")
    assert {(e.actor_kind, e.actor_name) for e in events} == {("user", "admin")}


def test_one_file_with_tags_and_metadata_is_added_as_the_admin_adds_one(staff):
    response = staff.post(
        ADD, {"upload": pngs("B7.png"), "description": "", "tags": "P-0042"} | LABELS
    )

    image = Image.objects.get()
    assert response.status_code == 302
    assert response["Location"] == "/admin/images/image/"
    assert (image.tags, image.metadata) == (["P-0042"], {"plate": "P-0042", "timepoint": 3})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "same for all"}, "Leave the name empty with several files"),
        ({"upload": "gif"}, "x.gif: GIF images are not accepted"),
        ({"upload": "twice"}, "The same file is there twice"),
        ({"tags": "ok, not#ok"}, "letters, digits, spaces"),
        (rows(("timepoint", "number", "three")), "timepoint: “three” is not a number"),
        (rows(("reviewed", "yes/no", "maybe")), "reviewed: yes or no, not “maybe”"),
        (rows(("", "text", "B7")), "The value “B7” has no key."),
        (rows(("well", "text", "B7"), ("well", "text", "B8")), "The key “well” is there twice."),
        (rows(("bad key!", "text", "x")), "bad key!"),
    ],
)
def test_a_refused_batch_stores_no_file_and_no_image(staff, files, fields, message):
    batch = pngs("B7.png", "B8.png")
    if fields.get("upload") == "gif":
        batch.append(upload(encode(pattern((8, 8)), "GIF"), "x.gif"))
    if fields.get("upload") == "twice":
        batch.append(upload(image_bytes("PNG", (30, 20)), "again.png"))
    data = {"description": "", "tags": ""} | fields | {"upload": batch}

    response = staff.post(ADD, data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert Image.objects.count() == 0
    assert files() == []


def test_a_batch_with_bytes_already_stored_shows_them_and_stores_none(staff, files):
    first = services.image_create(file=io.BytesIO(image_bytes("PNG", (31, 20))), name="old")

    response = staff.post(ADD, {"upload": pngs("B7.png", "B8.png"), "description": ""})

    page = response.content.decode()
    assert "These exact bytes are already stored" in page
    assert f"/admin/images/image/{first.pk}/change/" in page
    assert list(Image.objects.all()) == [first]
    assert len(files()) == 1


def image_with(staff, metadata: dict) -> Image:
    return services.image_create(
        file=io.BytesIO(image_bytes("PNG", (30, 20))), name="a", metadata=metadata
    )


def change(staff, image: Image, metadata: dict):
    data = {"name": image.name, "description": "", "tags": ""} | metadata
    return staff.post(f"/admin/images/image/{image.pk}/change/", data)


def test_the_change_page_shows_metadata_as_typed_rows_and_as_json(staff):
    image = image_with(staff, {"plate": "P-0042", "timepoint": 3, "reviewed": True})

    page = staff.get(f"/admin/images/image/{image.pk}/change/").content.decode()

    typed = [
        ("plate", "text", "P-0042"),
        ("reviewed", "yes/no", "yes"),
        ("timepoint", "number", "3"),
    ]
    for key, kind, value in typed:
        assert f'name="metadata-key" value="{key}"' in page
        row = page[page.index(f'name="metadata-key" value="{key}"') :].split("</tr>")[0]
        assert f'<option value="{kind}" selected>' in row
        assert f'name="metadata-value" value="{value}"' in row
    assert "&quot;timepoint&quot;: 3" in page  # the JSON box
    assert page.count('name="metadata-key" value=""') == 2  # rows for new keys


def test_rows_set_change_and_remove_keys_by_type(staff, api):
    image = image_with(staff, {"plate": "P-0042", "well": "B7", "timepoint": 3})
    shown = json.dumps(image.metadata, indent=2, sort_keys=True)

    response = change(
        staff,
        image,
        rows(
            ("plate", "text", "0042"),  # stays text, leading zeros and all
            ("timepoint", "number", "4.5"),
            ("reviewed", "yes/no", "Yes"),
            ("", "text", ""),  # the well row cleared: the key goes
            shown=shown,
            box=shown,
        ),
    )

    assert response.status_code == 302
    image.refresh_from_db()
    assert image.metadata == {"plate": "0042", "timepoint": 4.5, "reviewed": True}
    assert api.get("/api/v1/images/", {"metadata.well__exists": "true"}).json()["count"] == 0
    assert api.get("/api/v1/images/", {"metadata.timepoint__gt": "4"}).json()["count"] == 1


def test_an_edited_json_box_wins_over_the_rows(staff):
    image = image_with(staff, {"plate": "P-0042"})
    shown = json.dumps(image.metadata, indent=2)
    typed = '{\r\n  "plate": "P-0043",\r\n  "well": "C1"\r\n}'

    change(staff, image, rows(("plate", "text", "P-0042"), shown=shown, box=typed))

    image.refresh_from_db()
    assert image.metadata == {"plate": "P-0043", "well": "C1"}


def test_a_json_box_sent_back_as_shown_leaves_the_rows_in_charge(staff):
    image = image_with(staff, {"plate": "P-0042"})
    shown = json.dumps(image.metadata, indent=2)
    as_sent = shown.replace("\n", "\r\n")  # a browser's line breaks

    change(staff, image, rows(("plate", "text", "P-0099"), shown=shown, box=as_sent))

    image.refresh_from_db()
    assert image.metadata == {"plate": "P-0099"}


def test_a_bad_json_box_is_shown_again_open_and_changes_nothing(staff):
    image = image_with(staff, {"plate": "P-0042"})

    response = change(staff, image, rows(("plate", "text", "P-0042"), shown="{}", box="{oops"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "not valid JSON" in page
    assert '<details class="metadata-json" open>' in page
    assert "{oops</textarea>" in page
    image.refresh_from_db()
    assert image.metadata == {"plate": "P-0042"}
