"""Renditions of an image's current file: made on first request, stored, reused.

The pure work (specs, formats, the resize) is ``images/imaging/resize.py``; this is what the service
does around it, by the same rule as every write: the bytes are stored under a new generated
name first, then recorded in a row; a failure removes what was written.

- Concurrent first requests all make the rendition; the unique row (image, source file,
  spec, format) lets one of them record it, and the others remove their file and answer
  with the winner's bytes. One file stays.
- A rendition is served only while the image still names the file it was made from, so a
  crop or restore makes its renditions unreachable as it commits; they are removed after
  the commit (``drop_replaced_on_commit``). A rendition is recorded with the image's row
  locked, so none of a replaced file is recorded after that removal.
- Each image keeps at most IMAGES_RENDITIONS_PER_IMAGE, the least recently used removed
  first. When a rendition was last used is written at most once a minute per rendition:
  a write per serve would cost more than the serve.
- A stored rendition whose file is missing is made again.
"""

import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.http import FileResponse, HttpResponse
from django.utils import timezone

from images.imaging import resize
from images.infra import serving_cache, storage, versions
from images.models import Image, Rendition

# How stale last_used_at may get before a serve writes it again.
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass
class Served:
    """A rendition to answer with: its row, and either the bytes this request made or the
    stored file, open."""

    rendition: Rendition
    source_sha256: str  # of the file it was made from: its URL's version
    data: bytes | None = None
    file: File | None = None

    def response(self, request, *, stem: str) -> HttpResponse:
        """The answer with it: ETag, 304, presigned redirect or bytes (storage.download); a
        URL naming a version of the source other than this one: ``VersionGone``."""
        rendition = self.rendition
        stored = storage.StoredFile(
            name=rendition.file.name,
            format=rendition.format,
            size=rendition.file_size,
            sha256=rendition.sha256,
        )
        opened = self.file
        try:
            response = storage.download(
                request,
                stored,
                stem=stem,
                reopen=lambda: (stored, opened or storage.open_file(stored.name)),
                data=self.data,
                versioned_by=self.source_sha256,
            )
        except BaseException:
            if opened is not None:
                opened.close()
            raise
        if opened is not None and not isinstance(response, FileResponse):
            opened.close()  # a 304, a redirect or bytes in hand: the open file is not sent
        return response


def image_rendition(
    *,
    image_id: uuid.UUID,
    spec: resize.Spec,
    format: str | None,
    stored: Rendition | None = None,
    version: str | None = None,
) -> Served:
    """The rendition ``spec`` of the image's current file in ``format`` (None: the source's,
    or what stands in for it, ``resize.default_format``):
    ``stored`` (as ``selectors.rendition_stored`` found it) if its file is there, else made
    now. ``Image.DoesNotExist`` for an unknown image; ``VersionGone`` when ``version`` (of a
    versioned URL) is not the current file's, before anything is made."""
    if stored is not None:
        served = _open_stored(stored)
        if served is not None:
            return served
    image = Image.objects.get(pk=image_id)
    versions.check(version, sha256=image.sha256)
    fmt = format or resize.default_format(image.format)
    with storage.open_file(image.file.name) as source:
        made = resize.render(source, spec=spec, format=fmt, max_pixels=settings.IMAGES_MAX_PIXELS)
    return _record(image, spec=spec, made=made)


def drop_replaced_on_commit(image: Image) -> None:
    """Once the current transaction commits, remove the image's renditions of files it no
    longer names (its current file was just switched: a crop or a restore)."""
    serving_cache.forget_on_commit(image.pk)
    transaction.on_commit(lambda: _drop(image.pk, keep_source=image.file.name), robust=True)


def rendition_files(image: Image) -> list[str]:
    """The stored files of an image's renditions (removed with the image)."""
    return list(image.renditions.values_list("file", flat=True))


def _open_stored(rendition: Rendition) -> Served | None:
    try:
        file = storage.open_file(rendition.file.name)
    except FileNotFoundError:
        Rendition.objects.filter(pk=rendition.pk).delete()  # made again by the caller
        serving_cache.forget_on_commit(rendition.image_id)
        return None
    now = timezone.now()
    if rendition.last_used_at < now - TOUCH_INTERVAL:
        Rendition.objects.filter(pk=rendition.pk).update(last_used_at=now)
        serving_cache.forget_on_commit(rendition.image_id)  # remembered with the new time
    return Served(rendition, rendition.source_sha256, file=file)


def _record(image: Image, *, spec: resize.Spec, made: resize.Rendered) -> Served:
    """Store the bytes and record them; if a concurrent request recorded the same rendition
    first, answer with that one; if a crop or restore replaced the source meanwhile, answer
    with these bytes (made for this request) and keep nothing."""
    source = image.file.name
    with storage.cleanup_on_failure() as written:
        name = storage.save(io.BytesIO(made.data), made.format, written=written)
        row = Rendition(
            image=image,
            source=source,
            spec=spec.name,
            format=made.format,
            file=name,
            width=made.width,
            height=made.height,
            file_size=len(made.data),
            sha256=hashlib.sha256(made.data).hexdigest(),
        )
        try:
            with transaction.atomic():
                # The image's row locked: a crop or restore switching it waits for this
                # commit (and then drops this rendition), or has committed and is seen here.
                current = Image.objects.select_for_update().filter(pk=image.pk, file=source)
                recorded = current.exists()
                if recorded:
                    row.save(force_insert=True)
                    _evict(image, source=source)
        except IntegrityError:
            winner = _recorded(image, source=source, spec=spec.name, fmt=made.format)
            if winner is None:
                raise
            storage.delete([name])
            # The winner's bytes: the same as these, and the ETag its row gives.
            winner.source_sha256 = image.sha256
            return _open_stored(winner) or Served(row, image.sha256, data=made.data)
        if not recorded:
            storage.delete([name])
    return Served(row, image.sha256, data=made.data)


def _recorded(image: Image, *, source: str, spec: str, fmt: str) -> Rendition | None:
    return Rendition.objects.filter(image=image, source=source, spec=spec, format=fmt).first()


def _evict(image: Image, *, source: str) -> None:
    """Past the bound, remove the least recently used, and any of a former file (one
    query to decide, and a delete only when there is something to remove)."""
    rows = Rendition.objects.filter(image=image).order_by("-last_used_at", "-pk")
    found = list(rows.values_list("pk", "source", "file"))
    of_source = [row for row in found if row[1] == source]
    evicted = [row for row in found if row[1] != source]
    evicted += of_source[settings.IMAGES_RENDITIONS_PER_IMAGE :]
    if evicted:
        Rendition.objects.filter(pk__in=[pk for pk, _, _ in evicted]).delete()
        storage.delete_on_commit(name for _, _, name in evicted)


def _drop(image_id: uuid.UUID, *, keep_source: str) -> None:
    """Remove the image's renditions of every file but ``keep_source``, its current one."""
    with transaction.atomic():
        stale = Rendition.objects.filter(image_id=image_id).exclude(source=keep_source)
        names = list(stale.values_list("file", flat=True))
        stale.delete()
        storage.delete_on_commit(names)
