"""Multipart uploads that are counted and hashed while they stream in.

An upload larger than ``IMAGES_MAX_UPLOAD_BYTES`` is refused as soon as the limit is
crossed (or at once, when the request's Content-Length already says so), never after the
whole body was buffered. The one accepted file field, ``file``, is streamed to a temporary
file; its sha256 is computed on the way, so the bytes are not read again to hash them.

A form of another shape is refused as soon as the part that breaks it starts: a file in
another field (400 ``unexpected_file``, naming the field) or a second file (400
``too_many_files``). Files are never skipped: Django's parser, on a skipped file, closes
every handler's ``file`` attribute, and one image per request is the contract anyway. A
refused request leaves no temporary file: the one being written is removed here, the ones
complete are closed by Django's parser.
"""

import hashlib

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser

from images.errors import ImageTooLarge, TooManyFiles, UnexpectedFile

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


def unexpected_file(field_name: str) -> UnexpectedFile:
    shown = field_name if len(field_name) <= 64 else field_name[:61] + "..."
    return UnexpectedFile(
        f"The form has a file in the field {shown!r}; send the image in the field "
        f"{FILE_FIELD!r}, the only field that takes a file."
    )


def too_many_files() -> TooManyFiles:
    return TooManyFiles(
        f"One image per request: the field {FILE_FIELD!r} holds more than one file. Send "
        "each image in a request of its own."
    )


class LimitedHashingUploadHandler(FileUploadHandler):
    # Django's multipart parser reads the body this much at a time (default 64 KiB).
    chunk_size = 1024 * 1024

    def __init__(self, request=None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        # Not named ``file``: Django's parser closes a handler's ``file`` on its own paths.
        self.upload: HashedUploadedFile | None = None
        self.received = 0
        self.hasher = hashlib.sha256()

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > largest_request_body(self.max_bytes):
            raise too_large(self.max_bytes)

    def new_file(self, field_name, *args, **kwargs):
        if field_name != FILE_FIELD:
            raise unexpected_file(field_name)
        if self.upload is not None:
            raise too_many_files()
        super().new_file(field_name, *args, **kwargs)
        self.upload = HashedUploadedFile(
            self.file_name, self.content_type, 0, self.charset, self.content_type_extra
        )

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.discard()
            raise too_large(self.max_bytes)
        self.hasher.update(raw_data)
        self.upload.write(raw_data)
        return None

    def file_complete(self, file_size):
        self.upload.seek(0)
        self.upload.size = file_size
        self.upload.sha256 = self.hasher.hexdigest()
        return self.upload

    def upload_interrupted(self):
        self.discard()

    def discard(self) -> None:
        """Remove the temporary file, if one was started (closing it removes it)."""
        if self.upload is not None:
            self.upload.close()


class ImageMultiPartParser(MultiPartParser):
    """DRF's multipart parser with the limited, hashing upload handler."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        handler = LimitedHashingUploadHandler(request, max_bytes=settings.IMAGES_MAX_UPLOAD_BYTES)
        try:
            data, files = DjangoMultiPartParser(meta, stream, [handler], encoding).parse()
        except MultiPartParserError as exc:
            handler.discard()
            raise ParseError(f"Multipart form parse error: {exc}") from exc
        except BaseException:
            handler.discard()  # a refused form, or the body cut: no temporary file stays
            raise
        return DataAndFiles(data, files)
