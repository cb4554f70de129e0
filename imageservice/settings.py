"""Settings of the image service, all read from the environment here and nowhere else.

The defaults run one lab machine: SQLite and local files under ``./data``. The same code
runs on PostgreSQL and S3-compatible storage when the environment says so (docs/configuration.md).
"""

import os
import re
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / "data"

env = environ.Env()

# --- Core -----------------------------------------------------------------------------
# No default: the quickstart (`make run`) makes and keeps a local key in data/secret_key.
SECRET_KEY = env.str("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "imageservice.admin_site.AdminConfig",  # django.contrib.admin, Images first
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from here: no CDN, works offline
    "images",
    "access",
    "axes",
]

MIDDLEWARE = [
    "imageservice.requestlog.RequestLogMiddleware",  # first: sees every request and answer
    "imageservice.metrics.MetricsMiddleware",  # times the rest; /metrics, before host checks
    "imageservice.health.HealthMiddleware",  # before host validation: probes use any Host
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login with 429
]

ROOT_URLCONF = "imageservice.urls"
WSGI_APPLICATION = "imageservice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "imageservice" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- HTTPS ---------------------------------------------------------------------------
# Off for the quickstart (plain HTTP on 127.0.0.1). A deployment reached over HTTPS sets
# HTTPS_ONLY=true, which turns on the redirect, secure cookies and HSTS; each can still be
# set on its own. Behind a proxy that terminates TLS, SECURE_PROXY_SSL_HEADER=true trusts
# its X-Forwarded-Proto (only then: a client could send the header itself).
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS_ONLY)
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]  # probes speak plain HTTP
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS_ONLY)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS_ONLY)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS_ONLY else 0)
# These two bind every subdomain of the site's domain: the domain owner's decision.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE transactions take the write lock
    # up front, so concurrent writers from several gunicorn workers wait (up to the
    # timeout) instead of failing with "database is locked" on a lock upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # DRF imports django.contrib.postgres.fields whatever the database, and with it psycopg
    # and libpq: 10 MiB of each worker's RSS that nothing uses on SQLite. A None in
    # sys.modules fails that import as where psycopg is not installed, which DRF expects.
    sys.modules.setdefault("django.contrib.postgres.fields", None)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A dead or unreachable server fails a connection attempt in bounded time (seconds),
    # so requests and /readyz answer instead of hanging.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
# Each gunicorn thread keeps its connection: opening one (and, on SQLite, its PRAGMAs and
# function registrations) cost more than the rest of a lookup. Checked before reuse.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Files ----------------------------------------------------------------------------
MEDIA_ROOT = env.path("MEDIA_ROOT", default=DATA_DIR / "media")
MEDIA_URL = "/media/"  # never served directly: downloads go through the API
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=DATA_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploaded files are streamed to a temporary file past this size, never held whole.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# `local` keeps images under MEDIA_ROOT; `s3` in an S3-compatible bucket (AWS S3, MinIO,
# Ceph, ...), configured by django-storages' own setting names.
IMAGES_STORAGE = env.str("IMAGES_STORAGE", default="local")
# With S3, /file and /original answer 302 to a presigned URL valid this many seconds,
# instead of streaming the bytes through the service.
IMAGES_S3_PRESIGNED_DOWNLOADS = IMAGES_STORAGE == "s3" and env.bool(
    "IMAGES_S3_PRESIGNED_DOWNLOADS", default=False
)
IMAGES_S3_PRESIGNED_TTL = env.int("IMAGES_S3_PRESIGNED_TTL", default=300)
# Behind nginx, with local storage: downloads answer with the headers only and
# `X-Accel-Redirect: <this prefix><stored name>`, and nginx sends the file from an internal
# location of that prefix aliased to MEDIA_ROOT (deploy/nginx.conf). Empty: the service
# sends the bytes itself.
IMAGES_X_ACCEL_REDIRECT = env.str("IMAGES_X_ACCEL_REDIRECT", default="")
if IMAGES_X_ACCEL_REDIRECT and (
    IMAGES_STORAGE != "local"
    or not IMAGES_X_ACCEL_REDIRECT.startswith("/")
    or not IMAGES_X_ACCEL_REDIRECT.endswith("/")
):
    raise ImproperlyConfigured(
        "IMAGES_X_ACCEL_REDIRECT is for local storage, and is a path prefix such as /_stored/."
    )
