"""Health endpoints for load balancers and orchestrators.

``GET /healthz``: the process answers (no I/O). ``GET /readyz``: the database and the file
storage answer too; 503 names the part that does not. Both are answered by a middleware
placed before host validation, because probes come with whatever Host the prober uses (a
pod's IP address, say), which ALLOWED_HOSTS would refuse; they need no authentication and
are not part of the API.
"""

import concurrent.futures
import contextvars
import logging
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from images import storage

logger = logging.getLogger(__name__)

# The longest a readiness probe waits for all its checks; one not done by then has failed.
READY_TIMEOUT = 5.0


def check_database() -> None:
    """A round trip on a new connection, as a new worker would open one (bounded by the
    connect timeout), closed again so a probe holds no connection."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "storage": storage.check_available,
}


def readiness() -> dict[str, str]:
    """Each part's status, "ok" or "unavailable"; the checks run side by side in threads of
    their own (a database connection is per thread), all within READY_TIMEOUT."""
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
        statuses[name] = "ok" if future.done() and future.exception() is None else "unavailable"
    return statuses


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
