from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "images"
    verbose_name = "Images"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from images.imaging import decode
        from images.infra import decode_budget, serving_cache

        serving_cache.connect()
        # Every full decode of this process holds its share of the machine's decode memory.
        budget = decode_budget.from_settings()
        decode.set_memory_gate(budget.reserve if budget else None)
