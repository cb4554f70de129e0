"""Slow clients against the service as `make run` starts it (docs/operating/index.md).

Opens N connections that send their request a byte a second, either the headers
(``--mode headers``) or, after complete headers, an upload's body (``--mode body``), and
meanwhile times a normal GET of an image's metadata every half second, each on a new
connection. Reports how long the GETs took and when the service cut the slow connections.
Every loop is bounded: the run stops by itself after ``--seconds``.

    .venv/bin/python -m bench.slow_clients --slow 64 --mode headers
"""

import argparse
import http.client
import json
import os
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
# What each slow connection sends first, before the trickle: most of a request's head, or
# a whole upload's head announcing a body that then comes a byte at a time.
HEADER_START = b"GET /api/v1/images/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
BODY_LENGTH = 100_000
BODY_START = (
    b"POST /api/v1/images/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: multipart/form-data; boundary=b\r\n"
    b"Content-Length: %d\r\n\r\n--b\r\n" % BODY_LENGTH
)


@dataclass
class Trickle:
    sock: socket.socket
    opened: float
    closed: float | None = None  # when the service closed it (monotonic)
    answer: bytes = b""  # what the service said before closing, if anything


@dataclass
class Tricklers:
    """``count`` connections to ``port``, each sending ``start`` and then a byte a second
    from one thread, until ``stop`` (or ``seconds``). A connection the service answered or
    closed is noted with the time and not written to again; with ``keep_up``, another one
    takes its place, as a client bent on holding the service would do."""

    port: int
    count: int
    start: bytes
    seconds: float = 60.0
    keep_up: bool = False
    trickles: list[Trickle] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tricklers", daemon=True)

    def __enter__(self) -> "Tricklers":
        for _ in range(self.count):
            self._connect()
        self._thread.start()
        return self

    def _connect(self) -> Trickle:
        sock = socket.create_connection((HOST, self.port), timeout=5)
        sock.sendall(self.start)
        sock.setblocking(False)
        self.trickles.append(Trickle(sock, time.monotonic()))
        return self.trickles[-1]

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for trickle in self.trickles:
            trickle.sock.close()

    def open(self) -> list[Trickle]:
        return [t for t in self.trickles if t.closed is None]

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        with selectors.DefaultSelector() as selector:
            for trickle in self.trickles:
                selector.register(trickle.sock, selectors.EVENT_READ, trickle)
            while not self._stop.is_set() and time.monotonic() < deadline:
                next_byte = time.monotonic() + 1.0
                while (wait := next_byte - time.monotonic()) > 0:
                    for key, _ in selector.select(timeout=wait):
                        self._read(key.data)
                        if key.data.closed is not None:
                            selector.unregister(key.fileobj)
                for trickle in self.open():
                    try:
                        trickle.sock.send(b"x")
                    except OSError:  # reset by the service
                        self._closed(trickle)
                        selector.unregister(trickle.sock)
                for _ in range(self.count - len(self.open()) if self.keep_up else 0):
                    trickle = self._connect()
                    selector.register(trickle.sock, selectors.EVENT_READ, trickle)

    def _read(self, trickle: Trickle) -> None:
        try:
            data = trickle.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        trickle.answer += data
        if not data:
            self._closed(trickle)

    def _closed(self, trickle: Trickle) -> None:
        trickle.closed = time.monotonic()


def timed_get(port: int, path: str, timeout: float) -> float | None:
    """Seconds a GET on a new connection took to its last byte, or None if it failed or
    took longer than ``timeout``."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            return None
    except OSError:
        return None
    finally:
        connection.close()
    return time.monotonic() - started


def upload_one(port: int) -> str:
    """Store a small photo and return its metadata path."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 120, 150)).save(buffer, "JPEG")
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="plate.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + buffer.getvalue() + b"\r\n--b--\r\n"
    )
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request(
        "POST",
        "/api/v1/images/upload",
        body,
        {"Content-Type": "multipart/form-data; boundary=b"},
    )
    answer = connection.getresponse()
    created = json.loads(answer.read())
    connection.close()
    return f"/api/v1/images/{created['id']}"


