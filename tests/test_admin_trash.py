"""The trash in the admin (images/admin/trash.py): listed, restored and purged as the API's."""

import io

import pytest
from django.contrib.auth.models import Permission, User
from PIL import Image as PILImage

from images import services
from images.models import Image, ImageEvent
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

TRASH = "/admin/images/trashedimage/"


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.test", "pw"))
    return client


def trashed(name: str = "plate") -> Image:
    image = services.image_create(file=io.BytesIO(image_bytes("PNG", (64, 48))), name=name)
    services.image_delete(image_id=image.pk)
    return Image.all_objects.get(pk=image.pk)


def test_the_trash_lists_deleted_images_with_their_purge_date_and_nothing_live(staff):
    gone = trashed("deleted by mistake")
    services.image_create(file=io.BytesIO(image_bytes("JPEG")), name="still here")

    page = staff.get(TRASH).content.decode()

    assert "deleted by mistake" in page
    assert "still here" not in page
    assert str(gone.purge_at.year) in page
    assert "PNG" in page  # as the API and the images' list write formats, not "Png"
    assert "64 x 48" in page
    assert "deleted by mistake" not in staff.get("/admin/images/image/").content.decode()


def test_a_trashed_image_is_shown_read_only(staff):
    image = trashed()

    page = staff.get(f"{TRASH}{image.pk}/change/")

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # nothing to save: restore it first
    assert staff.get(f"{TRASH}add/").status_code == 403


def test_restore_brings_the_image_back_as_the_admin_user(staff, api):
    image = trashed()

    answer = staff.post(TRASH, {"action": "restore", "_selected_action": [str(image.pk)]})

    assert answer.status_code == 302
    assert api.get(f"/api/v1/images/{image.pk}").status_code == 200
    last = ImageEvent.objects.filter(image_id=image.pk).order_by("cursor").last()
    assert (last.action, last.actor_kind, last.actor_name) == ("undeleted", "user", "admin")


def test_delete_in_the_trash_purges_the_image_and_its_files(staff, files, api):
    image = trashed()
    assert files()

    staff.post(f"{TRASH}{image.pk}/delete/", {"post": "yes"})

    assert not Image.all_objects.filter(pk=image.pk).exists()
    assert files() == []
    assert api.get(f"/api/v1/images/{image.pk}").status_code == 404


@pytest.mark.parametrize(
    ("perms", "listed", "restores", "purges"),
    [
        (["view_image"], 200, False, False),
        (["view_image", "change_image"], 200, True, False),
        (["view_image", "delete_image"], 200, False, True),
        ([], 403, False, False),
    ],
)
def test_who_may_see_restore_and_purge_follows_the_images_permissions(
    client, perms, listed, restores, purges
):
    user = User.objects.create_user("lab", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    client.force_login(user)
    image = trashed()

    assert client.get(TRASH).status_code == listed
    client.post(TRASH, {"action": "restore", "_selected_action": [str(image.pk)]})
    assert Image.objects.filter(pk=image.pk).exists() == restores
    if not restores:
        client.post(f"{TRASH}{image.pk}/delete/", {"post": "yes"})
        assert (not Image.all_objects.filter(pk=image.pk).exists()) == purges


def test_a_trashed_images_page_shows_its_preview_labels_and_a_restore_button(staff):
    image = services.image_create(
        file=io.BytesIO(image_bytes("PNG", (640, 480))),
        name="plate",
        tags=["P-0042", "dapi"],
        metadata={"plate": "P-0042", "reviewed": True},
    )
    services.image_delete(image_id=image.pk)

    page = staff.get(f"{TRASH}{image.pk}/change/").content.decode()

    preview = f"{TRASH}{image.pk}/thumbnail/480/"
    assert preview in page
    shown = staff.get(preview)
    assert shown["Content-Type"].startswith("image/")
    assert PILImage.open(io.BytesIO(shown.content)).size == (480, 360)
    assert f'action="{TRASH}{image.pk}/restore/"' in page
    assert ">Restore</button>" in page
    assert ">P-0042</span>" in page
    assert ">dapi</span>" in page
    assert "[&quot;" not in page  # tags as labels, not JSON
    assert "<tr><th scope=row>reviewed</th><td>yes</td></tr>" in page
    assert "purged with its files on" in page


def test_the_restore_button_brings_the_image_back_and_opens_its_page(staff, api):
    image = trashed()

    response = staff.post(f"{TRASH}{image.pk}/restore/", follow=True)

    assert response.redirect_chain[-1][0] == f"/admin/images/image/{image.pk}/change/"
    assert "“plate” is restored" in response.content.decode()
    assert api.get(f"/api/v1/images/{image.pk}").status_code == 200
    last = ImageEvent.objects.filter(image_id=image.pk).order_by("cursor").last()
    assert (last.action, last.actor_kind, last.actor_name) == ("undeleted", "user", "admin")
    again = staff.post(f"{TRASH}{image.pk}/restore/", follow=True)
    assert "no longer in the trash" in again.content.decode()


def test_restore_and_preview_need_the_images_permissions(client):
    image = trashed()
    nobody = User.objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(nobody)

    assert client.post(f"{TRASH}{image.pk}/restore/").status_code == 403
    assert client.get(f"{TRASH}{image.pk}/thumbnail/96/").status_code == 403
    assert Image.all_objects.get(pk=image.pk).trashed
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_image"))
    client.force_login(viewer)
    assert ">Restore</button>" not in client.get(f"{TRASH}{image.pk}/change/").content.decode()
    assert client.post(f"{TRASH}{image.pk}/restore/").status_code == 403


def test_purging_from_the_trash_says_it_is_for_good_and_lists_no_related_rows(staff):
    image = trashed()

    page = staff.get(f"{TRASH}{image.pk}/delete/").content.decode()

    assert "Purge “plate” now, for good?" in page
    assert "Image revisions" not in page
    assert "related items" not in page
