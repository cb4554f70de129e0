"""Settings from the environment: production checks, HTTPS, and what is refused."""

import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

REPO = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DEBUG": "false",
    "ALLOWED_HOSTS": "images.lab.example",
    "HTTPS_ONLY": "true",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "IMAGES_AUTH": "token",
}


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """Run with the test run's environment, changed by ``env`` ("" removes a variable)."""
    environment = {**os.environ, **env}
    environment = {key: value for key, value in environment.items() if value != ""}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=environment, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def load_settings(monkeypatch, **env: str) -> dict:
    """Run imageservice/settings.py afresh under ``env`` ("" removes a variable); return its
    names. The live settings of this test run are left alone."""
    for name, value in env.items():
        if value == "":
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return runpy.run_path(str(REPO / "imageservice" / "settings.py"))


def test_check_deploy_is_clean_in_a_production_environment():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_what_https_only_would_fix_when_it_is_off():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        **{**PRODUCTION, "HTTPS_ONLY": "false"},
    )

    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr
    for check in ("security.W009", "security.W018", "security.W020"):
        assert check not in result.stderr  # the key, DEBUG and hosts were right


def test_there_is_no_default_secret_key(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="Set the SECRET_KEY environment variable"):
        load_settings(monkeypatch, SECRET_KEY="")


def test_manage_py_on_a_deployments_database_does_not_start_without_a_key():
    # manage.py takes make run's data/secret_key only for make run's own database
    result = run(["manage.py", "check"], SECRET_KEY="", DATABASE_URL="sqlite:////srv/db.sqlite3")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


FILE_CACHE = "django.core.cache.backends.filebased.FileBasedCache"


