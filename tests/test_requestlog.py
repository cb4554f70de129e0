"""One log line per request, with a request id; plain text or JSON lines."""

import io
import json
import logging
import logging.config
import re
import runpy

import pytest

import imageservice.settings
from tests.factories import image_bytes

NEW_ID = re.compile(r"[0-9a-f]{32}")


def request_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "imageservice.requests"]


def settings_with(monkeypatch, **environment: str) -> dict:
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(imageservice.settings.__file__)


@pytest.fixture
def log_output(monkeypatch):
    """What the configured console handler writes, for LOG_FORMAT=plain or json."""
    handlers = []

    def log_output(log_format: str) -> io.StringIO:
        config = settings_with(monkeypatch, LOG_FORMAT=log_format)["LOGGING"]
        console = config["handlers"]["console"]
        configurator = logging.config.DictConfigurator({})
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        formatter = dict(config["formatters"][console["formatter"]])
        handler.setFormatter(configurator.configure_formatter(formatter))
        for name in console["filters"]:
            handler.addFilter(configurator.configure_filter(dict(config["filters"][name])))
        logging.getLogger().addHandler(handler)
        handlers.append(handler)
        return stream

    yield log_output
    for handler in handlers:
        logging.getLogger().removeHandler(handler)


def test_each_request_is_logged_once_with_method_path_status_duration_and_id(client, caplog):
    caplog.set_level(logging.INFO)

    response = client.get("/healthz")

    [line] = request_lines(caplog)
    assert line.levelno == logging.INFO
    assert (line.method, line.path, line.status) == ("GET", "/healthz", 200)
    assert line.duration_ms >= 0
    assert NEW_ID.fullmatch(response["X-Request-ID"])
    assert line.request_id == response["X-Request-ID"]
    assert line.getMessage() == f"GET /healthz 200 {line.duration_ms:.1f}ms"


@pytest.mark.parametrize(
    "given", ["3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f", "Root=1-67891233-abcdef012345678912345678"]
)
def test_a_sane_request_id_is_passed_through(client, caplog, given):
    caplog.set_level(logging.INFO)

    response = client.get("/healthz", HTTP_X_REQUEST_ID=given)

    assert response["X-Request-ID"] == given
    assert request_lines(caplog)[0].request_id == given


@pytest.mark.parametrize(
    "given", ["", "a" * 129, "has space", "line\nbreak", 'quote"d', "<script>", "é"]
)
def test_an_insane_request_id_is_replaced_by_a_new_one(client, caplog, given):
    caplog.set_level(logging.INFO)

    response = client.get("/healthz", HTTP_X_REQUEST_ID=given)

    assert NEW_ID.fullmatch(response["X-Request-ID"])
    assert request_lines(caplog)[0].request_id == response["X-Request-ID"]


def json_entries(output: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in output.getvalue().splitlines()]


@pytest.mark.django_db
def test_bad_input_is_logged_at_warning_level_without_a_traceback(upload, caplog, log_output):
    output = log_output("json")
    caplog.set_level(logging.INFO)

    response = upload(b"not an image", "x.png")

    assert response.status_code == 400
    [line] = request_lines(caplog)
    assert (line.method, line.path, line.status) == ("POST", "/api/v1/images/upload", 400)
    entries = json_entries(output)
    assert {entry["level"] for entry in entries} == {"WARNING"}
    assert not any("traceback" in entry for entry in entries)


def test_a_refused_host_is_logged_at_warning_level_without_a_traceback(client, log_output):
    output = log_output("json")

    response = client.get("/api/v1/images/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    entries = json_entries(output)
    assert [entry["logger"] for entry in entries] == [
        "django.security.DisallowedHost",
        "imageservice.requests",
    ]
    assert {entry["level"] for entry in entries} == {"WARNING"}
    assert not any("traceback" in entry for entry in entries)


@pytest.mark.django_db
def test_a_server_error_is_logged_with_its_traceback(upload, caplog, settings, tmp_path):
    caplog.set_level(logging.INFO)
    (tmp_path / "a-file").write_bytes(b"")
    settings.MEDIA_ROOT = str(tmp_path / "a-file" / "media")  # the disk refuses the write

    response = upload(image_bytes("PNG"), "x.png")

    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert request_lines(caplog)[0].levelno == logging.ERROR
    [failure] = [record for record in caplog.records if record.exc_info]
    assert failure.levelno == logging.ERROR
    assert isinstance(failure.exc_info[1], OSError)


def test_plain_lines_carry_the_request_id(client, log_output):
    output = log_output("plain")

    response = client.get("/healthz")

    [line] = output.getvalue().splitlines()
    request_id = response["X-Request-ID"]
    assert re.search(
        rf" INFO imageservice\.requests \[{request_id}\] GET /healthz 200 [\d.]+ms$", line
    )


@pytest.mark.django_db
def test_json_lines_carry_the_request_fields_and_the_traceback_of_an_error(
    upload, log_output, settings, tmp_path
):
    output = log_output("json")
    (tmp_path / "a-file").write_bytes(b"")
    settings.MEDIA_ROOT = str(tmp_path / "a-file" / "media")

    response = upload(image_bytes("PNG"), "x.png")

    entries = json_entries(output)
    assert {entry["request_id"] for entry in entries} == {response["X-Request-ID"]}
    request = entries[-1]
    assert request["logger"] == "imageservice.requests"
    assert request["level"] == "ERROR"
    assert (request["method"], request["path"], request["status"]) == (
        "POST",
        "/api/v1/images/upload",
        503,
    )
    assert isinstance(request["duration_ms"], float)
    assert "time" in request
    [failure] = [entry for entry in entries if "traceback" in entry]
    assert "Traceback (most recent call last)" in failure["traceback"]
    assert "NotADirectoryError" in failure["traceback"]
