"""Multipart uploads that are counted and hashed while they stream in.

An upload larger than ``IMAGES_MAX_UPLOAD_BYTES`` is refused as soon as the limit is
crossed (or at once, when the request's Content-Length already says so), never after the
whole body was buffered. The one accepted file field, ``file``, is streamed to a temporary
file; its sha256 is computed on the way, so the bytes are not read again to hash them.
"""

import hashlib

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser

from images.errors import ImageTooLarge

FILE_FIELD = "file"


def too_large(max_bytes: int) -> ImageTooLarge:
    return ImageTooLarge(f"The upload is larger than {max_bytes} bytes.")


def largest_request_body(max_bytes: int | None = None) -> int:
    """The longest body an upload may have: the image and, beside it, form fields. A
    request announcing more is refused by its Content-Length, before any of it is read."""
    if max_bytes is None:
        max_bytes = settings.IMAGES_MAX_UPLOAD_BYTES
    return max_bytes + settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 65536


class HashedUploadedFile(TemporaryUploadedFile):
    """An uploaded file on disk that knows its sha256."""

    sha256: str = ""


class LimitedHashingUploadHandler(FileUploadHandler):
    # Django's multipart parser reads the body this much at a time (default 64 KiB).
    chunk_size = 1024 * 1024

    def __init__(self, request=None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.file: HashedUploadedFile | None = None
        self.received = 0
        self.hasher = hashlib.sha256()

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > largest_request_body(self.max_bytes):
            raise too_large(self.max_bytes)

    def new_file(self, field_name, *args, **kwargs):
        if field_name != FILE_FIELD or self.file is not None:
            raise SkipFile()  # one image per request; other file fields are not kept
        super().new_file(field_name, *args, **kwargs)
        self.file = HashedUploadedFile(
            self.file_name, self.content_type, 0, self.charset, self.content_type_extra
        )

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.file.close()  # removes the temporary file
            raise too_large(self.max_bytes)
        self.hasher.update(raw_data)
        self.file.write(raw_data)
        return None

    def file_complete(self, file_size):
        self.file.seek(0)
        self.file.size = file_size
        self.file.sha256 = self.hasher.hexdigest()
        return self.file

    def upload_interrupted(self):
        if self.file is not None:
            self.file.close()


class ImageMultiPartParser(MultiPartParser):
    """DRF's multipart parser with the limited, hashing upload handler."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        handlers = [
            LimitedHashingUploadHandler(request, max_bytes=settings.IMAGES_MAX_UPLOAD_BYTES)
        ]
        try:
            data, files = DjangoMultiPartParser(meta, stream, handlers, encoding).parse()
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error: {exc}") from exc
        return DataAndFiles(data, files)
