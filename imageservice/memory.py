"""A gunicorn worker gives its freed image memory back when its last request in flight ends,
if it keeps more than a bound.

gunicorn.conf.py starts the service with glibc's allocator tuned (``MALLOC_TUNABLES``): a
worker's threads share one heap, image buffers come from it, and free() never shrinks it, so
the next image reuses the last one's memory instead of faulting it in again page by page.
What glibc cannot do by itself is bound that: when no request is in flight, a worker whose
resident memory grew by more than ``keep`` bytes since its last trim returns its free
memory to the system (malloc_trim), but for ``keep`` bytes at the top of its heap, which
the next image takes without faulting them in again (a small photo after a 24-megapixel
one cost 15-20 ms more when nothing was kept). While requests overlap, what one frees the
next one takes. Where there is no malloc_trim (not glibc), nothing is done.

What is kept serves a burst of requests; a worker that has answered nothing for
IDLE_TRIM_SECONDS gives it back too (``malloc_trim(0)``, by a thread of its own that looks
every IDLE_TRIM_SECONDS): an idle service holds its code and data, not the last images'
buffers (``make bench``'s memory table: about 64 MiB a worker). The first image after such a
pause pays for faulting its memory in again, as with nothing kept.
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


def request_started() -> None:
    global _in_flight
    with _lock:
        _in_flight += 1


def request_finished(*, keep: int) -> None:
    """If this was the last request in flight, trim to ``keep`` free bytes when more than
    ``keep`` bytes became resident since the last trim."""
    global _in_flight, _resident_after_trim, _last_finished, _trimmed_since
    with _lock:
        _in_flight = max(0, _in_flight - 1)
        if _in_flight or _malloc_trim is None:
            return
        _last_finished, _trimmed_since = time.monotonic(), False
        _start_idle_trimmer()
        # Under the lock, so no request starts (and takes memory) before what is resident
        # after the trim is known: that is the mark the next growth is measured from.
        if resident() - _resident_after_trim > keep:
            _malloc_trim(keep)
            _resident_after_trim = resident()


def _start_idle_trimmer() -> None:
    """In the worker, on its first request (a thread started in the master would not be
    inherited by the forks)."""
    global _idle_trimmer_pid
    if _idle_trimmer_pid != os.getpid():
        _idle_trimmer_pid = os.getpid()
        threading.Thread(target=_trim_when_idle, name="idle-trim", daemon=True).start()


def _trim_when_idle() -> None:
    global _resident_after_trim, _trimmed_since
    while True:
        time.sleep(IDLE_TRIM_SECONDS)
        with _lock:
            idle = time.monotonic() - _last_finished >= IDLE_TRIM_SECONDS
            if _in_flight or _trimmed_since or not idle:
                continue
            _malloc_trim(0)
            _resident_after_trim, _trimmed_since = resident(), True


def resident() -> int:
    """This process's resident memory of its own, in bytes: pages of files (libraries, the
    metrics' memory-mapped files) do not count, as no trim gives them back."""
    with open("/proc/self/statm", "rb") as statm:
        _, total, shared = statm.read().split()[:3]
    return (int(total) - int(shared)) * os.sysconf("SC_PAGE_SIZE")


_resident_after_trim = resident() if _malloc_trim is not None else 0
