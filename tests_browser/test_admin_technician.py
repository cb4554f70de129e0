"""The admin as a lab technician uses it, in Chromium: images first on the index; several
files added at once with tags and metadata typed as rows; the list's tag and metadata
columns and filters; metadata edited as rows or as JSON; the History button; deleting to
the trash and restoring from a trashed image's page. Screenshots in tests_browser/artifacts/."""

import json
import re

import pytest
import requests
from playwright.sync_api import expect

from tests.factories import encode, plate_photo
from tests_browser.conftest import ARTIFACTS
from tests_browser.test_admin import expect_loaded, log_in


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


@pytest.fixture
def wells(tmp_path):
    paths = []
    for seed, well in enumerate(("B7", "B8", "B9"), start=20):
        path = tmp_path / f"P-0050-{well}.jpg"
        path.write_bytes(encode(plate_photo((480, 360), seed=seed), "JPEG"))
        paths.append(path)
    return paths


def api_image(service, name: str) -> dict:
    listing = requests.get(f"{service.url}/api/v1/images/?name={name}", timeout=10).json()
    assert listing["count"] == 1, listing
    return listing["results"][0]


def fill_row(page, index: int, key: str, kind: str, value: str) -> None:
    row = page.locator(".metadata-row").nth(index)
    row.locator("input[name=metadata-key]").fill(key)
    row.locator("select").select_option(kind)
    row.locator("input[name=metadata-value]").fill(value)


def test_images_come_first_on_the_index(page):
    log_in(page)

    captions = page.locator("#content-main caption a").all_text_contents()
    assert captions[0] == "Images"
    assert captions.index("Images") < captions.index("Axes")
    shot(page, "admin-index")


def test_several_files_with_tags_and_metadata_rows_then_listed_and_filtered(page, service, wells):
    log_in(page)
    page.goto("/admin/images/image/add/")
    page.set_input_files("#id_upload", wells)
    page.fill("#id_tags", "P-0050, brightfield")
    fill_row(page, 0, "plate", "text", "P-0050")
    fill_row(page, 1, "timepoint", "number", "3")
    page.get_by_role("button", name="Add a key").click()
    fill_row(page, 2, "reviewed", "yes/no", "no")
    page.locator(".metadata-json summary").click()  # the JSON box follows the rows
    expect(page.locator("#id_metadata")).to_have_value(re.compile('"timepoint": 3'))
    shot(page, "admin-add-several")
    page.click("input[name=_save]")

    expect(page.locator(".messagelist")).to_contain_text("3 images added")
    for well in ("B7", "B8", "B9"):
        stored = api_image(service, f"P-0050-{well}")
        assert stored["tags"] == ["P-0050", "brightfield"]
        assert stored["metadata"] == {"plate": "P-0050", "timepoint": 3, "reviewed": False}

    row = page.locator("#result_list tbody tr").filter(has_text="P-0050-B8")
    expect(row.locator(".field-tags_column")).to_contain_text("brightfield")
    expect(row.locator(".field-metadata_plate")).to_have_text("P-0050")
    expect(row.locator(".field-metadata_timepoint")).to_have_text("3")
    expect_loaded(page, row.locator("img"))
    shot(page, "admin-list")

    page.locator("#changelist-filter").get_by_role("link", name="P-0050", exact=True).first.click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"(tag=P-0050|metadata\.plate=P-0050)"))


def test_metadata_rows_and_the_json_box_edit_an_image(page, service, tmp_path):
    path = tmp_path / "P-0051-C1.png"
    path.write_bytes(encode(plate_photo((320, 240), seed=51), "PNG"))
    with path.open("rb") as file:
        answer = requests.post(
            f"{service.url}/api/v1/images/upload",
            files={"file": file},
            data={"metadata": json.dumps({"plate": "P-0051", "well": "C1", "timepoint": 1})},
            timeout=30,
        )
    image_id = answer.json()["id"]
    log_in(page)
    page.goto(f"/admin/images/image/{image_id}/change/")

    rows = page.locator(".metadata-row")
    well = rows.filter(has=page.locator('input[value="well"]'))
    well.get_by_role("button", name="Remove").click()
    timepoint = rows.filter(has=page.locator('input[value="timepoint"]'))
    timepoint.locator("input[name=metadata-value]").fill("2")
    shot(page, "admin-metadata-rows")
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    stored = requests.get(f"{service.url}/api/v1/images/{image_id}", timeout=10).json()
    assert stored["metadata"] == {"plate": "P-0051", "timepoint": 2}

    page.locator(".metadata-json summary").click()
    page.fill("#id_metadata", '{"plate": "P-0052", "operator": "jdoe"}')
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    stored = requests.get(f"{service.url}/api/v1/images/{image_id}", timeout=10).json()
    assert stored["metadata"] == {"plate": "P-0052", "operator": "jdoe"}
    expect(page.locator('.metadata-row input[value="operator"]')).to_have_count(1)


def test_history_delete_to_the_trash_and_restore_from_its_page(page, service, tmp_path):
    path = tmp_path / "P-0053-D4.jpg"
    path.write_bytes(encode(plate_photo((800, 600), seed=53), "JPEG"))
    with path.open("rb") as file:
        answer = requests.post(
            f"{service.url}/api/v1/images/upload",
            files={"file": file},
            data={"tags": "P-0053, dapi"},
            timeout=30,
        )
    image_id = answer.json()["id"]
    crop = requests.put(f"{service.url}/api/v1/images/{image_id}?width=400&height=300", timeout=30)
    assert crop.status_code == 200, crop.text
    log_in(page)
    page.goto(f"/admin/images/image/{image_id}/change/")

    files = page.locator(".field-current_file, .field-original_file")
    expect(files.nth(0)).to_contain_text("The current file (JPEG, 400 x 300,")
    expect(files.nth(1)).to_contain_text("The original (JPEG, 800 x 600,")

    page.locator(".object-tools").get_by_role("link", name="History").click()
    events = page.locator(".image-history tbody tr")
    expect(events).to_have_count(2)
    expect(events.nth(0)).to_contain_text("cropped")
    expect(events.nth(0)).to_contain_text("width: 800 → 400")
    expect(events.nth(1)).to_contain_text("tags: P-0053, dapi")
    shot(page, "admin-history")

    page.goto(f"/admin/images/image/{image_id}/delete/")
    expect(page.locator(".trash-note")).to_contain_text("for 30 days")
    expect(page.locator("#content")).not_to_contain_text("related items")
    shot(page, "admin-delete")
    page.get_by_role("button", name="Yes, move it to the trash").click()
    expect(page.locator(".messagelist")).to_contain_text("Moved to the trash: P-0053-D4")

    page.locator(".messagelist").get_by_role("link", name="P-0053-D4").click()
    expect_loaded(page, page.locator(".field-preview img"))
    expect(page.locator(".field-tag_list .image-tag")).to_have_text(["P-0053", "dapi"])
    shot(page, "admin-trashed-image")
    page.get_by_role("button", name="Restore").click()

    expect(page.locator(".messagelist")).to_contain_text("is restored")
    expect(page).to_have_url(re.compile(rf"/admin/images/image/{image_id}/change/$"))
    assert requests.get(f"{service.url}/api/v1/images/{image_id}", timeout=10).status_code == 200
