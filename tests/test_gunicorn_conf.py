"""The service under the repo's own gunicorn settings, as `make run` starts it.

gunicorn.conf.py runs code in every worker (post_fork, post_worker_init, pre_request,
post_request: imageservice/memory.py and the warm-ups); an error there would not fail a
request, only show in the log, so the log is read too.
"""

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.factories import image_bytes

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_service_serves_under_its_gunicorn_settings_without_errors_in_the_hooks(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "INFO",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
        cwd=REPO,
        env=env,
        check=True,
        timeout=60,
    )
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "imageservice.wsgi"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                # A worker still booting (imports, warm-ups) on a loaded machine may accept
                # the connection and answer late: that is "not up yet", not a failure.
                except (requests.ConnectionError, requests.Timeout):
                    pass
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)

            photo = image_bytes("JPEG", (1200, 900))
            created = []
            for _ in range(4):  # on either worker
                answer = requests.post(
                    f"{base}/api/v1/images/upload",
                    files={"file": ("plate.jpg", io.BytesIO(photo), "image/jpeg")},
                    timeout=30,
                )
                assert answer.status_code == 201, answer.text
                created.append(answer.json()["id"])
            fetched = requests.get(f"{base}/api/v1/images/{created[0]}", timeout=10)
            assert fetched.json()["width"] == 1200
        finally:
            server.terminate()
            server.wait(timeout=30)

    output = log_path.read_text()
    assert "Booting worker" in output
    assert "Traceback" not in output
    assert "Exception in" not in output  # gunicorn's words for a hook that raised
