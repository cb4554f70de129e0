"""Domain errors of the image service.

Each error declares what a client sees: a stable snake_case ``code`` to switch on, a human
``detail``, the HTTP ``status_code`` and, for a fault the client may retry, ``retry_after``
(seconds, sent as Retry-After) and, for an answer caches must not keep as they would,
``cache_control``. ``images.api.exception_handler`` renders whatever an
``ImageServiceError`` declares, so a new error needs no change there.
"""

from http import HTTPStatus


class ImageServiceError(Exception):
    status_code: int = HTTPStatus.BAD_REQUEST
    code = "image_error"
    default_detail = "The image could not be processed."
    retry_after: int | None = None
    cache_control: str | None = None

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class InvalidImage(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "invalid_image"
    default_detail = "The file is not a valid JPEG, PNG, TIFF, WebP or HEIC image."


class UnsupportedImageFormat(ImageServiceError):
    status_code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_image_format"
    default_detail = "Only JPEG, PNG, TIFF, WebP and HEIC images are accepted."


class ImageTooLarge(ImageServiceError):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "image_too_large"
    default_detail = "The image is too large."


class UnexpectedFile(ImageServiceError):
    """A multipart form with a file in a field that takes none: only ``file`` does."""

    status_code = HTTPStatus.BAD_REQUEST
    code = "unexpected_file"
    default_detail = "Only the field 'file' takes a file."


class TooManyFiles(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "too_many_files"
    default_detail = "One image per request: the field 'file' holds more than one file."


class InvalidCrop(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "invalid_crop"
    default_detail = "The crop box is not inside the image."


class InvalidRendition(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "invalid_rendition"
    default_detail = "The rendition spec is not valid."


class InvalidUrl(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "invalid_url"
    default_detail = "The URL is not a valid http or https URL."


class UrlNotAllowed(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "url_not_allowed"
    default_detail = "The service does not fetch from this address."


class DownloadFailed(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "download_failed"
    default_detail = "The image could not be downloaded."


class DownloadTimeout(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "download_timeout"
    default_detail = "The download did not finish in time."


# How long a client is asked to wait after an outage: about a connect timeout, so a retry
# does not find the same refused connection.
OUTAGE_RETRY_AFTER = 5


class StorageUnavailable(ImageServiceError):
    """The file storage (disk or object store) failed, timed out or is full: not the
    client's fault, retry later."""

    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    code = "storage_unavailable"
    default_detail = "The image storage is unavailable; try again later."
    retry_after = OUTAGE_RETRY_AFTER


class DatabaseUnavailable(ImageServiceError):
    """The database cannot be reached or used right now (images/infra/database.py)."""

    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    code = "database_unavailable"
    default_detail = "The database is unavailable; try again later."
    retry_after = OUTAGE_RETRY_AFTER


class DecodeBusy(ImageServiceError):
    """The machine's decode memory budget (images/infra/decode_budget.py) stayed taken by
    other decodes for as long as a decode may wait: nothing was done, retry shortly."""

    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    code = "decode_busy"
    default_detail = "The service is decoding other large images; try again in a moment."
    retry_after = 2


class InvalidTags(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "invalid_tags"
    default_detail = "The tags are not valid."


class InvalidMetadata(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "invalid_metadata"
    default_detail = "The metadata is not valid."


class InvalidFilter(ImageServiceError):
    status_code = HTTPStatus.BAD_REQUEST
    code = "invalid_filter"
    default_detail = "The filter or ordering is not valid."


class VersionGone(ImageServiceError):
    """A versioned URL (images/infra/versions.py) whose version is not, or no longer, the
    bytes it names: re-read the image's metadata for its current links."""

    status_code = HTTPStatus.NOT_FOUND
    code = "version_gone"
    # Not kept by caches either: a restore can make the version current again.
    cache_control = "no-cache"
    default_detail = (
        "This version of the image is not stored any more; its metadata has the current links."
    )


class WebhookNotFound(ImageServiceError):
    status_code = HTTPStatus.NOT_FOUND
    code = "not_found"
    default_detail = "No webhook with this id."
