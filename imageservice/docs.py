"""The API's own pages: Swagger UI and ReDoc, and ``/``, a page leading to them, to the
admin and to the docs site (IMAGES_DOCS_URL).

Both render from the service alone (lab networks often have no internet): their files come
with drf-spectacular-sidecar, and each page's Content-Security-Policy lets the browser load
nothing from another host. ReDoc's sidebar, for one, always shows Redocly's logo from
cdn.redoc.ly; the policy keeps that request from being made (the logo hides itself).
"""

from django.conf import settings
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

# 'unsafe-inline': drf-spectacular writes each UI's start-up script into its page, and both
# UIs set inline styles; blob: is ReDoc's search worker; data: the UIs' inline icons.
SELF_ONLY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'self'",
    ]
)


class SelfOnly:
    """Answers with the policy that lets the page load from this service only."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = SELF_ONLY
        return response


class SwaggerView(SelfOnly, SpectacularSwaggerView):
    pass


class RedocView(SelfOnly, SpectacularRedocView):
    """ReDoc as drf-spectacular serves it, without the page's web fonts from Google."""

    template_name = "imageservice/redoc.html"


class HomeView(TemplateView):
    """``/``, the service's front door: what it is, and links to the pages a person uses
    (Swagger UI, ReDoc, the admin, the docs site). It loads nothing, not even a stylesheet."""

    template_name = "imageservice/home.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(docs_url=settings.IMAGES_DOCS_URL, **kwargs)

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = SELF_ONLY
        return response
