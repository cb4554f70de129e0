"""The Python client (client/, imageservice_client) against the service under gunicorn:
every method, its typed results and its errors, with a token as a lab's machine has."""

import io
import uuid

import httpx
import pytest
import yaml
from imageservice_client import (
    OPERATIONS,
    BadRequest,
    Client,
    Image,
    ImageRefused,
    NotAuthorized,
    NotFound,
    Retries,
    TrashedImage,
)
from PIL import Image as PILImage

from tests.client_fixtures import FileOrigin, create_token
from tests.factories import encode, image_bytes, pattern
from tests.service import Gunicorn


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("client-service")
    with Gunicorn(folder, IMAGES_AUTH="token", IMAGES_ALLOW_PRIVATE_URLS="true") as running:
        yield running
    assert "Traceback" not in running.log()


@pytest.fixture(scope="module")
def token(service) -> str:
    return create_token(service, "lab-pc")


@pytest.fixture
def client(service, token):
    with Client(service.base, token, retries=Retries(attempts=2, max_wait=1)) as client:
        yield client


def picture(variant: int = 0, fmt: str = "JPEG", size=(96, 72)) -> bytes:
    return encode(pattern(size, variant=variant), fmt)


def unique_png() -> bytes:
    """A PNG no other test stores (dedupe would answer another test's image)."""
    image = pattern((80, 60), variant=1)
    image.putpixel((0, 0), tuple(uuid.uuid4().bytes[:3]))
    return encode(image, "PNG")


