"""The product's URLs plus the bench's floor views, for the benchmark's gunicorn only.

The floor views run under the same gunicorn settings, middleware and (for the request
floor) the same DRF authentication, renderer and exception handling as the product's views,
and do nothing else: no database, no serializer.
"""

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.service import FILE_FLOOR_PATH, FLOOR_PATH
from imageservice import urls as product


class FloorView(APIView):
    """The request floor: a trivial DRF view."""

    def get(self, request):
        return Response({"ok": True})


def file_floor(request):
    """The download floor: a stored file streamed by Django, found without the database."""
    return FileResponse(default_storage.open(request.GET["name"], "rb"))


urlpatterns = [
    *product.urlpatterns,
    path(FLOOR_PATH, FloorView.as_view()),
    path(FILE_FLOOR_PATH, file_floor),
]
handler400 = product.handler400
handler404 = product.handler404
handler500 = product.handler500
