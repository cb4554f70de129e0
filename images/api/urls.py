"""The API's URLs: the router's, for the viewsets, and the event feed's; each route also
answers with (or without) a trailing slash, as clients have always sent both."""

import uuid

from django.urls import URLPattern, path, register_converter
from rest_framework.routers import SimpleRouter

from images.api.views.events import EventFeedView
from images.api.views.images import ImageViewSet
from images.api.views.trash import TrashViewSet
from images.api.views.webhooks import WebhookViewSet


class ImageIdConverter:
    """Any path segment; only a UUID matches, anything else falls through to a JSON 404."""

    regex = "[^/]+"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)  # ValueError: no match

    def to_url(self, value) -> str:
        return str(value)


class RevisionConverter:
    """A revision number: up to 9 digits (a database integer); anything else is a JSON 404."""

    regex = "[0-9]{1,9}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(ImageIdConverter, "image_id")
register_converter(RevisionConverter, "revision")


class ApiRouter(SimpleRouter):
    """Django path routes (the ``image_id`` converter for ids); the list as ``images/``,
    everything else without a trailing slash, as the API's paths have always been written."""

    def __init__(self) -> None:
        super().__init__(trailing_slash=False, use_regex_path=False)
        self.routes = [
            route._replace(url="{prefix}/") if route.name == "{basename}-list" else route
            for route in self.routes
        ]


def with_slash_twins(patterns: list[URLPattern]) -> list[URLPattern]:
    """Each route as written, then its twin with (or without) the trailing slash: the same
    view, unnamed (reverse gives the route as written), counted in the metrics under the
    route's name and left out of the schema (``hide_slash_variants``)."""
    routes = []
    for pattern in patterns:
        route = str(pattern.pattern)
        twin_route = route[:-1] if route.endswith("/") else route + "/"
        view = pattern.callback
        actions = getattr(view, "actions", None)  # a viewset's methods -> actions
        if actions:
            twin = view.cls.as_view(actions, **view.initkwargs)
        else:
            twin = view.cls.as_view(**view.initkwargs)
        twin.slash_twin = True
        twin.route_name = pattern.name
        routes += [pattern, path(twin_route, twin)]
    return routes


def hide_slash_variants(endpoints):
    """drf-spectacular preprocessing hook: document each route once, as written."""
    return [endpoint for endpoint in endpoints if not getattr(endpoint[3], "slash_twin", False)]


router = ApiRouter()
router.register("images", ImageViewSet, basename="image")
router.register("trash", TrashViewSet, basename="trash")
router.register("webhooks", WebhookViewSet, basename="webhook")

urlpatterns = with_slash_twins(
    [*router.urls, path("events", EventFeedView.as_view(), name="events")]
)
