"""Webhooks in the admin: each one's state (active or paused and why, how far it has got,
its outcomes) and its last delivery attempts. Made and changed through the same services
as /api/v1/webhooks (images/services/webhooks.py); the secret is shown once, when made."""

from django import forms
from django.contrib import admin, messages

from images.errors import ImageServiceError
from images.models import Webhook, WebhookDelivery
from images.services import webhooks

SHOWN_DELIVERIES = 20
EDITABLE = ["url", "actions", "tags", "metadata", "active"]


class WebhookForm(forms.ModelForm):
    url = forms.URLField(max_length=2048, assume_scheme="https")

    class Meta:
        model = Webhook
        fields = EDITABLE

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            webhooks.check_url(url)
        except ImageServiceError as exc:
            raise forms.ValidationError(exc.detail, code=exc.code) from None
        return url


class LastDeliveries(admin.TabularInline):
    model = WebhookDelivery
    fields = ["at", "cursor", "attempt", "outcome", "response_code", "duration_ms", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = f"last {SHOWN_DELIVERIES} deliveries"

    def get_queryset(self, request):
        newest = super().get_queryset(request).order_by("-id")
        ids = list(newest.values_list("pk", flat=True)[:SHOWN_DELIVERIES])
        return newest.filter(pk__in=ids)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ["url", "active", "paused_reason", "cursor", "delivered", "failed", "created_at"]
    list_filter = ["active"]
    readonly_fields = [
        "cursor", "attempts", "failing_since", "retry_at", "paused_reason", "delivered",
        "failed", "created_at",
    ]  # fmt: skip
    inlines = [LastDeliveries]

    def save_model(self, request, obj, form, change) -> None:
        fields = {name: form.cleaned_data[name] for name in EDITABLE}
        if change:
            changed = {name: fields[name] for name in form.changed_data if name in fields}
            saved = webhooks.webhook_update(webhook_id=obj.pk, **changed)
        else:
            saved = webhooks.webhook_create(**fields)
            messages.warning(
                request,
                f"Its secret, shown this once: {saved.secret} (the receiver checks "
                "signatures with it).",
            )
        obj.pk = saved.pk
        obj.refresh_from_db()
