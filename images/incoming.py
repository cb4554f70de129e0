"""An image that comes in (an upload, a URL, a search by file), held to the configured limits.

Writes (``services``) and searches (``selectors``) read incoming images the same way, so
a search by file or URL refuses exactly what an upload or create-from-URL would.
"""

import hashlib
from typing import BinaryIO

from django.conf import settings

from images.errors import ImageTooLarge
from images.imaging import decode as imaging
from images.infra import fetch

_READ_CHUNK = 1024 * 1024


def analyze(file: BinaryIO) -> imaging.ImageInfo:
    """Decode once: format, dimensions and phash, within the pixel limit."""
    return imaging.analyze(file, max_pixels=settings.IMAGES_MAX_PIXELS)


def check_size(size: int) -> None:
    if size > settings.IMAGES_MAX_UPLOAD_BYTES:
        raise ImageTooLarge(f"The image is larger than {settings.IMAGES_MAX_UPLOAD_BYTES} bytes.")


def measure(file: BinaryIO, *, sha256: str | None = None) -> tuple[int, str]:
    """Size and sha256 of a file; only the size when the hash is already known."""
    file.seek(0, 2)
    size = file.tell()
    if sha256 is None:
        file.seek(0)
        hasher = hashlib.sha256()
        while block := file.read(_READ_CHUNK):
            hasher.update(block)
        sha256 = hasher.hexdigest()
    file.seek(0)
    return size, sha256


def phash_of(file: BinaryIO) -> str:
    file.seek(0, 2)
    check_size(file.tell())
    file.seek(0)
    return analyze(file).phash


def download(url: str) -> fetch.Download:
    """Fetch ``url`` safely (images/infra/fetch.py) with the configured limits."""
    return fetch.download(url, policy=url_fetch_policy())


def url_fetch_policy() -> fetch.FetchPolicy:
    return fetch.FetchPolicy(
        max_bytes=settings.IMAGES_MAX_UPLOAD_BYTES,
        timeout=settings.IMAGES_URL_TIMEOUT,
        connect_timeout=settings.IMAGES_URL_CONNECT_TIMEOUT,
        allow_private=settings.IMAGES_ALLOW_PRIVATE_URLS,
        allowed_hosts=frozenset(host.lower() for host in settings.IMAGES_URL_ALLOWED_HOSTS),
    )
