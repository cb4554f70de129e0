"""The admin in a real browser: log in, add an image through the form, see its thumbnail,
crop it through the API, restore it from its change page."""

import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.factories import encode, plate_photo
from tests_browser.conftest import ARTIFACTS
from tests_browser.server import PASSWORD, USERNAME


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "plate-7.jpg"
    path.write_bytes(encode(plate_photo((900, 600)), "JPEG", quality=90))
    return path


def log_in(page) -> None:
    page.goto("/admin/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_have_text("Image service")


def expect_loaded(page, image) -> None:
    """The <img> shows a decoded picture (not a broken-image icon)."""
    image.scroll_into_view_if_needed()
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=image.element_handle())


def test_add_an_image_see_its_thumbnail_and_restore_it_after_a_crop(page, service, photo):
    log_in(page)
    page.goto("/admin/images/image/add/")
    page.set_input_files("#id_upload", photo)
    page.fill("#id_name", "plate 7")
    page.click("input[name=_save]")

    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    row = page.locator("#result_list tbody tr").filter(has_text="plate 7")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("JPEG")
    expect_loaded(page, row.locator("img"))

    row.get_by_role("link", name="plate 7").click()
    expect(page).to_have_url(re.compile(r"/admin/images/image/[0-9a-f-]{36}/change/$"))
    image_id = page.url.rstrip("/").split("/")[-2]
    expect(page.get_by_role("button", name="Restore original")).to_have_count(0)

    cropped = requests.put(
        f"{service.url}/api/v1/images/{image_id}?width=300&height=200", timeout=30
    )
    assert cropped.status_code == 200, cropped.text
    page.reload()

    expect(page.locator(".field-dimensions .readonly")).to_have_text("300 x 200")
    expect(page.locator(".field-original_file")).to_contain_text("900 x 600")
    expect(page.locator(".field-original_file")).to_contain_text("cropped since")
    expect_loaded(page, page.locator(".field-original_preview img"))
    expect_loaded(page, page.locator(".field-preview img"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "admin-change-page.png", full_page=True)

    page.get_by_role("button", name="Restore original").click()

    expect(page.locator(".messagelist")).to_contain_text("is the current image again")
    expect(page.locator(".field-dimensions .readonly")).to_have_text("900 x 600")
    expect(page.get_by_role("button", name="Restore original")).to_have_count(0)
    original = requests.get(f"{service.url}/api/v1/images/{image_id}", timeout=10).json()
    assert (original["width"], original["height"]) == (900, 600)


def test_adding_the_same_bytes_again_shows_the_stored_twin(page, service, tmp_path):
    path = tmp_path / "plate-8.png"
    path.write_bytes(encode(plate_photo((300, 200), seed=8), "PNG"))
    log_in(page)
    for _ in range(2):
        page.goto("/admin/images/image/add/")
        page.set_input_files("#id_upload", path)
        page.click("input[name=_save]")

    twins = page.locator("#stored-twins")
    expect(twins).to_contain_text("These exact bytes are already stored")
    expect_loaded(page, twins.locator("img"))
    expect(page.locator(".errorlist")).to_contain_text("nothing was stored")
    listing = requests.get(f"{service.url}/api/v1/images/?name=plate-8", timeout=10).json()
    assert listing["count"] == 1
