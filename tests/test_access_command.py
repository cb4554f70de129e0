"""manage.py images_token: create (key printed once), list, revoke."""

import io

import pytest
from django.core.management import CommandError, call_command

from access.models import ApiToken, hash_key

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("images_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("flags", "read_only"), [((), False), (("--read-only",), True)])
def test_create_prints_only_the_key_on_stdout_and_stores_its_hash(flags, read_only):
    out, err = run("create", "scanner-1", *flags)

    key = out.strip()
    assert len(key) >= 40
    assert "\n" not in key
    assert "shown this once" in err
    token = ApiToken.objects.get()
    assert (token.name, token.read_only, token.key_hash) == ("scanner-1", read_only, hash_key(key))


def test_the_created_key_opens_the_api_in_token_mode(api, settings):
    settings.IMAGES_AUTH = "token"
    key = run("create", "scanner-1")[0].strip()

    assert api.get("/api/v1/images/").status_code == 401
    assert api.get("/api/v1/images/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_create_refuses_a_name_already_taken():
    run("create", "scanner-1")

    with pytest.raises(CommandError, match="already exists"):
        run("create", "scanner-1")
    assert ApiToken.objects.count() == 1


def test_list_shows_names_and_modes_but_never_keys():
    full = run("create", "scanner-1")[0].strip()
    viewer = run("create", "viewer", "--read-only")[0].strip()

    out, _ = run("list")

    lines = out.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["scanner-1", "full"],
        ["viewer", "read-only"],
    ]
    assert full not in out
    assert viewer not in out
    assert "last used never" in lines[0]


def test_revoke_deletes_the_token_and_its_key_stops_working(api, settings):
    settings.IMAGES_AUTH = "token"
    key = run("create", "scanner-1")[0].strip()

    out, _ = run("revoke", "scanner-1")

    assert "Revoked" in out
    assert ApiToken.objects.count() == 0
    assert api.get("/api/v1/images/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_revoke_of_an_unknown_name_fails():
    with pytest.raises(CommandError, match="No token named 'nobody'"):
        run("revoke", "nobody")


def test_an_empty_list_says_there_are_no_tokens_and_how_to_make_one():
    out, err = run("list")

    assert out == ""
    assert "No tokens yet" in err
    assert 'make manage ARGS="images_token create NAME"' in err
