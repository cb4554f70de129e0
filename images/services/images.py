"""Writing images: create, crop, rename, describe, restore. Reads are in selectors; the
trash (delete, undelete, purge) is images/services/trash.py, the revisions
images/services/revisions.py.

Every write follows one rule: the database row is the truth. Bytes are stored under a new
generated name first (images/infra/storage.py), the row is switched to them in a transaction, and
only once that transaction has committed are the files it no longer names removed (a crop
or restore names no fewer: every revision's file is kept, images/services/revisions.py). A
failure removes whatever the operation wrote, so nothing is left behind; a failure before
the commit (the database lost half-way) removes it without asking the database. A create
checks that the database answers before it decodes and stores anything.

Every write that gives an image a phash saves it through ``similarity.save_with_revision``,
which stamps the row for the similarity index's change feed (images/similarity.py). Every write
of an image's tags and metadata changes the index rows of them in the same transaction
(images/labels/index.py); edits of names, descriptions, tags and metadata are in
images/services/edits.py. Every write records what it changed, and ``actor``, who asked, as an
event of the image's history in its own transaction, after its last write (images/history.py).
"""

import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from django.conf import settings
from django.db import transaction

from images import incoming, similarity
from images.history import ANONYMOUS, Action, Actor, created_changes, event_record, size_changes
from images.imaging import crop as cropping
from images.imaging import decode as imaging
from images.imaging import hashing
from images.infra import database, storage
from images.models import Image, ImageRevision, revision_not_found
from images.services import edits as labels
from images.services import renditions, revisions


def image_create(
    *,
    file: BinaryIO | None = None,
    url: str | None = None,
    name: str | None = None,
    description: str = "",
    source_url: str | None = None,
    sha256: str | None = None,
    tags: list[str] | None = None,
    metadata: dict | None = None,
    dedupe: bool = False,
    actor: Actor = ANONYMOUS,
) -> Image:
    """Validate, hash and store an image: the bytes of ``file``, or of ``url`` downloaded
    safely (images/infra/fetch.py) and stored exactly as an upload; ``sha256`` may be given
    if already computed. ``name`` defaults to the file's or the URL's file name.

    With ``dedupe``, the stored image with exactly these bytes (the oldest, if several, as
    it is: the tags and metadata given are not applied to it) if there is one, marked
    ``deduplicated``; else a new one."""
    if (file is None) == (url is None):
        raise TypeError("image_create takes exactly one of file and url.")
    fields = {"description": description, "tags": tags, "metadata": metadata}
    if url is None:
        return _create(
            file=file,
            name=name or image_default_name(getattr(file, "name", None) or ""),
            source_url=source_url,
            sha256=sha256,
            **fields,
            dedupe=dedupe,
            actor=actor,
        )
    database.check_reachable()  # before the download: its result could not be recorded
    download = incoming.download(url)
    with download.file:
        return _create(
            file=download.file,
            name=name or download.filename or "image",
            source_url=url,
            sha256=download.sha256,
            **fields,
            dedupe=dedupe,
            actor=actor,
        )


def image_default_name(filename: str) -> str:
    """The name an image gets when none is given: its file name without extension."""
    return PurePosixPath(filename).stem[:255] or "image"


def _create(
    *,
    file: BinaryIO,
    name: str,
    description: str,
    source_url: str | None,
    sha256: str | None,
    tags: list[str] | None,
    metadata: dict | None,
    dedupe: bool,
    actor: Actor,
) -> Image:
    tags, metadata = labels.checked(tags, metadata)
    size, digest = incoming.measure(file, sha256=sha256)
    incoming.check_size(size)
    if dedupe and (existing := _oldest_with_bytes(digest)):
        return _deduplicated(existing)  # nothing decoded, nothing written
    database.check_reachable()  # no decode and no file for a row that cannot be written
    info = incoming.analyze(file)
    with storage.cleanup_on_failure() as written:
        stored = storage.save(file, info.format, written=written)
        image = Image(
            name=name[:255],
            description=description,
            source_url=source_url,
            original=stored,
            original_format=info.format,
            original_file_size=size,
            original_sha256=digest,
            tags=tags,
            metadata=metadata,
        )
        _set_current(image, name=stored, info=info, size=size, sha256=digest)
        with written.atomic():
            twin = _insert(image, dedupe=dedupe, actor=actor)
        if twin:
            storage.delete([stored])
            return _deduplicated(twin)
    return image


