"""The API's own pages: the schema, Swagger UI and ReDoc, and ``/`` leading to them."""

from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularRedocView


class RedocView(SpectacularRedocView):
    """ReDoc as drf-spectacular serves it, without the page's web fonts from Google."""

    template_name = "imageservice/redoc.html"


class HomeView(RedirectView):
    """``/`` is the API's front door: Swagger UI (a newcomer met a bare 404 there)."""

    pattern_name = "swagger-ui"
    permanent = False  # the address of the docs may change; browsers must not remember it
