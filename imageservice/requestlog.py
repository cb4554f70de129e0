"""One log line per request, a request id on every line, plain text or JSON lines.

The middleware (first in MIDDLEWARE) takes the client's ``X-Request-ID`` when it is sane (at
most 128 characters of ``A-Z a-z 0-9 . _ - : = + /``) or makes one, echoes it in the
response and logs ``method path status duration`` once the view has answered: at info level,
warning for 4xx (bad input: no traceback), error for 5xx (the traceback is logged where the
error is handled: images.errors, django.request). ``RequestIdFilter`` puts the id on every
record logged while the request runs, so those lines can be joined to their request.
"""

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.utils.encoding import escape_uri_path

logger = logging.getLogger("imageservice.requests")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-:=+/]{1,128}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def request_id_from(header: str | None) -> str:
    """The client's request id if it is sane, else a new one."""
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            log_request(request, request_id, response.status_code, time.monotonic() - started)
            return response
        finally:
            _request_id.reset(token)


def log_request(request: HttpRequest, request_id: str, status: int, seconds: float) -> None:
    duration_ms = round(seconds * 1000, 1)
    path = escape_uri_path(request.path)  # control characters stay out of the log
    if status >= 500:
        level = logging.ERROR
    elif status >= 400:
        level = logging.WARNING
    else:
        level = logging.INFO
    logger.log(
        level,
        "%s %s %s %.1fms",
        request.method,
        path,
        status,
        duration_ms,
        extra={
            "request_id": request_id,
            "method": request.method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
        },
    )


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record: the current request's, or "-" outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return True


class DjangoNoiseFilter(logging.Filter):
    """Django's own request logging, fitted to the request line (which reports every
    answer with its status): ``django.request`` keeps only errors with a traceback
    (unhandled exceptions); ``django.security.*`` (a refused Host header, a malformed
    request) is bad input: a warning without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request":
            return record.exc_info is not None
        if record.name.startswith("django.security."):
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's fields when
    the record has them, and the traceback of an error."""

    FIELDS = ("request_id", "method", "path", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self.FIELDS:
            value = getattr(record, field, None)
            if value is not None and value != "-":
                entry[field] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
