"""``make run``'s command (imageservice/run_both.py): gunicorn and the worker together,
both stopped by Ctrl-C, neither left running alone."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.factories import image_bytes
from tests.service import REPO, Gunicorn


@pytest.fixture
def both(tmp_path):
    service = Gunicorn(tmp_path, IMAGES_WORKER_POLL_SECONDS="0.1")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
        cwd=REPO, env=service.env, check=True, timeout=120,
    )  # fmt: skip
    log = (tmp_path / "run.log").open("wb")
    # A group of its own: a SIGKILL of run_both would leave its gunicorn and worker running
    # on, into the next tests (and a benchmark after them).
    process = subprocess.Popen(
        [sys.executable, "-m", "imageservice.run_both"],
        cwd=REPO, env=service.env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    service.process = process
    service._log = log
    try:
        service._wait_until_it_answers(timeout=60)
        yield service, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # as Ctrl-C: both stop
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):  # whatever outlived it
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


def children(pid: int) -> dict[int, str]:
    """The processes ``pid`` started: their command lines."""
    found = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return {int(line.split()[0]): line for line in found.splitlines() if line.strip()}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_it_serves_and_makes_the_thumbnail_ahead(both):
    service, _ = both
    response = requests.post(
        f"{service.base}/api/v1/images/upload",
        files={"file": ("plate.png", image_bytes("PNG", (400, 300)))},
    )
    assert response.status_code == 201
    listing = f"{service.base}/api/v1/images/{response.json()['id']}/renditions"
    deadline = time.monotonic() + 20
    while not requests.get(listing).json()["results"]:
        assert time.monotonic() < deadline, service.log()
        time.sleep(0.1)
    assert requests.get(listing).json()["results"][0]["spec"] == "max-256x256"


def test_ctrl_c_stops_both(both):
    _, process = both
    started = children(process.pid)
    assert len(started) == 2

    process.send_signal(signal.SIGINT)

    assert process.wait(timeout=60) == 0
    assert not any(alive(pid) for pid in started)


def test_a_dead_worker_stops_the_web_server_too(both):
    _, process = both
    started = children(process.pid)
    [worker] = [pid for pid, line in started.items() if "images_worker" in line]

    os.kill(worker, signal.SIGKILL)

    assert process.wait(timeout=60) != 0
    assert not any(alive(pid) for pid in started)
