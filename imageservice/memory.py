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
"""

import ctypes
import os
import threading

_malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
_lock = threading.Lock()
_in_flight = 0


def request_started() -> None:
    global _in_flight
    with _lock:
        _in_flight += 1


def request_finished(*, keep: int) -> None:
    """If this was the last request in flight, trim to ``keep`` free bytes when more than
    ``keep`` bytes became resident since the last trim."""
    global _in_flight, _resident_after_trim
    with _lock:
        _in_flight = max(0, _in_flight - 1)
        if _in_flight or _malloc_trim is None:
            return
        # Under the lock, so no request starts (and takes memory) before what is resident
        # after the trim is known: that is the mark the next growth is measured from.
        if resident() - _resident_after_trim > keep:
            _malloc_trim(keep)
            _resident_after_trim = resident()


def resident() -> int:
    """This process's resident memory of its own, in bytes: pages of files (libraries, the
    metrics' memory-mapped files) do not count, as no trim gives them back."""
    with open("/proc/self/statm", "rb") as statm:
        _, total, shared = statm.read().split()[:3]
    return (int(total) - int(shared)) * os.sysconf("SC_PAGE_SIZE")


_resident_after_trim = resident() if _malloc_trim is not None else 0
