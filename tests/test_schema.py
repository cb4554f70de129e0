import pytest
from django.core.management import call_command


def test_openapi_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    schema = out.read_text()
    for path in (
        "/api/v1/images/upload:",
        "/api/v1/images/:",
        "/api/v1/images/{image_id}:",
        "/api/v1/images/{image_id}/file:",
        "/api/v1/images/{image_id}/original:",
        "/api/v1/images/{image_id}/restore:",
        "/api/v1/images/{source_id}/diff/{target_id}:",
    ):
        assert f"  {path}\n" in schema, path


def test_every_images_operation_documents_the_503_of_an_outage(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        if path.startswith("/api/v1/images")
        for method, operation in methods.items()
    ]
    assert len(operations) > 10
    for path, method, operation in operations:
        outage = operation["responses"].get("503")
        assert outage, (method, path)
        assert "database_unavailable" in outage["description"]
        assert outage["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/", "/redoc/", "/api/v1/schema"])
def test_schema_and_docs_are_served(client, path):
    response = client.get(path)

    assert response.status_code == 200


@pytest.mark.django_db
def test_migrations_are_committed():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