def _deduplicated(image: Image) -> Image:
    image.deduplicated = True
    return image


def _insert(image: Image, *, dedupe: bool, actor: Actor) -> Image | None:
    """Insert a new image with its index rows, its revision 1 and its ``created`` event,
    inside the creating transaction; or, if a twin upload of the same bytes won the race
    (writers queue on the revision counter's lock, so it is committed and visible here),
    undo all of it and return the twin."""
    similarity.save_with_revision(image, force_insert=True)
    labels.index_new(image)
    revisions.record(image, operation=revisions.Operation.UPLOAD)
    twin = _oldest_with_bytes(image.sha256, other_than=image.pk) if dedupe else None
    if twin:
        transaction.set_rollback(True)
        return twin
    changes = created_changes(image)
    event_record(image_id=image.pk, action=Action.CREATED, actor=actor, changes=changes)
    return None


def _oldest_with_bytes(sha256: str, *, other_than: uuid.UUID | None = None) -> Image | None:
    images = Image.objects.filter(sha256=sha256)
    if other_than is not None:
        images = images.exclude(pk=other_than)
    return images.order_by("created_at", "id").first()


def image_rename(*, image_id: uuid.UUID, name: str, actor: Actor = ANONYMOUS) -> Image:
    return labels.image_edit(image_id=image_id, name=name, actor=actor)


def image_describe(*, image_id: uuid.UUID, description: str, actor: Actor = ANONYMOUS) -> Image:
    return labels.image_edit(image_id=image_id, description=description, actor=actor)


# Crops made outside a transaction that lost the race, before one is made under the lock.
_UNLOCKED_CROP_TRIES = 2


def image_crop(
    *,
    image_id: uuid.UUID,
    width: int,
    height: int,
    left: int | None = None,
    top: int | None = None,
    actor: Actor = ANONYMOUS,
) -> Image:
    """Crop the current image: centred, or the box at ``left``/``top``.

    Concurrent crops of one image apply one after the other, each to the result of the one
    before. A crop decodes and encodes outside any transaction (on SQLite a write
    transaction locks the whole database, so a long crop would stall every other write),
    then switches the row to its result under the row lock only if the row still names the
    file it cropped; if another crop or a restore switched it meanwhile, it starts again
    from the new current file. After a few lost races it crops with the row locked.
    Called inside a transaction, it decodes inside that transaction.

    A box that is the whole current image (a PUT of what GET gave: its width and height)
    is no crop: the image is returned as it is, with nothing decoded, written or recorded.
    """
    box = {"width": width, "height": height, "left": left, "top": top}
    for attempt in range(_UNLOCKED_CROP_TRIES + 1):
        try:
            last = attempt == _UNLOCKED_CROP_TRIES
            return _crop_once(image_id, box=box, locked=last, actor=actor)
        except _StaleCrop:
            continue
    raise AssertionError("unreachable: the last attempt crops under the row lock")


class _StaleCrop(Exception):
    """The row was switched to another file while a crop of the former one was made."""


def _crop_once(image_id: uuid.UUID, *, box: dict, locked: bool, actor: Actor) -> Image:
    with storage.cleanup_on_failure() as written:
        cropped = None
        if not locked:
            seen = Image.objects.get(pk=image_id)
            if _whole_image(seen, box):
                return seen
            try:
                cropped = _crop(seen, box=box, written=written)
            except FileNotFoundError as exc:
                # Most likely the file was replaced and removed meanwhile (another crop won
                # the race). Start again; the last try, under the lock, shows a real fault.
                # An outage is no race: it fails the crop at once (503).
                raise _StaleCrop() from exc
        with written.atomic():
            image = Image.objects.select_for_update().get(pk=image_id)
            if cropped is None:
                if _whole_image(image, box):
                    return image
                cropped = _crop(image, box=box, written=written)
            elif cropped.source != image.file.name:
                raise _StaleCrop()  # removes the file it wrote, on the way out
            before = (image.width, image.height)
            _set_current(
                image,
                name=cropped.name,
                info=cropped.info,
                size=cropped.size,
                sha256=cropped.sha256,
            )
            similarity.save_with_revision(image)
            # The file it replaced stays: it is the revision before this one.
            revisions.record(image, operation=revisions.Operation.CROP, crop=cropped.box)
            renditions.drop_replaced_on_commit(image)
            changes = {"crop": cropped.box, **size_changes(before, image)}
            event_record(image_id=image_id, action=Action.CROPPED, actor=actor, changes=changes)
    return image


