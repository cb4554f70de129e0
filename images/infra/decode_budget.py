"""The machine's decode memory budget: how much image memory the full decodes of all the
service's processes on one machine (gunicorn's workers, the background worker, an import)
hold at once.

A decode estimates its memory from the image's header (images/imaging/decode.py,
``decode_bytes``) and reserves that much of the budget, in MiB, before it allocates; a
decode larger than the whole budget reserves all of it: it runs alone. Decodes estimated
under ``RESERVE_FROM`` reserve nothing and pay no lock round trip: their memory is headroom
the budget's default leaves.

When a decode ends, its process gives its freed memory back to the system before its share
goes to another decode (glibc's heap never shrinks by itself here: gunicorn.conf.py), but
for what it can keep a share of the budget for (``_keep``): the next decode of the same
process then reuses that memory without faulting it in again (faulting a 24-megapixel
photo's 115 MiB in afresh cost 25-60 ms on a 2-core machine), and the memory kept is still
counted in the budget. A decode of another process that waits for the budget makes the
keeper give it back within WATCH_SECONDS (``_watch``); so does an idle trim.

How: the budget is one file in a folder of this machine (``IMAGES_DECODE_LOCK_DIR``, never
shared storage); byte 1 + n of it stands for the budget's MiB n. A reservation is an open
file description of its own that holds OFD write locks (``fcntl`` ``F_OFD_SETLK``, Linux)
on the bytes of the MiB it took: the kernel drops them when that file is closed or its
process dies, a ``kill -9`` included, so no reservation outlives its holder, and threads of
one process exclude each other as processes do. Waiters line up on byte 0, the turnstile:
only its holder takes MiB, all it needs at once or none, so two large decodes never each
hold half of what they need, and a large decode first in line is not overtaken by small
ones; no one waits while holding a share. A wait ends at its deadline with ``DecodeBusy``:
503 and Retry-After, nothing done. Where OFD locks do not exist (not Linux), decodes do not
wait for each other.
"""

import contextlib
import errno
import fcntl
import os
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from images.errors import DecodeBusy
from imageservice import memory

MIB = 1024 * 1024
# Under this estimate a decode reserves nothing: about 3 megapixels of RGB and its
# greyscale copy, 12-20 ms of decoding, beside which the wait for a large decode would be
# long; 8 such decodes at once (2 workers x 4 threads) are the headroom beside the budget.
RESERVE_FROM = 16 * MIB
LOCK_FILE = "decode-budget"
TURNSTILE = 0  # the byte waiters line up on; MiB n of the budget is byte 1 + n
# How often a waiter looks again: short at first (a decode's end is often near), then at
# most every 20 ms (a wait for a large decode is hundreds of milliseconds).
FIRST_POLL, LAST_POLL = 0.002, 0.02
# struct flock of Linux (x86-64 and arm64): l_type, l_whence, l_start, l_len, l_pid.
_FLOCK = struct.Struct("hhqqi4x")
WATCH_SECONDS = 0.01  # how often a process that keeps a share looks for a waiter
SUPPORTED = hasattr(fcntl, "F_OFD_SETLK")

_held = threading.local()  # how many reservations this thread holds (nested decodes)


