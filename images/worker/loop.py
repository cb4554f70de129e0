"""The worker's loop: each job's batch in turn, a pause when none had anything to do."""

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from images.errors import DatabaseUnavailable, DecodeBusy, StorageUnavailable
from images.worker import delivery, eager

logger = logging.getLogger(__name__)


def run_once(specs) -> int:
    """One batch of every job; how many events they handled."""
    return eager.run(specs) + delivery.run()


def run_until_idle(specs) -> None:
    """Every job until nothing is left (tests, a cron)."""
    while run_once(specs):
        pass


def run_forever(stop: threading.Event) -> None:
    specs = eager.eager_specs()
    logger.info("worker started: eager renditions %s", [spec.name for spec in specs] or "none")
    while not stop.is_set():
        close_old_connections()
        try:
            handled = run_once(specs)
        except (DatabaseError, DatabaseUnavailable, StorageUnavailable, DecodeBusy) as exc:
            # An outage, or the machine's decode memory taken by the web service's decodes
            # for long: the batch is done again later; nothing has moved.
            logger.warning("worker: %s; trying again", exc)
            handled = 0
        if not handled:
            stop.wait(settings.IMAGES_WORKER_POLL_SECONDS)
    logger.info("worker stopped")
