"""Swagger UI and ReDoc render in a real browser from the service alone: no request leaves
127.0.0.1 (the page fixture refuses and reports any)."""

import re

import requests
from playwright.sync_api import expect


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


def test_the_root_opens_the_api_docs(page):
    page.goto("/")

    expect(page).to_have_url(re.compile(r"/api/v1/docs/$"))
    expect(page.locator(".opblock").first).to_be_visible()
