"""Deleting in the admin (images/admin/deletes.py): the pages say the images go to the trash,
for how long and how to restore them, list no related rows, and delete through the
service, as the admin user."""

import io

import pytest
from django.contrib.auth.models import Permission, User

from images import services
from images.models import Image, ImageEvent
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

IMAGES = "/admin/images/image/"


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.test", "pw"))
    return client


def stored(name: str, width: int = 64) -> Image:
    image = services.image_create(file=io.BytesIO(image_bytes("PNG", (width, 48))), name=name)
    services.image_crop(image_id=image.pk, width=32, height=24)  # a revision, a second file
    return image


def test_the_delete_page_says_trash_how_long_and_how_to_restore(staff, settings):
    settings.IMAGES_TRASH_DAYS = 30
    image = stored("plate 7")

    page = staff.get(f"{IMAGES}{image.pk}/delete/").content.decode()

    assert "Move the image “plate 7” to the trash?" in page
    assert "for 30 days, until" in page
    assert "Restore the selected images" in page
    assert 'href="/admin/images/trashedimage/"' in page
    assert 'value="Yes, move it to the trash"' in page
    assert "related items" not in page
    assert "Image revisions" not in page


def test_deleting_moves_to_the_trash_as_the_admin_user_and_says_so(staff, api):
    image = stored("plate 7")

    response = staff.post(f"{IMAGES}{image.pk}/delete/", {"post": "yes"}, follow=True)

    page = response.content.decode()
    assert response.redirect_chain[-1][0] == IMAGES
    assert "Moved to the trash: " in page
    assert f'href="/admin/images/trashedimage/{image.pk}/change/">plate 7</a>' in page
    assert "It stays there 30 days, until" in page
    assert "deleted successfully" not in page
    assert Image.all_objects.get(pk=image.pk).trashed
    assert api.get(f"/api/v1/images/{image.pk}").status_code == 404
    last = ImageEvent.objects.filter(image_id=image.pk).order_by("cursor").last()
    assert (last.action, last.actor_kind, last.actor_name) == ("deleted", "user", "admin")


def test_deleting_the_selected_images_moves_them_all_to_the_trash(staff):
    images = [stored("a", 64), stored("b", 65)]
    chosen = {"action": "delete_selected", "_selected_action": [str(i.pk) for i in images]}

    assert "Move the selected images to the trash" in staff.get(IMAGES).content.decode()
    confirm = staff.post(IMAGES, chosen).content.decode()
    done = staff.post(IMAGES, chosen | {"post": "yes"}, follow=True).content.decode()

    assert "Move these 2 images to the trash?" in confirm
    assert "Image revisions" not in confirm
    assert 'value="Yes, move them to the trash"' in confirm
    assert "Moved to the trash: " in done
    assert "They stay there 30 days" in done
    assert Image.objects.count() == 0
    assert Image.all_objects.filter(deleted_at__isnull=False).count() == 2


def test_with_no_trash_the_pages_say_the_delete_is_for_good(staff, settings, files):
    settings.IMAGES_TRASH_DAYS = 0
    image = stored("plate 7")

    page = staff.get(f"{IMAGES}{image.pk}/delete/").content.decode()
    done = staff.post(f"{IMAGES}{image.pk}/delete/", {"post": "yes"}, follow=True)

    assert "Delete the image “plate 7” for good?" in page
    assert "IMAGES_TRASH_DAYS is 0" in page
    assert 'value="Yes, delete it for good"' in page
    assert "Deleted for good: “plate 7”." in done.content.decode()
    assert not Image.all_objects.filter(pk=image.pk).exists()
    assert files() == []


def test_a_user_who_may_delete_images_needs_no_permission_on_revisions(client):
    image = stored("plate 7")
    user = User.objects.create_user("tech", password="pw", is_staff=True)
    for codename in ("view_image", "delete_image"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)

    page = client.get(f"{IMAGES}{image.pk}/delete/").content.decode()
    client.post(f"{IMAGES}{image.pk}/delete/", {"post": "yes"})

    assert "doesn't have permission" not in page
    assert Image.all_objects.get(pk=image.pk).trashed
