"""Rate limits of the images API, per client and scope, kept in the shared cache.

Each request counts against one scope: ``uploads`` for the costly ones (an upload, a URL
creation, a crop, a restore: each decodes a whole image), else ``read`` for GET, HEAD and
OPTIONS and ``write`` for the rest. A client is its token, its admin login, or its address.
The counts live in Django's default cache (``CACHE_URL``), so every gunicorn worker, and
every instance sharing the cache, counts the same requests. Rates are read from settings at
request time; a scope whose rate is ``None`` is not limited.
"""

import logging

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from .models import ApiToken

logger = logging.getLogger("access.throttling")

UPLOADS, READ, WRITE = "uploads", "read", "write"


def client_address(request) -> str | None:
    """The address a client is counted by: REMOTE_ADDR, or behind ``NUM_PROXIES`` proxies
    the address the outermost trusted one saw (X-Forwarded-For is never trusted otherwise).
    The throttles, the admin login lockout and the metrics' access rule all use it."""
    return BaseThrottle().get_ident(request)


def request_scope(request, view) -> str:
    """The scope a request counts against; views say which of their requests are costly."""
    is_costly = getattr(view, "is_costly", None)
    if is_costly is not None and is_costly(request):
        return UPLOADS
    return READ if request.method in SAFE_METHODS else WRITE


class ImagesRateThrottle(SimpleRateThrottle):
    def __init__(self) -> None:  # the scope, hence the rate, is known only per request
        pass

    def get_rate(self) -> str | None:
        return settings.IMAGES_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        self.scope = request_scope(request, view)
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return self._count(self.get_cache_key(request, view))
        except Exception:
            # The limits protect the service; they must not take it down with the cache.
            logger.exception("throttle cache unavailable; request let through")
            return True

    def _count(self, key: str) -> bool:
        """A window opens at a client's first request and counts until it ends.

        DRF's own throttle keeps every request's time in the cache and rewrites that list
        on each call (up to 1,200 entries at the default read rate, pickled and written to
        the file cache every time); a start and a count cost the same for any rate.
        """
        self.now = self.timer()
        start, count = self.cache.get(key) or (self.now, 0)
        if start + self.duration <= self.now:
            start, count = self.now, 0
        self.window_ends = start + self.duration
        if count >= self.num_requests:
            return False
        self.cache.set(key, (start, count + 1), self.window_ends - self.now)
        return True

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
