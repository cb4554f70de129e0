import pytest

from images.api.parsers import LimitedHashingUploadHandler
from images.errors import ImageTooLarge, TooManyFiles, UnexpectedFile


def start(handler: LimitedHashingUploadHandler, field: str = "file") -> None:
    handler.handle_raw_input(None, {}, 100, b"x")
    handler.new_file(field, "a.png", "image/png", None)


def test_handler_refuses_as_soon_as_the_limit_is_crossed_and_removes_its_file():
    handler = LimitedHashingUploadHandler(max_bytes=1000)
    start(handler)
    handler.receive_data_chunk(b"x" * 600, 0)
    path = handler.upload.temporary_file_path()

    with pytest.raises(ImageTooLarge):
        handler.receive_data_chunk(b"x" * 600, 600)  # the stream is not read any further

    import os

    assert not os.path.exists(path)


def test_handler_refuses_at_once_when_content_length_says_too_much(settings):
    handler = LimitedHashingUploadHandler(max_bytes=1000)

    with pytest.raises(ImageTooLarge):
        handler.handle_raw_input(
            None, {}, 1000 + settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10**6, b"x"
        )


def test_handler_hashes_while_streaming():
    import hashlib

    handler = LimitedHashingUploadHandler(max_bytes=1000)
    start(handler)
    handler.receive_data_chunk(b"abc", 0)
    handler.receive_data_chunk(b"def", 3)

    file = handler.file_complete(6)

    assert file.sha256 == hashlib.sha256(b"abcdef").hexdigest()
    assert file.read() == b"abcdef"
    file.close()


def test_handler_refuses_a_file_in_another_field_naming_it():
    handler = LimitedHashingUploadHandler(max_bytes=1000)
    handler.handle_raw_input(None, {}, 100, b"x")

    with pytest.raises(UnexpectedFile, match=r"'attachment'.*'file'"):
        handler.new_file("attachment", "a.png", "image/png", None)


def test_handler_refuses_a_second_file():
    handler = LimitedHashingUploadHandler(max_bytes=1000)
    start(handler)
    handler.file_complete(0)

    with pytest.raises(TooManyFiles, match="One image per request"):
        handler.new_file("file", "b.png", "image/png", None)
    handler.discard()
