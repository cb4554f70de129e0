"""/healthz and /readyz, against real parts going away and coming back."""

import socket
import time

import pytest
from django.db import connection

from imageservice import health
from tests.servers import TcpProxy

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


class DatabaseOutage:
    """Takes the database away from new connections and brings it back, for real.

    PostgreSQL is shared, so it is not stopped: connections go through a TCP proxy on
    127.0.0.1, which is stopped (refused connections, cut sessions) and started again.
    SQLite is a file: its folder is moved away and back.
    """

    def __init__(self, settings_dict: dict, tmp_path) -> None:
        self.settings_dict = settings_dict
        self.saved = dict(settings_dict)
        if settings_dict["ENGINE"].endswith("postgresql"):
            target = (settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432))
            self.proxy = TcpProxy(target).start()
            settings_dict.update(HOST="127.0.0.1", PORT=str(self.proxy.port))
        else:
            self.proxy = None
            self.folder = tmp_path / "database"
            self.folder.mkdir()
            settings_dict["NAME"] = str(self.folder / "db.sqlite3")

    def cut(self) -> None:
        if self.proxy:
            self.proxy.stop()
        else:
            self.folder.rename(self.folder.with_name("moved-away"))

    def restore(self) -> None:
        if self.proxy:
            self.proxy.start()
        else:
            self.folder.with_name("moved-away").rename(self.folder)

    def close(self) -> None:
        self.settings_dict.clear()
        self.settings_dict.update(self.saved)
        if self.proxy:
            self.proxy.stop()


@pytest.fixture
def database_outage(transactional_db, tmp_path):
    # The readiness check connects from a thread of its own, with these settings.
    outage = DatabaseOutage(connection.settings_dict, tmp_path)
    yield outage
    outage.close()


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
