"""Health endpoints for load balancers and orchestrators.

``GET /healthz``: the process answers (no I/O). ``GET /readyz``: the database and the file
storage answer too, and each local disk they write to (the media folder, SQLite's folder)
has at least ``IMAGES_MIN_FREE_BYTES`` free; 503 names the part that does not:
``unavailable``, or ``low_space`` (writes would soon fail with a full disk).

Both are answered by a middleware placed before host validation, because probes come with
whatever Host the prober uses (a pod's IP address, say), which ALLOWED_HOSTS would refuse;
they need no authentication and are not part of the API.
"""

import concurrent.futures
import contextvars
import logging
import shutil
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from images.infra import database, storage

logger = logging.getLogger(__name__)

# The longest a readiness probe waits for all its checks; one not done by then has failed.
READY_TIMEOUT = 5.0


class LowSpace(Exception):
    """A disk the service writes to has less than IMAGES_MIN_FREE_BYTES free."""


def require_free_space(folder: str | None) -> None:
    if folder is None:  # not on a local disk: the server's own business
        return
    free = shutil.disk_usage(folder).free
    if free < settings.IMAGES_MIN_FREE_BYTES:
        raise LowSpace(f"{free} bytes free in {folder}, under IMAGES_MIN_FREE_BYTES")


def check_database() -> None:
    """A round trip on a new connection, as a new worker would open one (bounded by the
    connect timeout), closed again so a probe holds no connection; on SQLite, free space
    beside the database file."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        require_free_space(database.local_folder())
    finally:
        connection.close()


def check_storage() -> None:
    storage.check_available()
    require_free_space(storage.local_folder())


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "storage": check_storage,
}


def readiness() -> dict[str, str]:
    """Each part's status, "ok", "low_space" or "unavailable"; the checks run side by side
    in threads of their own (a database connection is per thread), within READY_TIMEOUT."""
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=len(CHECKS))
    futures = {  # each in a copy of this context, so its log lines carry the request id
        name: executor.submit(contextvars.copy_context().run, check)
        for name, check in CHECKS.items()
    }
    concurrent.futures.wait(futures.values(), timeout=READY_TIMEOUT)
    executor.shutdown(wait=False)  # a check still hanging ends by its own timeouts
    statuses = {}
    for name, future in futures.items():
        if not future.done():
            logger.warning("readiness: %s did not answer within %ss", name, READY_TIMEOUT)
        elif future.exception() is not None:
            logger.warning("readiness: %s failed: %s", name, future.exception())
        statuses[name] = _status(future)
    return statuses


def _status(check: concurrent.futures.Future) -> str:
    if not check.done():
        return "unavailable"
    if isinstance(check.exception(), LowSpace):
        return "low_space"
    return "ok" if check.exception() is None else "unavailable"


class HealthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path not in ("/healthz", "/readyz"):
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            detail = f'Method "{request.method}" not allowed.'
            response = JsonResponse({"detail": detail, "code": "method_not_allowed"}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        if request.path == "/healthz":
            body, status = {"status": "ok"}, 200
        else:
            checks = readiness()
            ready = all(status == "ok" for status in checks.values())
            body = {"status": "ok" if ready else "unavailable", "checks": checks}
            status = 200 if ready else 503
        response = JsonResponse(body, status=status)
        response["Cache-Control"] = "no-store"
        return response
