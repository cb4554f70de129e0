"""A gunicorn worker gives its freed image memory back when a request ends, if it keeps
more than a bound, and at once after each decode that held part of the machine's decode
memory budget.

gunicorn.conf.py starts the service with glibc's allocator tuned (``MALLOC_TUNABLES``): a
worker's threads share one heap, image buffers come from it, and free() never shrinks it, so
the next image reuses the last one's memory instead of faulting it in again page by page.
What glibc cannot do by itself is bound that: when a request ends, a worker whose resident
memory grew by more than ``keep`` bytes since its last trim returns its free memory to the
system (malloc_trim), but for ``keep`` bytes at the top of its heap, which the next image
takes without faulting them in again (a small photo after a 24-megapixel one cost 15-20 ms
more when nothing was kept). It does so while other requests run too: the decode memory
budget (images/infra/decode_budget.py) bounds what the decodes of all workers hold at once,
and a worker kept busy would otherwise keep what its largest decodes freed beside what the
budget gives the other worker's. A decode that held part of the budget gives its memory
back itself (``give_back``) before its share goes to another, but for what the budget keeps
a share for (``keeping``), which a request's end keeps too. Where there is no malloc_trim
(not glibc), nothing is done.

What is kept serves a burst of requests; a worker that has answered nothing for
IDLE_TRIM_SECONDS gives it back too (``malloc_trim(0)``, by a thread of its own):
an idle service holds its code and data, not the last images' buffers. The first image
after such a pause pays for faulting its memory in again, as with nothing kept.
"""

import ctypes
import os
import threading
import time

IDLE_TRIM_SECONDS = 2.0

_malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
_lock = threading.Lock()
_in_flight = 0
_last_finished = 0.0  # time.monotonic() when the last request in flight ended
_trimmed_since = True  # whether the idle trim ran since that request
_idle_trimmer_pid = 0  # the process whose idle-trim thread runs
_kept_for_budget = 0  # freed bytes a share of the decode budget stands for (``keeping``)
_kept_by_trim = 0  # the ``keep`` of the last trim: free bytes it may have left resident


def request_started() -> None:
    global _in_flight
    with _lock:
        _in_flight += 1


def request_finished(*, keep: int) -> None:
    """Trim to ``keep`` free bytes when more than ``keep`` bytes became resident since the
    last trim, even while other requests run: the machine's decode memory budget
    (images/infra/decode_budget.py) bounds what the decodes of all workers hold at once,
    which would mean little if each worker kept what it freed while it stays busy."""
    global _in_flight, _resident_after_trim, _last_finished, _trimmed_since, _kept_by_trim
    with _lock:
        _in_flight = max(0, _in_flight - 1)
        if _malloc_trim is None:
            return
        if not _in_flight:
            _last_finished, _trimmed_since = time.monotonic(), False
            _start_idle_trimmer()
        # Under the lock, so no request starts (and takes memory) before what is resident
        # after the trim is known: that is the mark the next growth is measured from.
        keep = max(keep, _kept_for_budget)
        if resident() - _resident_after_trim > keep:
            _malloc_trim(keep)
            _resident_after_trim, _kept_by_trim = resident(), keep


def _start_idle_trimmer() -> None:
    """In the worker, on its first request (a thread started in the master would not be
    inherited by the forks)."""
    global _idle_trimmer_pid
    if _idle_trimmer_pid != os.getpid():
        _idle_trimmer_pid = os.getpid()
        threading.Thread(target=_trim_when_idle, name="idle-trim", daemon=True).start()


def _trim_when_idle() -> None:
    """Trims IDLE_TRIM_SECONDS after the last request ended (not up to twice that: it
    sleeps until then when it finds a request ended meanwhile)."""
    global _resident_after_trim, _trimmed_since, _kept_for_budget, _kept_by_trim
    pause = IDLE_TRIM_SECONDS
    while True:
        time.sleep(pause)
        with _lock:
            pause = IDLE_TRIM_SECONDS
            if _in_flight or _trimmed_since:
                continue
            left = _last_finished + IDLE_TRIM_SECONDS - time.monotonic()
            if left > 0:
                pause = left
                continue
            _malloc_trim(0)
            _resident_after_trim, _trimmed_since = resident(), True
            _kept_for_budget = _kept_by_trim = 0


def keeping(nbytes: int) -> None:
    """The decode budget holds a share for ``nbytes`` of this process's freed memory: a
    request's end keeps that much (images/infra/decode_budget.py)."""
    global _kept_for_budget
    with _lock:
        _kept_for_budget = nbytes


def kept() -> int:
    """What ``keeping`` said, or 0 once an idle trim gave everything back."""
    return _kept_for_budget


def give_back(*, keep: int) -> None:
    """Return the freed memory but ``keep`` bytes now, while other requests may still run:
    after a decode that held part of the machine's decode memory budget
    (images/infra/decode_budget.py), which would otherwise stay resident in this process
    beside what the budget lets the other processes decode."""
    global _resident_after_trim, _kept_by_trim
    if _malloc_trim is None:
        return
    with _lock:
        # Not when what the last trim kept and the growth since fit in ``keep``: a trim
        # also gives back the free memory between live blocks, whatever ``keep`` says,
        # which the next image would fault in again.
        if _kept_by_trim + resident() - _resident_after_trim > keep:
            _malloc_trim(keep)
            _resident_after_trim, _kept_by_trim = resident(), keep


def resident() -> int:
    """This process's resident memory of its own, in bytes: pages of files (libraries, the
    metrics' memory-mapped files) do not count, as no trim gives them back."""
    with open("/proc/self/statm", "rb") as statm:
        _, total, shared = statm.read().split()[:3]
    return (int(total) - int(shared)) * os.sysconf("SC_PAGE_SIZE")


_resident_after_trim = resident() if _malloc_trim is not None else 0
