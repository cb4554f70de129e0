"""A gunicorn worker's freed image memory: kept for the next image, up to a bound.

A decode allocates its whole image at once (Pillow, in blocks of 16 MiB; libjpeg's own
buffers besides) and frees it at the end of the request. Memory given back to the system
and taken again costs a page fault per 4 KiB page: measured on the sample photos, a
2850x2850 upload took 30% longer when every image buffer was a memory map of its own.
Left alone, glibc keeps freed memory instead, but in one heap per thread that never
shrinks: a worker whose 4 threads had each decoded a 6000x4000 photo kept 4 x 100 MiB.

So each worker (glibc only; elsewhere nothing is tuned) takes large buffers from its heap
(mmap threshold above Pillow's block size), its threads share one heap (one arena), free()
never trims it, and when the last request in flight ends ``give_back`` returns the free
memory to the system once more of it is resident than the worker may keep. While requests
overlap, what one frees the next one takes: trimming then cost 2,500 page faults an upload
at 4 clients (7% more CPU), and the memory was back a moment later.
"""

import ctypes
import ctypes.util
import os
import threading

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MiB = 1024 * 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",  # bytes in use in memory maps of their own
            "usmblks",
            "fsmblks",
            "uordblks",  # bytes in use in the heaps
            "fordblks",
            "keepcost",
        )
    ]


_libc: ctypes.CDLL | None = None
_statm: int | None = None  # this process's /proc/self/statm, kept open
# Resident bytes that are not malloc's (Python's own arenas, libraries, stacks), as of the
# last trim: what is resident beyond them and malloc's bytes in use is free memory kept.
_outside = 0


def tune_allocator() -> bool:
    """Set this process's allocator up as above; False where it is not glibc (2.33 or
    later, for mallinfo2) on Linux."""
    global _libc, _statm
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallinfo2.restype = _MallInfo2
        statm = os.open("/proc/self/statm", os.O_RDONLY)
    except (OSError, AttributeError):
        return False
    libc.mallopt(M_MMAP_THRESHOLD, 64 * MiB)
    libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    libc.mallopt(M_ARENA_MAX, 1)
    _libc, _statm = libc, statm
    _settle()
    return True


def free_kept() -> int:
    """Bytes freed and still resident, about (0 if the allocator was not tuned)."""
    if _libc is None:
        return 0
    return max(0, _resident() - _in_use() - _outside)


def give_back(*, keep: int) -> None:
    """Return free memory to the system if more than ``keep`` bytes of it are resident.
    Costs microseconds when there is nothing to do (a trim, the page faults of taking
    the memory again). Memory in use by other requests is not counted."""
    if _libc is not None and free_kept() > keep:
        _libc.malloc_trim(0)
        _settle()


_in_flight = 0
_in_flight_lock = threading.Lock()


def request_started() -> None:
    global _in_flight
    with _in_flight_lock:
        _in_flight += 1


def request_finished(*, keep: int) -> None:
    """``give_back(keep=keep)`` if no other request is in flight in this process."""
    global _in_flight
    with _in_flight_lock:
        _in_flight = max(0, _in_flight - 1)
        idle = _in_flight == 0
    if idle:
        give_back(keep=keep)


def _settle() -> None:
    global _outside
    _outside = _resident() - _in_use()


def _in_use() -> int:
    info = _libc.mallinfo2()
    return info.uordblks + info.hblkhd


def _resident() -> int:
    return int(os.pread(_statm, 128, 0).split()[1]) * os.sysconf("SC_PAGE_SIZE")
