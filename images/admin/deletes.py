"""Deleting images in the admin says what a delete does here: the image goes to the trash
for IMAGES_TRASH_DAYS days, then is purged, and until then it can be restored. Django's
own pages would list the rows "deleted" with it (revisions, renditions) and say "deleted
successfully"; the rows stay until the purge."""

from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from access.actors import actor_from_request
from images import services


def trash_context() -> dict:
    """What the confirmation pages say of the trash."""
    days = settings.IMAGES_TRASH_DAYS
    return {
        "trash_days": days,
        "purge_on": timezone.localdate() + timedelta(days=days),
        "trash_url": reverse("admin:images_trashedimage_changelist"),
    }


def trashed_message(links: str, count: int) -> str:
    days = settings.IMAGES_TRASH_DAYS
    if days == 0:
        return format_html(
            "Deleted for good: {}. IMAGES_TRASH_DAYS is 0, so nothing is kept in the trash.",
            links,
        )
    purge_on = date_format(timezone.localdate() + timedelta(days=days), "DATE_FORMAT")
    return format_html(
        "Moved to the trash: {}. {} stay{} there {} day{}, until {}, then {} purged. To undo, "
        '<a href="{}">open the trash</a>, select {}, and choose “Restore the selected '
        "images”.",
        links,
        "It" if count == 1 else "They",
        "s" if count == 1 else "",
        days,
        "" if days == 1 else "s",
        purge_on,
        "it is" if count == 1 else "they are",
        reverse("admin:images_trashedimage_changelist"),
        "it" if count == 1 else "them",
    )


class TrashOnDelete:
    """For ImageAdmin: deletes through ``image_delete`` (the trash), said so."""

    delete_confirmation_template = "admin/images/image/delete_confirmation.html"
    delete_selected_confirmation_template = "admin/images/image/delete_selected_confirmation.html"
    actions = ["delete_selected"]

    def get_deleted_objects(self, objs, request):
        """Only the images: their revisions and renditions stay until the purge, and
        need no delete permission of their own (the service's rules decide)."""
        return [str(obj) for obj in objs], {}, set(), []

    def delete_model(self, request, obj):
        services.image_delete(image_id=obj.pk, actor=actor_from_request(request))

    def delete_queryset(self, request, queryset):
        actor = actor_from_request(request)
        for image_id in queryset.values_list("pk", flat=True):
            services.image_delete(image_id=image_id, actor=actor)

    def render_delete_form(self, request, context):
        return super().render_delete_form(request, {**context, **trash_context()})

    def response_delete(self, request, obj_display, obj_id):
        link = _trash_links([(obj_id, obj_display)])
        self.message_user(request, trashed_message(link, 1), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:images_image_changelist"))

    @admin.action(permissions=["delete"], description="Move the selected images to the trash")
    def delete_selected(self, request, queryset):
        if not request.POST.get("post"):
            response = django_delete_selected(self, request, queryset)  # the confirmation
            if response is not None and hasattr(response, "context_data"):
                response.context_data.update(trash_context())
            return response
        chosen = list(queryset.values_list("pk", "name"))
        self.delete_queryset(request, queryset)
        self.message_user(request, trashed_message(_trash_links(chosen), len(chosen)))
        return None


def _trash_links(images: list[tuple]) -> str:
    """The images' names, each linked to its page in the trash (none, with no trash)."""
    if settings.IMAGES_TRASH_DAYS == 0:
        return format_html_join(", ", "“{}”", ((name,) for _, name in images))
    return format_html_join(
        ", ",
        '<a href="{}">{}</a>',
        (
            (reverse("admin:images_trashedimage_change", args=[image_id]), name)
            for image_id, name in images
        ),
    )