def measure(port: int, *, slow: int, mode: str, seconds: float, get_timeout: float) -> dict:
    path = upload_one(port)
    start = HEADER_START if mode == "headers" else BODY_START
    gets: list[float | None] = []
    with Tricklers(port, slow, start, seconds=seconds, keep_up=True) as tricklers:
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            gets.append(timed_get(port, path, get_timeout))
            time.sleep(max(0.0, 0.5 - (gets[-1] or 0)))
    lifetimes = sorted(t.closed - t.opened for t in tricklers.trickles if t.closed)
    statuses = sorted({t.answer.split(b"\r\n", 1)[0].decode() for t in tricklers.trickles})
    answered = [g for g in gets if g is not None]
    return {
        "mode": mode,
        "slow": slow,
        "gets": len(gets),
        "gets_failed_or_over_timeout": len(gets) - len(answered),
        "gets_over_1s": sum(1 for g in answered if g > 1) + len(gets) - len(answered),
        "get_median_ms": round(statistics.median(answered) * 1000, 1) if answered else None,
        "get_max_ms": round(max(answered) * 1000, 1) if answered else None,
        "slow_opened": len(tricklers.trickles),
        "slow_closed_by_service": len(lifetimes),
        "slow_lifetime_s": [round(lifetimes[0], 1), round(lifetimes[-1], 1)] if lifetimes else None,
        "slow_answers": [s for s in statuses if s],
    }


def measure_uploads(port: int, *, count: int) -> dict:
    """Seconds each upload of the bench's largest photo took from a fast client: what the
    buffering costs a normal request."""
    from bench.client import Client, multipart_request
    from bench.photos import load_photos

    photo = max(load_photos(), key=lambda p: len(p.data))
    request = multipart_request(
        "/api/v1/images/upload",
        filename="photo.jpg",
        content_type=photo.content_type,
        data=photo.data,
        expect=201,
    )
    client = Client(HOST, port)
    client.send(request)  # the worker's first decode warms it up
    times = sorted(client.send(request)[0] for _ in range(count))
    return {
        "mode": "uploads",
        "photo": f"{photo.width}x{photo.height} {photo.format}, {len(photo.data)} bytes",
        "uploads": count,
        "upload_median_ms": round(statistics.median(times) * 1000, 1),
        "upload_min_ms": round(times[0] * 1000, 1),
    }


def main() -> None:
    from bench.service import Service, migrate, service_env

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=64, help="slow connections")
    parser.add_argument("--mode", choices=["headers", "body", "uploads", "all"], default="all")
    parser.add_argument("--seconds", type=float, default=30, help="how long to observe")
    parser.add_argument("--get-timeout", type=float, default=10, help="a GET's own bound")
    parser.add_argument("--uploads", type=int, default=20, help="uploads timed")
    parser.add_argument(
        "--worker-class",
        help="another gunicorn worker class than gunicorn.conf.py's (gthread: the stock one)",
    )
    args = parser.parse_args()
    modes = ["headers", "body", "uploads"] if args.mode == "all" else [args.mode]
    with tempfile.TemporaryDirectory(prefix="slow-clients-") as folder:
        data = Path(folder)
        env = service_env(data)
        if args.worker_class:
            env["GUNICORN_CMD_ARGS"] = f"--worker-class {args.worker_class}"
        migrate(env)
        with Service(env, data / "gunicorn.log") as service:
            for mode in modes:
                if mode == "uploads":
                    result = measure_uploads(service.port, count=args.uploads)
                else:
                    result = measure(
                        service.port,
                        slow=args.slow,
                        mode=mode,
                        seconds=args.seconds,
                        get_timeout=args.get_timeout,
                    )
                result["server"] = (
                    os.environ.get("BENCH_SERVER") or args.worker_class or "gunicorn.conf.py"
                )
                print(json.dumps(result), flush=True)
                time.sleep(2)  # the service settles before the next mode
    sys.exit(0)


if __name__ == "__main__":
    main()
