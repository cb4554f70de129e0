"""The admin site: the images first, on the index and in the sidebar, then API tokens,
users, and the login lockouts last (Django sorts them by name: Access, Auth, Axes, Images).

``AdminConfig`` replaces ``django.contrib.admin`` in INSTALLED_APPS, so that ``admin.site``
and every ``@admin.register`` are this site.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.urls import reverse_lazy

# By app label; an app not named here comes after these, by name.
APP_ORDER = ["images", "access", "auth", "axes"]
# Within an app, by model name; the others after these, by name.
MODEL_ORDER = ["Image", "TrashedImage"]


class ImageServiceAdminSite(admin.AdminSite):
    site_header = "Image service"
    site_title = "Image service admin"
    index_title = "Images and API tokens"
    site_url = reverse_lazy("home")  # "View site": the front page, linking the API's docs

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        apps.sort(key=lambda app: (_rank(APP_ORDER, app["app_label"]), app["name"].lower()))
        for app in apps:
            app["models"].sort(key=lambda model: (_rank(MODEL_ORDER, model["object_name"]),))
        return apps


def _rank(order: list[str], name: str) -> int:
    return order.index(name) if name in order else len(order)


class AdminConfig(DjangoAdminConfig):
    default_site = "imageservice.admin_site.ImageServiceAdminSite"
