"""The data migration that gives images stored before revisions existed their revisions."""

import hashlib
import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from images.imaging import decode as imaging
from images.imaging import hashing
from images.models import ImageRevision
from tests.factories import encode, pattern

pytestmark = pytest.mark.django_db(transaction=True)


def before_revisions() -> tuple[str, str]:
    """The migration before the revisions one, found by name (numbers change at merges)."""
    graph = MigrationExecutor(connection).loader.graph
    [node] = [n for n in graph.nodes if n[0] == "images" and n[1].endswith("_trash_revisions")]
    [before] = graph.node_map[node].parents
    return before.key


def migrate(target: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def stored(data: bytes, ext: str = "png") -> str:
    return default_storage.save(
        f"images/aa/{hashlib.md5(data).hexdigest()}.{ext}", ContentFile(data)
    )


def row(Image, *, name: str, current: bytes, original: bytes, original_name: str | None = None):
    current_name = stored(current)
    original_name = original_name or (current_name if current == original else stored(original))
    info = imaging.analyze(io.BytesIO(current), max_pixels=10**8)
    return Image.objects.create(
        name=name,
        file=current_name,
        format=info.format,
        width=info.width,
        height=info.height,
        file_size=len(current),
        sha256=hashlib.sha256(current).hexdigest(),
        phash=info.phash,
        phash_value=hashing.phash_to_int(info.phash),
        original=original_name,
        original_format="PNG",
        original_file_size=len(original),
        original_sha256=hashlib.sha256(original).hexdigest(),
    )


def test_existing_images_get_revision_1_and_a_crop_revision_for_a_cropped_file():
    old = migrate([before_revisions()])
    Image = old.get_model("images", "Image")
    whole = encode(pattern((80, 60)), "PNG")
    crop = encode(pattern((80, 60)).crop((0, 0, 40, 30)), "PNG")
    plain = row(Image, name="plain", current=whole, original=whole)
    cropped = row(Image, name="cropped", current=crop, original=encode(pattern((90, 60)), "PNG"))
    lost = row(Image, name="lost", current=crop, original=whole, original_name="images/aa/gone.png")

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    def revisions_of(image) -> list[tuple]:
        rows = ImageRevision.objects.filter(image_id=image.pk).order_by("revision")
        return [
            (r.revision, r.operation, r.crop, r.file.name, r.width, r.height, r.sha256)
            for r in rows
        ]

    assert revisions_of(plain) == [
        (1, "upload", None, plain.file.name, 80, 60, plain.sha256),
    ]
    assert revisions_of(cropped) == [
        (1, "upload", None, cropped.original.name, 90, 60, cropped.original_sha256),
        (2, "crop", None, cropped.file.name, 40, 30, cropped.sha256),
    ]
    original_phash = imaging.analyze(
        default_storage.open(cropped.original.name), max_pixels=10**8
    ).phash
    assert ImageRevision.objects.get(image_id=cropped.pk, revision=1).phash == original_phash
    # An unreadable original still gets its revision; images_check reports the file.
    assert [r[:4] for r in revisions_of(lost)] == [
        (1, "upload", None, "images/aa/gone.png"),
        (2, "crop", None, lost.file.name),
    ]
