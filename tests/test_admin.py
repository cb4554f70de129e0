import io
import socket

import pytest
from django.contrib.auth.models import User

from images import imaging
from images.models import Image
from tests.factories import encode, image_bytes, pattern, plate_photo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("admin", "admin@example.test", "pw")
    client.force_login(user)
    return client


def add(client, data: bytes, filename: str = "plate.png", **fields):
    file = io.BytesIO(data)
    file.name = filename
    return client.post("/admin/images/image/add/", {"upload": file, "description": "", **fields})


def test_admin_requires_staff_login(client):
    response = client.get("/admin/images/image/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_add_goes_through_validation_and_hashing(staff, files):
    response = add(staff, image_bytes("PNG", (30, 20)), "plate-9.png")

    assert response.status_code == 302
    image = Image.objects.get()
    assert (image.name, image.format, image.width, image.height) == ("plate-9", "PNG", 30, 20)
    assert len(image.phash) == 16
    assert len(files()) == 1


def test_admin_add_refuses_a_gif_with_a_form_error_and_stores_nothing(staff, files):
    response = add(staff, encode(pattern((8, 8)), "GIF"), "x.gif")

    assert response.status_code == 200
    assert b"GIF images are not accepted" in response.content
    assert Image.objects.count() == 0
    assert files() == []


def test_admin_list_search_filter_and_change_page(staff):
    add(staff, image_bytes("PNG"), "alpha.png")
    add(staff, image_bytes("JPEG"), "beta.jpg")
    image = Image.objects.get(name="alpha")

    listing = staff.get("/admin/images/image/")
    assert listing.status_code == 200
    assert b"alpha" in listing.content
    assert b"beta" in listing.content
    assert b"/thumbnail/" in listing.content
    assert b"beta" not in staff.get("/admin/images/image/?q=alpha").content
    assert b"alpha" in staff.get(f"/admin/images/image/?q={image.sha256}").content
    assert b"alpha" not in staff.get("/admin/images/image/?format__exact=JPEG").content

    change = staff.get(f"/admin/images/image/{image.pk}/change/")
    assert change.status_code == 200
    assert image.phash.encode() in change.content
    assert b'name="sha256"' not in change.content  # computed fields are read-only


def test_admin_thumbnail_is_a_small_image(staff):
    add(staff, image_bytes("JPEG", (600, 300)), "big.jpg")
    image = Image.objects.get()

    response = staff.get(f"/admin/images/image/{image.pk}/thumbnail/96/")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    from PIL import Image as PILImage

    assert max(PILImage.open(io.BytesIO(response.content)).size) <= 96


def test_admin_thumbnail_from_s3_and_none_when_the_store_is_unreachable(staff, use_s3):
    bucket = use_s3()
    add(staff, image_bytes("PNG", (300, 200)), "plate.png")
    url = f"/admin/images/image/{Image.objects.get().pk}/thumbnail/96/"
    assert staff.get(url).status_code == 200

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{unused.getsockname()[1]}"  # nothing listens there
    use_s3(AWS_S3_ENDPOINT_URL=gone, AWS_STORAGE_BUCKET_NAME=bucket.name)

    assert staff.get(url).status_code == 404  # the page shows no preview, not an error


def test_admin_change_renames_and_delete_removes_files(staff, files):
    add(staff, image_bytes("PNG"), "old.png")
    image = Image.objects.get()

    staff.post(f"/admin/images/image/{image.pk}/change/", {"name": "new", "description": "d"})
    assert Image.objects.get().name == "new"

    staff.post(f"/admin/images/image/{image.pk}/delete/", {"post": "yes"})
    assert Image.objects.count() == 0
    assert files() == []


def test_admin_change_page_lists_near_duplicates_with_thumbnails_and_distances(staff):
    photo = plate_photo()
    add(staff, encode(photo, "PNG"), "plate.png")
    add(staff, encode(photo, "JPEG", quality=85), "plate-jpeg.jpg")
    add(staff, encode(pattern((64, 64), variant=2).rotate(90), "PNG"), "other.png")
    plate, twin, other = (Image.objects.get(name=n) for n in ("plate", "plate-jpeg", "other"))
    distance = imaging.hamming(plate.phash_value, twin.phash_value)
    assert distance <= 10 < imaging.hamming(plate.phash_value, other.phash_value)

    page = staff.get(f"/admin/images/image/{plate.pk}/change/").content.decode()

    assert "Near-duplicates" in page
    assert "1 within 10 bits" in page
    assert f"/admin/images/image/{twin.pk}/change/" in page
    assert f"/admin/images/image/{twin.pk}/thumbnail/96/" in page
    assert f"distance {distance}" in page
    assert f"/api/v1/images/{plate.pk}/diff/{twin.pk}/image" in page
    assert f"/admin/images/image/{other.pk}/thumbnail/" not in page
    alone = staff.get(f"/admin/images/image/{other.pk}/change/").content.decode()
    assert "None within 10 bits." in alone


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def thumbnail_urls(html: bytes) -> list[str]:
    import re
    from html import unescape

    return [
        unescape(src) for src in re.findall(r'<img src="([^"]*/thumbnail/[^"]*)"', html.decode())
    ]


def test_admin_thumbnails_are_stored_renditions_and_a_list_page_then_decodes_nothing(
    staff, monkeypatch
):
    from PIL import Image as PILImage

    from images.models import Rendition

    for name in ("a", "b", "c"):
        add(staff, image_bytes("JPEG", (600, 300)), f"{name}.jpg")
    urls = thumbnail_urls(staff.get("/admin/images/image/").content)
    assert len(urls) == 3
    first = [body(staff.get(url)) for url in urls]
    assert Rendition.objects.filter(spec="max-96x96").count() == 3
    opened = []
    real_open = PILImage.open
    monkeypatch.setattr(PILImage, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))

    page = staff.get("/admin/images/image/")
    again = [staff.get(url) for url in thumbnail_urls(page.content)]

    assert [response.status_code for response in again] == [200] * 3
    assert [body(response) for response in again] == first
    assert opened == []  # neither the page nor its thumbnails decoded an image


def test_admin_change_page_preview_is_the_images_rendition(staff):
    from images.models import Rendition

    add(staff, image_bytes("PNG", (900, 600)), "plate.png")
    image = Image.objects.get()

    [preview] = thumbnail_urls(staff.get(f"/admin/images/image/{image.pk}/change/").content)
    response = staff.get(preview)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    rendition = Rendition.objects.get(image=image)
    assert (rendition.spec, rendition.width, rendition.height) == ("max-480x480", 480, 320)
    assert body(response) == body(staff.get(preview))  # the second time, as stored
