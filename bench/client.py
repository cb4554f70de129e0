"""A small HTTP/1.1 client with keep-alive, and a runner that times requests from N clients.

Each client is a thread with its own connection, as a real client would hold one; the
requests of a phase are shared out as the clients become free. A request is timed from
its first byte sent to its last byte read.
"""

import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


class BenchError(RuntimeError):
    pass


@dataclass
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: int = 200
    # Called with the parsed JSON answer (or None for bytes) after a good answer.
    then: Callable[[object], None] | None = None


def json_request(method: str, path: str, payload: dict, **kwargs) -> Request:
    headers = {"Content-Type": "application/json"}
    return Request(method, path, json.dumps(payload).encode(), headers, **kwargs)


def multipart_request(path: str, *, filename: str, content_type: str, data: bytes, **kwargs):
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return Request("POST", path, body, headers, **kwargs)


class Client:
    def __init__(self, host: str, port: int, timeout: float = 120) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.connection: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> tuple[float, object]:
        """Seconds the request took, and its answer (parsed JSON, or the bytes)."""
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, self.timeout)
                self.connection.connect()
            try:
                start = time.perf_counter()
                self.connection.request(request.method, request.path, request.body, request.headers)
                response = self.connection.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - start
                break
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                # gunicorn closed an idle keep-alive connection, or a worker was recycled
                # (max_requests) before it read this request: connect again, once.
                self.close()
                if attempt == 2:
                    raise
        if response.status != request.expect:
            raise BenchError(
                f"{request.method} {request.path}: {response.status}, expected "
                f"{request.expect}: {body[:500]!r}"
            )
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        content_type = response.getheader("Content-Type", "")
        answer = json.loads(body) if content_type.startswith("application/json") else body
        if request.then:
            request.then(answer)
        return elapsed, answer

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class Timing:
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0  # seconds the phases took, first request sent to last answer read
    cpu: float = 0.0  # CPU seconds the service's workers used meanwhile

    def add(self, other: "Timing") -> None:
        self.latencies.extend(other.latencies)
        self.wall += other.wall
        self.cpu += other.cpu

    def measured(self, wall: float, cpu: float) -> None:
        """Add one operation timed in this process."""
        self.latencies.append(wall)
        self.wall += wall
        self.cpu += cpu

    @property
    def cpu_each(self) -> float:
        return self.cpu / len(self.latencies) if self.latencies else 0.0

    @property
    def cores(self) -> float:
        """How many cores the workers kept busy, on average."""
        return self.cpu / self.wall if self.wall else 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


def run(host: str, port: int, requests: Sequence[Request], clients: int) -> Timing:
    """Send ``requests`` from ``clients`` concurrent clients; time each and the whole."""
    lock = threading.Lock()
    position = iter(range(len(requests)))
    latencies: list[float] = []
    failures: list[BaseException] = []

    def work() -> None:
        client = Client(host, port)
        try:
            while not failures:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                elapsed, _ = client.send(requests[index])
                with lock:
                    latencies.append(elapsed)
        except BaseException as exc:
            failures.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if failures:
        raise failures[0]
    return Timing(latencies, wall)
