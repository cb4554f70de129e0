"""Where image files live: the one module that talks to Django's file storage.

Images and their renditions alike are written under generated names
(``images/<2 hex>/<32 hex>.<ext>``) and never
overwritten; the database row is the truth about which of them are in use. A failed
operation removes what it wrote (``cleanup_on_failure``); a file a row stops naming is
removed only once that row's transaction has committed (``delete_on_commit``).
"""

import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.db import transaction
from django.db.models import Q
from django.http import FileResponse, HttpResponse, HttpResponseNotModified, HttpResponseRedirect
from django.utils.http import parse_etags

from . import imaging, resize
from .models import Image, Rendition

logger = logging.getLogger(__name__)

# Every stored file lives under this folder of the storage.
STORAGE_DIR = "images"

# What the backends raise when the disk or the object store fails: local files (OSError),
# S3 (botocore: connection errors, timeouts, error answers such as a missing bucket or
# refused credentials).
ERRORS = (OSError, BotoCoreError, ClientError)
# Stored formats: the images' (JPEG, PNG) and their renditions' (also WebP, AVIF).
CONTENT_TYPES = {**imaging.CONTENT_TYPES, **resize.CONTENT_TYPES}
EXTENSIONS = {**imaging.EXTENSIONS, **resize.EXTENSIONS}


def is_outage(exc: BaseException) -> bool:
    """A storage failure (the client may retry: 503), but not a missing file: a row naming a
    file that is gone is a fault of ours (a 500 with its traceback; ``images_check`` finds
    such rows)."""
    return isinstance(exc, ERRORS) and not isinstance(exc, FileNotFoundError)


def backend() -> Storage:
    """The configured storage (settings.STORAGES["default"]), for walking all of it."""
    return default_storage


def open_file(name: str) -> File:
    return default_storage.open(name, "rb")


def save(file: BinaryIO, fmt: str, *, written: Callable[[str], str]) -> str:
    """Write the bytes under a new generated name; record and return the name storage used.

    A write that fails half-way (a full disk) may leave part of the file under the name;
    the name is new (128 random bits), so whatever is there is ours to remove.
    """
    token = uuid.uuid4().hex
    name = f"{STORAGE_DIR}/{token[:2]}/{token}.{EXTENSIONS[fmt]}"
    file.seek(0)
    try:
        stored = default_storage.save(name, File(file))
    except BaseException:
        written(name)
        raise
    return written(stored)


def delete(names: Iterable[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


def delete_on_commit(names: Iterable[str]) -> None:
    """Remove the files once the current transaction commits. If storage fails then, the
    files stay as orphans for ``images_check --fix``: the committed change stands."""
    names = list(names)
    transaction.on_commit(lambda: delete(names), robust=True)


@contextmanager
def cleanup_on_failure() -> Iterator[Callable[[str], str]]:
    """Yield a recorder of stored names (pass it to ``save``); remove them all if the block
    fails, except those a committed row names."""
    names: list[str] = []

    def written(name: str) -> str:
        names.append(name)
        return name

    try:
        yield written
    except BaseException:
        # An interrupt can land after the row committed: never remove what a row names.
        # If the database cannot say, keep the files: images_check finds orphans later.
        try:
            kept = owned(names)
        except Exception:
            kept = set(names)
        try:
            delete(name for name in names if name not in kept)
        except Exception as exc:  # storage down too: keep the first error; images_check
            logger.warning("could not remove %s after a failed operation: %s", names, exc)
        raise


def owned(names: list[str]) -> set[str]:
    """Those of ``names`` that a row names: an image's file or original, or a rendition."""
    images = Image.objects.filter(Q(file__in=names) | Q(original__in=names)).order_by()
    kept = {name for pair in images.values_list("file", "original") for name in pair}
    renditions = Rendition.objects.filter(file__in=names).order_by()
    return kept | set(renditions.values_list("file", flat=True))


def check_available() -> None:
    """Raise unless files can be stored: the local folder is writable, or the bucket
    answers (a missing object is no outage)."""
    storage = default_storage
    if isinstance(storage, FileSystemStorage):
        os.makedirs(storage.location, exist_ok=True)
        if not os.access(storage.location, os.W_OK | os.X_OK):
            raise PermissionError(f"{storage.location} is not writable")
    else:  # S3, through django-storages' own client
        storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)


def download(
    request,
    name: str,
    *,
    fmt: str,
    size: int,
    sha256: str,
    stem,
    file: File | None = None,
    data: bytes | None = None,
) -> HttpResponse:
    """The stored file as a response, with headers taken from the row, not from reading the
    file: 304 when the client's ETag matches; with IMAGES_S3_PRESIGNED_DOWNLOADS a redirect
    to a short-lived presigned URL; else the bytes, streamed. ``file`` is the file if the
    caller has opened it; ``data`` its bytes, when they are in hand (a rendition just made)."""
    etag = f'"{sha256}"'
    content_type = CONTENT_TYPES[fmt]
    filename = f"{stem}.{EXTENSIONS[fmt]}"
    if _matches(request, etag) or (settings.IMAGES_S3_PRESIGNED_DOWNLOADS and data is None):
        if file is not None:
            file.close()
        if _matches(request, etag):
            response = HttpResponseNotModified()
        else:
            response = _presigned(name, content_type=content_type, filename=filename)
        response["ETag"] = etag
        return response
    if data is not None:
        response = HttpResponse(data, content_type=content_type)
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    else:
        response = FileResponse(
            file or open_file(name), content_type=content_type, filename=filename
        )
    response["Content-Length"] = str(size)
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _matches(request, etag: str) -> bool:
    wanted = {
        tag.removeprefix("W/") for tag in parse_etags(request.headers.get("If-None-Match", ""))
    }
    return etag in wanted or "*" in wanted


def _presigned(name: str, *, content_type: str, filename: str) -> HttpResponse:
    # The object store answers with the type and name the row gives, as a stream would.
    url = default_storage.url(
        name,
        parameters={
            "ResponseContentType": content_type,
            "ResponseContentDisposition": f'inline; filename="{filename}"',
        },
        expire=settings.IMAGES_S3_PRESIGNED_TTL,
    )
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"  # the URL expires; never reuse the redirect
    return response
