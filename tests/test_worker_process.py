"""The worker as it runs: ``manage.py images_worker``, a process of its own beside the
service under gunicorn (tests/service.py), delivering to a real receiver on 127.0.0.1 that
checks every signature with the Standard Webhooks reference code; killed with SIGKILL."""

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.factories import image_bytes
from tests.service import REPO, Gunicorn
from tests.webhook_receiver import Receiver

BURST = 200


class Worker:
    """``manage.py images_worker`` as a process of its own, logging to a file of its own."""

    running: list["Worker"] = []  # every worker a test started, ended after the test

    def __init__(self, service: Gunicorn) -> None:
        self.service = service
        self.process: subprocess.Popen | None = None
        self.log_path = service.folder / f"worker-{id(self)}.log"
        self.log = self.log_path.open("ab")
        self.started_at = 0  # where this start's lines begin in the log

    def start(self) -> None:
        self.started_at = self.log_path.stat().st_size
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "images_worker"],
            cwd=REPO,
            env=self.service.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        Worker.running.append(self)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM once the worker has started (its handler set): it finishes the event in
        hand and exits 0. Before that, SIGTERM ends a Python still importing Django."""
        deadline = time.monotonic() + 60
        while b"worker started" not in self.log_path.read_bytes()[self.started_at :]:
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.05)
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test():
    """A test that fails half-way must not leave a worker delivering into the next one."""
    yield
    while Worker.running:
        process = Worker.running.pop().process
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def own_database() -> dict[str, str]:
    """On the suite's PostgreSQL pass (DATABASE_URL names a server), a database of this
    module's own there, made afresh; else the service's SQLite file (tests/service.py)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return {}
    import psycopg

    server, _, name = url.rpartition("/")
    name = f"{name.split('?')[0]}_worker_processes"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return {"DATABASE_URL": f"{server}/{name}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    environment = {
        **own_database(),
        "IMAGES_ALLOW_PRIVATE_URLS": "true",
        "IMAGES_EAGER_RENDITIONS": "",
        "IMAGES_WEBHOOK_RETRY_BASE": "0.05",
        "IMAGES_WORKER_POLL_SECONDS": "0.05",
        "IMAGES_WEBHOOK_TIMEOUT": "5",
    }
    with Gunicorn(tmp_path_factory.mktemp("worker"), **environment) as service:
        yield service
    if "DATABASE_URL" in environment:
        import psycopg

        server, _, name = environment["DATABASE_URL"].rpartition("/")
        with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def receiver(service):
    with Receiver() as receiver:
        response = requests.post(f"{service.base}/api/v1/webhooks", json={"url": receiver.url})
        assert response.status_code == 201, response.text
        receiver.secret = response.json()["secret"]
        yield receiver
        requests.delete(f"{service.base}/api/v1/webhooks/{response.json()['id']}")


@pytest.fixture
def worker(service):
    worker = Worker(service)
    worker.start()
    yield worker
    if worker.process.poll() is None:
        assert worker.stop() == 0  # SIGTERM: it finishes the event in hand and exits


def burst(service: Gunicorn, count: int) -> list[int]:
    """An upload then ``count - 1`` renames: ``count`` events; their cursors."""
    with requests.Session() as session:
        response = session.post(
            f"{service.base}/api/v1/images/upload",
            files={"file": ("plate.png", image_bytes("PNG", (16, 16)))},
        )
        assert response.status_code == 201, response.text
        url = f"{service.base}/api/v1/images/{response.json()['id']}"
        for n in range(count - 1):
            assert session.patch(url, json={"name": f"t{n}"}).status_code == 200
        history = session.get(f"{url}/history", params={"page_size": 100}).json()
    events = requests.get(f"{service.base}/api/v1/events", params={"limit": 1000}).json()
    mine = [e["cursor"] for e in events["results"] if e["image_id"] == url.rsplit("/", 1)[1]]
    assert len(mine) == count
    assert history["count"] == count
    return mine


def test_a_burst_is_delivered_whole_in_order_and_signed(service, receiver, worker):
    cursors = burst(service, BURST)

    receiver.wait_for(lambda: len(receiver.delivered()) >= BURST)

    got = receiver.delivered()
    assert [int(r["id"]) for r in got] == cursors  # each once, in commit order
    assert all(r["verified"] for r in got)
    assert [r["body"]["data"]["cursor"] for r in got] == cursors
    assert got[0]["body"]["type"] == "image.created"
    assert {r["body"]["type"] for r in got[1:]} == {"image.updated"}


def test_a_worker_killed_ten_times_loses_nothing(service, receiver):
    worker = Worker(service)
    worker.start()
    written: list[int] = []
    writer = threading.Thread(target=lambda: written.extend(burst(service, BURST)))
    writer.start()
    for _ in range(10):
        time.sleep(random.uniform(0.2, 0.6))
        worker.kill()
        worker.start()
    writer.join(timeout=120)
    assert written

    receiver.wait_for(lambda: {int(r["id"]) for r in receiver.delivered()} >= set(written))

    got = receiver.delivered()
    firsts = list(dict.fromkeys(int(r["id"]) for r in got))
    assert firsts == written  # none lost, first deliveries in order
    by_id: dict[str, dict] = {}
    for r in got:  # a repeat is the same event: same id, same data
        assert by_id.setdefault(r["id"], r["body"]["data"]) == r["body"]["data"]
    assert all(r["verified"] for r in got)
    assert worker.stop() == 0


def test_two_workers_each_killed_five_times_lose_nothing_and_keep_the_order(service, receiver):
    """On PostgreSQL they share the work (the webhook's row taken with SKIP LOCKED); on
    SQLite both may send an event (the same id), and nothing is lost either way."""
    workers = [Worker(service), Worker(service)]
    for worker in workers:
        worker.start()
    written: list[int] = []
    writer = threading.Thread(target=lambda: written.extend(burst(service, 100)))
    writer.start()
    for n in range(10):
        time.sleep(random.uniform(0.2, 0.5))
        workers[n % 2].kill()
        workers[n % 2].start()
    writer.join(timeout=120)
    assert written

    receiver.wait_for(lambda: {int(r["id"]) for r in receiver.delivered()} >= set(written))

    firsts = list(dict.fromkeys(int(r["id"]) for r in receiver.delivered()))
    assert firsts == written
    assert all(r["verified"] for r in receiver.received)
    for worker in workers:
        assert worker.stop() == 0


def test_a_receiver_failing_for_a_while_gets_everything_after_the_backoff(
    service, receiver, worker
):
    receiver.fail_with = 500
    cursors = burst(service, 5)
    receiver.wait_for(lambda: receiver.refused >= 4)
    receiver.fail_with = None

    receiver.wait_for(lambda: len(receiver.delivered()) >= 5)

    assert {int(r["id"]) for r in receiver.received if r["answered"] == 500} == {cursors[0]}
    assert [int(r["id"]) for r in receiver.delivered()] == cursors
