from django.contrib import admin, messages

from access.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Create a token (its key is shown once, in a message), change it, delete it to revoke."""

    list_display = ["name", "read_only", "prefix", "created_at", "last_used_at"]
    list_filter = ["read_only"]
    search_fields = ["name", "=prefix"]
    fields = ["name", "read_only", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def save_model(self, request, obj, form, change):
        key = None if change else obj.set_new_key()
        super().save_model(request, obj, form, change)
        if key:
            messages.warning(
                request,
                f"The key of token “{obj.name}” is {key} — copy it now: it is stored only "
                "as a hash and will not be shown again.",
            )
