"""A worker's freed memory is kept for the next image up to a bound (imageservice/memory.py).

Each case runs in a process of its own, as a gunicorn worker does: tuning the allocator of
the test process would change how every other test allocates.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MiB = 1024 * 1024


def in_a_worker(script: str) -> dict:
    code = (
        textwrap.dedent(
            """
        import json
        from imageservice import memory
        MiB = 1024 * 1024
        assert memory.tune_allocator()
        out = {}
        """
        )
        + textwrap.dedent(script)
        + "\nprint(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def test_freed_image_memory_is_kept_for_the_next_image_up_to_the_bound():
    out = in_a_worker(
        """
        image = [bytearray(16 * MiB) for _ in range(3)]  # a 2850x2850 photo's blocks
        del image
        out["kept"] = memory.free_kept()
        memory.give_back(keep=64 * MiB)
        out["still_kept"] = memory.free_kept()
        """
    )

    assert out["kept"] >= 40 * MiB
    assert out["still_kept"] == out["kept"]  # under the bound: kept for the next image


def test_freed_memory_beyond_the_bound_goes_back_to_the_system():
    out = in_a_worker(
        """
        image = [bytearray(16 * MiB) for _ in range(8)]  # a 6000x4000 photo's blocks
        del image
        out["kept"] = memory.free_kept()
        memory.give_back(keep=64 * MiB)
        out["after"] = memory.free_kept()
        """
    )

    assert out["kept"] >= 120 * MiB
    assert out["after"] <= 16 * MiB


def test_memory_in_use_by_another_request_is_not_given_back_nor_counted_as_kept():
    out = in_a_worker(
        """
        other_request = [bytearray(16 * MiB) for _ in range(8)]
        memory.give_back(keep=64 * MiB)
        out["kept"] = memory.free_kept()
        out["intact"] = all(len(block) == 16 * MiB for block in other_request)
        """
    )

    assert out["kept"] <= 16 * MiB
    assert out["intact"]


def test_memory_is_given_back_when_the_last_request_in_flight_ends():
    out = in_a_worker(
        """
        memory.request_started()
        memory.request_started()
        image = [bytearray(16 * MiB) for _ in range(8)]
        del image
        memory.request_finished(keep=64 * MiB)  # the other request may take it next
        out["while_busy"] = memory.free_kept()
        memory.request_finished(keep=64 * MiB)
        out["when_idle"] = memory.free_kept()
        """
    )

    assert out["while_busy"] >= 120 * MiB
    assert out["when_idle"] <= 16 * MiB