class DecodeBudget:
    """``budget_mb`` MiB shared through the lock file in ``folder``; a wait for it lasts at
    most ``wait_seconds``. After a decode, this process keeps up to ``keep_mb`` MiB of its
    freed memory with as much of the budget (``_keep``): by default all of it, until a
    decode of another process waits (``_watch``). Keeping half, so that the other worker's
    next decode of up to half the budget never waited, made this one's next 24-megapixel
    upload or crop 1.36-1.52x slower over HTTP, one client after another (its memory
    faulted in again each time); keeping all of it, 1.04-1.09x the time without a budget."""

    def __init__(
        self, folder: Path, budget_mb: int, wait_seconds: float, keep_mb: int | None = None
    ) -> None:
        self.path = Path(folder) / LOCK_FILE
        self.budget_mb, self.wait_seconds = budget_mb, wait_seconds
        self.keep_mb = budget_mb if keep_mb is None else keep_mb
        self._kept: tuple[int, list[int]] | None = None  # (fd, units) kept, this process's
        self._kept_lock = threading.Lock()
        self._something_kept = threading.Event()  # the watcher sleeps while it is clear
        self._watcher_pid = 0

    @contextlib.contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        """Hold ``nbytes`` of the budget (all of it, if more) for the ``with`` block. Under
        RESERVE_FROM, or in a thread that already holds a reservation (a decode within a
        decode: waiting for itself would only end at the deadline), nothing is reserved."""
        if nbytes < RESERVE_FROM or not SUPPORTED or getattr(_held, "count", 0):
            yield
            return
        wanted = min(self.budget_mb, -(-nbytes // MIB))
        fd, units = self._take_kept(wanted) or self._take(wanted)
        _held.count = 1
        try:
            yield
        finally:
            _held.count = 0
            self._keep(fd, units)

    def _take_kept(self, wanted: int) -> tuple[int, list[int]] | None:
        """The share this process kept with its freed memory, if it is enough: that memory
        is what this decode takes first. Else it is given back before waiting for more
        (kept while waiting, it would be memory beside the budget's, or hold the share
        another waiter needs)."""
        with self._kept_lock:
            kept, self._kept = self._kept, None
            if kept is None:
                return None
            memory.keeping(0)
            fd, units = kept
            if len(units) >= wanted:
                return kept
            # What is missing, if it is free now, without waiting while holding a share.
            if _lock(fd, TURNSTILE, 1):
                more = self._take_units(fd, wanted - len(units), held=set(units))
                _unlock(fd, TURNSTILE, 1)
                if more is not None:
                    return fd, units + more
            memory.give_back(keep=RESERVE_FROM)
            os.close(fd)
            return None

    def _keep(self, fd: int, units: list[int]) -> None:
        """After a decode: its memory goes back to the system but ``keep_mb`` MiB at most,
        before its share of the budget goes to another decode; as much of the share as is
        kept stays held for this process's next decode, until another process waits for
        the budget (``_watch``)."""
        if len(units) < self.keep_mb and _lock(fd, TURNSTILE, 1):
            # A small decode's process may keep more freed memory (an earlier large
            # decode's) with as much of the budget, if it is free: never waiting for it.
            more = self._take_units(fd, self.keep_mb - len(units), set(units), partly=True)
            _unlock(fd, TURNSTILE, 1)
            units = units + (more or [])
        keep = min(self.keep_mb, len(units))
        with self._kept_lock:
            memory.give_back(keep=max(keep * MIB, RESERVE_FROM))
            for unit in units[keep:]:
                _unlock(fd, 1 + unit, 1)
            older, self._kept = self._kept, (fd, units[:keep]) if keep else None
            memory.keeping(keep * MIB)
            if keep:
                self._something_kept.set()
        if older is not None:
            os.close(older[0])
        if not keep:
            os.close(fd)
        elif self._watcher_pid != os.getpid():
            self._watcher_pid = os.getpid()
            threading.Thread(target=self._watch, name="decode-budget", daemon=True).start()

    def _watch(self) -> None:
        """Give back what this process keeps as soon as a decode of another waits for the
        budget (it holds the turnstile): within WATCH_SECONDS."""
        while True:
            self._something_kept.wait()
            time.sleep(WATCH_SECONDS)
            with self._kept_lock:
                if self._kept is None:
                    self._something_kept.clear()
                    continue
                if memory.kept():  # else an idle trim gave the memory back already
                    if not _taken(self._kept[0], TURNSTILE):
                        continue
                    memory.keeping(0)
                    memory.give_back(keep=RESERVE_FROM)
                fd, self._kept = self._kept[0], None
                self._something_kept.clear()
                os.close(fd)

    def _take(self, wanted: int) -> tuple[int, list[int]]:
        """An open file description holding ``wanted`` MiB of the budget, and which;
        DecodeBusy if they were not free by the deadline."""
        deadline = time.monotonic() + self.wait_seconds
        fd = self._open()
        try:
            poll = FIRST_POLL
            while not _lock(fd, TURNSTILE, 1):
                poll = _waited(poll, deadline)
            poll = FIRST_POLL
            while (units := self._take_units(fd, wanted)) is None:
                poll = _waited(poll, deadline)
            _unlock(fd, TURNSTILE, 1)
        except BaseException:
            os.close(fd)
            raise
        return fd, units

    def _take_units(
        self, fd: int, wanted: int, held: set[int] = frozenset(), *, partly: bool = False
    ) -> list[int] | None:
        """``wanted`` more MiB locked on ``fd`` (which holds ``held``), wherever they are
        free, or none (``partly``: as many as are free)."""
        units = []
        for unit in range(self.budget_mb):
            if unit not in held and _lock(fd, 1 + unit, 1):
                units.append(unit)
                if len(units) == wanted:
                    return units
        if partly:
            return units
        for unit in units:
            _unlock(fd, 1 + unit, 1)
        return None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def in_use_mb(self) -> int:
        """MiB of the budget other open file descriptions hold now (for tests and metrics)."""
        fd = self._open()
        try:
            return sum(not _lock(fd, 1 + unit, 1) for unit in range(self.budget_mb))
        finally:
            os.close(fd)


def _lock(fd: int, start: int, length: int) -> bool:
    """Whether ``fd`` now holds bytes start..start+length-1 (False: another holds some)."""
    try:
        _set(fd, fcntl.F_WRLCK, start, length)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _taken(fd: int, start: int) -> bool:
    """Whether another open file description holds byte ``start`` (F_OFD_GETLK)."""
    asked = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, start, 1, 0)
    return _FLOCK.unpack(fcntl.fcntl(fd, fcntl.F_OFD_GETLK, asked))[0] != fcntl.F_UNLCK


def _unlock(fd: int, start: int, length: int) -> None:
    _set(fd, fcntl.F_UNLCK, start, length)


def _set(fd: int, kind: int, start: int, length: int) -> None:
    # l_pid must be 0 for OFD locks.
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(kind, os.SEEK_SET, start, length, 0))


def _waited(poll: float, deadline: float) -> float:
    """Sleep before the next look, or DecodeBusy at the deadline; the next pause. A wait
    starts by giving back this process's freed memory: while another process decodes, a
    waiting one holds no more than it needs (what its requests read and freed so far)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DecodeBusy()
    if poll == FIRST_POLL:
        memory.give_back(keep=RESERVE_FROM)
    time.sleep(min(poll, left))
    return min(2 * poll, LAST_POLL)


def from_settings() -> DecodeBudget | None:
    """The budget the settings give; None when IMAGES_DECODE_MEMORY_MB is 0 (no budget)."""
    from django.conf import settings

    if not settings.IMAGES_DECODE_MEMORY_MB:
        return None
    return DecodeBudget(
        settings.IMAGES_DECODE_LOCK_DIR,
        settings.IMAGES_DECODE_MEMORY_MB,
        settings.IMAGES_DECODE_WAIT_SECONDS,
    )
