import io
import re
import socket

import pytest
from django.contrib.auth.models import Permission, User
from PIL import Image as PILImage

from images import services
from images.imaging import hashing
from images.models import Image, ImageEvent
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


def test_admin_change_renames_and_delete_moves_to_the_trash(staff, files):
    add(staff, image_bytes("PNG"), "old.png")
    image = Image.objects.get()

    staff.post(f"/admin/images/image/{image.pk}/change/", {"name": "new", "description": "d"})
    assert Image.objects.get().name == "new"

    kept = files()
    staff.post(f"/admin/images/image/{image.pk}/delete/", {"post": "yes"})
    assert Image.objects.count() == 0
    assert Image.all_objects.get().deleted_at is not None  # in the trash, as the API's delete
    assert files() == kept
    assert staff.get(f"/admin/images/image/{image.pk}/change/").status_code == 302  # not live


def test_admin_change_page_lists_near_duplicates_with_thumbnails_and_distances(staff):
    photo = plate_photo()
    add(staff, encode(photo, "PNG"), "plate.png")
    add(staff, encode(photo, "JPEG", quality=85), "plate-jpeg.jpg")
    add(staff, encode(pattern((64, 64), variant=2).rotate(90), "PNG"), "other.png")
    plate, twin, other = (Image.objects.get(name=n) for n in ("plate", "plate-jpeg", "other"))
    distance = hashing.hamming(plate.phash_value, twin.phash_value)
    assert distance <= 10 < hashing.hamming(plate.phash_value, other.phash_value)

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


def test_adding_bytes_already_stored_shows_the_stored_twin_and_stores_nothing(staff, files):
    data = image_bytes("PNG", (60, 40))
    add(staff, data, "plate.png")
    twin = Image.objects.get()

    response = add(staff, data, "plate-again.png")

    assert response.status_code == 200  # the form again, not a redirect to the list
    page = response.content.decode()
    assert "These exact bytes are already stored" in page
    assert f'href="/admin/images/image/{twin.pk}/change/"' in page
    assert f"/admin/images/image/{twin.pk}/thumbnail/96/" in page
    assert "as its current file" in page
    assert "Store anyway" in page
    assert Image.objects.count() == 1
    assert len(files()) == 1


def test_store_anyway_stores_a_second_copy_of_the_same_bytes(staff, files):
    data = image_bytes("PNG", (60, 40))
    add(staff, data, "plate.png")

    response = add(staff, data, "plate-again.png", store_anyway="on")

    assert response.status_code == 302
    assert sorted(Image.objects.values_list("name", flat=True)) == ["plate", "plate-again"]
    assert len(files()) == 2


def test_adding_the_original_bytes_of_a_cropped_image_shows_that_image(staff, files):
    data = image_bytes("JPEG", (120, 80))
    add(staff, data, "plate.jpg")
    image = Image.objects.get()
    services.image_crop(image_id=image.pk, width=60, height=40)

    page = add(staff, data, "plate.jpg").content.decode()

    assert f'href="/admin/images/image/{image.pk}/change/"' in page
    assert f"/admin/images/image/{image.pk}/original/thumbnail/96/" in page  # those bytes
    assert "as its original" in page
    assert Image.objects.count() == 1
    assert len(files()) == 2  # the original and the crop, nothing new


def test_change_page_of_an_uncropped_image_links_its_file_and_says_it_is_the_original(staff):
    add(staff, image_bytes("PNG", (30, 20)), "plate.png")
    image = Image.objects.get()

    page = staff.get(f"/admin/images/image/{image.pk}/change/").content.decode()

    size = f"{image.file_size}\xa0bytes"
    assert (
        f'<a href="/api/v1/images/{image.pk}/file" class="file-link">The current file</a> '
        f"(PNG, 30 x 20, {size}): the original"
    ) in page
    assert (
        f'<a href="/api/v1/images/{image.pk}/original" class="file-link">The original</a> '
        f"(PNG, 30 x 20, {size}), the bytes as first received: the current file is the original"
    ) in page
    assert f"{image.pk}.png" not in page  # links say what they open, not a file name
    assert "Restore original" not in page
    assert staff.get(f"/api/v1/images/{image.pk}/file").status_code == 200


def test_change_page_of_a_cropped_image_shows_the_original_and_restores_it(staff, api, files):
    add(staff, encode(plate_photo((600, 300)), "JPEG"), "plate.jpg")
    image = Image.objects.get()
    api.put(f"/api/v1/images/{image.pk}?width=200&height=100")  # as a client crops

    page = staff.get(f"/admin/images/image/{image.pk}/change/").content.decode()

    assert "The current file</a> (JPEG, 200 x 100, " in page
    assert ": cropped from the original below" in page
    assert "The original</a> (JPEG, 600 x 300, " in page  # read from its header
    assert "cropped since" in page
    assert f'href="/api/v1/images/{image.pk}/original"' in page
    preview = f"/admin/images/image/{image.pk}/original/thumbnail/480/"
    assert preview in page
    shown = PILImage.open(io.BytesIO(staff.get(preview).content))
    assert shown.size == (480, 240)  # the original's shape, not the crop's
    restore = f'action="/admin/images/image/{image.pk}/restore/"'
    assert restore in page
    assert "Restore original" in page

    response = staff.post(f"/admin/images/image/{image.pk}/restore/", follow=True)

    image.refresh_from_db()
    assert (image.width, image.height) == (600, 300)
    assert image.file.name == image.original.name
    assert len(files()) == 2  # the crop's file stays, a revision, as after the API's restore
    assert response.redirect_chain[-1][0] == f"/admin/images/image/{image.pk}/change/"
    assert "is the current image again" in response.content.decode()
    assert "Restore original" not in response.content.decode()


