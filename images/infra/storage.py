"""Where image files live: the one module that talks to Django's file storage.

Images and their renditions alike are written under generated names
(``images/<2 hex>/<32 hex>.<ext>``) and never
overwritten; the database row is the truth about which of them are in use. A failed
operation removes what it wrote (``cleanup_on_failure``); a file a row stops naming is
removed only once that row's transaction has committed (``delete_on_commit``).

A file can therefore vanish between reading a row and opening the file it named (a purge,
or a revision dropped past its bound, committed in between): ``open_file`` raises
``FileNotFoundError`` for it on every backend, and callers read the row again
(``selectors.image_open``). A missing file is never an outage.
"""

import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import quote

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.db import transaction
from django.db.models import Q
from django.http import FileResponse, HttpResponse, HttpResponseNotModified, HttpResponseRedirect
from django.utils.http import parse_etags

from images.imaging import decode as imaging
from images.imaging import resize
from images.infra import versions
from images.models import Image, ImageRevision, Rendition

logger = logging.getLogger(__name__)

# Every stored file lives under this folder of the storage.
STORAGE_DIR = "images"


def __getattr__(name: str):
    """``ERRORS``: what the backends raise when the disk or the object store fails: local
    files (OSError), S3 (botocore: connection errors, timeouts, error answers such as a
    missing bucket or refused credentials). Worked out when asked, as botocore is imported
    only by the S3 backend: with local storage a worker never loads it (2-3 MiB), and none
    of its errors can be raised."""
    if name == "ERRORS":
        return (OSError, *_botocore_errors())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _botocore_errors() -> tuple[type[Exception], ...]:
    if "botocore.exceptions" not in sys.modules:
        return ()
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


# Stored formats: the images' (JPEG, PNG) and their renditions' (also WebP, AVIF).
CONTENT_TYPES = {**imaging.CONTENT_TYPES, **resize.CONTENT_TYPES}
EXTENSIONS = {**imaging.EXTENSIONS, **resize.EXTENSIONS}


# What the object store answers for a key that is not there (GetObject, HeadObject).
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def is_not_found(exc: BaseException) -> bool:
    """A missing file or object: never an outage."""
    botocore_errors = _botocore_errors()
    if botocore_errors and isinstance(exc, botocore_errors[1]):  # ClientError
        return exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES
    return isinstance(exc, FileNotFoundError)


def is_outage(exc: BaseException) -> bool:
    """A storage failure (the client may retry: 503), but not a missing file: a row naming a
    file that is gone is a fault of ours (a 500 with its traceback; ``images_check`` finds
    such rows)."""
    return isinstance(exc, (OSError, *_botocore_errors())) and not is_not_found(exc)


def backend() -> Storage:
    """The configured storage (settings.STORAGES["default"]), for walking all of it."""
    return default_storage


def open_file(name: str) -> File:
    """The stored file opened for reading, its bytes in hand: a local file is open (it reads
    whole even if removed a moment later); an S3 object is fetched now, into memory or a
    temporary file, as django-storages would on the first read anyway. So a missing file
    raises ``FileNotFoundError`` here, on every backend, never half-way through a response."""
    try:
        file = default_storage.open(name, "rb")
        file.file  # noqa: B018 (S3File fetches the object when its file is first used)
    except Exception as exc:
        if is_not_found(exc) and not isinstance(exc, FileNotFoundError):
            raise FileNotFoundError(f"No stored file {name}") from exc
        raise
    return file


@dataclass(frozen=True)
class StoredFile:
    """One stored file as its database row describes it: a download's headers come from
    here, not from reading the file."""

    name: str
    format: str
    size: int
    sha256: str

    @classmethod
    def of(cls, image: Image, *, original: bool = False) -> "StoredFile":
        if original:
            return cls(
                image.original.name,
                image.original_format,
                image.original_file_size,
                image.original_sha256,
            )
        return cls(image.file.name, image.format, image.file_size, image.sha256)


def exists(name: str) -> bool:
    """Whether the stored file is there, without reading it (S3: one HEAD request; an
    outage raises, as a read would)."""
    return default_storage.exists(name)


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


