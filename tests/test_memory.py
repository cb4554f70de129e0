"""A worker's freed memory is kept for the next image up to a bound (imageservice/memory.py).

Each case runs in a process of its own, as a gunicorn worker does: tuning the allocator of
the test process would change how every other test allocates.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
        image = [bytearray(16 * MiB) for _ in range({blocks})]
        del image
        out["kept"] = memory.free_kept()
        memory.give_back(keep=64 * MiB)
        out["after"] = memory.free_kept()
        """
    )

    assert out["kept"] >= (blocks - 0.5) * 16 * MiB
    if given_back:
        assert out["after"] <= 16 * MiB
    else:
        assert out["after"] == out["kept"]


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
