"""Every version of an image's bytes, kept until the image is purged (``ImageRevision``).

Revision 1 is the upload (the ``original``); each crop adds one cut from the current
revision, each restore one that points at the stored file of the revision it brings back
(no copy). The highest revision is the current one, the file the image row names. Writes
call ``record`` inside their transaction, with the image row locked (or just inserted), so
revision numbers never collide.

At most IMAGES_MAX_REVISIONS are kept per image: past it, the oldest go first, but never
revision 1 (the original) nor the current one. A dropped revision's file is removed after
the commit, and only when no remaining revision and no image row names it.
"""

import uuid

from django.conf import settings
from django.db.models import Max

from images.infra import storage
from images.models import Image, ImageRevision, revision_not_found

Operation = ImageRevision.Operation


def record(image: Image, *, operation: str, crop: dict | None = None) -> ImageRevision:
    """Add the revision the image's row now names as its current file; then keep the
    revisions within the bound."""
    if operation == Operation.UPLOAD:
        last = 0  # a new image: nothing to ask the database
    else:  # the caller holds the image's row lock: no other revision is numbered meanwhile
        last = image.revisions.aggregate(top=Max("revision"))["top"] or 0
    revision = ImageRevision.objects.create(
        image=image,
        revision=last + 1,
        operation=operation,
        crop=crop,
        file=image.file.name,
        format=image.format,
        width=image.width,
        height=image.height,
        file_size=image.file_size,
        sha256=image.sha256,
        phash=image.phash,
    )
    if operation != Operation.UPLOAD:
        _trim(image, current=revision.revision)
    return revision


def _trim(image: Image, *, current: int) -> None:
    """Drop the oldest revisions past IMAGES_MAX_REVISIONS, never revision 1 nor the
    current one; remove their files after the commit unless still named."""
    revisions = ImageRevision.objects.filter(image=image)
    excess = revisions.count() - settings.IMAGES_MAX_REVISIONS
    if excess <= 0:
        return
    droppable = revisions.exclude(revision__in=[1, current]).order_by("revision")
    dropped = list(droppable.values_list("pk", "file")[:excess])
    ImageRevision.objects.filter(pk__in=[pk for pk, _ in dropped]).delete()
    names = {name for _, name in dropped}
    still_named = set(revisions.filter(file__in=names).values_list("file", flat=True)) | {
        image.file.name,
        image.original.name,
    }
    storage.delete_on_commit(sorted(names - still_named))


def files_of(image: Image) -> set[str]:
    """Every stored file the image's revisions name."""
    return set(ImageRevision.objects.filter(image=image).values_list("file", flat=True))


def revision_of(*, image_id: uuid.UUID, revision: int) -> ImageRevision:
    """Revision ``revision`` of a live image; ``ImageRevision.DoesNotExist`` (404) for an
    unknown revision or an image that is unknown or in the trash."""
    try:
        return ImageRevision.objects.get(
            image_id=image_id, revision=revision, image__deleted_at__isnull=True
        )
    except ImageRevision.DoesNotExist:
        raise revision_not_found(image_id, revision) from None
