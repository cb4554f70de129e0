from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from images.api.urls import with_slash_twins
from imageservice.docs import HomeView, RedocView, SwaggerView

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("images.api.urls")),
    *with_slash_twins(
        [
            path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
            path("api/v1/docs/", SwaggerView.as_view(), name="swagger-ui"),
            path("redoc/", RedocView.as_view(), name="redoc"),
        ]
    ),
]

handler400 = "images.api.exception_handler.bad_request"
handler404 = "images.api.exception_handler.not_found"
handler500 = "images.api.exception_handler.server_error"
