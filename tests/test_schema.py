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
        "/api/v1/images/{image_id}/diff/{target_id}:",
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


def openapi() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def parameters(schema: dict, path: str, method: str = "get") -> set[str]:
    return {p["name"] for p in schema["paths"][path][method].get("parameters", [])}


LABEL_FILTERS = {
    "tag",
    "metadata.KEY",
    "metadata.KEY__gt",
    "metadata.KEY__gte",
    "metadata.KEY__lt",
    "metadata.KEY__lte",
    "metadata.KEY__exists",
}


def test_the_schema_documents_tags_metadata_and_every_filter_parameter():
    schema = openapi()
    image = schema["components"]["schemas"]["Image"]["properties"]

    assert image["tags"]["type"] == "array"
    assert image["tags"]["items"]["type"] == "string"
    assert image["metadata"]["type"] == "object"
    assert {"string", "number", "boolean"} == {
        kind["type"] for kind in image["metadata"]["additionalProperties"]["oneOf"]
    }
    assert parameters(schema, "/api/v1/images/") >= LABEL_FILTERS | {"ordering"}
    assert parameters(schema, "/api/v1/images/facets") >= LABEL_FILTERS | {"field", "limit"}
    assert parameters(schema, "/api/v1/images/{image_id}/similar") >= LABEL_FILTERS
    assert parameters(schema, "/api/v1/images/search", "post") >= LABEL_FILTERS
    bulk = schema["components"]["schemas"]["BulkEditRequest"]["properties"]
    assert set(bulk) == {"ids", "add_tags", "remove_tags", "metadata"}
    assert "post" in schema["paths"]["/api/v1/images/bulk"]
    for body in ("ImageUploadRequest", "ImageFromUrlRequest", "PatchedImageUpdateRequest"):
        assert {"tags", "metadata"} <= set(schema["components"]["schemas"][body]["properties"])


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


def test_schema_documents_the_history_and_the_event_feed_with_an_integer_cursor(tmp_path):
    out = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(out))
    schema = json.loads(out.read_text())
    components = schema["components"]["schemas"]

    history = schema["paths"]["/api/v1/images/{image_id}/history"]["get"]
    page = history["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert {"count", "next", "previous", "results"} <= set(
        components[page.split("/")[-1]]["properties"]
    )
    assert set(components["HistoryEntry"]["properties"]) == {"at", "action", "actor", "changes"}
    assert {"404", "401", "503"} <= set(history["responses"])
    feed = schema["paths"]["/api/v1/events"]["get"]
    parameters = {p["name"]: p["schema"] for p in feed["parameters"]}
    assert (parameters["after"]["type"], parameters["after"]["minimum"]) == ("integer", 0)
    assert (parameters["limit"]["minimum"], parameters["limit"]["maximum"]) == (1, 1000)
    assert {"400", "401", "503"} <= set(feed["responses"])
    assert components["EventFeed"]["properties"]["next_cursor"]["type"] == "integer"
    event = components["Event"]["properties"]
    assert list(event) == ["cursor", "at", "image_id", "action", "actor", "changes"]
    assert event["cursor"]["type"] == "integer"
    assert set(components["EventAction"]["enum"]) == {
        "created", "updated", "cropped", "restored", "deleted", "undeleted"
    }  # fmt: skip
    assert set(components["ActorKind"]["enum"]) == {"token", "user", "anonymous", "command"}


def test_schema_documents_the_trash_and_the_revisions():
    schema = openapi()
    paths, components = schema["paths"], schema["components"]["schemas"]

    assert set(paths["/api/v1/trash/"]) == {"get"}
    assert set(paths["/api/v1/trash/{image_id}"]) == {"delete"}
    assert set(paths["/api/v1/trash/{image_id}/restore"]) == {"post"}
    for path, method in [
        ("/api/v1/trash/", "get"),
        ("/api/v1/trash/{image_id}", "delete"),
        ("/api/v1/trash/{image_id}/restore", "post"),
        ("/api/v1/images/{image_id}/revisions", "get"),
        ("/api/v1/images/{image_id}/revisions/{revision}/file", "get"),
    ]:
        assert {"404", "503"} <= set(paths[path][method]["responses"]), path
    trashed = components["PaginatedTrashedImageList"]["properties"]["results"]["items"]
    assert {"deleted_at", "purge_at"} <= set(
        components[trashed["$ref"].split("/")[-1]]["properties"]
    )
    revision = components["ImageRevision"]["properties"]
    assert list(revision) == [
        "revision", "operation", "crop", "width", "height", "format", "file_size", "sha256",
        "phash", "created_at", "file_url", "current",
    ]  # fmt: skip
    assert set(components["ImageRevisions"]["properties"]) == {"count", "results"}
    restore = paths["/api/v1/images/{image_id}/restore"]["post"]
    assert "revision" in components["RestoreRequest"]["properties"]
    assert not restore["requestBody"].get("required", False)  # the body is optional
    revision_file = paths["/api/v1/images/{image_id}/revisions/{revision}/file"]["get"]
    assert {"image/jpeg", "image/png"} <= set(revision_file["responses"]["200"]["content"])
    assert {"302", "304"} <= set(revision_file["responses"])


