"""An image's history in the admin (images/admin/history.py): the History button shows the
service's events, whoever made them, page by page, for live and trashed images alike."""

import io
import re

import pytest
from django.contrib.auth.models import User

from images import services
from images.history import command_actor
from images.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.test", "pw"))
    return client


def stored(**labels) -> Image:
    return services.image_create(
        file=io.BytesIO(image_bytes("PNG", (64, 48))), name="alpha", **labels
    )


def actions(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<td class="event-action">(\w+)</td><td class="event-actor">([^<]*)<', page)


def test_the_history_button_opens_the_services_history_not_djangos_log(staff, api):
    image = stored(tags=["P-0042"])
    api.patch(
        f"/api/v1/images/{image.pk}", {"name": "beta", "metadata": {"well": "B7"}}, format="json"
    )
    services.image_crop(image_id=image.pk, width=32, height=24, actor=command_actor("crop_all"))

    change = staff.get(f"/admin/images/image/{image.pk}/change/").content.decode()
    assert f'href="/admin/images/image/{image.pk}/history/"' in change
    page = staff.get(f"/admin/images/image/{image.pk}/history/").content.decode()

    assert "have a change history" not in page  # Django's own page
    assert actions(page) == [
        ("cropped", "command crop_all"),
        ("updated", "anonymous from 127.0.0.1"),
        ("created", "anonymous"),
    ]
    assert "<div>name: alpha → beta</div>" in page
    assert "<div>metadata: (none) → well=B7</div>" in page
    assert "<div>width: 64 → 32</div>" in page
    assert "<div>tags: P-0042</div>" in page  # what it was created with
    assert "3 changes, newest first" in page


def test_the_history_pages_through_many_changes(staff):
    image = stored()
    for n in range(120):
        services.image_rename(image_id=image.pk, name=f"name {n}")

    first = staff.get(f"/admin/images/image/{image.pk}/history/").content.decode()
    second = staff.get(f"/admin/images/image/{image.pk}/history/?p=2").content.decode()

    assert len(actions(first)) == 100
    assert len(actions(second)) == 21
    assert "name: name 118 → name 119" in first
    assert actions(second)[-1][0] == "created"
    assert "121 changes, newest first" in first


def test_the_change_page_shows_the_newest_changes_and_links_them_all(staff):
    image = stored()
    for n in range(12):
        services.image_rename(image_id=image.pk, name=f"name {n}")

    page = staff.get(f"/admin/images/image/{image.pk}/change/").content.decode()

    assert len(actions(page)) == 10
    assert (
        f'<a href="/admin/images/image/{image.pk}/history/" class="history-all">All 13 changes</a>'
        in page
    )


def test_a_trashed_images_history_shows_its_deletion(staff):
    image = stored()
    services.image_delete(image_id=image.pk)

    page = staff.get(f"/admin/images/trashedimage/{image.pk}/history/").content.decode()

    assert [action for action, _ in actions(page)] == ["deleted", "created"]
    trash_page = staff.get(f"/admin/images/trashedimage/{image.pk}/change/").content.decode()
    assert [action for action, _ in actions(trash_page)] == ["deleted", "created"]


def test_the_history_of_an_unknown_image_goes_back_to_the_list(staff):
    response = staff.get("/admin/images/image/00000000-0000-0000-0000-000000000000/history/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
