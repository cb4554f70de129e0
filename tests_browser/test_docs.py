"""Swagger UI and ReDoc render in a real browser from the service alone: no request leaves
127.0.0.1 (the page fixture refuses and reports any). Swagger UI groups the operations by
task, and its upload form starts from a lab's values, which Execute stores as shown; ``/``
leads to both and to the admin."""

import json
import re

import requests
from playwright.sync_api import expect

from tests.factories import encode, plate_photo
from tests_browser.conftest import ARTIFACTS


def documented_operations(service) -> list[tuple[str, str]]:
    schema = requests.get(
        f"{service.url}/api/v1/schema/",
        headers={"Accept": "application/vnd.oai.openapi+json"},
        timeout=10,
    ).json()
    methods = {"get", "post", "put", "patch", "delete"}
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in methods
    ]


def test_swagger_ui_renders_every_operation(page, service):
    operations = documented_operations(service)

    page.goto("/api/v1/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Image service API")
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(operations))
    expect(page.locator('.opblock-summary-path[data-path="/api/v1/images/upload"]')).to_be_visible()
    assert len(operations) >= 10


def test_redoc_renders_the_api_title_and_its_operations(page):
    page.goto("/redoc/")

    expect(page.get_by_role("heading", name=re.compile("Image service API"))).to_be_visible()
    restore = page.get_by_text("Make a revision's bytes (default: the original) current again")
    expect(restore.first).to_be_attached()


def test_the_root_links_swagger_redoc_and_the_admin(page):
    page.goto("/")

    expect(page.get_by_role("heading", name="Image service")).to_be_visible()
    page.get_by_role("link", name="ReDoc").click()
    expect(page).to_have_url(re.compile(r"/redoc/$"))
    page.go_back()
    page.get_by_role("link", name="The admin").click()
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    page.go_back()
    page.get_by_role("link", name="Swagger UI").click()
    expect(page.locator(".opblock").first).to_be_visible()


def test_swagger_ui_groups_the_operations_by_task_in_order(page):
    page.goto("/api/v1/docs/")

    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    names = page.locator(".opblock-tag-section h3 a span").all_inner_texts()
    assert names == [
        "images",
        "files and renditions",
        "labels",
        "similar and diff",
        "trash and revisions",
        "history and events",
        "webhooks",
    ]
    first = page.locator(".opblock").first
    expect(first.locator(".opblock-summary-path")).to_have_attribute(
        "data-path", "/api/v1/images/upload"
    )


def test_the_upload_form_offers_a_labs_labels_and_execute_stores_them(page, service, tmp_path):
    photo = tmp_path / "P-0042-B7.jpg"
    photo.write_bytes(encode(plate_photo((320, 240), seed=42), "JPEG"))
    page.goto("/api/v1/docs/#/images/images_upload")
    upload = page.locator("#operations-images-images_upload")
    upload.get_by_role("button", name="Try it out").click()

    body = upload.locator(".opblock-section-request-body")
    expect(body.locator("input[placeholder=name]")).to_have_value("")
    tags = body.locator(".json-schema-array input[type=text]")
    expect(tags).to_have_count(2)
    assert [tags.nth(0).input_value(), tags.nth(1).input_value()] == ["P-0042", "brightfield"]
    metadata = body.locator("textarea")
    expect(metadata).to_have_count(1)
    assert json.loads(metadata.input_value()) == {"plate": "P-0042", "well": "B7", "timepoint": 3}
    values = [field.input_value() for field in body.locator("input[type=text], textarea").all()]
    assert "string" not in values
    assert not any("additionalProp" in value for value in values), values
    ARTIFACTS.mkdir(exist_ok=True)
    upload.screenshot(path=ARTIFACTS / "swagger-upload-form.png")

    body.locator("input[type=file]").set_input_files(photo)
    upload.get_by_role("button", name="Execute").click()

    expect(upload.locator(".live-responses-table tbody .response-col_status")).to_have_text("201")
    listing = requests.get(f"{service.url}/api/v1/images/?name=P-0042-B7", timeout=10).json()
    assert listing["count"] == 1
    stored = listing["results"][0]
    assert stored["name"] == "P-0042-B7"  # the file's own name
    assert stored["tags"] == ["P-0042", "brightfield"]
    assert stored["metadata"] == {"plate": "P-0042", "well": "B7", "timepoint": 3}
