"""The trash in the admin: the images a delete moved there, restored or purged by the same
services as ``/api/v1/trash/`` (images/services/trash.py). Nothing in the trash is edited."""

import contextlib

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.views.decorators.http import require_POST

from access.actors import actor_from_request
from images import services
from images.admin.history import ServiceHistory
from images.admin.images import ImageAdmin
from images.admin.labels import metadata_table, tag_chips
from images.errors import ImageServiceError
from images.imaging import decode as imaging
from images.infra import storage
from images.models import Image, TrashedImage

SHOWN = [
    "preview",
    "restore_note",
    "name",
    "description",
    "tag_list",
    "metadata_list",
    "format_name",
    "dimensions",
    "size",
    "sha256",
    "created_at",
    "deleted_at",
    "purge_at",
    "history_summary",
]
PREVIEW_SIZE = 480


@admin.register(TrashedImage)
class TrashAdmin(ServiceHistory, admin.ModelAdmin):
    list_display = [
        "thumbnail",
        "name",
        "format_name",
        "dimensions",
        "size",
        "deleted_at",
        "purge_at",
    ]
    list_display_links = ["thumbnail", "name"]
    search_fields = ["name"]
    fields = readonly_fields = SHOWN
    actions = ["restore"]
    change_form_template = "admin/images/trashedimage/change_form.html"
    delete_confirmation_template = "admin/images/trashedimage/delete_confirmation.html"
    history_of_trashed = True
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

    def get_urls(self):
        thumbnail = self.admin_site.admin_view(self.thumbnail_view)
        restore = self.admin_site.admin_view(require_POST(self.restore_view))
        return [
            path("<uuid:image_id>/thumbnail/<int:size>/", thumbnail, name="images_trash_thumbnail"),
            path("<uuid:image_id>/restore/", restore, name="images_trash_restore"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {
            "may_restore": self.has_restore_permission(request),
            "restore_url": reverse("admin:images_trash_restore", args=[object_id]),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def restore_view(self, request, image_id):
        """The page's Restore button: ``image_undelete``, as the action and the API do."""
        if not self.has_restore_permission(request):
            raise PermissionDenied
        try:
            image = services.image_undelete(image_id=image_id, actor=actor_from_request(request))
        except Image.DoesNotExist:
            messages.error(request, "This image is no longer in the trash.")
            return HttpResponseRedirect(reverse("admin:images_trashedimage_changelist"))
        messages.success(request, f"“{image.name}” is restored: an image again, as it was.")
        return HttpResponseRedirect(reverse("admin:images_image_change", args=[image.pk]))

    def thumbnail_view(self, request, image_id, size):
        """A trashed image's preview, decoded from its current file (the renditions of
        images in the trash are not served)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        image = get_object_or_404(TrashedImage, pk=image_id)
        try:
            with storage.open_file(image.file.name) as file:
                body, content_type = imaging.thumbnail(
                    file,
                    size=max(1, min(size, PREVIEW_SIZE)),
                    max_pixels=settings.IMAGES_MAX_PIXELS,
                )
        except (ImageServiceError, *storage.ERRORS):
            return HttpResponse(status=404)  # the page shows no preview; images_check tells why
        response = HttpResponse(body, content_type=content_type)
        response["Cache-Control"] = "private, max-age=86400"
        return response

    def _thumbnail_tag(self, image: TrashedImage, size: int) -> str:
        return format_html(
            '<img src="{}?v={}" alt="" style="max-width:{}px;max-height:{}px" loading="lazy">',
            reverse("admin:images_trash_thumbnail", args=[image.pk, size]),
            image.sha256[:16],
            size,
            size,
        )

    @admin.display(description="")
    def thumbnail(self, image: TrashedImage) -> str:
        return self._thumbnail_tag(image, 96)

    @admin.display(description="Preview")
    def preview(self, image: TrashedImage) -> str:
        return self._thumbnail_tag(image, PREVIEW_SIZE)

    @admin.display(description="In the trash")
    def restore_note(self, image: TrashedImage) -> str:
        return format_html(
            "Deleted {}; purged with its files on {} unless restored first (“Restore”, top "
            "right). Restored, it comes back as it was.",
            date_format(localtime(image.deleted_at), "DATETIME_FORMAT"),
            date_format(localtime(image.purge_at), "DATE_FORMAT"),
        )

    @admin.display(description="Tags")
    def tag_list(self, image: TrashedImage) -> str:
        return tag_chips(image.tags)

    @admin.display(description="Metadata")
    def metadata_list(self, image: TrashedImage) -> str:
        return metadata_table(image.metadata)

    def get_deleted_objects(self, objs, request):
        """The images only: the purge removes their revisions and renditions with them,
        by the service's rules, needing no permission of their own."""
        return [str(obj) for obj in objs], {}, set(), []

    def delete_model(self, request, obj) -> None:
        """Delete here is the purge: the row and every file, for good."""
        self._purge([obj.pk])

    def delete_queryset(self, request, queryset) -> None:
        self._purge(list(queryset.values_list("pk", flat=True)))

    def _purge(self, image_ids: list) -> None:
        for image_id in image_ids:
            with contextlib.suppress(Image.DoesNotExist):  # restored or purged meanwhile
                services.image_purge(image_id=image_id)
