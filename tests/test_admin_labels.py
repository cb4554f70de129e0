"""The admin's index and list (imageservice/admin_site.py, images/admin/labels.py): images
first, then tokens, users and login lockouts; the list shows each image's tags and the metadata keys
most images have, and filters by a tag or by one of those keys' values."""

import re

import pytest
from django.contrib.auth.models import User

from images import services
from images.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("admin", "admin@example.test", "pw")
    client.force_login(user)
    return client


def stored(name: str, size: tuple[int, int], **labels) -> Image:
    from io import BytesIO

    return services.image_create(file=BytesIO(image_bytes("PNG", size)), name=name, **labels)


def test_the_index_lists_images_first_then_tokens_users_and_lockouts_last(staff):
    page = staff.get("/admin/").content.decode()

    captions = re.findall(r'<caption>\s*<a href="/admin/(\w+)/"', page)
    assert captions == ["images", "access", "auth", "axes"]
    models = re.findall(r'<tr class="model-(\w+)"', page)
    assert models[:2] == ["image", "trashedimage"]  # Images, then the trash


@pytest.fixture
def plates():
    a = {"plate": "P-0042", "well": "B7", "timepoint": 3}
    b = {"plate": "P-0042", "well": "C1", "timepoint": 4}
    c = {"plate": "P-0043", "timepoint": 3, "reviewed": True}
    return [
        stored("a", (30, 20), tags=["P-0042", "brightfield"], metadata=a),
        stored("b", (31, 20), tags=["P-0042"], metadata=b),
        stored("c", (32, 20), tags=["P-0043"], metadata=c),
        stored("d", (33, 20), metadata={"plate": "P-0043"}),
    ]


def results(page: str) -> str:
    """The list's table; empty when nothing is listed (the admin then shows no table)."""
    if 'id="result_list"' not in page:
        return ""
    return page[page.index('id="result_list"') :].split("</table>")[0]


def listed(staff, query: str = "") -> set[str]:
    rows = results(staff.get(f"/admin/images/image/?{query}").content.decode())
    return set(re.findall(r'class="field-name"><a href="[^"]+">(\w)</a>', rows))


def test_the_list_shows_tags_and_a_column_for_each_main_metadata_key(staff, plates):
    page = staff.get("/admin/images/image/").content.decode()
    rows = results(page)

    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', rows)
    assert headers[-5:] == [
        "tags_column", "metadata_plate", "metadata_timepoint", "metadata_well", "created_at"
    ]  # fmt: skip
    assert ">P-0042</span>" in rows
    assert ">brightfield</span>" in rows
    assert "[&quot;" not in rows  # tags as labels, not JSON
    assert '<td class="field-metadata_well">B7</td>' in rows
    assert '<td class="field-metadata_timepoint">4</td>' in rows


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tag=P-0042", {"a", "b"}),
        ("tag=brightfield", {"a"}),
        ("metadata.plate=P-0043", {"c", "d"}),
        ("metadata.timepoint=3", {"a", "c"}),
        ("metadata.well=B7", {"a"}),
        ("metadata.plate=P-0043&metadata.timepoint=3", {"c"}),
        ("metadata.timepoint=3&tag=P-0042", {"a"}),
        ("", {"a", "b", "c", "d"}),
    ],
)
def test_the_list_filters_by_a_tag_and_by_a_main_keys_value(staff, plates, query, expected):
    assert listed(staff, query) == expected


def test_the_filters_offer_the_most_frequent_values_of_the_main_keys(staff, plates):
    page = staff.get("/admin/images/image/").content.decode()
    sidebar = page[page.index('id="changelist-filter"') :]

    for title in ("tag", "plate", "timepoint", "well"):
        assert f"By {title}" in sidebar, title
    assert "?metadata.timepoint=3" in sidebar
    assert "?metadata.plate=P-0042" in sidebar
    assert "reviewed" not in sidebar  # one image has it: not a main key


def test_a_value_no_image_has_lists_nothing(staff, plates):
    response = staff.get("/admin/images/image/?metadata.plate=P-9999")

    assert response.status_code == 200
    assert "0 images" in response.content.decode()
