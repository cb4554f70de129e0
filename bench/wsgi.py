"""WSGI entry point of the benchmark's gunicorn: the service with the bench's URLconf."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

application = get_wsgi_application()
