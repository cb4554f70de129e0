from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from images.api.urls import both
from imageservice.docs import HomeView, RedocView, SwaggerView

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("images.api.urls")),
    *both("api/v1/schema/", SpectacularAPIView, "schema"),
    *both("api/v1/docs/", SwaggerView, "swagger-ui"),
    *both("redoc/", RedocView, "redoc"),
]

handler400 = "images.api.exception_handler.bad_request"
handler404 = "images.api.exception_handler.not_found"
handler500 = "images.api.exception_handler.server_error"
