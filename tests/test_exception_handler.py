"""What each error becomes as an HTTP answer (images/api/exception_handler.py)."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.http import Http404

from images import errors
from images.api.exception_handler import api_exception_handler
from images.models import Image, ImageRevision, RevisionCounter


class PlateUnreadable(errors.ImageServiceError):
    """An error a later change might add, declaring only what it must."""

    code = "plate_unreadable"
    default_detail = "The plate label cannot be read."


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.InvalidImage(), 400, "invalid_image"),
        (errors.UnsupportedImageFormat(), 415, "unsupported_image_format"),
        (errors.ImageTooLarge(), 413, "image_too_large"),
        (errors.InvalidCrop(), 400, "invalid_crop"),
        (errors.InvalidUrl(), 400, "invalid_url"),
        (errors.UrlNotAllowed(), 400, "url_not_allowed"),
        (errors.DownloadFailed(), 400, "download_failed"),
        (errors.DownloadTimeout(), 400, "download_timeout"),
        (errors.StorageUnavailable(), 503, "storage_unavailable"),
        (PlateUnreadable(), 400, "plate_unreadable"),
    ],
)
def test_domain_errors_answer_the_status_and_code_they_declare(error, status, code):
    response = api_exception_handler(error, {})

    assert response.status_code == status
    assert response.data == {"detail": error.detail, "code": code}


def test_a_new_error_can_declare_its_own_status():
    class PlateLocked(errors.ImageServiceError):
        status_code = 409
        code = "plate_locked"

    response = api_exception_handler(PlateLocked("Another robot holds the plate."), {})

    assert response.status_code == 409
    assert response.data == {"detail": "Another robot holds the plate.", "code": "plate_locked"}


@pytest.mark.parametrize(
    "outage",
    [PermissionError("read-only disk"), EndpointConnectionError(endpoint_url="http://s3")],
)
def test_storage_outages_answer_503_storage_unavailable(outage):
    response = api_exception_handler(outage, {})

    assert response.status_code == 503
    assert response.data["code"] == "storage_unavailable"


@pytest.mark.parametrize(
    "missing",
    [Image.DoesNotExist(), RevisionCounter.DoesNotExist(), Http404()],
)
def test_a_model_that_has_no_such_row_answers_404(missing):
    response = api_exception_handler(missing, {})

    assert response.status_code == 404
    assert response.data == {"detail": "Not found.", "code": "not_found"}


ID = "0b6f2e0c-5d7e-4d3a-9a51-3f1f8a0c2e11"


@pytest.mark.parametrize(
    ("missing", "kwargs", "detail"),
    [
        (Image.DoesNotExist("image X is not in the trash"), {}, "image X is not in the trash"),
        (Image.DoesNotExist("Image matching query does not exist."), {"image_id": ID},
         f"image {ID} does not exist"),
        (ImageRevision.DoesNotExist(), {"image_id": ID, "revision": 99},
         f"revision 99 of image {ID} does not exist"),
        (Image.DoesNotExist(), {"target_id": ID}, "Not found."),
    ],
)  # fmt: skip
def test_a_404_names_what_was_not_found(missing, kwargs, detail):
    response = api_exception_handler(missing, {"kwargs": kwargs})

    assert response.data == {"detail": detail, "code": "not_found"}


def s3_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Not Found"}}, operation)


@pytest.mark.parametrize(
    "fault",
    [
        FileNotFoundError("a row names a file that is gone"),
        s3_error("NoSuchKey", "GetObject"),  # the object of a row is gone: not an outage
        s3_error("404", "HeadObject"),
        KeyError("image"),
        LookupError(),
    ],
)
def test_faults_of_ours_are_left_to_the_500_handler(fault):
    assert api_exception_handler(fault, {}) is None
