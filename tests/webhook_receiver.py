"""A webhook receiver on 127.0.0.1 for the tests: records every POST, checks its signature
with the Standard Webhooks reference implementation (the ``standardwebhooks`` package), and
answers what the test asks (``fail_with``: that status until it is set back to None)."""

import http.server
import json
import threading
import time

from standardwebhooks.webhooks import Webhook as Verifier


class Receiver:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.fail_with: int | None = None
        self.received: list[dict] = []  # every request, answered 2xx or not
        self.refused = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.record(dict(self.headers), body)
                status = receiver.fail_with or 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def record(self, headers: dict, body: bytes) -> None:
        headers = {key.lower(): value for key, value in headers.items()}
        verified = None
        if self.secret:
            # Raises WebhookVerificationError on a bad signature or a stale timestamp.
            verified = Verifier(self.secret).verify(body, headers)
        with self.lock:
            if self.fail_with:
                self.refused += 1
            self.received.append(
                {
                    "id": headers["webhook-id"],
                    "answered": self.fail_with or 204,
                    "body": json.loads(body),
                    "verified": verified is not None,
                }
            )

    def delivered(self) -> list[dict]:
        """The requests answered 2xx, in the order they came."""
        with self.lock:
            return [r for r in self.received if r["answered"] < 300]

    def wait_for(self, condition, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"not delivered in time: {len(self.received)}"
            time.sleep(0.05)
