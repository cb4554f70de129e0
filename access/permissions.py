"""Who may use the images API: everyone (``IMAGES_AUTH=open``) or token holders (``token``).

Applied per view (the images views), never as a project-wide default: the schema, the docs
and the health checks stay reachable without a token.
"""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiToken


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
