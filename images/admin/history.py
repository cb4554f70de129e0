"""An image's history in the admin, as the service records it (images/history.py): the
newest changes on its page, and all of them, page by page, behind its History button
(in place of Django's own log, which knows nothing of changes made through the API)."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from images import selectors
from images.admin.labels import value_text
from images.models import Image, ImageEvent

SHOWN_ON_THE_PAGE = 10  # the change page's newest changes; the History button has all
PER_PAGE = 100


def actor_text(event: ImageEvent) -> str:
    """ "token scanner-1 from 10.0.0.7", "user admin from ...", "command import_images"."""
    who = " ".join(part for part in (event.actor_kind, event.actor_name) if part)
    return f"{who} from {event.actor_address}" if event.actor_address else who


def changes_text(event: ImageEvent) -> list[str]:
    """Each changed field on a line: "name: alpha → beta", "tags: P-0042, dapi"."""
    lines = []
    for field, value in event.changes.items():
        if event.action != ImageEvent.Action.CREATED and _is_change(value):
            lines.append(f"{field}: {_shown(value[0])} → {_shown(value[1])}")
        else:
            lines.append(f"{field}: {_shown(value)}")
    return lines


def _is_change(value) -> bool:
    return isinstance(value, list) and len(value) == 2


def _shown(value) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(_shown(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={value_text(item)}" for key, item in sorted(value.items()))
    return value_text(value)


def events_table(events: list[ImageEvent]) -> str:
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th><td class="event-action">{}</td><td class="event-actor">{}'
        '</td><td class="event-changes" style="overflow-wrap:anywhere">{}</td></tr>',
        (
            (
                date_format(localtime(event.at), "DATETIME_FORMAT"),
                event.action,
                actor_text(event),
                format_html_join("", "<div>{}</div>", ((line,) for line in changes_text(event))),
            )
            for event in events
        ),
    )
    return format_html(
        '<table class="image-history"><thead><tr><th scope="col">When</th>'
        '<th scope="col">Action</th><th scope="col">Who</th><th scope="col">Changes</th></tr>'
        "</thead><tbody>{}</tbody></table>",
        rows,
    )


class ServiceHistory:
    """For a ModelAdmin of images (live or trashed): the History button and the page's
    newest changes show the service's events."""

    object_history_template = "admin/images/history.html"
    history_of_trashed = False

    def _events(self, image: Image):
        return selectors.image_history(image_id=image.pk, trashed=self.history_of_trashed)

    @admin.display(description="History")
    def history_summary(self, image: Image) -> str:
        """The newest changes, and a link to all of them."""
        events = self._events(image)
        total, shown = events.count(), list(events[:SHOWN_ON_THE_PAGE])
        opts = self.model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[image.pk])
        more = format_html(
            '<p><a href="{}" class="history-all">All {} changes</a>, or GET '
            "<code>/api/v1/images/{}/history</code>.</p>",
            url,
            total,
            image.pk,
        )
        return format_html("{}{}", events_table(shown), more if total > len(shown) else "")

    def history_view(self, request, object_id, extra_context=None):
        image = self.get_object(request, unquote(object_id))
        if image is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        if not self.has_view_or_change_permission(request, image):
            raise PermissionDenied
        page = Paginator(self._events(image), PER_PAGE).get_page(request.GET.get("p"))
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {image}",
            "subtitle": None,
            "module_name": str(opts.verbose_name_plural).capitalize(),
            "object": image,
            "opts": opts,
            "page": page,
            "page_range": page.paginator.get_elided_page_range(page.number),
            "events": events_table(page.object_list),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.object_history_template, context)