if not 1 <= IMAGES_S3_PRESIGNED_TTL <= 7 * 24 * 3600:  # what S3 signatures allow
    raise ImproperlyConfigured("IMAGES_S3_PRESIGNED_TTL must be 1 to 604800 seconds.")
# An object store that accepts connections and answers nothing fails each request to it
# within this many seconds, its one retry included: two attempts, each waiting at most a
# quarter of what is left after the retry's back-off (1 s at most) to connect, and as long
# for each read. The request then answers 503 storage_unavailable instead of hanging.
IMAGES_STORAGE_TIMEOUT = env.float("IMAGES_STORAGE_TIMEOUT", default=10.0)
if IMAGES_STORAGE_TIMEOUT < 2:
    raise ImproperlyConfigured("IMAGES_STORAGE_TIMEOUT must be at least 2 seconds.")
_S3_ATTEMPTS, _S3_MAX_BACKOFF = 2, 1.0
_S3_WAIT = (IMAGES_STORAGE_TIMEOUT - _S3_MAX_BACKOFF) / (2 * _S3_ATTEMPTS)
if IMAGES_STORAGE == "s3":
    from botocore.config import Config as S3ClientConfig

    if not env.str("AWS_STORAGE_BUCKET_NAME"):  # unset: environ's own ImproperlyConfigured
        raise ImproperlyConfigured("AWS_STORAGE_BUCKET_NAME must name the bucket.")
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            # None: boto3 looks further (AWS_* environment, instance or pod role).
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=None),
            "location": env.str("AWS_LOCATION", default=""),
            # Names are generated and unique; if one ever existed, storage picks another
            # name (one HEAD request per write) rather than replace the stored object.
            "file_overwrite": False,
            "default_acl": None,  # private objects; the bucket's policy decides
            "querystring_expire": IMAGES_S3_PRESIGNED_TTL,
            # Reads past this size spill to a temporary file instead of memory.
            "max_memory_size": FILE_UPLOAD_MAX_MEMORY_SIZE,
            # Bounded waits and one retry (IMAGES_STORAGE_TIMEOUT): an outage answers 503
            # in seconds, not minutes.
            "client_config": S3ClientConfig(
                s3={"addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="auto")},
                signature_version="s3v4",
                connect_timeout=_S3_WAIT,
                read_timeout=_S3_WAIT,
                retries={"mode": "standard", "max_attempts": _S3_ATTEMPTS},
            ),
        },
    }
elif IMAGES_STORAGE != "local":
    raise ImproperlyConfigured(f"IMAGES_STORAGE must be local or s3, not {IMAGES_STORAGE!r}.")
FILE_UPLOAD_PERMISSIONS = 0o640

# --- Images ---------------------------------------------------------------------------
IMAGES_MAX_UPLOAD_BYTES = env.int("IMAGES_MAX_UPLOAD_BYTES", default=25 * 1024 * 1024)
IMAGES_MAX_PIXELS = env.int("IMAGES_MAX_PIXELS", default=64_000_000)
# /readyz answers 503 ("low_space") when a local disk the service writes to (the media
# folder, SQLite's folder) has less free: room for an upload being stored as it is recorded.
IMAGES_MIN_FREE_BYTES = env.int("IMAGES_MIN_FREE_BYTES", default=2 * IMAGES_MAX_UPLOAD_BYTES)
if IMAGES_MIN_FREE_BYTES < 0:
    raise ImproperlyConfigured("IMAGES_MIN_FREE_BYTES must be 0 or more.")
