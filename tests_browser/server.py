"""The service as `make run` starts it (migrate, collectstatic, gunicorn with
gunicorn.conf.py), in a folder of its own, with a staff user to log in as."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
USERNAME, PASSWORD = "admin", "browser-suite-only"


class Service:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log_path = folder / "gunicorn.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            "SECRET_KEY": "browser-suite-only-insecure-key",
            "DEBUG": "false",
            "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
            "MEDIA_ROOT": str(folder / "media"),
            "STATIC_ROOT": str(folder / "static"),
            "CACHE_URL": f"filecache://{folder / 'cache'}",
            "HOME": str(folder),  # gunicorn's control socket goes under it
            "HOST": "127.0.0.1",
            "PORT": "0",  # an ephemeral port, read back from gunicorn's log
            "WEB_CONCURRENCY": "1",
            "DJANGO_SUPERUSER_USERNAME": USERNAME,
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            "DJANGO_SUPERUSER_EMAIL": "admin@example.test",
        }
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> "Service":
        for command in (
            ["migrate", "--no-input"],
            ["collectstatic", "--no-input"],
            ["createsuperuser", "--no-input"],
        ):
            self._manage(*command)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "imageservice.wsgi"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()  # a server that never answered must not outlive the run
            raise
        return self

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + 60
        while not self.url:
            listening = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", self.log())
            if listening:
                self.url = listening.group(1)
            elif self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{self.log()}")
            else:
                time.sleep(0.1)
        while True:  # answering, workers booted
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # the worker is still booting
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not answer:\n{self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args, "--verbosity", "0"],
            cwd=REPO,
            env=self.env,
            check=True,
            timeout=120,
        )