def test_restore_is_a_post_and_needs_the_change_permission(staff, client):
    add(staff, image_bytes("PNG", (60, 40)), "plate.png")
    image = Image.objects.get()
    services.image_crop(image_id=image.pk, width=30, height=20)
    url = f"/admin/images/image/{image.pk}/restore/"
    assert staff.get(url).status_code == 405

    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_image"))
    client.force_login(viewer)
    assert client.get(f"/admin/images/image/{image.pk}/change/").status_code == 200
    assert client.post(url).status_code == 404

    image.refresh_from_db()
    assert (image.width, image.height) == (30, 20)  # still cropped


def test_list_and_change_page_write_formats_and_sizes_for_people(staff):
    data = encode(noise((700, 700)), "PNG")
    add(staff, data, "noisy.png")
    add(staff, image_bytes("JPEG"), "plate.jpg")
    image = Image.objects.get(name="noisy")
    megabytes = f"{len(data) / 1024 / 1024:.1f}\xa0MB"

    listing = staff.get("/admin/images/image/").content.decode()
    change = staff.get(f"/admin/images/image/{image.pk}/change/").content.decode()

    for page in (listing, change):
        assert megabytes in page
        assert f">{len(data)}<" not in page
        # As words: a CSRF token or a hash may hold the letters "Png" by chance.
        assert not re.search(r"\b(Jpeg|Png)\b", page)
    assert '<div class="readonly">PNG</div>' in change
    assert "(PNG, 700 x 700, " in change
    assert '<td class="field-format_name">PNG</td>' in listing
    assert '<td class="field-format_name">JPEG</td>' in listing
    assert '?format__exact=JPEG">JPEG</a>' in listing  # the filter, as the API writes it


def test_the_admin_is_titled_for_the_service_and_view_site_opens_the_front_page(staff):
    page = staff.get("/admin/").content.decode()

    assert "<title>Images and API tokens | Image service admin</title>" in page
    assert '<div id="site-name"><a href="/admin/">Image service</a></div>' in page
    assert "Django administration" not in page
    assert '<a href="/">View site</a>' in page
    assert 'href="/api/v1/docs/"' in staff.get("/").content.decode()


def noise(size: tuple[int, int]):
    import numpy as np

    pixels = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return PILImage.fromarray(pixels)


def test_restore_with_the_store_unreachable_says_so_and_changes_nothing(staff, use_s3):
    bucket = use_s3()
    add(staff, image_bytes("PNG", (60, 40)), "plate.png")
    image = Image.objects.get()
    services.image_crop(image_id=image.pk, width=30, height=20)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{unused.getsockname()[1]}"  # nothing listens there
    use_s3(AWS_S3_ENDPOINT_URL=gone, AWS_STORAGE_BUCKET_NAME=bucket.name)

    response = staff.post(f"/admin/images/image/{image.pk}/restore/", follow=True)

    assert response.status_code == 200
    assert "The original could not be restored" in response.content.decode()
    assert "dimensions unknown" in response.content.decode()  # its header is unreadable too
    image.refresh_from_db()
    assert (image.width, image.height) == (30, 20)


def change(staff, image: Image, **fields):
    data = {"name": image.name, "description": image.description, "tags": "", "metadata": "{}"}
    return staff.post(f"/admin/images/image/{image.pk}/change/", {**data, **fields})


