"""Domain errors of the image service.

Each error carries a stable snake_case ``code`` that clients can switch on and a
human ``detail``. They know nothing of HTTP: ``images.exception_handler`` maps
them to status codes in one place.
"""


class ImageServiceError(Exception):
    code = "image_error"
    default_detail = "The image could not be processed."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class InvalidImage(ImageServiceError):
    code = "invalid_image"
    default_detail = "The file is not a valid JPEG or PNG image."


class UnsupportedImageFormat(ImageServiceError):
    code = "unsupported_image_format"
    default_detail = "Only JPEG and PNG images are accepted."


class ImageTooLarge(ImageServiceError):
    code = "image_too_large"
    default_detail = "The image is too large."


class InvalidCrop(ImageServiceError):
    code = "invalid_crop"
    default_detail = "The crop box is not inside the image."


class InvalidRendition(ImageServiceError):
    code = "invalid_rendition"
    default_detail = "The rendition spec is not valid."


class InvalidUrl(ImageServiceError):
    code = "invalid_url"
    default_detail = "The URL is not a valid http or https URL."


class UrlNotAllowed(ImageServiceError):
    code = "url_not_allowed"
    default_detail = "The service does not fetch from this address."


class DownloadFailed(ImageServiceError):
    code = "download_failed"
    default_detail = "The image could not be downloaded."


class DownloadTimeout(ImageServiceError):
    code = "download_timeout"
    default_detail = "The download did not finish in time."


class StorageUnavailable(ImageServiceError):
    """The file storage (disk or object store) failed: not the client's fault, retry later."""

    code = "storage_unavailable"
    default_detail = "The image storage is unavailable; try again later."
