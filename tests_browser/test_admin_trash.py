"""The admin's trash in a real browser: delete an image from its page, find it in the
trash, bring it back with the action."""

import requests
from playwright.sync_api import expect

from tests.factories import encode, plate_photo
from tests_browser.conftest import ARTIFACTS
from tests_browser.test_admin import log_in


def test_an_image_deleted_in_the_admin_is_restored_from_the_trash(page, service, tmp_path):
    path = tmp_path / "plate-9.jpg"
    path.write_bytes(encode(plate_photo((400, 300), seed=9), "JPEG"))
    with path.open("rb") as file:
        answer = requests.post(
            f"{service.url}/api/v1/images/upload",
            files={"file": file},
            data={"name": "plate 9, deleted by mistake"},
            timeout=30,
        )
    assert answer.status_code == 201, answer.text
    image_id = answer.json()["id"]
    log_in(page)

    page.goto(f"/admin/images/image/{image_id}/delete/")
    page.click("input[type=submit]")
    expect(page.locator(".messagelist")).to_contain_text("Moved to the trash")
    assert requests.get(f"{service.url}/api/v1/images/{image_id}", timeout=10).status_code == 404

    page.goto("/admin/")
    page.get_by_role("link", name="Trash").click()
    row = page.locator("#result_list tbody tr").filter(has_text="plate 9, deleted by mistake")
    expect(row).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "admin-trash.png", full_page=True)
    row.locator("input[type=checkbox]").check()
    page.select_option("select[name=action]", "restore")
    page.click("button[name=index]")

    expect(page.locator(".messagelist")).to_contain_text("1 restored")
    expect(page.locator("#result_list")).to_have_count(0)  # the trash is empty again
    back = requests.get(f"{service.url}/api/v1/images/{image_id}", timeout=10)
    assert back.status_code == 200
    assert back.json()["name"] == "plate 9, deleted by mistake"
