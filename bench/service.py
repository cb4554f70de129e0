"""The service under test, started as `make run` starts it, and the local URL origin.

The service gets its own temporary data folder (SQLite database and media) and its own
secret key, runs `manage.py migrate`, then gunicorn with the repo's ``gunicorn.conf.py``;
only the WSGI module differs (``bench.wsgi``: the product's URLs plus the floor view).
"""

import contextlib
import http.server
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bench.photos import REPO, Photo

HOST = "127.0.0.1"
# The bench-only views of bench/urls.py: a trivial DRF view, and a file streamed by Django.
FLOOR_PATH = "bench/floor"
FILE_FLOOR_PATH = "bench/floor/file"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def service_env(data: Path) -> dict[str, str]:
    """What the benchmark's service is configured with, beside the caller's environment."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
        "MEDIA_ROOT": str(data / "media"),
        "STATIC_ROOT": str(data / "static"),
        "IMAGES_ALLOW_PRIVATE_URLS": "true",  # the origin is on 127.0.0.1
        # No rate limits (the default), whatever the caller's environment sets: the bench is
        # one client asking as fast as the service answers.
        "IMAGES_THROTTLE_RATE_READ": "off",
        "IMAGES_THROTTLE_RATE_WRITE": "off",
        "IMAGES_THROTTLE_RATE_UPLOAD": "off",
        "CACHE_URL": f"filecache://{data / 'cache'}",
        # A decode memory budget of its own: other services' decodes on this machine (the
        # default folder is the machine's) must not slow the one measured.
        "IMAGES_DECODE_LOCK_DIR": str(data / "decode"),
        "HOST": HOST,
        "PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
    }


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
        cwd=REPO,
        env={**os.environ, **env},
        check=True,
    )
    Path(env["STATIC_ROOT"]).mkdir(parents=True, exist_ok=True)


# Another server than gunicorn.conf.py's, to compare (docs/design/server.md): "gthread",
# gunicorn's stock threaded worker; "asgi", gunicorn's asgi worker with Django's ASGI
# handler (bench/asgi.py); "waitress" (pip install waitress), one process of 2 x
# GUNICORN_THREADS threads.
SERVER = os.environ.get("BENCH_SERVER", "")


def server_command(env: dict[str, str], server: str = SERVER) -> list[str]:
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    if server == "waitress":
        threads = 2 * int(env.get("GUNICORN_THREADS", "4"))
        return [
            sys.executable,
            "-m",
            "waitress",
            f"--listen={env['HOST']}:{env['PORT']}",
            f"--threads={threads}",
            "bench.wsgi:application",
        ]
    if server == "asgi":
        return [*gunicorn, "--worker-class", "asgi", "bench.asgi"]
    if server == "gthread":
        return [*gunicorn, "--worker-class", "gthread", "bench.wsgi"]
    return [*gunicorn, "bench.wsgi"]


class Service:
    """gunicorn -c gunicorn.conf.py bench.wsgi, until the ``with`` block ends."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.host, self.port = env["HOST"], int(env["PORT"])
        self.log_path = log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Service":
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            server_command(self.env),
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://{self.host}:{self.port}/{FLOOR_PATH}"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200 and len(self.workers()) >= self.expected_workers:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer in {timeout} s:\n{self.log_tail()}")

    @property
    def expected_workers(self) -> int:
        if SERVER == "waitress":
            return 1
        return int(self.env.get("WEB_CONCURRENCY") or os.cpu_count() or 1)

    def log_tail(self, lines: int = 40) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def workers(self) -> list[int]:
        """The pids of gunicorn's worker processes now (workers are recycled over time)."""
        master = self.process.pid
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The parent pid is the second field after the parenthesised command name.
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry.name))
        return pids or [master]  # a server of one process (waitress)


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds each process has used so far: the sum over its threads of the
    scheduler's own count, in nanoseconds (/proc/PID/task/TID/schedstat), so that one
    request of a millisecond is measured too; clock ticks (/proc/PID/stat) are 10 ms."""
    used = {}
    for pid in pids:
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue  # the process is gone
        total = 0
        for task in tasks:
            # A thread that ended took its count with it.
            with contextlib.suppress(OSError):
                total += int((task / "schedstat").read_text().split()[0])
        used[pid] = total / 1e9
    return used


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in bytes."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return values


def reset_peak(pid: int) -> bool:
    """Start a new peak-RSS measurement (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Origin:
    """An HTTP server on 127.0.0.1 that serves the photos at /<index>, for create-from-URL."""

    def __init__(self, photos: Sequence[Photo]) -> None:
        self.photos = photos

    def __enter__(self) -> "Origin":
        photos = self.photos

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                try:
                    photo = photos[int(self.path.strip("/").split(".")[0])]
                except (ValueError, IndexError):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", photo.content_type)
                self.send_header("Content-Length", str(len(photo.data)))
                self.end_headers()
                self.wfile.write(photo.data)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def url(self, index: int) -> str:
        photo = self.photos[index]
        extension = "png" if photo.format == "PNG" else "jpg"
        return f"http://{HOST}:{self.server.server_address[1]}/{index}.{extension}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
