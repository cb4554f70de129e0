"""Rate limits of the images API, per client and scope, kept in the shared cache.

Off unless configured (``IMAGES_THROTTLE_RATE_*``; a scope whose rate is ``None`` is not
limited). Each request counts against one scope, known from the viewset's action (or the
method) before the action runs: ``uploads`` for a viewset's ``costly_actions`` (an upload, a
URL creation, a restore, a search, a diff picture: each decodes a whole image), else
``read`` for GET, HEAD and OPTIONS and ``write`` for the rest. An action that learns from
its validated input that a request is costly (an update that crops, a rendition not made
yet) charges it to ``uploads`` as well with ``charge_costly``, before doing the work.
A client is its token, its admin login, or its address. The counts live in Django's default
cache (``CACHE_URL``), so every gunicorn worker, and every instance sharing the cache,
counts the same requests. Rates are read from settings at request time.
"""

import logging

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from access.models import ApiToken

logger = logging.getLogger("access.throttling")

UPLOADS, READ, WRITE = "uploads", "read", "write"


def client_address(request) -> str | None:
    """The address a client is counted by: REMOTE_ADDR, or behind ``NUM_PROXIES`` proxies
    the address the outermost trusted one saw (X-Forwarded-For is never trusted otherwise).
    The throttles, the admin login lockout and the metrics' access rule all use it."""
    return BaseThrottle().get_ident(request)


def request_scope(request, view) -> str:
    """The scope a request counts against, from its viewset's action and its method alone."""
    if getattr(view, "action", None) in getattr(view, "costly_actions", ()):
        return UPLOADS
    return READ if request.method in SAFE_METHODS else WRITE


def charge_costly(request, view) -> None:
    """Count a request the view found costly against ``uploads``; over the rate, 429."""
    throttle = ImagesRateThrottle(scope=UPLOADS)
    if not throttle.allow_request(request, view):
        view.throttled(request, throttle.wait())


class ImagesRateThrottle(SimpleRateThrottle):
    cache_format = "images-throttle:%(scope)s:%(ident)s"

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope  # None: the request's own scope, known in allow_request

    def allow_request(self, request, view) -> bool:
        self.scope = self.scope or request_scope(request, view)
        rate = settings.IMAGES_THROTTLE_RATES.get(self.scope)
        if rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(rate)
        try:
            return self._count(self.get_cache_key(request, view)) <= self.num_requests
        except Exception:
            # The limits protect the service; they must not take it down with the cache.
            logger.exception("throttle cache unavailable; request let through")
            return True

    def _count(self, key: str) -> int:
        """This request's number in the client's window, which opens at its first request
        and lasts the rate's period: ``key`` holds when it opened, for that long, and the
        window's own counter is incremented in the cache (one atomic step in Redis or
        memcached; the file cache reads and rewrites a small file).

        DRF's own throttle keeps every request's time instead and rewrites that list on
        each call, a cost that grows with the rate.
        """
        self.now = self.timer()
        opened = self.cache.get_or_set(key, self.now, self.duration)
        self.window_ends = opened + self.duration
        counter = f"{key}:{opened!r}"
        self.cache.add(counter, 0, self.duration)
        return self.cache.incr(counter)

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)  # REMOTE_ADDR, or per NUM_PROXIES
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def wait(self) -> float:
        """Seconds until the client's window ends and its count starts again."""
        return max(self.window_ends - self.now, 1.0)