# The machine's decode memory budget (images/infra/decode_budget.py): MiB of image memory
# the full decodes of all the service's processes on this machine hold at once, each its
# estimate from the image's header (0: no budget). A decode larger than the budget runs
# alone; one that finds it taken waits IMAGES_DECODE_WAIT_SECONDS at most, then answers 503
# decode_busy. The default lets one 24-megapixel photo (115 MiB), or two of 8, decode at a
# time: 2 workers then peak under 400 MiB RSS in all (docs/design/serving.md, Memory).
IMAGES_DECODE_MEMORY_MB = env.int("IMAGES_DECODE_MEMORY_MB", default=112)
IMAGES_DECODE_WAIT_SECONDS = env.float("IMAGES_DECODE_WAIT_SECONDS", default=20.0)
# Where the budget's lock file is: a folder of this machine that every process of the
# service here sees (the temporary folder by default; under systemd, its runtime folder),
# never shared storage: the locks are this kernel's.
IMAGES_DECODE_LOCK_DIR = Path(
    env.str(
        "IMAGES_DECODE_LOCK_DIR",
        default=str(Path(tempfile.gettempdir()) / f"imageservice-decode-{os.getuid()}"),
    )
)
if IMAGES_DECODE_MEMORY_MB < 0 or IMAGES_DECODE_WAIT_SECONDS <= 0:
    raise ImproperlyConfigured(
        "IMAGES_DECODE_MEMORY_MB must be 0 (no budget) or more, and "
        "IMAGES_DECODE_WAIT_SECONDS positive."
    )
# Creating an image from a URL (images/infra/fetch.py): a total deadline per download, public
# addresses only unless a lab's images live on its private network, optional host allow-list.
IMAGES_URL_TIMEOUT = env.float("IMAGES_URL_TIMEOUT", default=15.0)
IMAGES_URL_CONNECT_TIMEOUT = env.float("IMAGES_URL_CONNECT_TIMEOUT", default=5.0)
IMAGES_ALLOW_PRIVATE_URLS = env.bool("IMAGES_ALLOW_PRIVATE_URLS", default=False)
IMAGES_URL_ALLOWED_HOSTS = env.list("IMAGES_URL_ALLOWED_HOSTS", default=[])
# Renditions (images/services/renditions.py): the largest W or H a spec may ask for, and how many an
# image keeps stored (the least recently used go first).
IMAGES_RENDITION_MAX_SIZE = env.int("IMAGES_RENDITION_MAX_SIZE", default=4096)
IMAGES_RENDITIONS_PER_IMAGE = env.int("IMAGES_RENDITIONS_PER_IMAGE", default=20)
if IMAGES_RENDITION_MAX_SIZE < 1 or IMAGES_RENDITIONS_PER_IMAGE < 1:
    raise ImproperlyConfigured(
        "IMAGES_RENDITION_MAX_SIZE and IMAGES_RENDITIONS_PER_IMAGE must be at least 1."
    )
# How long CACHE_URL may remember an image's row and its stored renditions' rows, for its
# metadata, files and renditions served without the database (images/infra/serving_cache.py);
# 0: every request reads the database.
IMAGES_RENDITION_CACHE_SECONDS = env.int("IMAGES_RENDITION_CACHE_SECONDS", default=600)
if IMAGES_RENDITION_CACHE_SECONDS < 0:
    raise ImproperlyConfigured("IMAGES_RENDITION_CACHE_SECONDS must be 0 or more.")
# The trash (images/services/trash.py): days a deleted image is kept before images_purge removes it
# (0: a delete purges at once). Revisions (images/services/revisions.py) kept per image: revision 1
# and the current one always, so at least 2.
IMAGES_TRASH_DAYS = env.int("IMAGES_TRASH_DAYS", default=30)
IMAGES_MAX_REVISIONS = env.int("IMAGES_MAX_REVISIONS", default=50)
if IMAGES_TRASH_DAYS < 0 or IMAGES_MAX_REVISIONS < 2:
    raise ImproperlyConfigured(
        "IMAGES_TRASH_DAYS must be 0 or more and IMAGES_MAX_REVISIONS at least 2."
    )

