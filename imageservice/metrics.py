"""Prometheus metrics of the service, served at ``GET /metrics`` (docs/operating/index.md).

Under gunicorn each worker is a process of its own. prometheus-client's multiprocess mode
keeps every process's values in files of one folder, ``PROMETHEUS_MULTIPROC_DIR``, and a
scrape adds them up: gunicorn.conf.py makes that folder (cleared when the master starts)
and drops a dead worker's gauges in ``child_exit``; its counts stay in the sums. Without
the variable (tests, manage.py) the values are the process's own.

``/metrics`` is answered by the middleware, before host validation, as the health checks
are: scrapers address an instance by its IP. Who may read it: access.permissions.
"""

import json
import logging
import os
import time
from collections.abc import Callable

from django.db import DatabaseError
from django.db.models import Count, F, Q, Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from access.authentication import HashedTokenAuthentication
from access.permissions import MetricsAccess

logger = logging.getLogger(__name__)

PATHS = ("/metrics", "/metrics/")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The routes that take an image in: an upload, and a creation from a URL (POST on the list).
UPLOAD_ROUTES = frozenset({"image-upload", "image-list"})

REQUEST_SECONDS = Histogram(
    "imageservice_http_request_duration_seconds",
    "Requests by route (URL name), method and status, and the seconds until the answer "
    "(a download's first byte); _count is the number of requests.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
UPLOADS_REFUSED = Counter(
    "imageservice_uploads_refused",
    "Uploads and creations from a URL answered with an error, by route and error code.",
    ["route", "code"],
)
STORAGE_ERRORS = Counter(
    "imageservice_storage_errors",
    "Requests failed by the file storage (disk, object store), by exception.",
    ["error"],
)
DATABASE_ERRORS = Counter(
    "imageservice_database_errors",
    "Requests failed by the database, by exception.",
    ["error"],
)
SLOW_REQUESTS_CUT = Counter(
    "imageservice_slow_requests_cut",
    "Requests answered 408 because their headers or body did not arrive in time.",
    ["phase"],
)
SIMILARITY_INDEX_VALUES = Gauge(
    "imageservice_similarity_index_values",
    "phash values in each worker's similar-image index (8 bytes each).",
    multiprocess_mode="liveall",  # one series per live worker (pid label)
)


class StoredImages:
    """Images and bytes stored, read from the database at each scrape (the rows are the
    truth; one aggregate query, a scan of the table)."""

    IMAGES = ("imageservice_images", "Images stored.")
    BYTES = (
        "imageservice_image_bytes",
        "Bytes of the stored files: every original, and each current file that is not its "
        "original (a crop).",
    )

    def describe(self) -> list[GaugeMetricFamily]:  # registering must not query
        return [GaugeMetricFamily(*self.IMAGES), GaugeMetricFamily(*self.BYTES)]

    def collect(self):
        from images.models import Image

        try:
            totals = Image.objects.aggregate(
                images=Count("pk"),
                originals=Sum("original_file_size"),
                cropped=Sum("file_size", filter=~Q(file=F("original"))),
            )
        except DatabaseError as error:
            logger.warning("metrics: stored images not counted: %s", error)
            return
        stored_bytes = (totals["originals"] or 0) + (totals["cropped"] or 0)
        yield GaugeMetricFamily(*self.IMAGES, value=totals["images"])
        yield GaugeMetricFamily(*self.BYTES, value=stored_bytes)


STORED_IMAGES = StoredImages()
REGISTRY.register(STORED_IMAGES)


class WorkerBacklog:
    """What the background worker (manage.py images_worker, a process of its own) has not
    done yet, and its webhook outcomes so far: read from the database at each scrape."""

    BACKLOG = (
        "imageservice_webhook_backlog_events",
        "Events after each webhook's cursor, not yet delivered (filters not applied).",
    )
    PAUSED = ("imageservice_webhook_paused", "1 for each webhook that is paused.")
    OUTCOMES = (
        "imageservice_webhook_deliveries",
        "Webhook delivery attempts by outcome (delivered, or failed: retried, refused).",
    )
    RENDITIONS = (
        "imageservice_eager_renditions_waiting",
        "Creates, crops and restores whose eager renditions the worker has not made yet.",
    )

    def describe(self) -> list:
        return [
            GaugeMetricFamily(*self.BACKLOG),
            GaugeMetricFamily(*self.PAUSED),
            CounterMetricFamily(*self.OUTCOMES),
            GaugeMetricFamily(*self.RENDITIONS),
        ]

    def collect(self):
        from images.models import Webhook
        from images.worker import delivery, eager

        try:
            backlog = delivery.backlog()
            outcomes = Webhook.objects.aggregate(delivered=Sum("delivered"), failed=Sum("failed"))
            waiting = eager.waiting()
        except DatabaseError as error:
            logger.warning("metrics: worker backlog not counted: %s", error)
            return
        pending = GaugeMetricFamily(*self.BACKLOG, labels=["webhook"])
        paused = GaugeMetricFamily(*self.PAUSED, labels=["webhook"])
        for webhook, events in backlog.items():
            pending.add_metric([str(webhook.pk)], events)
            paused.add_metric([str(webhook.pk)], 0 if webhook.active else 1)
        done = CounterMetricFamily(*self.OUTCOMES, labels=["outcome"])
        for outcome in ("delivered", "failed"):
            done.add_metric([outcome], outcomes[outcome] or 0)
        yield pending
        yield paused
        yield done
        yield GaugeMetricFamily(*self.RENDITIONS, value=waiting)


WORKER_BACKLOG = WorkerBacklog()
REGISTRY.register(WORKER_BACKLOG)


def registry() -> CollectorRegistry:
    """What a scrape reports: every worker's values, or this process's alone."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    scrape = CollectorRegistry()
    multiprocess.MultiProcessCollector(scrape)
    scrape.register(STORED_IMAGES)
    scrape.register(WORKER_BACKLOG)
    return scrape


class JsonErrorsOnly(BaseContentNegotiation):
    """Errors are JSON whatever the scraper accepts; the metrics are their own format."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None


class MetricsView(APIView):
    authentication_classes = [HashedTokenAuthentication]
    permission_classes = [MetricsAccess]
    throttle_classes: list = []
    content_negotiation_class = JsonErrorsOnly

    def get(self, request) -> HttpResponse:
        encoder, content_type = choose_encoder(request.headers.get("Accept"))
        response = HttpResponse(encoder(registry()), content_type=content_type)
        response["Cache-Control"] = "no-store"
        return response


metrics_view = MetricsView.as_view()


# --- Counting -------------------------------------------------------------------------


def route_of(request: HttpRequest) -> str:
    """The URL's name (``image-file``, ``admin:login``), never the raw path: a label per
    route, whatever ids and junk clients put in paths."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        if match.url_name:
            return match.view_name  # with its namespace
        return getattr(match.func, "route_name", None) or match.route
    if request.path in ("/healthz", "/readyz", *PATHS):
        return request.path.strip("/")
    return "unmatched"  # 404s, static files


def error_code(response: HttpResponse) -> str:
    data = getattr(response, "data", None)
    if not isinstance(data, dict) and response.get("Content-Type", "").startswith(
        "application/json"
    ):
        try:
            data = json.loads(response.content)
        except (ValueError, AttributeError):  # AttributeError: a streaming response
            data = None
    code = data.get("code") if isinstance(data, dict) else None
    return str(code) if code else "unknown"


def count_error(exc: Exception, *, storage_outage: bool) -> None:
    """Count an outside fault a view ran into (called by the API's exception handler)."""
    code = getattr(exc, "code", None)
    cause = type(exc.__cause__ or exc).__name__
    if storage_outage or code == "storage_unavailable":
        STORAGE_ERRORS.labels(cause).inc()
    elif isinstance(exc, DatabaseError) or code == "database_unavailable":
        DATABASE_ERRORS.labels(cause).inc()


def observe(request: HttpRequest, response: HttpResponse, seconds: float) -> None:
    from images.similarity import index

    route = route_of(request)
    method = request.method if request.method in METHODS else "other"
    status = response.status_code
    REQUEST_SECONDS.labels(route, method, str(status)).observe(seconds)
    if status >= 400 and method == "POST" and route in UPLOAD_ROUTES:
        UPLOADS_REFUSED.labels(route, error_code(response)).inc()
    SIMILARITY_INDEX_VALUES.set(index.size)


class MetricsMiddleware:
    """Times every request below it, and answers ``/metrics``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        if request.path in PATHS:
            response = metrics_view(request)
            if hasattr(response, "render"):  # a DRF answer (the JSON errors)
                response = response.render()
        else:
            response = self.get_response(request)
        observe(request, response, time.perf_counter() - started)
        return response
