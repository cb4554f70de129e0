"""``imgsvc upload``'s work: each planned file sent in ``jobs`` threads, once.

Every upload asks for ``dedupe``: a file whose bytes the service already has (sent by an
earlier run that was killed before its journal line, or by someone else) comes back as
that image, which then gets this file's tags and metadata. The first Ctrl-C (or SIGTERM)
lets the files being sent finish and starts no other; a second one stops at once.
"""

import hashlib
import os
import signal
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from .client import Client
from .errors import ImageServiceError
from .folder import Labels
from .journal import Entry, Journal
from .report import BarReport, Outcome, PlainReport

_CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_CHUNK):
            hasher.update(block)
    return hasher.hexdigest()


class Uploader:
    def __init__(
        self, client: Client, *, labels: Labels, journal: Journal, report: PlainReport | BarReport
    ) -> None:
        self.client, self.labels, self.journal, self.report = client, labels, journal, report
        self.stop = threading.Event()
        self.counts: Counter[str] = Counter()
        self.problems: list[Outcome] = []
        self._lock = threading.Lock()  # one report line at a time from the threads

    def run(self, images: list[Path], *, jobs: int) -> bool:
        """Send every image not in the journal; whether it stopped before the end."""
        to_send = []
        for path in images:
            stat = path.stat()
            if self.journal.done(path, stat):
                self.counts["journal"] += 1
            else:
                to_send.append((path, stat))
        if self.counts["journal"]:
            self.report.note(
                f"{self.counts['journal']} files are done already (journal {self.journal.path})."
            )
        self.report.start(len(to_send), sum(stat.st_size for _, stat in to_send))
        previous = _on_interrupt(self._interrupted)
        try:
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                futures: list[Future] = [pool.submit(self._send, *item) for item in to_send]
                for future in futures:
                    future.add_done_callback(self._finished)
                while not self.stop.is_set():
                    if not wait(futures, timeout=0.2).not_done:
                        break
                pool.shutdown(wait=True, cancel_futures=True)
        finally:
            _restore(previous)
            self.report.stop()
        return self.stop.is_set()

    def _interrupted(self, signum, frame) -> None:
        if self.stop.is_set():
            os._exit(130)  # a second Ctrl-C: now (the journal is flushed line by line)
        self.stop.set()
        self.report.note("Stopping after the files being sent (Ctrl-C again to stop at once).")

    def _finished(self, future: Future) -> None:
        if future.cancelled():
            return
        outcome = future.result()
        if outcome.kind == "cancelled":
            return
        with self._lock:
            self.counts[outcome.kind] += 1
            if outcome.kind in ("refused", "failed"):
                self.problems.append(outcome)
            self.report.done(outcome)

    def _send(self, path: Path, stat: os.stat_result) -> Outcome:
        if self.stop.is_set():
            return Outcome("cancelled", path)
        size = stat.st_size
        try:
            digest = sha256_of(path)
        except OSError as exc:
            return Outcome("refused", path, size, code="unreadable", detail=str(exc))
        tags, metadata = self.labels.of(path)
        try:
            upload = self.client.upload(path, tags=tags, metadata=metadata, dedupe=True)
            if not upload.created and (tags or metadata):
                self.client.bulk_edit([upload.image.id], add_tags=tags, metadata=metadata)
        except ImageServiceError as exc:
            kind = "refused" if exc.status and exc.status < 500 and exc.status != 429 else "failed"
            return Outcome(kind, path, size, code=exc.code, detail=exc.detail)
        self.journal.record(Entry(str(path), size, stat.st_mtime_ns, digest, upload.image.id))
        kind = "stored" if upload.created else "existing"
        return Outcome(kind, path, size, image_id=upload.image.id)


def _on_interrupt(handler) -> dict:
    """``handler`` for SIGINT and SIGTERM (in the main thread only); the previous ones."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
