"""IMAGES_AUTH=token: who may use the images API, and what stays open."""

import io
import uuid

import pytest
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator

from access.models import ApiToken, hash_key
from images.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

UNSAFE = {"post", "put", "patch", "delete"}


@pytest.fixture
def token_mode(settings):
    settings.IMAGES_AUTH = "token"


def new_token(name: str = "scanner-1", *, read_only: bool = False) -> str:
    token = ApiToken(name=name, read_only=read_only)
    key = token.set_new_key()
    token.save()
    return key


def with_key(api, key: str):
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def upload(api, data: bytes | None = None):
    file = io.BytesIO(data or image_bytes("PNG"))
    file.name = "plate.png"
    return api.post("/api/v1/images/upload", {"file": file}, format="multipart")


def images_operations() -> list[tuple[str, str]]:
    """Every (method, path) the OpenAPI schema documents under /api/v1/images and
    /api/v1/trash (the trash follows the images' rules)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [
        (method, path)
        for path, operations in schema["paths"].items()
        if path.startswith(("/api/v1/images", "/api/v1/trash"))
        for method in operations
    ]
    # Every operation of the API but the event feed's (tests/test_schema.py lists them):
    # a loop over fewer, or none, would let a route that moved pass unchecked.
    assert len(operations) == 24, operations
    return operations


def concrete(path: str) -> str:
    for name in ("{image_id}", "{target_id}"):
        path = path.replace(name, str(uuid.uuid4()))
    path = path.replace("{revision}", "1").replace("{spec}", "max-10x10")
    assert "{" not in path, path  # a parameter this test does not know how to fill
    return path


def test_every_images_operation_refuses_a_request_without_token_with_401(api, token_mode):
    for method, path in images_operations():
        response = getattr(api, method)(concrete(path))

        assert response.status_code == 401, (method, path)
        assert response.json() == {
            "detail": "Authentication credentials were not provided.",
            "code": "not_authenticated",
        }
        assert response["WWW-Authenticate"] == "Token"


def test_every_images_write_refuses_a_read_only_token_with_403(api, token_mode):
    with_key(api, new_token("viewer", read_only=True))

    for method, path in images_operations():
        response = getattr(api, method)(concrete(path))

        if method in UNSAFE:
            assert response.status_code == 403, (method, path)
            assert response.json()["code"] == "permission_denied"
            assert "read-only" in response.json()["detail"]
        else:
            assert response.status_code not in (401, 403), (method, path)


def test_a_full_token_may_upload_read_crop_and_delete(api, token_mode, files):
    with_key(api, new_token())

    created = upload(api)
    assert created.status_code == 201
    image_id = created.json()["id"]
    assert api.get(f"/api/v1/images/{image_id}").status_code == 200
    assert api.get(f"/api/v1/images/{image_id}/file").status_code == 200
    assert api.put(f"/api/v1/images/{image_id}?width=10&height=10").json()["width"] == 10
    assert api.delete(f"/api/v1/images/{image_id}").status_code == 204
    assert api.get("/api/v1/trash/").json()["count"] == 1
    assert api.delete(f"/api/v1/trash/{image_id}").status_code == 204
    assert files() == []


def test_a_read_only_token_reads_but_its_upload_leaves_nothing(api, token_mode, files):
    with_key(api, new_token())
    image_id = upload(api).json()["id"]
    with_key(api, new_token("viewer", read_only=True))

    assert api.get("/api/v1/images/").json()["count"] == 1
    assert api.get(f"/api/v1/images/{image_id}/original").status_code == 200
    assert upload(api).status_code == 403
    assert api.patch(f"/api/v1/images/{image_id}", {"name": "x"}, format="json").status_code == 403
    assert Image.objects.get().name == "plate"
    assert len(files()) == 1


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Token not-a-key", "Invalid token."),
        ("Token", "Invalid token header. No credentials provided."),
        ("Token a b", "Invalid token header. Token string should not contain spaces."),
    ],
)
def test_a_bad_token_is_refused_with_401_authentication_failed(api, token_mode, header, detail):
    new_token()

    response = api.get("/api/v1/images/", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json() == {"detail": detail, "code": "authentication_failed"}
    assert response["WWW-Authenticate"] == "Token"


def test_a_revoked_token_no_longer_works(api, token_mode):
    key = new_token()
    with_key(api, key)
    assert api.get("/api/v1/images/").status_code == 200

    ApiToken.objects.filter(name="scanner-1").delete()

    assert api.get("/api/v1/images/").status_code == 401


def test_only_the_hash_of_a_key_is_stored_and_its_use_is_recorded(api, token_mode):
    key = new_token()

    token = ApiToken.objects.get()
    assert key not in {token.key_hash, token.prefix, token.name}
    assert token.key_hash == hash_key(key)
    assert token.prefix == key[:8]
    assert token.last_used_at is None

    with_key(api, key).get("/api/v1/images/")

    assert ApiToken.objects.get().last_used_at is not None


def test_a_staff_login_session_may_use_the_api_in_token_mode(client, token_mode):
    client.force_login(User.objects.create(username="admin", is_staff=True))

    assert client.get("/api/v1/images/").status_code == 200


def test_a_login_session_of_a_non_staff_user_is_refused_with_403(client, token_mode):
    client.force_login(User.objects.create(username="someone"))

    response = client.get("/api/v1/images/")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/", "/redoc/", "/admin/login/"])
def test_schema_docs_and_admin_login_need_no_token(client, token_mode, path):
    assert client.get(path).status_code == 200


def test_open_mode_needs_no_token(api):
    assert upload(api).status_code == 201
    assert api.get("/api/v1/images/").status_code == 200


def test_open_mode_still_refuses_an_invalid_token(api):
    response = api.get("/api/v1/images/", HTTP_AUTHORIZATION="Token wrong")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_schema_documents_token_auth_and_the_access_errors(settings):
    settings.IMAGES_AUTH = "token"
    schema = SchemaGenerator().get_schema(request=None, public=True)
    upload_operation = schema["paths"]["/api/v1/images/upload"]["post"]

    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"
    assert {"401", "403", "429"} <= set(upload_operation["responses"])
    assert {} not in upload_operation["security"]

    settings.IMAGES_AUTH = "open"
    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert {} in schema["paths"]["/api/v1/images/upload"]["post"]["security"]
