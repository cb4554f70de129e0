"""``make run``: gunicorn and the background worker (manage.py images_worker) together, as
one command. Ctrl-C or SIGTERM stops both; if either exits, the other is stopped too and
the exit status is the first one's, so a failure is never half-running.

    python -m imageservice.run_both
"""

import signal
import subprocess
import sys
import time

COMMANDS = [
    [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "imageservice.wsgi"],
    [sys.executable, "manage.py", "images_worker"],
]
STOP_SECONDS = 45  # gunicorn's graceful stop (GUNICORN_GRACEFUL_TIMEOUT) and some


def main() -> int:
    # Ctrl-C reaches every process of the terminal's group; SIGTERM only this one.
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _: stopping.append(number))
    children = [subprocess.Popen(command) for command in COMMANDS]
    status = 0
    while not stopping:
        exited = [child for child in children if child.poll() is not None]
        if exited:
            status = exited[0].returncode
            break
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return status


if __name__ == "__main__":
    sys.exit(main())