def test_every_operation_of_the_schema_has_a_client_method(service):
    answer = httpx.get(f"{service.base}/api/v1/schema/")
    schema = yaml.safe_load(answer.text)
    operations = {
        operation["operationId"]
        for methods in schema["paths"].values()
        for method, operation in methods.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert operations == set(OPERATIONS)
    for name in OPERATIONS.values():
        assert callable(getattr(Client, name)), name


def test_upload_of_a_path_bytes_and_a_file_answers_typed_images(client, tmp_path):
    path = tmp_path / "plate.png"
    path.write_bytes(unique_png())
    from_path = client.upload(path, tags=["plate"], metadata={"well": "A1", "t": 3})
    assert from_path.created
    image = from_path.image
    assert isinstance(image, Image)
    assert (image.name, image.format, image.tags) == ("plate", "PNG", ["plate"])
    assert image.metadata == {"t": 3, "well": "A1"}
    assert image.created_at.tzinfo is not None

    again = client.upload(path.read_bytes(), filename="copy.png")  # dedupe by default
    assert (again.created, again.image.id) == (False, image.id)
    copy = client.upload(io.BytesIO(path.read_bytes()), filename="copy.png", dedupe=False)
    assert copy.created
    assert copy.image.id != image.id
    assert copy.image.sha256 == image.sha256


def test_upload_of_what_is_not_an_image_raises_with_the_services_code(client):
    with pytest.raises(ImageRefused) as refused:
        client.upload(image_bytes("GIF"), filename="x.gif")
    assert refused.value.status == 415
    assert refused.value.code == "unsupported_image_format"
    assert refused.value.detail
    with pytest.raises(BadRequest) as broken:
        client.upload(b"\xff\xd8\xff not really a JPEG", filename="x.jpg")
    assert (broken.value.status, broken.value.code) == (400, "invalid_image")


def test_without_a_token_the_service_refuses_and_says_why(service):
    with Client(service.base) as anonymous, pytest.raises(NotAuthorized) as refused:
        anonymous.get(str(uuid.uuid4()))
    assert refused.value.status == 401
    assert refused.value.code == "not_authenticated"


def test_get_of_an_unknown_image_raises_not_found(client):
    with pytest.raises(NotFound) as missing:
        client.get(str(uuid.uuid4()))
    assert (missing.value.status, missing.value.code) == (404, "not_found")


def test_images_pages_through_every_match_with_the_filters(client):
    batch = f"batch-{uuid.uuid4().hex[:8]}"
    ids = [
        client.upload(unique_png(), filename=f"p{n}.png", tags=[batch], metadata={"t": n}).image.id
        for n in range(5)
    ]
    listed = list(client.images(tags=[batch], page_size=2, ordering="metadata.t"))
    assert [image.id for image in listed] == ids
    later = client.images(tags=[batch], metadata={"t__gte": 3}, page_size=2)
    assert [image.metadata["t"] for image in later] == [4, 3]
    page = client.images_page(tags=[batch], page_size=2)
    assert (page.count, len(page.results), page.next is not None) == (5, 2, True)
    facets = client.facets("metadata.t", tags=[batch])
    assert sorted((f.value, f.count) for f in facets) == [(n, 1) for n in range(5)]
    with pytest.raises(BadRequest) as bad:
        client.images_page(ordering="sideways")
    assert bad.value.code == "invalid_filter"


def test_edits_rename_describe_label_crop_and_replace(client):
    image = client.upload(unique_png(), tags=["a"], metadata={"well": "A1"}).image
    assert client.rename(image.id, "plate 7").name == "plate 7"
    assert client.describe(image.id, "re-imaged").description == "re-imaged"
    labelled = client.label(
        image.id, add_tags=["b"], remove_tags=["a"], metadata={"well": None, "t": 2}
    )
    assert (labelled.tags, labelled.metadata) == (["b"], {"t": 2})
    cropped = client.crop(image.id, width=40, height=30, left=0, top=0)
    assert (cropped.width, cropped.height) == (40, 30)
    replaced = client.update(image.id, tags=["c"], name="plate 8")
    assert (replaced.tags, replaced.name) == (["c"], "plate 8")
    edited = client.edit(image.id, metadata={"t": 3})
    assert edited.metadata == {"t": 3}
    assert client.bulk_edit([image.id], add_tags=["d"]) == 1
    assert client.get(image.id).tags == ["c", "d"]


def test_downloads_revisions_and_restore(client):
    original = unique_png()
    image = client.upload(original).image
    client.crop(image.id, width=40, height=30)
    current = client.file(image.id)
    assert current.content_type == "image/png"
    assert PILImage.open(io.BytesIO(current.content)).size == (40, 30)
    assert current.filename == f"{image.id}.png"
    assert client.original(image.id).content == original
    thumbnail = client.rendition(image.id, "max-20x20.jpg")
    assert thumbnail.content_type == "image/jpeg"
    assert max(PILImage.open(io.BytesIO(thumbnail.content)).size) == 20
    revisions = client.revisions(image.id)
    assert [(r.revision, r.operation, r.current) for r in revisions] == [
        (1, "upload", False),
        (2, "crop", True),
    ]
    assert client.revision_file(image.id, 1).content == original
    restored = client.restore_revision(image.id, 1)
    assert (restored.width, restored.height) == (80, 60)
    actions = [entry.action for entry in client.history(image.id)]
    assert actions == ["restored", "cropped", "created"]


def test_delete_trash_restore_and_purge(client):
    kept, purged = (client.upload(unique_png()).image for _ in range(2))
    client.delete(kept.id)
    client.delete(purged.id)
    with pytest.raises(NotFound):
        client.get(kept.id)
    trashed = {image.id: image for image in client.trash()}
    assert {kept.id, purged.id} <= set(trashed)
    assert isinstance(trashed[kept.id], TrashedImage)
    assert trashed[kept.id].purge_at > trashed[kept.id].deleted_at
    assert client.restore(kept.id).id == kept.id
    client.purge(purged.id)
    assert {image.id for image in client.trash()}.isdisjoint({kept.id, purged.id})
    with pytest.raises(NotFound):
        client.restore(purged.id)


def test_similar_search_and_diff(client, tmp_path):
    base = pattern((128, 96), variant=2)
    first = client.upload(encode(base, "PNG"), dedupe=False).image
    second = client.upload(encode(base, "JPEG", quality=90), dedupe=False).image
    found = client.similar(first.id, max_distance=8)
    assert second.id in [match.image.id for match in found.results]
    assert all(match.distance <= 8 for match in found.results)
    path = tmp_path / "probe.png"
    path.write_bytes(encode(base, "PNG"))
    by_file = client.search(file=path, max_distance=0)
    assert first.id in [match.image.id for match in by_file.results]
    by_phash = client.search(phash=first.phash, max_distance=0)
    assert first.id in [match.image.id for match in by_phash.results]
    diff = client.diff(first.id, second.id)
    assert (diff.source_image_id, diff.identical) == (first.id, False)
    assert diff.diff <= 8
    picture_ = client.diff_picture(first.id, second.id)
    assert picture_.content.startswith(b"\x89PNG")


def test_create_from_url_has_the_service_fetch_it(client, tmp_path):
    (tmp_path / "remote.jpg").write_bytes(image_bytes("JPEG", size=(70, 50)))
    with FileOrigin(tmp_path) as origin:
        made = client.create_from_url(f"{origin.url}/remote.jpg", tags=["fetched"])
        again = client.create_from_url(f"{origin.url}/remote.jpg")
    assert made.image.source_url == f"{origin.url}/remote.jpg"
    assert (made.image.width, made.image.tags) == (70, ["fetched"])
    assert (again.created, again.image.id) == (False, made.image.id)


def test_the_event_feed_is_followed_with_its_cursor_kept(client):
    start = client.events(after=0, limit=1000)
    cursor = start.next_cursor
    while (page := client.events(after=cursor, limit=1000)).results:
        cursor = page.next_cursor
    image = client.upload(unique_png()).image
    client.rename(image.id, "followed")
    stream = client.follow(after=cursor, until_caught_up=True)
    events = list(stream)
    assert [(e.image_id, e.action) for e in events] == [
        (image.id, "created"),
        (image.id, "updated"),
    ]
    assert stream.cursor == events[-1].cursor > cursor
    assert list(client.follow(after=stream.cursor, until_caught_up=True)) == []
