"""Who may use the images API: everyone (``IMAGES_AUTH=open``) or token holders (``token``);
and who may read the metrics.

Applied per view (the images views), never as a project-wide default: the schema, the docs
and the health checks stay reachable without a token.
"""

import ipaddress

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission

from access.models import ApiToken
from access.throttling import client_address


class ImagesAccess(BasePermission):
    """In token mode: a valid token (read-only ones only for GET, HEAD and OPTIONS), or a
    staff user logged in to the admin (for the browsable docs). DRF answers 401 to a request
    without credentials, 403 to one whose credentials do not allow it."""

    def has_permission(self, request, view) -> bool:
        if settings.IMAGES_AUTH == "open":
            return True
        if isinstance(request.auth, ApiToken):
            if request.auth.read_only and request.method not in SAFE_METHODS:
                self.message = "This token is read-only: it cannot change images."
                return False
            return True
        user = request.user
        if user is not None and user.is_authenticated:
            if user.is_staff:
                return True
            self.message = "Only staff users may use the API with a login session."
        return False


class WebhooksAccess(ImagesAccess):
    """Webhooks (their URLs, and the secret of a new one), in token mode: a full token or a
    staff user, even to read them; open mode: anyone, as for images."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if isinstance(request.auth, ApiToken) and request.auth.read_only:
            self.message = "Webhooks need a full token, not a read-only one."
            return False
        return True


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return (mapped or ip).is_loopback


class MetricsAccess(BasePermission):
    """``GET /metrics``: from this machine (the client's address, as the rate limits see
    it, is a loopback one), or with a token that is not read-only; from anywhere with
    ``METRICS_PUBLIC=true``. Counts of routes and errors tell an attacker what is going on
    inside, so they are not open to whoever reaches the service."""

    message = "Metrics are served to this machine, or with a full (not read-only) token."

    def has_permission(self, request, view) -> bool:
        if settings.METRICS_PUBLIC or is_loopback(client_address(request)):
            return True
        return isinstance(request.auth, ApiToken) and not request.auth.read_only
