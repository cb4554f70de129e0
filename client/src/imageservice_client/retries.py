"""When and how long the client waits before sending a request again.

An answer of 429 or 503 means the service did nothing: the request is sent again after
its Retry-After (capped, with jitter so that a lab's parallel uploads do not come back in
step), whatever the method. A connection that could not be opened sent nothing either. A
connection lost after the request went out may have done its work: only requests that are
safe to repeat are sent again (reads, PUT and DELETE, and the requests the caller marks
idempotent: an upload with ``dedupe=true``, a bulk label edit, a search).
"""

import random
from dataclasses import dataclass

import httpx

RETRIED_STATUSES = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class Retries:
    attempts: int = 8  # in all, the first included
    max_wait: float = 30.0  # the longest pause, whatever Retry-After says
    backoff: float = 0.5  # the first pause after a lost connection; doubles each time
    jitter: float = 0.2  # up to this fraction of a pause is added at random

    def pause_after_answer(self, attempt: int, retry_after: str | None) -> float:
        try:
            wanted = max(0.0, float(retry_after)) if retry_after else None
        except ValueError:  # an HTTP date: rare here, the service sends seconds
            wanted = None
        if wanted is None:
            wanted = self.backoff * 2 ** (attempt - 1)
        return self._jittered(min(wanted, self.max_wait))

    def pause_after_lost_connection(self, attempt: int) -> float:
        return self._jittered(min(self.backoff * 2 ** (attempt - 1), self.max_wait))

    def _jittered(self, pause: float) -> float:
        return pause + random.uniform(0, self.jitter * max(pause, 0.1))


def nothing_was_sent(exc: httpx.TransportError) -> bool:
    """Whether the request surely never reached the service (safe to send again)."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


NO_RETRIES = Retries(attempts=1)