class Written:
    """The names an operation stored (call it with each name ``save`` stores), and whether
    a row naming them may have been committed."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.may_be_committed = False

    def __call__(self, name: str) -> str:
        self.names.append(name)
        return name

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """``transaction.atomic()`` for the write that makes a row name these files. A failure
        inside it rolls the row back, so the files are surely nobody's; once its body is
        done the commit may have happened (a commit can fail after the server applied it),
        and a failure from then on keeps whatever a row names."""
        with transaction.atomic():
            yield
            self.may_be_committed = True


@contextmanager
def cleanup_on_failure() -> Iterator[Written]:
    """Yield a ``Written`` recorder of stored names (pass it to ``save``); if the block fails,
    remove them all, except those a committed row names."""
    written = Written()
    try:
        yield written
    except BaseException:
        _remove_unowned(written)
        raise


def _remove_unowned(written: Written) -> None:
    names = written.names
    if written.may_be_committed:
        # An interrupt can land after the row committed: never remove what a row names.
        # If the database cannot say, keep the files: images_check finds orphans later.
        try:
            kept = owned(names)
        except Exception:
            kept = set(names)
        names = [name for name in names if name not in kept]
    try:
        delete(names)
    except Exception as exc:  # storage down too: keep the first error; images_check
        logger.warning("could not remove %s after a failed operation: %s", names, exc)


def owned(names: list[str]) -> set[str]:
    """Those of ``names`` that a row names: an image's file or original (in the trash or
    not), a revision, or a rendition."""
    images = Image.all_objects.filter(Q(file__in=names) | Q(original__in=names)).order_by()
    kept = {name for pair in images.values_list("file", "original") for name in pair}
    for model in (ImageRevision, Rendition):
        rows = model.objects.filter(file__in=names).order_by()
        kept |= set(rows.values_list("file", flat=True))
    return kept


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


def local_folder() -> str | None:
    """The folder files are stored in, when they are on a local disk (not on S3)."""
    storage = default_storage
    return storage.location if isinstance(storage, FileSystemStorage) else None


def download(
    request,
    stored: StoredFile,
    *,
    stem,
    reopen: Callable[[], tuple[StoredFile, File]] | None = None,
    data: bytes | None = None,
    versioned_by: str | None = None,
) -> HttpResponse:
    """The stored file as a response, with headers taken from the row, not from reading the
    file: 304 when the client's ETag matches; with IMAGES_S3_PRESIGNED_DOWNLOADS a redirect
    to a short-lived presigned URL; ``data`` when the bytes are in hand (a rendition just
    made); else the bytes, streamed. Only then is the file opened, by ``reopen`` (default:
    open ``stored.name``), which may read the row again if the file is gone by now: the
    answer describes the row it opened, which may be newer than ``stored``.

    A URL with a version (images/infra/versions.py) must name the sha256 ``versioned_by``
    (default: the file's own; a rendition's is its source's), else ``VersionGone``; its
    answer may then be kept for a year."""
    version = versions.asked(request.GET)
    versioned = versions.check(version, sha256=versioned_by or stored.sha256)
    etag = f'"{stored.sha256}"'
    if _matches(request, etag):
        response = HttpResponseNotModified()
    elif settings.IMAGES_S3_PRESIGNED_DOWNLOADS and data is None:
        response = _presigned(stored, stem=stem, versioned=versioned)
    elif data is not None:
        response = HttpResponse(data, content_type=CONTENT_TYPES[stored.format])
        response["Content-Disposition"] = f'inline; filename="{_filename(stored, stem)}"'
        response["Content-Length"] = str(len(data))
    elif settings.IMAGES_X_ACCEL_REDIRECT:
        # nginx sends the file (deploy/nginx.conf): the headers are the row's, as below. A
        # file removed meanwhile (a purge committed just now) is nginx's 404.
        response = HttpResponse(content_type=CONTENT_TYPES[stored.format])
        response["Content-Disposition"] = f'inline; filename="{_filename(stored, stem)}"'
        response["X-Accel-Redirect"] = settings.IMAGES_X_ACCEL_REDIRECT + quote(stored.name)
    else:
        reopened, file = reopen() if reopen else (stored, open_file(stored.name))
        if versioned and reopened.sha256 != stored.sha256:  # the file changed meanwhile
            file.close()
            versions.check(version, sha256=reopened.sha256)
        stored = reopened
        response = FileResponse(
            file,
            content_type=CONTENT_TYPES[stored.format],
            filename=_filename(stored, stem),
        )
        response["Content-Length"] = str(stored.size)
    response["ETag"] = f'"{stored.sha256}"'
    if not isinstance(response, HttpResponseRedirect):
        response["Cache-Control"] = versions.cache_control(versioned=versioned)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _filename(stored: StoredFile, stem) -> str:
    return f"{stem}.{EXTENSIONS[stored.format]}"


def _matches(request, etag: str) -> bool:
    wanted = {
        tag.removeprefix("W/") for tag in parse_etags(request.headers.get("If-None-Match", ""))
    }
    return etag in wanted or "*" in wanted


def _presigned(stored: StoredFile, *, stem, versioned: bool) -> HttpResponse:
    # The object store answers with the type and name the row gives, as a stream would, and
    # for a versioned URL with its Cache-Control.
    parameters = {
        "ResponseContentType": CONTENT_TYPES[stored.format],
        "ResponseContentDisposition": f'inline; filename="{_filename(stored, stem)}"',
    }
    if versioned:
        parameters["ResponseCacheControl"] = versions.cache_control(versioned=True)
    ttl = settings.IMAGES_S3_PRESIGNED_TTL
    url = default_storage.url(stored.name, parameters=parameters, expire=ttl)
    response = HttpResponseRedirect(url)
    # The URL it names expires. A versioned one's redirect is kept by the browser for half
    # that time (then the bytes under that URL, kept by it too, are not asked for again);
    # any other is never reused.
    response["Cache-Control"] = f"private, max-age={ttl // 2}" if versioned else "no-store"
    return response
