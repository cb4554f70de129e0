"""The trash in the admin: the images a delete moved there, restored or purged by the same
services as ``/api/v1/trash/`` (images/services/trash.py). Nothing in the trash is edited."""

import contextlib

from django.contrib import admin, messages
from django.db.models import QuerySet

from access.actors import actor_from_request
from images import services
from images.admin.images import ImageAdmin
from images.models import Image, TrashedImage

SHOWN = [
    "name",
    "description",
    "tags",
    "metadata",
    "format_name",
    "dimensions",
    "size",
    "sha256",
    "created_at",
    "deleted_at",
    "purge_at",
]


@admin.register(TrashedImage)
class TrashAdmin(admin.ModelAdmin):
    list_display = ["name", "format_name", "dimensions", "size", "deleted_at", "purge_at"]
    list_display_links = ["name"]
    search_fields = ["name"]
    fields = readonly_fields = SHOWN
    actions = ["restore"]
    # The images' own columns, written as there (JPEG, 400 x 300, 1.2 MB).
    format_name = ImageAdmin.format_name
    dimensions = ImageAdmin.dimensions
    size = ImageAdmin.size

    def has_add_permission(self, request) -> bool:
        return False  # a delete puts images here

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only: restore it first

    # Who may see, restore and purge the trash: whoever may do so with the images.
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("images.view_image") or self.has_restore_permission(request)

    def has_restore_permission(self, request) -> bool:
        return request.user.has_perm("images.change_image")

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("images.delete_image")

    @admin.action(description="Restore the selected images", permissions=["restore"])
    def restore(self, request, queryset: QuerySet[TrashedImage]) -> None:
        actor = actor_from_request(request)
        restored = 0
        for image_id in queryset.values_list("pk", flat=True):
            try:
                services.image_undelete(image_id=image_id, actor=actor)
                restored += 1
            except Image.DoesNotExist:
                pass  # restored or purged meanwhile
        messages.success(request, f"{restored} restored: they are images again, as they were.")

    def delete_model(self, request, obj) -> None:
        """Delete here is the purge: the row and every file, for good."""
        self._purge([obj.pk])

    def delete_queryset(self, request, queryset) -> None:
        self._purge(list(queryset.values_list("pk", flat=True)))

    def _purge(self, image_ids: list) -> None:
        for image_id in image_ids:
            with contextlib.suppress(Image.DoesNotExist):  # restored or purged meanwhile
                services.image_purge(image_id=image_id)
