"""The one place where errors become HTTP answers.

Every error under ``/api/`` is JSON: a human ``detail`` and a stable snake_case ``code``;
validation errors add ``errors``, the messages per field.

An outage of an outside part (the file storage, the database) is a retryable 503 with
Retry-After wherever it is met: in an API view (``api_exception_handler``), or in a
middleware, the session or the admin (``server_error``, Django's handler500, which sees the
exception that is being handled). Any other unexpected error stays a 500 with its
traceback logged.
"""

import logging
import sys

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.html import escape
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from images import errors
from images.infra import database, storage
from images.models import Image, ImageRevision
from imageservice import metrics

logger = logging.getLogger("images.errors")

# The end of Django's own message for a lookup that found no row, which names no id.
DJANGO_MISSING = "matching query does not exist."
UNAVAILABLE_PAGE = "<!doctype html><title>Unavailable</title><h1>Unavailable</h1><p>%s</p>"


def error_body(detail: str, code: str, **extra) -> dict:
    return {"detail": detail, "code": code, **extra}


def outage(exc: BaseException | None) -> errors.ImageServiceError | None:
    """The 503 an outside part's failure answers, or None if ``exc`` is none. Every outage
    a request meets passes here once (from an API view, or from handler500), and is
    counted (metrics) and logged here."""
    if exc is None:
        return None
    if storage.is_outage(exc):
        error = errors.StorageUnavailable()
    elif database.is_outage(exc):
        error = errors.DatabaseUnavailable()
    else:
        return None
    metrics.count_error(exc, storage_outage=isinstance(error, errors.StorageUnavailable))
    logger.error("%s: %s", error.code, exc, exc_info=exc)
    return error


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if unavailable := outage(exc):
        exc = unavailable
    elif isinstance(exc, errors.ImageServiceError):
        logger.warning("refused: %s: %s", exc.code, exc.detail)
    if isinstance(exc, errors.ImageServiceError):  # each error says its own status and code
        response = Response(error_body(exc.detail, exc.code), status=int(exc.status_code))
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        if exc.cache_control is not None:
            response["Cache-Control"] = exc.cache_control
        return response
    # A model's own DoesNotExist (Image.DoesNotExist from a lookup by id) and Http404 are
    # the only errors that answer 404.
    if isinstance(exc, ObjectDoesNotExist | Http404):
        exc = exceptions.NotFound(_missing(exc, context.get("kwargs") or {}))
    elif isinstance(exc, RequestDataTooBig):
        exc = exceptions.APIException(str(exc), code="request_too_large")
        exc.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "Bad request.", code="bad_request")

    response = drf_exception_handler(exc, context)  # sets Retry-After, WWW-Authenticate
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc)
    else:
        response.data = error_body(str(exc.detail), _single_code(exc.get_codes()))
    return response


def _missing(exc: Exception, kwargs: dict) -> str:
    """What was not found: the message the lookup gave (images.models.image_not_found and
    the like), else the view's image and revision (a plain ``objects.get``)."""
    detail = str(exc)
    if isinstance(exc, ObjectDoesNotExist) and detail and not detail.endswith(DJANGO_MISSING):
        return detail
    image_id, revision = kwargs.get("image_id"), kwargs.get("revision")
    if isinstance(exc, ImageRevision.DoesNotExist) and image_id and revision:
        return f"revision {revision} of image {image_id} does not exist"
    if isinstance(exc, Image.DoesNotExist) and image_id:
        return f"image {image_id} does not exist"
    return "Not found."


def _validation_body(exc: exceptions.ValidationError) -> dict:
    detail = exc.detail
    if not isinstance(detail, dict):
        detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
    messages = {field: [str(m) for m in _flatten(value)] for field, value in detail.items()}
    field, first = next(iter(messages.items()))
    summary = first[0] if field == "non_field_errors" else f"{field}: {first[0]}"
    return error_body(summary, _single_code(exc.get_codes()), errors=messages)


def _single_code(codes) -> str:
    """The one code that all errors share, else the generic ``invalid``."""
    found = {str(code) for code in _flatten(codes)}
    return found.pop() if len(found) == 1 else "invalid"


def _flatten(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


OUTAGE_RESPONSE = (
    "An outside part failed: `database_unavailable` or `storage_unavailable`. Nothing was "
    "changed; retry after the Retry-After header's seconds."
)


def document_outages(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: every API operation may answer 503, since every
    one reads the database."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith(("/api/v1/images", "/api/v1/events", "/api/v1/trash")):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("503", {"content": error})["description"] = OUTAGE_RESPONSE
    return result


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception):
    if _is_api(request):
        path = request.path if len(request.path) <= 200 else request.path[:197] + "..."
        detail = f"Nothing at {path}: no endpoint has this path, or an id in it is malformed."
        return JsonResponse(error_body(detail, "not_found"), status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request, exception):
    if _is_api(request):
        return JsonResponse(error_body("Bad request.", "bad_request"), status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    """Django's answer to an exception nothing else handled (``sys.exception()``, while it
    is being handled): a 503 for an outage, else a 500 (Django logs its traceback)."""
    if unavailable := outage(sys.exception()):
        return _unavailable(request, unavailable)
    if _is_api(request):
        return JsonResponse(error_body("Internal server error.", "server_error"), status=500)
    return defaults.server_error(request)


def _unavailable(request, error: errors.ImageServiceError) -> HttpResponse:
    if _is_api(request):
        response = JsonResponse(error_body(error.detail, error.code), status=error.status_code)
    else:  # the admin: a page, not a traceback page or a bare 500
        response = HttpResponse(UNAVAILABLE_PAGE % escape(error.detail), status=error.status_code)
    response["Retry-After"] = str(error.retry_after)
    response._has_been_logged = True  # by outage(); Django would log its traceback again
    return response
