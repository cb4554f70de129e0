import json

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


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/", "/redoc/", "/api/v1/schema"])
def test_schema_and_docs_are_served(client, path):
    response = client.get(path)

    assert response.status_code == 200


@pytest.mark.django_db
def test_migrations_are_committed():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_schema_documents_renditions_and_thumbnail_url(tmp_path):
    out = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(out))
    schema = json.loads(out.read_text())

    operation = schema["paths"]["/api/v1/images/{image_id}/renditions/{spec}"]["get"]
    assert {"image/jpeg", "image/png", "image/webp", "image/avif"} <= set(
        operation["responses"]["200"]["content"]
    )
    assert {"304", "400", "404"} <= set(operation["responses"])
    spec = next(p for p in operation["parameters"] if p["name"] == "spec")
    assert "fill-{W}x{H}" in spec["description"]
    image = schema["components"]["schemas"]["Image"]
    assert image["properties"]["thumbnail_url"]["type"] == "string"
    assert "thumbnail_url" in image["required"]