@pytest.mark.parametrize(
    ("path", "env", "expected"),
    [
        (("IMAGES_THROTTLE_RATES",), {}, {"read": None, "write": None, "uploads": None}),
        (("IMAGES_THROTTLE_RATES", "uploads"), {"IMAGES_THROTTLE_RATE_UPLOAD": "10/hour"},
         "10/hour"),
        (("IMAGES_THROTTLE_RATES", "read"), {"IMAGES_THROTTLE_RATE_READ": "off"}, None),
        (("CACHES", "default"), {},
         {"BACKEND": FILE_CACHE, "LOCATION": str(REPO / "data" / "cache")}),
        (("CACHES", "default"), {"CACHE_URL": "redis://cache.lab:6379/1"},
         {"BACKEND": "django.core.cache.backends.redis.RedisCache",
          "LOCATION": "redis://cache.lab:6379/1",
          "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}}),
        (("SECURE_SSL_REDIRECT",), {"HTTPS_ONLY": "true", "SECURE_SSL_REDIRECT": "false"}, False),
        (("SESSION_COOKIE_SECURE",), {"HTTPS_ONLY": "true"}, True),
        (("SECURE_HSTS_SECONDS",), {"HTTPS_ONLY": "true"}, 31536000),
        (("SECURE_HSTS_SECONDS",), {}, 0),
        (("SECURE_PROXY_SSL_HEADER",), {"SECURE_PROXY_SSL_HEADER": "true"},
         ("HTTP_X_FORWARDED_PROTO", "https")),
        (("SECURE_PROXY_SSL_HEADER",), {}, None),
        (("IMAGES_AUTH",), {}, "open"),
        (("REST_FRAMEWORK", "NUM_PROXIES"), {"NUM_PROXIES": "2"}, 2),
        (("DATABASES", "default", "OPTIONS", "connect_timeout"),
         {"DATABASE_URL": "postgres://images@db.lab:5432/images"}, 5),
        (("DATABASES", "default", "OPTIONS", "connect_timeout"),
         {"DATABASE_URL": "postgres://images@db.lab:5432/images",
          "DATABASE_CONNECT_TIMEOUT": "2"}, 2),
        (("STORAGES", "default", "BACKEND"), {},
         "django.core.files.storage.FileSystemStorage"),
        (("STORAGES", "default", "BACKEND"),
         {"IMAGES_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "lab"},
         "storages.backends.s3.S3Storage"),
        (("STORAGES", "default", "OPTIONS", "location"),
         {"IMAGES_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "lab", "AWS_LOCATION": "lab-a"},
         "lab-a"),
        (("STORAGES", "default", "OPTIONS", "file_overwrite"),
         {"IMAGES_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "lab"}, False),
        (("IMAGES_S3_PRESIGNED_DOWNLOADS",), {"IMAGES_S3_PRESIGNED_DOWNLOADS": "true"},
         False),  # only with S3
        (("IMAGES_MIN_FREE_BYTES",), {}, 2 * 25 * 1024 * 1024),  # twice the upload limit
        (("IMAGES_MIN_FREE_BYTES",), {"IMAGES_MAX_UPLOAD_BYTES": "1000"}, 2000),
        (("IMAGES_MIN_FREE_BYTES",), {"IMAGES_MIN_FREE_BYTES": "0"}, 0),  # no check
        (("LOGGING", "handlers", "console", "formatter"), {}, "plain"),
        (("LOGGING", "handlers", "console", "formatter"), {"LOG_FORMAT": "json"}, "json"),
    ],
)  # fmt: skip
def test_settings_read_from_the_environment(monkeypatch, path, env, expected):
    env = {"HTTPS_ONLY": "", "CACHE_URL": "", "IMAGES_THROTTLE_RATE_READ": "",
           "IMAGES_THROTTLE_RATE_WRITE": "", "IMAGES_THROTTLE_RATE_UPLOAD": "",
           "IMAGES_AUTH": "", "NUM_PROXIES": "", "DATABASE_URL": "", "IMAGES_STORAGE": "",
           "AWS_LOCATION": "", "LOG_FORMAT": "", **env}  # fmt: skip

    value = load_settings(monkeypatch, **env)
    for key in path:
        value = value.get(key)

    assert value == expected


@pytest.mark.parametrize(("timeout", "wait"), [("", 2.25), ("3", 0.5)])
def test_s3_attempts_fit_twice_with_a_back_off_in_the_storage_timeout(monkeypatch, timeout, wait):
    loaded = load_settings(
        monkeypatch,
        IMAGES_STORAGE="s3",
        AWS_STORAGE_BUCKET_NAME="lab",
        IMAGES_STORAGE_TIMEOUT=timeout,
    )
    config = loaded["STORAGES"]["default"]["OPTIONS"]["client_config"]

    assert (config.connect_timeout, config.read_timeout) == (wait, wait)
    assert config.retries == {"mode": "standard", "max_attempts": 2}
    assert 2 * (2 * wait) + 1 == loaded["IMAGES_STORAGE_TIMEOUT"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IMAGES_AUTH": "tokens"}, "IMAGES_AUTH must be open or token"),
        ({"IMAGES_THROTTLE_RATE_READ": "60 per minute"}, "IMAGES_THROTTLE_RATE_READ must look"),
        ({"IMAGES_THROTTLE_RATE_UPLOAD": "0/min"}, "IMAGES_THROTTLE_RATE_UPLOAD must look"),
        ({"CACHE_URL": "nosuch://x"}, "Invalid cache schema nosuch"),
        ({"IMAGES_STORAGE": "ftp"}, "IMAGES_STORAGE must be local or s3"),
        ({"IMAGES_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": ""}, "AWS_STORAGE_BUCKET_NAME"),
        ({"IMAGES_S3_PRESIGNED_TTL": "0"}, "IMAGES_S3_PRESIGNED_TTL must be 1 to 604800"),
        ({"IMAGES_S3_PRESIGNED_TTL": "604801"}, "IMAGES_S3_PRESIGNED_TTL must be 1 to 604800"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be plain or json"),
        ({"IMAGES_MIN_FREE_BYTES": "-1"}, "IMAGES_MIN_FREE_BYTES must be 0 or more"),
        ({"IMAGES_STORAGE_TIMEOUT": "1"}, "IMAGES_STORAGE_TIMEOUT must be at least 2"),
    ],
)
def test_bad_settings_stop_the_service_at_start(monkeypatch, env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(monkeypatch, **env)


def test_with_ssl_redirect_http_is_redirected_except_health_probes(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    client = Client()

    redirected = client.get("/api/v1/schema/")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/api/v1/schema/"
    for probe in ("/healthz", "/readyz"):
        assert client.get(probe).status_code != 301
    secure = client.get("/api/v1/schema/", secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=3600"


def test_behind_a_tls_proxy_its_forwarded_proto_is_trusted_only_when_told(settings):
    settings.SECURE_SSL_REDIRECT = True

    assert Client().get("/api/v1/schema/", HTTP_X_FORWARDED_PROTO="https").status_code == 301

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    assert Client().get("/api/v1/schema/", HTTP_X_FORWARDED_PROTO="https").status_code == 200


def test_the_trash_days_and_revision_bound_come_from_the_environment(monkeypatch):
    defaults = load_settings(monkeypatch, IMAGES_TRASH_DAYS="", IMAGES_MAX_REVISIONS="")
    chosen = load_settings(monkeypatch, IMAGES_TRASH_DAYS="0", IMAGES_MAX_REVISIONS="2")

    assert (defaults["IMAGES_TRASH_DAYS"], defaults["IMAGES_MAX_REVISIONS"]) == (30, 50)
    assert (chosen["IMAGES_TRASH_DAYS"], chosen["IMAGES_MAX_REVISIONS"]) == (0, 2)


@pytest.mark.parametrize(
    "env", [{"IMAGES_TRASH_DAYS": "-1"}, {"IMAGES_MAX_REVISIONS": "1"}], ids=["days", "bound"]
)
def test_a_negative_trash_or_a_revision_bound_below_2_is_refused(monkeypatch, env):
    with pytest.raises(ImproperlyConfigured, match="IMAGES_TRASH_DAYS"):
        load_settings(monkeypatch, **env)


def test_the_serving_cache_seconds_come_from_the_environment(monkeypatch):
    default = load_settings(monkeypatch, IMAGES_RENDITION_CACHE_SECONDS="")
    off = load_settings(monkeypatch, IMAGES_RENDITION_CACHE_SECONDS="0")

    assert default["IMAGES_RENDITION_CACHE_SECONDS"] == 600
    assert off["IMAGES_RENDITION_CACHE_SECONDS"] == 0
    with pytest.raises(ImproperlyConfigured, match="IMAGES_RENDITION_CACHE_SECONDS"):
        load_settings(monkeypatch, IMAGES_RENDITION_CACHE_SECONDS="-1")


def test_the_decode_memory_budget_comes_from_the_environment(monkeypatch, tmp_path):
    default = load_settings(
        monkeypatch,
        IMAGES_DECODE_MEMORY_MB="",
        IMAGES_DECODE_WAIT_SECONDS="",
        IMAGES_DECODE_LOCK_DIR="",
    )
    chosen = load_settings(
        monkeypatch,
        IMAGES_DECODE_MEMORY_MB="0",
        IMAGES_DECODE_WAIT_SECONDS="2.5",
        IMAGES_DECODE_LOCK_DIR=str(tmp_path),
    )

    assert (default["IMAGES_DECODE_MEMORY_MB"], default["IMAGES_DECODE_WAIT_SECONDS"]) == (112, 20)
    assert default["IMAGES_DECODE_LOCK_DIR"].name.startswith("imageservice-decode-")
    assert (chosen["IMAGES_DECODE_MEMORY_MB"], chosen["IMAGES_DECODE_WAIT_SECONDS"]) == (0, 2.5)
    assert str(chosen["IMAGES_DECODE_LOCK_DIR"]) == str(tmp_path)


@pytest.mark.parametrize(
    "env",
    [{"IMAGES_DECODE_MEMORY_MB": "-1"}, {"IMAGES_DECODE_WAIT_SECONDS": "0"}],
    ids=["budget", "wait"],
)
def test_a_negative_decode_budget_or_no_wait_is_refused(monkeypatch, env):
    with pytest.raises(ImproperlyConfigured, match="IMAGES_DECODE_MEMORY_MB"):
        load_settings(monkeypatch, **env)


def test_on_sqlite_the_app_loads_no_postgresql_driver():
    """DRF's import of django.contrib.postgres.fields would load psycopg and libpq (10 MiB
    a worker) whatever the database."""
    code = (
        "import sys, django; django.setup(); "
        "import imageservice.urls, rest_framework.serializers; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'psycopg'))"
    )
    result = run(["-c", code], DATABASE_URL="sqlite:///:memory:")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