@dataclass(frozen=True)
class _Cropped:
    source: str  # the stored file that was cropped
    name: str  # the stored file of the crop
    info: imaging.ImageInfo
    size: int
    sha256: str
    box: dict  # {"left", "top", "width", "height"} in the pixels of the source


def _whole_image(image: Image, box: dict) -> bool:
    """Whether the box is all of the image's current pixels (``InvalidCrop`` if it does
    not fit in them)."""
    crop_box = cropping.crop_box(image_width=image.width, image_height=image.height, **box)
    return crop_box == (0, 0, image.width, image.height)


def _crop(image: Image, *, box: dict, written: Callable[[str], str]) -> _Cropped:
    """Crop the image's current file into a new stored file (recorded with ``written``)."""
    crop_box = cropping.crop_box(image_width=image.width, image_height=image.height, **box)
    with storage.open_file(image.file.name) as current, tempfile.TemporaryFile() as out:
        info = cropping.crop(current, out, box=crop_box, max_pixels=settings.IMAGES_MAX_PIXELS)
        size, digest = incoming.measure(out)
        stored = storage.save(out, info.format, written=written)
    left, top, right, bottom = crop_box
    box = {"left": left, "top": top, "width": right - left, "height": bottom - top}
    return _Cropped(image.file.name, stored, info, size, digest, box)


def image_restore(*, image_id: uuid.UUID, revision: int = 1, actor: Actor = ANONYMOUS) -> Image:
    """Make a revision's bytes current again (default: 1, the original) by adding a
    "restore" revision that names its stored file: nothing is copied or decoded, the
    revision row has what the image row needs. Already current: nothing changes.
    ``ImageRevision.DoesNotExist`` (404) for an unknown revision."""
    target = revisions.revision_of(image_id=image_id, revision=revision)
    image = Image.objects.get(pk=image_id)
    if image.file.name == target.file.name:
        return image
    _check_stored(target)  # a missing file or an outage shows before the switch
    with transaction.atomic():
        image = Image.objects.select_for_update().get(pk=image_id)
        try:
            target = image.revisions.get(revision=revision)
        except ImageRevision.DoesNotExist:  # a trim meanwhile: 404
            raise revision_not_found(image_id, revision) from None
        if image.file.name != target.file.name:
            before = (image.width, image.height)
            info = imaging.ImageInfo(target.format, target.width, target.height, target.phash)
            _set_current(
                image, name=target.file.name, info=info, size=target.file_size, sha256=target.sha256
            )
            similarity.save_with_revision(image)
            revisions.record(image, operation=revisions.Operation.RESTORE)
            renditions.drop_replaced_on_commit(image)
            event_record(
                image_id=image_id,
                action=Action.RESTORED,
                actor=actor,
                changes={"revision": revision, **size_changes(before, image)},
            )
    return image


def _check_stored(target: ImageRevision) -> None:
    """Raise unless the revision's file is there, without reading it (``storage.ERRORS``:
    503); a file gone because the revision was dropped meanwhile is
    ``ImageRevision.DoesNotExist``."""
    if not storage.exists(target.file.name):
        revisions.revision_of(image_id=target.image_id, revision=target.revision)
        raise FileNotFoundError(target.file.name)


def _set_current(
    image: Image, *, name: str, info: imaging.ImageInfo, size: int, sha256: str
) -> None:
    image.file.name = name
    image.format = info.format
    image.width = info.width
    image.height = info.height
    image.file_size = size
    image.sha256 = sha256
    image.phash = info.phash
    image.phash_value = hashing.phash_to_int(info.phash)