# Every operation of the API as clients generated from the schema know it: (method, path,
# operationId). A route, a method or an operationId that changes breaks those clients.
OPERATIONS = {
    ("DELETE", "/api/v1/images/{image_id}", "api_v1_images_destroy"),
    ("DELETE", "/api/v1/trash/{image_id}", "api_v1_trash_destroy"),
    ("GET", "/api/v1/events", "api_v1_events_retrieve"),
    ("GET", "/api/v1/images/", "api_v1_images_list"),
    ("GET", "/api/v1/images/facets", "api_v1_images_facets_retrieve"),
    ("GET", "/api/v1/images/{image_id}", "api_v1_images_retrieve"),
    ("GET", "/api/v1/images/{image_id}/file", "api_v1_images_file_retrieve"),
    ("GET", "/api/v1/images/{image_id}/history", "api_v1_images_history_list"),
    ("GET", "/api/v1/images/{image_id}/original", "api_v1_images_original_retrieve"),
    ("GET", "/api/v1/images/{image_id}/renditions/{spec}", "api_v1_images_renditions_retrieve"),
    ("GET", "/api/v1/images/{image_id}/renditions", "api_v1_images_renditions_list"),
    ("GET", "/api/v1/webhooks/", "api_v1_webhooks_list"),
    ("POST", "/api/v1/webhooks/", "api_v1_webhooks_create"),
    ("GET", "/api/v1/webhooks/{webhook_id}", "api_v1_webhooks_retrieve"),
    ("PATCH", "/api/v1/webhooks/{webhook_id}", "api_v1_webhooks_partial_update"),
    ("DELETE", "/api/v1/webhooks/{webhook_id}", "api_v1_webhooks_destroy"),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries", "api_v1_webhooks_deliveries_list"),
    ("POST", "/api/v1/webhooks/{webhook_id}/redeliver", "api_v1_webhooks_redeliver_create"),
    ("GET", "/api/v1/images/{image_id}/revisions", "api_v1_images_revisions_retrieve"),
    (
        "GET",
        "/api/v1/images/{image_id}/revisions/{revision}/file",
        "api_v1_images_revisions_file_retrieve",
    ),
    ("GET", "/api/v1/images/{image_id}/similar", "api_v1_images_similar_retrieve"),
    ("GET", "/api/v1/images/{image_id}/diff/{target_id}", "api_v1_images_diff_retrieve"),
    (
        "GET",
        "/api/v1/images/{image_id}/diff/{target_id}/image",
        "api_v1_images_diff_image_retrieve",
    ),
    ("GET", "/api/v1/trash/", "api_v1_trash_list"),
    ("PATCH", "/api/v1/images/{image_id}", "api_v1_images_partial_update"),
    ("POST", "/api/v1/images/", "api_v1_images_create"),
    ("POST", "/api/v1/images/bulk", "api_v1_images_bulk_create"),
    ("POST", "/api/v1/images/search", "api_v1_images_search_create"),
    ("POST", "/api/v1/images/upload", "images_upload"),
    ("POST", "/api/v1/images/{image_id}/restore", "api_v1_images_restore_create"),
    ("POST", "/api/v1/trash/{image_id}/restore", "api_v1_trash_restore_create"),
    ("PUT", "/api/v1/images/{image_id}", "api_v1_images_update"),
}


def test_the_schema_has_every_operation_with_its_operation_id_and_no_other():
    schema = openapi()

    documented = {
        (method.upper(), path, operation["operationId"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }

    assert documented == OPERATIONS
    assert len(OPERATIONS) == 32


def test_schema_says_what_a_put_of_get_and_a_patch_crop_do():
    detail = openapi()["paths"]["/api/v1/images/{image_id}"]

    for method in ("put", "patch"):
        description = detail[method]["description"]
        assert '{"width": "100", "height": "100"}` cuts the centre 100x100' in description
        assert "whole current image" in description
        assert "is no crop" in description
        assert "Read-only fields sent back" in description


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/images/", "get"),
        ("/api/v1/images/facets", "get"),
        ("/api/v1/images/{image_id}/similar", "get"),
        ("/api/v1/images/search", "post"),
        ("/api/v1/trash/", "get"),
        ("/api/v1/images/{image_id}/history", "get"),
        ("/api/v1/events", "get"),
    ],
)
def test_schema_says_unknown_query_parameters_are_refused(path, method):
    operation = openapi()["paths"][path][method]

    assert "An unknown query parameter is 400 `invalid_filter`." in operation["description"]
    assert "400" in operation["responses"]
