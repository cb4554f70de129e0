"""The one place where errors become HTTP answers.

Every error under ``/api/`` is JSON: a human ``detail`` and a stable snake_case ``code``;
validation errors add ``errors``, the messages per field.
"""

import logging

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from imageservice import metrics

from . import errors, storage

logger = logging.getLogger("images.errors")


def error_body(detail: str, code: str, **extra) -> dict:
    return {"detail": detail, "code": code, **extra}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    metrics.count_error(exc, storage_outage=storage.is_outage(exc))
    if storage.is_outage(exc):
        logger.error("storage failed: %s", exc, exc_info=exc)
        exc = errors.StorageUnavailable()
    elif isinstance(exc, errors.ImageServiceError):
        logger.warning("refused: %s: %s", exc.code, exc.detail)
    if isinstance(exc, errors.ImageServiceError):  # each error says its own status and code
        return Response(error_body(exc.detail, exc.code), status=int(exc.status_code))
    # A model's own DoesNotExist (Image.DoesNotExist from a lookup by id) and Http404 are
    # the only errors that answer 404.
    if isinstance(exc, ObjectDoesNotExist | Http404):
        exc = exceptions.NotFound()
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


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception):
    if _is_api(request):
        return JsonResponse(error_body("Not found.", "not_found"), status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request, exception):
    if _is_api(request):
        return JsonResponse(error_body("Bad request.", "bad_request"), status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_body("Internal server error.", "server_error"), status=500)
    return defaults.server_error(request)
