"""What every viewset and view of the API shares: access, rate limits, pagination, the
answer to a create, and the helpers that keep each action thin."""

from django.http import QueryDict
from django.urls import reverse
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from access.permissions import ImagesAccess
from access.throttling import ImagesRateThrottle
from images.api.pagination import ImagePagination
from images.api.serializers.images import ImageSerializer
from images.models import Image


# Tokens when IMAGES_AUTH=token, rate limits per scope. The actions named in
# ``costly_actions`` decode a whole image and count against the ``uploads`` scope; a request
# found costly by its input (a crop) is charged to it with ``charge_costly``. (Comments, not
# docstrings: drf-spectacular would make a docstring every operation's description.)
class Guarded:
    permission_classes = [ImagesAccess]
    throttle_classes = [ImagesRateThrottle]
    costly_actions: frozenset[str] = frozenset()


# A viewset of images by id: ``{image_id}`` in its paths, a UUID (images/api/urls.py's
# converter; anything else is a JSON 404). Actions read and write through the selectors
# and services, never through a queryset of the viewset.
class GuardedViewSet(Guarded, GenericViewSet):
    pagination_class = ImagePagination
    paginated_actions: frozenset[str] = frozenset({"list"})
    lookup_url_kwarg = "image_id"
    lookup_value_converter = "image_id"

    @property
    def paginator(self):
        """The paginator of an action that answers a page, else None: only those take
        ``page`` and ``page_size`` (images/api/query_params.py asks)."""
        return super().paginator if self.action in self.paginated_actions else None

    def paginated(self, rows, serializer_class) -> Response:
        """One page of ``rows`` as the list, the trash and a history answer it."""
        page = self.paginate_queryset(rows)
        context = self.get_serializer_context()
        return self.get_paginated_response(serializer_class(page, many=True, context=context).data)


class GuardedView(Guarded, APIView):
    pass


class AnyAccept(BaseContentNegotiation):
    """Downloads answer with the image whatever the client's Accept header says."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def created(request, image: Image, *, new: bool = True) -> Response:
    """201 for a new image; 200 for the stored one a deduplicated upload resolved to."""
    location = request.build_absolute_uri(reverse("image-detail", kwargs={"image_id": image.pk}))
    body = ImageSerializer(image, context={"request": request}).data
    code = status.HTTP_201_CREATED if new else status.HTTP_200_OK
    return Response(body, status=code, headers={"Location": location})


def merged_input(request) -> dict:
    """Query parameters and body fields (JSON or form) in one dict; the body wins."""
    body = request.data
    if not isinstance(body, dict):
        raise ParseError("The body must be a JSON object.")
    if isinstance(body, QueryDict):  # form bodies: one value per field
        body = body.dict()
    return {**request.query_params.dict(), **body}
