"""/healthz and /readyz, against real parts going away and coming back."""

import socket
import time

import pytest

from imageservice import health

READY = {"status": "ok", "checks": {"database": "ok", "storage": "ok"}}


def test_healthz_answers_ok_without_database_or_storage(client):
    # No database access is allowed in this test: a check that touched it would fail.
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")  # a prober's Host

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db(transaction=True)
def test_readyz_answers_ok_when_database_and_storage_answer(client):
    response = client.get("/readyz", HTTP_HOST="10.0.0.7:8000")

    assert response.status_code == 200
    assert response.json() == READY


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints_answer_only_get_and_head(client, path):
    response = client.post(path)

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.django_db(transaction=True)
def test_readyz_names_the_local_storage_when_it_cannot_be_written(client, settings, tmp_path):
    (tmp_path / "a-file").write_bytes(b"")
    settings.MEDIA_ROOT = str(tmp_path / "a-file" / "media")  # cannot become a folder

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "storage": "unavailable"},
    }


@pytest.mark.django_db(transaction=True)
def test_readyz_follows_the_s3_bucket(client, s3):
    assert client.get("/readyz").json() == READY

    s3.client.delete_bucket(Bucket=s3.name)
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "storage": "unavailable"}
    s3.client.create_bucket(Bucket=s3.name)
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_readyz_gives_up_on_a_storage_that_never_answers(client, use_s3, monkeypatch):
    monkeypatch.setattr(health, "READY_TIMEOUT", 0.5)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        use_s3(AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()

        response = client.get("/readyz")

        assert time.monotonic() - started < 10  # not the client's read timeout
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "unavailable"


def test_readyz_turns_503_when_the_database_goes_away_and_200_when_it_returns(
    client, database_outage
):
    assert client.get("/readyz").json() == READY

    database_outage.cut()
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "unavailable", "storage": "ok"},
    }

    database_outage.restore()
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == READY


@pytest.mark.django_db(transaction=True)
def test_readyz_names_the_media_disk_when_its_free_space_is_under_the_threshold(
    client, tiny_disk, settings
):
    disk = tiny_disk(size=2 * 1024 * 1024)
    settings.MEDIA_ROOT = str(disk.path / "media")
    settings.IMAGES_MIN_FREE_BYTES = 512 * 1024
    assert client.get("/readyz").json() == READY

    disk.fill(room=256 * 1024)  # writes still fit, but not an upload of the threshold's size
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "storage": "low_space"}
    disk.empty()
    assert client.get("/readyz").json() == READY
