"""The admin's list of images seen again asks the service for none of its thumbnails: their
URLs name the version of the file they are made from, and are kept by the browser for good
(images/infra/versions.py)."""

import io
import re

import pytest
import requests
from playwright.sync_api import expect

from tests.factories import encode, plate_photo
from tests_browser.test_admin import log_in

THUMBNAIL_REQUEST = re.compile(
    r"GET /admin/images/image/[0-9a-f-]{36}/thumbnail/\d+/ "
)  # no query logged


@pytest.fixture
def context(browser, service):
    """A context of its own: the ``page`` fixture routes every request to keep the page on
    127.0.0.1, and Playwright turns the browser's HTTP cache off for a context that routes."""
    context = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    yield context
    context.close()


def thumbnails_asked(service) -> int:
    """How many thumbnail requests reached the service so far (its request log)."""
    return len(THUMBNAIL_REQUEST.findall(service.log()))


def all_loaded(page) -> None:
    images = page.locator("#result_list img")
    expect(images.first).to_be_visible()
    for image in images.all():
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )


def test_the_admin_list_seen_again_asks_for_no_thumbnail(context, service):
    for height in (300, 310, 320):
        data = encode(plate_photo((600, height)), "JPEG", quality=90)
        answer = requests.post(
            f"{service.url}/api/v1/images/upload",
            files={"file": (f"plate-{height}.jpg", io.BytesIO(data), "image/jpeg")},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
    page = context.new_page()
    log_in(page)
    before = thumbnails_asked(service)
    page.goto("/admin/images/image/")
    all_loaded(page)
    first_view = thumbnails_asked(service) - before
    assert first_view >= 3  # the log counts them: the first view asked for each

    page.reload()
    all_loaded(page)
    page.goto("/admin/")
    page.goto("/admin/images/image/")
    all_loaded(page)

    assert thumbnails_asked(service) - before == first_view  # none asked again
