"""``manage.py images_worker``: the background worker (images/worker/): eager renditions and
webhook deliveries, read from the change feed. A process of its own, never a thread of the
web server: supervise it (make run, compose.yaml, deploy/imageservice-worker.service) and
stop it with SIGTERM or Ctrl-C; it finishes the event in hand. A kill -9 loses nothing."""

import signal
import threading

from django.core.management.base import BaseCommand

from images.worker import eager, loop


class Command(BaseCommand):
    help = "Make eager renditions and deliver webhooks, reading the change feed."

    def add_arguments(self, parser):
        parser.add_argument(
            "--until-idle",
            action="store_true",
            help="Exit once nothing is left to do (a cron, a test), instead of waiting.",
        )

    def handle(self, *args, until_idle: bool = False, **options):
        if until_idle:
            loop.run_until_idle(eager.eager_specs())
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        loop.run_forever(stop)
