"""The schema as people read it (imageservice/openapi.py): every operation in one of the
six groups, the groups and their operations in the order a newcomer meets them, and
request bodies whose examples are a lab's values, never drf-spectacular's placeholders."""

import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from imageservice.openapi import METADATA, OPERATIONS

GROUPS = [
    "images",
    "files and renditions",
    "labels",
    "similar and diff",
    "trash and revisions",
    "history and events",
    "webhooks",
]
METHODS = {"get", "put", "post", "patch", "delete"}
PLACEHOLDERS = ["additionalProp1", '"string"']


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict) -> list[dict]:
    return [
        operation
        for methods in schema["paths"].values()
        for method, operation in methods.items()
        if method in METHODS
    ]


def test_the_groups_are_listed_in_the_order_of_the_tasks(schema):
    assert [tag["name"] for tag in schema["tags"]] == GROUPS
    assert all(tag["description"] for tag in schema["tags"])


def test_every_operation_is_in_exactly_one_group(schema):
    for operation in operations(schema):
        assert operation["tags"] in ([group] for group in GROUPS), operation["operationId"]
    documented = {operation["operationId"] for operation in operations(schema)}
    listed = [operation_id for ids in OPERATIONS.values() for operation_id in ids]
    assert sorted(listed) == sorted(documented)  # none left out, none stale, none twice


def test_operations_come_group_by_group_upload_first(schema):
    shown = [operation["tags"][0] for operation in operations(schema)]

    assert shown == sorted(shown, key=GROUPS.index)
    assert operations(schema)[0]["operationId"] == "images_upload"


def test_the_order_changes_no_path_and_no_operation_id(schema):
    plain = SchemaGenerator().get_schema(request=None, public=True)

    assert set(plain["paths"]) == set(schema["paths"])
    for path, methods in plain["paths"].items():
        assert {m: o["operationId"] for m, o in methods.items()} == {
            m: o["operationId"] for m, o in schema["paths"][path].items()
        }


def test_the_upload_form_starts_empty_named_with_a_labs_tags_and_metadata(schema):
    form = schema["components"]["schemas"]["ImageUploadRequest"]["properties"]

    assert form["name"]["example"] == ""  # empty: the file's own name
    assert form["metadata"]["example"] == {"plate": "P-0042", "well": "B7", "timepoint": 3}
    assert form["tags"]["example"] == ["P-0042", "brightfield"]
    assert "example" not in form["file"]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/images/", "post"),
        ("/api/v1/images/{image_id}", "patch"),
        ("/api/v1/images/{image_id}", "put"),
        ("/api/v1/images/bulk", "post"),
        ("/api/v1/images/search", "post"),
        ("/api/v1/images/{image_id}/restore", "post"),
    ],
)
def test_every_json_body_has_named_examples_that_its_schema_allows(schema, path, method):
    body = schema["paths"][path][method]["requestBody"]["content"]["application/json"]
    component = body["schema"]["$ref"].split("/")[-1]
    properties = schema["components"]["schemas"][component]["properties"]

    assert body["examples"]
    for example in body["examples"].values():
        assert set(example["value"]) <= set(properties), example
        text = json.dumps(example["value"])
        assert not any(placeholder in text for placeholder in PLACEHOLDERS), text


def test_the_image_responses_show_a_labs_tags_and_metadata(schema):
    image = schema["components"]["schemas"]["Image"]["properties"]

    assert image["metadata"]["example"] == METADATA
    assert image["tags"]["example"] == ["P-0042", "brightfield"]


def test_the_image_and_error_samples_are_whole_objects_of_their_own_fields(schema):
    for name in ("Image", "Error"):
        component = schema["components"]["schemas"][name]

        assert set(component["example"]) <= set(component["properties"]), name
        assert set(component["required"]) <= set(component["example"]), name


@pytest.mark.django_db
def test_the_search_opens_on_its_json_body_whose_example_runs_as_it_stands(schema, client):
    body = schema["paths"]["/api/v1/images/search"]["post"]["requestBody"]["content"]

    assert next(iter(body)) == "application/json"
    example = body["application/json"]["examples"]["by phash"]["value"]
    answer = client.post("/api/v1/images/search", example, content_type="application/json")
    assert answer.status_code == 200, answer.content
