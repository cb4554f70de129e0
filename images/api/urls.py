import uuid

from django.urls import path, register_converter

from images.api import history_views, rendition_views, trash_views, views


class ImageIdConverter:
    """Any path segment; only a UUID matches, anything else falls through to a JSON 404."""

    regex = "[^/]+"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)  # ValueError: no match

    def to_url(self, value) -> str:
        return str(value)


register_converter(ImageIdConverter, "image_id")


class RevisionConverter:
    """A revision number: up to 9 digits (a database integer); anything else is a JSON 404."""

    regex = "[0-9]{1,9}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(RevisionConverter, "revision")


def both(route: str, view_class, name: str) -> list:
    """The route as written, and its twin with (or without) the trailing slash."""
    twin_route = route[:-1] if route.endswith("/") else route + "/"
    twin = view_class.as_view()
    twin.slash_twin = True
    twin.route_name = name  # the twin's requests are counted under the route's name (metrics)
    return [path(route, view_class.as_view(), name=name), path(twin_route, twin)]


def hide_slash_variants(endpoints):
    """drf-spectacular preprocessing hook: document each route once, as written."""
    return [endpoint for endpoint in endpoints if not getattr(endpoint[3], "slash_twin", False)]


urlpatterns = [
    *both("images/upload", views.ImageUploadView, "image-upload"),
    *both("images/", views.ImageListView, "image-list"),
    *both("images/facets", views.ImageFacetsView, "image-facets"),
    *both("images/bulk", views.ImageBulkView, "image-bulk"),
    *both("images/<image_id:image_id>", views.ImageDetailView, "image-detail"),
    *both("images/<image_id:image_id>/file", views.ImageFileView, "image-file"),
    *both(
        "images/<image_id:image_id>/original",
        views.ImageOriginalView,
        "image-original",
    ),
    *both("images/<image_id:image_id>/restore", views.ImageRestoreView, "image-restore"),
    *both(
        "images/<image_id:image_id>/renditions/<str:spec>",
        rendition_views.ImageRenditionView,
        "image-rendition",
    ),
    *both(
        "images/<image_id:source_id>/diff/<image_id:target_id>",
        views.ImageDiffView,
        "image-diff",
    ),
    *both(
        "images/<image_id:source_id>/diff/<image_id:target_id>/image",
        views.ImageDiffPictureView,
        "image-diff-image",
    ),
    *both("images/<image_id:image_id>/similar", views.ImageSimilarView, "image-similar"),
    *both("images/search", views.ImageSearchView, "image-search"),
    *both(
        "images/<image_id:image_id>/revisions",
        trash_views.ImageRevisionsView,
        "image-revisions",
    ),
    *both(
        "images/<image_id:image_id>/revisions/<revision:revision>/file",
        trash_views.ImageRevisionFileView,
        "image-revision-file",
    ),
    *both("trash/", trash_views.TrashListView, "trash-list"),
    *both("trash/<image_id:image_id>", trash_views.TrashDetailView, "trash-detail"),
    *both("trash/<image_id:image_id>/restore", trash_views.TrashRestoreView, "trash-restore"),
    *both("images/<image_id:image_id>/history", history_views.ImageHistoryView, "image-history"),
    *both("events", history_views.EventFeedView, "events"),
]
