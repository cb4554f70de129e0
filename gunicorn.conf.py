"""gunicorn settings, from the environment, with defaults that fit a small machine.

Threaded workers: decoding an image is CPU work that Pillow does without holding the GIL,
so one process per available core uses the cores, and its threads keep answering cheap
requests while another thread waits on a slow upload, a slow URL origin or the object store.
On a 2-core machine that is 2 workers x 4 threads: 8 requests at once, 2 decoding at full
speed (memory per worker: MALLOC_TUNABLES and KEEP_FREE below, and docs/operating/scale.md,
"Size"). Several instances behind a load balancer each take the cores they are given (a
container's CPU limit counts, not the host's core count).
"""

import math
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

# glibc's allocator for workers that decode images in threads: the threads share one heap
# (arena_max; else each thread keeps a heap of its own that never shrinks), image buffers
# come from it instead of memory maps of their own (mmap_threshold, above Pillow's 16 MiB
# blocks: a buffer mapped afresh is faulted in again page by page), and free() never shrinks
# it while requests overlap (trim_threshold); KEEP_FREE bounds what it keeps.
MALLOC_TUNABLES = ":".join(
    [
        "glibc.malloc.arena_max=1",
        f"glibc.malloc.mmap_threshold={64 * 1024 * 1024}",
        f"glibc.malloc.trim_threshold={2**31 - 1}",
    ]
)


def start_with_malloc_tunables() -> None:
    """glibc reads GLIBC_TUNABLES only when a program starts, and gunicorn's workers are
    forks of this process: so it starts itself again with them, once, whatever launched it
    (make run, the Docker image, a service manager). Tunables of glibc.malloc already set by
    the operator are left as they are; other C libraries have none."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if platform.libc_ver()[0] != "glibc" or "glibc.malloc." in tunables:
        return
    os.environ["GLIBC_TUNABLES"] = ":".join(filter(None, [tunables, MALLOC_TUNABLES]))
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


start_with_malloc_tunables()


def available_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU limit."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        with open("/sys/fs/cgroup/cpu.max") as limit:
            quota, period = limit.read().split()
        if quota != "max":
            cores = min(cores or 1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores or 1)


bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", available_cores()))
# A fork of gunicorn 27.0.1's gthread, reading each request whole before a thread takes it:
# slow clients hold no thread (it refuses to load under another gunicorn version).
worker_class = "imageservice.gthread_fork.BufferingThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Longer than the URL download deadline, so a slow origin is cut by the service, not killed.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
# Workers' heartbeat files in memory: a container's disk can stall them into timeouts.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# The service logs one line per request itself (imageservice/requestlog.py, LOG_FORMAT).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"


def post_worker_init(worker) -> None:
    """Before the worker takes requests: import what the first request would (the URLconf
    with the views, and scipy's FFT, which imagehash.phash imports on its first call: 0.3 s
    of a worker's first upload, and again after every restart at max_requests, py-spy).
    Then load the similar-image index in the background: a worker's first search is then
    as quick as the others (the load takes seconds at a million images)."""
    import threading

    import scipy.fftpack  # noqa: F401
    from django.urls import get_resolver

    from images.similarity import warm_up

    get_resolver().url_patterns  # noqa: B018 (imports the URLconf)

    threading.Thread(target=warm_up, name="similarity-warm-up", daemon=True).start()


# Freed memory a worker keeps for its next image (imageservice/memory.py): what a decode
# that takes no share of the machine's decode memory budget holds at most (images/infra/
# decode_budget.py, RESERVE_FROM: about a 3-megapixel photo's decode and greyscale copy).
# More would sit beside what the budget lets the other workers decode; a larger image's
# memory is faulted in again, as the cost floors' own is.
KEEP_FREE = 16 * 1024 * 1024


def pre_request(worker, req):
    from imageservice import memory

    memory.request_started()


def post_request(worker, req, environ, resp):
    """After the answer was sent."""
    from imageservice import memory

    memory.request_finished(keep=KEEP_FREE)


# --- Metrics (imageservice/metrics.py) ---------------------------------------------------
# Each worker keeps its counts in files of one folder, which a scrape of /metrics adds up
# (prometheus-client's multiprocess mode): METRICS_DIR, else a new folder in memory. The
# library's variable must be set before any worker imports it, so here, when the master
# reads this file; and only for gunicorn's processes, so that a manage.py command run with
# the same environment leaves no files of its own there.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    if not os.environ.get("METRICS_DIR"):
        os.environ["IMAGESERVICE_METRICS_TEMP_DIR"] = tempfile.mkdtemp(
            prefix="imageservice-metrics-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
        )
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = (
        os.environ.get("METRICS_DIR") or os.environ["IMAGESERVICE_METRICS_TEMP_DIR"]
    )


def on_starting(server):
    """Counts start at zero with the master: files of an earlier run are removed."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for values in folder.glob("*.db"):
        values.unlink()


def child_exit(server, worker):
    """A dead worker's gauges go (its counts stay in the sums)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """A folder made above goes with the master (METRICS_DIR stays)."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if folder == os.environ.get("IMAGESERVICE_METRICS_TEMP_DIR"):
        shutil.rmtree(folder, ignore_errors=True)
