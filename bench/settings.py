"""The service's own settings, with the bench's URLconf (the product's URLs + the floor view).

Only the benchmark's gunicorn runs with these; the product never loads this module.
"""

from imageservice.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