# --- Background worker (manage.py images_worker; images/worker/) -----------------------
# Rendition specs made after each create, crop and restore, so the first view is served
# stored (empty: none). Each as the renditions endpoint takes it, without .auto.
IMAGES_EAGER_RENDITIONS = env.list("IMAGES_EAGER_RENDITIONS", default=["max-256x256"])
# Webhook deliveries: seconds an attempt may take; the first retry's delay (doubled at each
# failure, up to an hour, with jitter); how long an event is retried before the webhook is
# paused. How long an idle worker waits before it reads the feed again.
IMAGES_WEBHOOK_TIMEOUT = env.float("IMAGES_WEBHOOK_TIMEOUT", default=10.0)
IMAGES_WEBHOOK_RETRY_BASE = env.float("IMAGES_WEBHOOK_RETRY_BASE", default=5.0)
IMAGES_WEBHOOK_RETRY_HOURS = env.float("IMAGES_WEBHOOK_RETRY_HOURS", default=24.0)
IMAGES_WORKER_POLL_SECONDS = env.float("IMAGES_WORKER_POLL_SECONDS", default=1.0)
if min(IMAGES_WEBHOOK_TIMEOUT, IMAGES_WEBHOOK_RETRY_BASE, IMAGES_WORKER_POLL_SECONDS) <= 0:
    raise ImproperlyConfigured(
        "IMAGES_WEBHOOK_TIMEOUT, IMAGES_WEBHOOK_RETRY_BASE and IMAGES_WORKER_POLL_SECONDS "
        "must be positive."
    )

# --- Slow clients ----------------------------------------------------------------------
# gunicorn's worker (imageservice/gthread_fork.py) reads each request whole before a
# thread takes it: the headers within this many seconds, the body within its own timeout
# plus a second per MIN_RATE bytes received (Apache mod_reqtimeout's rule); then 408.
REQUEST_HEADER_TIMEOUT = env.float("REQUEST_HEADER_TIMEOUT", default=10.0)
REQUEST_BODY_TIMEOUT = env.float("REQUEST_BODY_TIMEOUT", default=10.0)
REQUEST_BODY_MIN_RATE = env.float("REQUEST_BODY_MIN_RATE", default=1024.0)
if min(REQUEST_HEADER_TIMEOUT, REQUEST_BODY_TIMEOUT, REQUEST_BODY_MIN_RATE) <= 0:
    raise ImproperlyConfigured("REQUEST_*_TIMEOUT and REQUEST_BODY_MIN_RATE must be positive.")

# --- Cache ----------------------------------------------------------------------------
# Holds the throttles' counts, so it must be shared by every gunicorn worker: the default is
# a folder of files beside the database (no server, no migration, no write lock taken in
# SQLite); several machines share redis://host:6379/0 instead.
CACHES = {"default": env.cache_url("CACHE_URL", default=f"filecache://{DATA_DIR / 'cache'}")}
# A cache server that stops answering must not hold requests: a Redis call gives up after a
# second (a throttle then lets the request through, a rendition is found in the database).
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"].setdefault("OPTIONS", {}).update(
        socket_connect_timeout=1.0, socket_timeout=1.0
    )

# --- Access and rate limits -----------------------------------------------------------
IMAGES_AUTH = env.str("IMAGES_AUTH", default="open")
if IMAGES_AUTH not in ("open", "token"):
    raise ImproperlyConfigured(f"IMAGES_AUTH must be open or token, not {IMAGES_AUTH!r}.")


def _rate(name: str) -> str | None:
    """A DRF rate such as ``300/min``; unset, ``off`` or empty means no limit."""
    value = env.str(name, default="").strip()
    if value.lower() in ("", "off", "none"):
        return None
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name} must look like 60/min or be off, not {value!r}.")
    return value


