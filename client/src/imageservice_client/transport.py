"""One HTTP request to the service, sent again as ``retries`` allows, its error answer
turned into an exception with the service's ``code`` and ``detail``."""

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from .errors import ImageServiceError, Unreachable, error_class
from .retries import IDEMPOTENT_METHODS, RETRIED_STATUSES, Retries, nothing_was_sent

logger = logging.getLogger("imageservice_client")


class Transport:
    def __init__(
        self,
        base: str,
        *,
        token: str | None,
        timeout: float,
        retries: Retries,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "imageservice-client"}
        if token:
            headers["Authorization"] = f"Token {token}"
        # Keep-alive: one pool for the client's life, shared by every thread using it.
        self.http = httpx.Client(
            base_url=base,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self.retries = retries
        self.sleep = sleep

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        make_body: Callable[[], dict[str, Any]] | None = None,
        follow_redirects: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """The answer of a 2xx or 3xx; an ImageServiceError otherwise. ``make_body``
        gives the body's arguments afresh for each attempt (a file to read again)."""
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retries.attempts
            body = make_body() if make_body else {}
            try:
                response = self.http.request(
                    method, path, follow_redirects=follow_redirects, **kwargs, **body
                )
            except httpx.TransportError as exc:
                if last or not (idempotent or nothing_was_sent(exc)):
                    raise Unreachable(f"{method} {path}: {exc!r}", code="unreachable") from exc
                pause = self.retries.pause_after_lost_connection(attempt)
                logger.info("%s %s: %r; again in %.1f s", method, path, exc, pause)
                self.sleep(pause)
                continue
            finally:
                for value in body.get("files", {}).values():
                    if hasattr(value[1], "close"):
                        value[1].close()
            if response.status_code < 400:
                return response
            if response.status_code in RETRIED_STATUSES and not last:
                retry_after = response.headers.get("Retry-After")
                pause = self.retries.pause_after_answer(attempt, retry_after)
                logger.info(
                    "%s %s: %s (Retry-After %s); again in %.1f s",
                    method, path, response.status_code, retry_after, pause,
                )  # fmt: skip
                self.sleep(pause)
                continue
            raise error_from(response)


def error_from(response: httpx.Response) -> ImageServiceError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"detail": response.text[:200] or response.reason_phrase, "code": "bad_answer"}
    retry_after = response.headers.get("Retry-After")
    try:
        seconds = float(retry_after) if retry_after else None
    except ValueError:
        seconds = None
    return error_class(response.status_code)(
        str(body.get("detail", "")),
        code=str(body.get("code", "error")),
        status=response.status_code,
        errors=body.get("errors"),
        retry_after=seconds,
    )
