"""ASGI entry point of the benchmark's gunicorn: the service with the bench's URLconf."""

import os

from django.core.asgi import get_asgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

application = get_asgi_application()
