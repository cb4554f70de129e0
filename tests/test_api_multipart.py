"""Multipart forms of another shape than "one image in `file`", on upload and on search:
each is a 400 that says what to send, and leaves no row, no stored file and no temporary
file. (tests/test_fuzz_multipart.py varies the shapes at random.)"""

import io

import pytest

from images.models import Image
from tests.conftest import stored_files
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/v1/images/upload", "/api/v1/images/search"]


def named(data: bytes, name: str) -> io.BytesIO:
    file = io.BytesIO(data)
    file.name = name
    return file


def plate() -> io.BytesIO:
    return named(image_bytes("JPEG", (64, 48)), "plate.jpg")


def other() -> io.BytesIO:
    return named(image_bytes("PNG", (32, 32)), "b.png")


@pytest.fixture
def post(api, temp_folder, media_root):
    """POST a form; check that the request left nothing behind, then give its answer."""

    def post(path: str, form: dict):
        response = api.post(path, form, format="multipart")
        assert response.status_code < 500, response.content
        if response.status_code >= 400:
            assert Image.all_objects.count() == 0
            assert stored_files(media_root) == []
        assert list(temp_folder.iterdir()) == []
        return response

    return post


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_file_under_another_field_name_is_400_naming_the_field_and_file(post, path):
    # curl -F image=@plate.jpg
    response = post(path, {"image": plate()})

    assert response.status_code == 400
    assert response.json()["code"] == "unexpected_file"
    assert "'image'" in response.json()["detail"]
    assert "send the image in the field 'file'" in response.json()["detail"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_two_files_in_file_are_400_one_image_per_request(post, path):
    # curl -F file=@a.jpg -F file=@b.jpg
    response = post(path, {"file": [plate(), other()]})

    assert response.status_code == 400
    assert response.json()["code"] == "too_many_files"
    assert response.json()["detail"].startswith("One image per request")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_an_extra_file_field_is_400_naming_it(post, path):
    # curl -F file=@a.jpg -F extra=@b.png
    response = post(path, {"file": plate(), "extra": other()})

    assert response.status_code == 400
    assert response.json()["code"] == "unexpected_file"
    assert "'extra'" in response.json()["detail"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_an_extra_file_field_before_file_is_400_too(post, path):
    response = post(path, {"extra": other(), "file": plate()})

    assert response.status_code == 400
    assert response.json()["code"] == "unexpected_file"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_file_where_text_is_expected_is_400(post, path):
    response = post(path, {"file": plate(), "name": other()})

    assert response.status_code == 400
    assert response.json()["code"] == "unexpected_file"
    assert "'name'" in response.json()["detail"]


def test_text_where_the_file_is_expected_is_400_not_a_file(post):
    response = post("/api/v1/images/upload", {"file": "plate.jpg"})

    assert response.status_code == 400
    assert response.json()["errors"]["file"] == [
        "The submitted data was not a file. Check the encoding type on the form."
    ]


def test_a_missing_file_is_still_400_required(post):
    response = post("/api/v1/images/upload", {"name": "plate"})

    assert response.status_code == 400
    assert response.json()["code"] == "required"


def test_one_image_in_file_is_still_stored(post):
    response = post("/api/v1/images/upload", {"file": plate(), "name": "plate"})

    assert response.status_code == 201
    assert Image.objects.count() == 1


def test_a_second_file_after_a_large_first_leaves_no_temporary_file(post, settings):
    # The first file is complete (spooled to disk) when the second one is refused.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    big = named(image_bytes("PNG", (400, 300)), "big.png")

    response = post("/api/v1/images/upload", {"file": [big, other()]})

    assert response.json()["code"] == "too_many_files"
