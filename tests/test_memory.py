"""A worker keeps freed image memory for its next image, up to a bound, and gives the rest
back when a request ends, or at once after a decode that held part of the decode memory
budget (gunicorn.conf.py's MALLOC_TUNABLES, and imageservice/memory.py).

Each case runs in a process of its own, started as gunicorn is: it runs gunicorn.conf.py,
which starts the process again with glibc's tunables (read only when a program starts). An
image's decode is stood for by 16 MiB blocks, the size Pillow allocates an image in.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

MiB = 1024 * 1024
KEEP = 64 * MiB


def in_a_worker(script: str, **env: str) -> dict:
    code = (
        textwrap.dedent(
            f"""
        import json, os, runpy, threading
        runpy.run_path("gunicorn.conf.py")
        from imageservice import memory
        MiB, KEEP = {MiB}, {KEEP}
        out = {{}}
        def image(blocks):
            return [bytearray(16 * MiB) for _ in range(blocks)]
        """
        )
        + textwrap.dedent(script)
        + "\nprint(json.dumps(out))\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    with tempfile.TemporaryDirectory() as metrics:  # else gunicorn.conf.py makes a folder
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={**environment, "PROMETHEUS_MULTIPROC_DIR": metrics, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("blocks", "given_back"),
    [
        (3, False),  # a 2850x2850 photo's blocks: under the bound, kept for the next image
        (8, True),  # a 6000x4000 photo's blocks: over it, back to the system
    ],
)
def test_freed_memory_is_kept_up_to_the_bound_and_the_rest_given_back(blocks, given_back):
    out = in_a_worker(
        f"""
        before = memory.resident()
        memory.request_started()
        decoded = image({blocks})
        del decoded
        memory.request_finished(keep=KEEP)
        out["kept"] = memory.resident() - before
        """
    )

    if given_back:  # all but KEEP of it
        assert out["kept"] <= KEEP + 16 * MiB
    else:
        assert out["kept"] >= (blocks - 0.5) * 16 * MiB


def test_the_next_image_after_a_large_one_takes_the_memory_kept_without_faulting_it_in():
    out = in_a_worker(
        """
        import resource
        memory.request_started()
        decoded = image(8)  # a 6000x4000 photo's blocks: trimmed once idle
        del decoded
        memory.request_finished(keep=KEEP)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        memory.request_started()
        decoded = image(3)  # then a 2850x2850 photo's
        out["faulted"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        """
    )

    # 48 MiB faulted in afresh would be 12,288 pages of 4 KiB.
    assert out["faulted"] * 4096 < 4 * MiB


def test_memory_is_given_back_when_a_request_ends_even_while_another_runs():
    out = in_a_worker(
        """
        before = memory.resident()
        memory.request_started()
        memory.request_started()
        decoded = image(8)
        del decoded
        memory.request_finished(keep=KEEP)  # the other request still runs
        out["while_busy"] = memory.resident() - before
        memory.request_finished(keep=KEEP)
        out["when_idle"] = memory.resident() - before
        """
    )

    # All but KEEP given back at once: a busy worker does not keep its largest image's
    # memory beside what the decode budget gives the other workers.
    assert out["while_busy"] <= KEEP + 16 * MiB
    assert out["when_idle"] <= KEEP + 16 * MiB


def test_a_decode_that_held_part_of_the_budget_gives_its_memory_back_at_once():
    out = in_a_worker(
        """
        before = memory.resident()
        memory.request_started()  # its request, still running
        decoded = image(8)
        del decoded
        out["freed"] = memory.resident() - before
        memory.give_back(keep=0)
        out["given_back"] = memory.resident() - before
        """
    )

    assert out["freed"] >= 120 * MiB  # free() alone keeps it resident (gunicorn.conf.py)
    assert out["given_back"] <= 8 * MiB


def test_a_request_end_keeps_the_memory_the_decode_budget_holds_a_share_for():
    out = in_a_worker(
        """
        before = memory.resident()
        memory.request_started()
        decoded = image(8)
        del decoded
        memory.keeping(8 * 16 * MiB)  # as images/infra/decode_budget.py does after a decode
        memory.request_finished(keep=KEEP)
        out["kept"] = memory.resident() - before
        """
    )

    assert out["kept"] >= 120 * MiB


def test_a_workers_threads_reuse_the_memory_one_of_them_freed():
    out = in_a_worker(
        """
        def decode(then=lambda: None):
            decoded = image(3)
            then()
            del decoded

        memory.request_started()
        first = threading.Thread(target=decode)
        first.start(), first.join()
        after_first = memory.resident()
        second = threading.Thread(
            target=decode, args=[lambda: out.update(grew=memory.resident() - after_first)]
        )
        second.start(), second.join()
        """
    )

    assert out["grew"] <= 8 * MiB


def test_an_operators_own_malloc_tunables_are_left_as_they_are():
    mine = "glibc.malloc.arena_max=2"
    out = in_a_worker('out["tunables"] = os.environ["GLIBC_TUNABLES"]', GLIBC_TUNABLES=mine)

    assert out["tunables"] == mine


def test_an_idle_worker_gives_back_what_it_kept():
    out = in_a_worker(
        """
        import time
        memory.IDLE_TRIM_SECONDS = 0.2
        before = memory.resident()
        memory.request_started()
        decoded = image(3)  # under the bound: kept when the request ends
        del decoded
        memory.request_finished(keep=KEEP)
        out["kept"] = memory.resident() - before
        time.sleep(1.0)
        out["idle"] = memory.resident() - before
        """
    )

    assert out["kept"] >= 2.5 * 16 * MiB
    assert out["idle"] <= 8 * MiB


def test_a_worker_busy_again_keeps_its_memory_past_the_idle_pause():
    out = in_a_worker(
        """
        import time
        memory.IDLE_TRIM_SECONDS = 0.2
        before = memory.resident()
        memory.request_started()
        decoded = image(3)
        del decoded
        memory.request_finished(keep=KEEP)
        memory.request_started()  # the next request came before the pause was over
        time.sleep(1.0)
        out["busy"] = memory.resident() - before
        memory.request_finished(keep=KEEP)
        """
    )

    assert out["busy"] >= 2.5 * 16 * MiB
