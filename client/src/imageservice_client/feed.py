"""The event feed as an iterator that keeps its cursor."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .models import Event

if TYPE_CHECKING:
    from .client import Client


class EventStream:
    """The event feed as an iterator that keeps its cursor (``.cursor``)."""

    def __init__(
        self, client: "Client", after: int, poll_interval: float, until_caught_up: bool
    ) -> None:
        self.client, self.cursor = client, after
        self.poll_interval, self.until_caught_up = poll_interval, until_caught_up

    def __iter__(self) -> Iterator[Event]:
        while True:
            page = self.client.events(after=self.cursor, limit=1000)
            for event in page.results:
                self.cursor = event.cursor
                yield event
            self.cursor = max(self.cursor, page.next_cursor)
            if not page.results:
                if self.until_caught_up:
                    return
                self.client._sleep(self.poll_interval)