# Rate limits per client (access/throttling.py), off unless set: the service's own pipeline
# (an imaging machine uploading a plate series, an archive migrating) must not be held to a
# rate; a deployment shared by clients it does not control sets them
# (docs/operating/security.md, Rate limits).
IMAGES_THROTTLE_RATES = {
    "read": _rate("IMAGES_THROTTLE_RATE_READ"),
    "write": _rate("IMAGES_THROTTLE_RATE_WRITE"),
    "uploads": _rate("IMAGES_THROTTLE_RATE_UPLOAD"),
}

# --- Admin login lockout (django-axes) --------------------------------------------------
# An address that failed to log in ADMIN_LOGIN_FAILURE_LIMIT times is refused (429), even
# with the right password, until ADMIN_LOGIN_COOLOFF_MINUTES pass without another try.
# Failures are rows in the database (the default file cache evicts, and is per machine);
# the address is the rate limits' (REMOTE_ADDR, or per NUM_PROXIES).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "access.throttling.client_address"
AXES_RESET_ON_SUCCESS = True  # a good login (not locked out) forgets earlier failures
AXES_VERBOSE = False  # no line at every start; lockouts are still logged

# --- Metrics --------------------------------------------------------------------------
# GET /metrics (imageservice/metrics.py) answers this machine, or a full token; true: anyone.
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=False)

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "URL_FORMAT_OVERRIDE": None,  # `?format=` filters images by format
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "images.api.parsers.ImageMultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    # The token first: its "Token" is the WWW-Authenticate challenge of a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Who may do what is decided per view (access.permissions.ImagesAccess on the images
    # views), so pages such as the schema, the docs and health checks stay open.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    # Throttles count clients by REMOTE_ADDR; behind N proxies, by the address the
    # outermost trusted one saw (X-Forwarded-For is never trusted otherwise).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DEFAULT_PAGINATION_CLASS": "images.api.pagination.ImagePagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "images.api.exception_handler.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
from imageservice.openapi import TAGS as OPENAPI_TAGS  # noqa: E402 (the groups, in order)

SYSTEM_FONTS = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif'
MONOSPACE_FONTS = 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace'
SPECTACULAR_SETTINGS = {
    "TITLE": "Image service API",
    "DESCRIPTION": (
        "Stores JPEG and PNG images, returns their metadata, crops them and compares them "
        "by perceptual hash (64-bit phash, as the imagehash library computes it)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["images.api.urls.hide_slash_variants"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "access.schema.document_access",
        "images.api.exception_handler.document_outages",
        "imageservice.openapi.document_for_people",  # groups, their order, examples
    ],
    "TAGS": OPENAPI_TAGS,
    "PATH_CONVERTER_OVERRIDES": {"image_id": UUID},
    # The history's enums by their own names, not a generic ActionEnum another one may clash with.
    "ENUM_NAME_OVERRIDES": {
        "EventAction": "images.models.ImageEvent.Action",
        "ActorKind": "images.models.ImageEvent.ActorKind",
    },
    # The docs load nothing from another host, so they render on a lab network without
    # internet: the UIs' files come with drf-spectacular-sidecar (static files, served by
    # whitenoise); no online validator badge; ReDoc in the system's fonts, not Google's
    # (imageservice/templates/imageservice/redoc.html).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": SYSTEM_FONTS,
                "headings": {"fontFamily": SYSTEM_FONTS},
                "code": {"fontFamily": MONOSPACE_FONTS},
            }
        }
    },
}

# The address of the docs site (docs/, built with MkDocs) that ``/`` links to; empty: the
# page says where the docs are in the source instead.
IMAGES_DOCS_URL = env.str("IMAGES_DOCS_URL", default="")

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging --------------------------------------------------------------------------
# One line per request (imageservice/requestlog.py); every line carries the request id.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "imageservice.requestlog.RequestIdFilter"},
        "django_noise": {"()": "imageservice.requestlog.DjangoNoiseFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "imageservice.requestlog.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "django_noise"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},  # 4xx: the request line says it
}