def test_admin_change_page_shows_and_edits_tags_and_metadata(staff, api):
    add(staff, image_bytes("PNG"), "alpha.png")
    image = Image.objects.get()

    response = change(
        staff, image, tags="plate, re-imaged", metadata='{"well": "B7", "timepoint": 3}'
    )

    assert response.status_code == 302
    image.refresh_from_db()
    assert (image.tags, image.metadata) == (["plate", "re-imaged"], {"well": "B7", "timepoint": 3})
    page = staff.get(f"/admin/images/image/{image.pk}/change/").content.decode()
    assert 'value="plate, re-imaged"' in page
    assert "&quot;timepoint&quot;: 3" in page
    assert api.get("/api/v1/images/", {"metadata.well": "B7"}).json()["count"] == 1

    change(staff, image, tags="plate", metadata='{"well": "C1"}')  # timepoint dropped

    image.refresh_from_db()
    assert (image.tags, image.metadata) == (["plate"], {"well": "C1"})
    assert api.get("/api/v1/images/", {"metadata.timepoint__exists": "true"}).json()["count"] == 0
    assert api.get("/api/v1/images/", {"tag": "re-imaged"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tags": "ok, not#ok"}, "letters, digits, spaces"),
        ({"metadata": "{not json"}, "not valid JSON"),
        ({"metadata": '{"a": {"b": 1}}'}, "a string, a number or a boolean"),
        ({"metadata": '["a"]'}, "JSON object"),
        ({"metadata": '{"plate__id": 1}'}, "may not hold two underscores in a row"),
    ],
)
def test_admin_change_refuses_bad_tags_or_metadata_and_changes_nothing(staff, fields, message):
    add(staff, image_bytes("PNG"), "alpha.png")
    image = Image.objects.get()

    response = change(staff, image, name="renamed", **fields)

    assert response.status_code == 200
    assert message in response.content.decode()
    image.refresh_from_db()
    assert (image.name, image.tags, image.metadata) == ("alpha", [], {})


def test_admin_lists_by_tag_and_search_finds_tags_and_metadata_values(staff):
    for width, name in enumerate(("alpha", "beta", "gamma"), start=40):  # distinct bytes
        add(staff, encode(pattern((width, 30)), "PNG"), f"{name}.png")
    alpha, beta, gamma = (Image.objects.get(name=name) for name in ("alpha", "beta", "gamma"))
    change(staff, alpha, tags="contaminated", metadata='{"well": "B7"}')
    change(staff, beta, tags="clean", metadata='{"well": "C1", "plate": "B7", "t": 3}')

    def listed(query: str) -> set[str]:
        page = staff.get(f"/admin/images/image/?{query}").content.decode()
        results = page[page.index('id="result_list"') :].split("</table>")[0]  # no messages
        return {name for name in ("alpha", "beta", "gamma") if f">{name}<" in results}

    assert listed("tag=contaminated") == {"alpha"}
    assert "contaminated" in staff.get("/admin/images/image/").content.decode()  # the filter
    assert listed("q=B7") == {"alpha", "beta"}  # a value of any key
    assert listed("q=well%3DB7") == {"alpha"}  # one key's value
    assert listed("q=clean") == {"beta"}  # a tag
    assert listed("q=t%3D3") == {"beta"}
    assert listed("q=3") == {"beta"}  # a number
    assert listed("q=gamma") == {"gamma"}  # names still
    assert gamma.tags == []


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

    for height in (300, 301, 302):  # three different images: the admin refuses twins
        add(staff, image_bytes("JPEG", (600, height)), f"{height}.jpg")
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


def test_admin_list_thumbnails_are_kept_by_the_browser_for_good_and_a_crop_changes_their_urls(
    staff,
):
    add(staff, image_bytes("JPEG", (600, 300)), "plate.jpg")
    image = Image.objects.get()
    [url] = thumbnail_urls(staff.get("/admin/images/image/").content)

    response = staff.get(url)

    assert url.endswith(f"?v={image.sha256[:16]}")
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    services.image_crop(image_id=image.pk, width=300, height=300)
    [cropped] = thumbnail_urls(staff.get("/admin/images/image/").content)
    assert cropped != url
    assert staff.get(cropped).status_code == 200
    assert staff.get(url).status_code == 404  # the page that named it is out of date


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


def test_change_page_shows_the_history_newest_first_with_who_made_each_change(staff, api):
    add(staff, image_bytes("PNG"), "alpha.png")
    image = Image.objects.get()
    change(staff, image, name="beta", tags="plate")
    api.patch(f"/api/v1/images/{image.pk}", {"metadata": {"well": "B7"}}, format="json")

    page = staff.get(f"/admin/images/image/{image.pk}/change/").content.decode()

    rows = re.findall(r'<td class="event-action">(\w+)</td><td class="event-actor">([^<]*)<', page)
    assert rows == [
        ("updated", "anonymous from 127.0.0.1"),
        ("updated", "user admin from 127.0.0.1"),
        ("created", "user admin from 127.0.0.1"),
    ]
    assert "<div>name: alpha → beta</div>" in page
    assert "<div>tags: (none) → plate</div>" in page
    assert "<div>metadata: (none) → well=B7</div>" in page


def test_restores_and_deletes_in_the_admin_are_recorded_as_the_admin_user(staff, api):
    add(staff, image_bytes("PNG", (64, 48)), "alpha.png")
    image = Image.objects.get()
    api.put(f"/api/v1/images/{image.pk}?width=20&height=10")

    staff.post(f"/admin/images/image/{image.pk}/restore/")
    staff.post(f"/admin/images/image/{image.pk}/delete/", {"post": "yes"})

    events = ImageEvent.objects.filter(image_id=image.pk).order_by("cursor")
    assert [(e.action, e.actor_kind, e.actor_name) for e in events] == [
        ("created", "user", "admin"),
        ("cropped", "anonymous", None),
        ("restored", "user", "admin"),
        ("deleted", "user", "admin"),
    ]
