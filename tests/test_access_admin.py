"""Tokens in the admin: the key is shown once after adding; deleting revokes."""

import re

import pytest
from django.contrib.auth.models import User

from access.models import ApiToken, hash_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create(username="admin", is_staff=True, is_superuser=True))
    return client


def test_adding_a_token_shows_its_key_once_and_stores_only_its_hash(staff):
    response = staff.post(
        "/admin/access/apitoken/add/", {"name": "scanner-1", "read_only": "on"}, follow=True
    )

    assert response.status_code == 200
    match = re.search(r"The key of token “scanner-1” is (\S+) —", response.content.decode())
    assert match, response.content.decode()
    key = match.group(1)
    token = ApiToken.objects.get()
    assert token.read_only
    assert token.key_hash == hash_key(key)

    assert key not in staff.get("/admin/access/apitoken/").content.decode()
    assert key not in staff.get(f"/admin/access/apitoken/{token.pk}/change/").content.decode()


def test_changing_a_token_keeps_its_key(staff):
    staff.post("/admin/access/apitoken/add/", {"name": "scanner-1"})
    token = ApiToken.objects.get()

    response = staff.post(
        f"/admin/access/apitoken/{token.pk}/change/", {"name": "scanner-2", "read_only": "on"}
    )

    assert response.status_code == 302
    changed = ApiToken.objects.get()
    assert (changed.name, changed.read_only, changed.key_hash) == (
        "scanner-2",
        True,
        token.key_hash,
    )


def test_deleting_a_token_in_the_admin_revokes_it(staff, api, settings):
    settings.IMAGES_AUTH = "token"
    response = staff.post("/admin/access/apitoken/add/", {"name": "scanner-1"}, follow=True)
    key = re.search(r"is (\S+) —", response.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert api.get("/api/v1/images/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200

    staff.post(f"/admin/access/apitoken/{token.pk}/delete/", {"post": "yes"})

    assert ApiToken.objects.count() == 0
    assert api.get("/api/v1/images/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
