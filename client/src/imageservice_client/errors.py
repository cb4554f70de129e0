"""What the client raises: the service's error answer as an exception carrying its
``code`` and ``detail`` (the service answers every error as JSON ``{"detail", "code"}``)."""


class ImageServiceError(Exception):
    """Any failure of a call. ``code`` is the service's stable snake_case code, or one of
    the client's own (``unreachable``, ``bad_answer``); ``status`` the HTTP status, if any."""

    def __init__(
        self,
        detail: str,
        *,
        code: str,
        status: int | None = None,
        errors: dict | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.detail = detail
        self.code = code
        self.status = status
        self.errors = errors or {}
        self.retry_after = retry_after


class BadRequest(ImageServiceError):
    """400: the request was refused as it was (a field, a filter, a crop...)."""


class NotAuthorized(ImageServiceError):
    """401 or 403: no token, a wrong one, or a read-only token for a change."""


class NotFound(ImageServiceError):
    """404: no such image (or not in the trash, or no such revision)."""


class ImageRefused(ImageServiceError):
    """413 or 415: the bytes are not an image the service accepts, or too large."""


class RateLimited(ImageServiceError):
    """429, once the client's retries are used up."""


class Unavailable(ImageServiceError):
    """503 (the service's database or storage is away), once the retries are used up."""


class Unreachable(ImageServiceError):
    """No answer: the connection failed or timed out, once the retries are used up."""


_BY_STATUS: dict[int, type[ImageServiceError]] = {
    400: BadRequest,
    401: NotAuthorized,
    403: NotAuthorized,
    404: NotFound,
    413: ImageRefused,
    415: ImageRefused,
    429: RateLimited,
    503: Unavailable,
}


def error_class(status: int) -> type[ImageServiceError]:
    return _BY_STATUS.get(status, ImageServiceError)
