"""Renditions made ahead of time (IMAGES_EAGER_RENDITIONS) after a create, crop or restore,
so that the first view of a new image's thumbnail is served stored.

The job reads the feed after its ``WorkerCursor`` ("renditions") and makes each configured
spec of the image's current file, unless it is stored already; the cursor moves after the
batch is done. A rendition made twice (a worker killed before its cursor moved, two
workers on SQLite) is stored once: the rendition's unique row keeps one
(images/services/renditions.py).
"""

import logging
import uuid

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from images.errors import (
    DatabaseUnavailable,
    DecodeBusy,
    ImageServiceError,
    StorageUnavailable,
)
from images.imaging import resize
from images.models import Image, ImageEvent, Rendition, WorkerCursor
from images.services import renditions
from images.worker.claim import claimed

logger = logging.getLogger(__name__)

JOB = "renditions"
BATCH = 50
ACTIONS = (ImageEvent.Action.CREATED, ImageEvent.Action.CROPPED, ImageEvent.Action.RESTORED)


def eager_specs() -> list[resize.Spec]:
    """IMAGES_EAGER_RENDITIONS parsed; a bad spec stops the worker at its start."""
    specs = []
    for text in settings.IMAGES_EAGER_RENDITIONS:
        try:
            spec = resize.parse_spec(text.strip(), max_size=settings.IMAGES_RENDITION_MAX_SIZE)
        except ImageServiceError as exc:
            raise ImproperlyConfigured(f"IMAGES_EAGER_RENDITIONS: {exc.detail}") from exc
        if spec.auto:
            raise ImproperlyConfigured("IMAGES_EAGER_RENDITIONS: .auto depends on a request.")
        specs.append(spec)
    return specs


def run(specs: list[resize.Spec]) -> int:
    """One batch; the number of events read (0: nothing new, or another worker has it)."""
    if not specs:
        return 0
    WorkerCursor.objects.get_or_create(job=JOB)
    with claimed(WorkerCursor.objects.filter(job=JOB)) as job:
        if job is None:
            return 0
        events = list(
            ImageEvent.objects.filter(cursor__gt=job.cursor)
            .order_by("cursor")
            .values_list("cursor", "image_id", "action")[:BATCH]
        )
        for _, image_id, action in events:
            if action in ACTIONS:
                make(image_id=image_id, specs=specs)
        if events:
            WorkerCursor.objects.filter(pk=job.pk).update(cursor=events[-1][0])
        return len(events)


def waiting() -> int:
    """Creates, crops and restores not yet read by the job (for /metrics)."""
    cursor = WorkerCursor.objects.filter(job=JOB).values_list("cursor", flat=True).first() or 0
    return ImageEvent.objects.filter(cursor__gt=cursor, action__in=ACTIONS).count()


def make(*, image_id: uuid.UUID, specs: list[resize.Spec]) -> None:
    """Each spec of the image's current file that is not stored yet; nothing for an image
    trashed or purged since."""
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        return
    for spec in specs:
        fmt = spec.format or image.format
        stored = Rendition.objects.filter(
            image=image, source=image.file.name, spec=spec.name, format=fmt
        )
        if stored.exists():
            continue
        try:
            served = renditions.image_rendition(image_id=image.pk, spec=spec, format=spec.format)
        except Image.DoesNotExist:
            return  # purged meanwhile
        except (StorageUnavailable, DatabaseUnavailable, DecodeBusy):
            raise  # the batch is done again later
        except (ImageServiceError, FileNotFoundError) as exc:
            # This image cannot have it (its file gone, a spec larger than it): the first
            # request will answer why; the job goes on.
            logger.warning("eager rendition %s of %s not made: %s", spec.name, image_id, exc)
            continue
        if served.file is not None:
            served.file.close()
