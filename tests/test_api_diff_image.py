"""GET /images/{a}/diff/{b}/image: the picture of where two stored images differ."""

import io
import uuid

import pytest
from PIL import Image

from images.imaging import visual_diff
from tests.factories import encode, plate_photo, with_changed_region

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pair(upload):
    """A photo and the same photo with a region changed, both stored."""
    photo = plate_photo()
    first = upload(encode(photo, "JPEG", quality=90), "plate.jpg").json()
    changed = with_changed_region(photo, (300, 60, 360, 120))
    second = upload(encode(changed, "JPEG", quality=90), "plate-again.jpg").json()
    return first, second


def test_diff_json_links_to_the_picture_which_is_a_png(api, pair):
    first, second = pair

    body = api.get(f"/api/v1/images/{first['id']}/diff/{second['id']}").json()
    response = api.get(body["image_url"], HTTP_ACCEPT="application/json")

    assert body["image_url"].endswith(f"/images/{first['id']}/diff/{second['id']}/image")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    picture = Image.open(io.BytesIO(response.content))
    assert picture.format == "PNG"
    # Three 480-wide panels side by side at full scale: it fits the screen as it is.
    assert picture.size == (3 * 480 + 4 * visual_diff.GAP, visual_diff.HEADER + 360 + 12)


def test_the_picture_follows_a_crop(api, pair):
    first, _ = pair
    api.put(f"/api/v1/images/{first['id']}?width=200&height=100")

    response = api.get(f"/api/v1/images/{first['id']}/diff/{first['id']}/image")

    assert response.status_code == 200
    picture = Image.open(io.BytesIO(response.content))
    assert picture.width == 3 * 200 + 4 * visual_diff.GAP


@pytest.mark.parametrize("missing", ["first", "second"])
def test_the_picture_of_an_unknown_image_is_a_json_404(api, pair, missing):
    first, second = pair
    ids = [first["id"], second["id"]]
    ids[0 if missing == "first" else 1] = str(uuid.uuid4())

    response = api.get(f"/api/v1/images/{ids[0]}/diff/{ids[1]}/image")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
