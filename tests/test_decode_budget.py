"""The machine's decode memory budget (images/infra/decode_budget.py): real processes hold
shares of it through one lock folder, and what one holds another cannot take.

A holder is a process of its own that reserves and then waits for its stdin to close (or
for a kill -9). "Cannot take" is a wait that ends at its deadline with DecodeBusy: while the
holder holds, no wait could succeed, so no assertion depends on timing. The budgets of this
process keep nothing after a decode (``keep_mb=0``) but in the test of what is kept.
"""

import io
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import requests

from images.errors import DecodeBusy
from images.imaging import decode
from images.infra.decode_budget import MIB, RESERVE_FROM, DecodeBudget
from tests.factories import image_bytes
from tests.service import REPO, Gunicorn

SHORT_WAIT = 0.3  # seconds: long enough to be a wait, short enough for the suite


class Holder:
    """A process holding ``mb`` MiB of the budget in ``folder`` until it ends."""

    def __init__(self, folder: Path, budget_mb: int, mb: int) -> None:
        code = textwrap.dedent(
            f"""
            import sys
            from images.infra.decode_budget import DecodeBudget
            budget = DecodeBudget({str(folder)!r}, {budget_mb}, 30)
            with budget.reserve({mb} * 1024 * 1024):
                print("held", flush=True)
                sys.stdin.read()
            """
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no finally, no close of its own
        self.process.wait(timeout=30)
        self.process.stdin.close()


@pytest.fixture
def holders():
    started: list[Holder] = []

    def hold(folder: Path, budget_mb: int, mb: int) -> Holder:
        started.append(Holder(folder, budget_mb, mb))
        return started[-1]

    yield hold
    for holder in started:
        if holder.process.poll() is None:
            holder.kill()


def test_what_another_process_holds_is_not_taken_until_it_releases_it(tmp_path, holders):
    budget = DecodeBudget(tmp_path, 128, SHORT_WAIT, keep_mb=0)
    holder = holders(tmp_path, 128, 100)

    assert budget.in_use_mb() == 100
    with pytest.raises(DecodeBusy), budget.reserve(40 * MIB):
        pass
    with budget.reserve(28 * MIB):  # what is left fits
        assert budget.in_use_mb() == 128

    holder.release()
    with budget.reserve(100 * MIB):
        assert budget.in_use_mb() == 100
    assert budget.in_use_mb() == 0


def test_a_decode_larger_than_the_budget_takes_all_of_it_and_runs_alone(tmp_path, holders):
    budget = DecodeBudget(tmp_path, 64, SHORT_WAIT, keep_mb=0)
    holder = holders(tmp_path, 64, 300)

    assert budget.in_use_mb() == 64
    with pytest.raises(DecodeBusy), budget.reserve(RESERVE_FROM):
        pass
    holder.release()
    with budget.reserve(300 * MIB):
        assert budget.in_use_mb() == 64


def test_a_process_keeps_a_share_with_its_freed_memory_until_another_waits(tmp_path, holders):
    budget = DecodeBudget(tmp_path, 128, SHORT_WAIT, keep_mb=64)  # keeps up to half of it
    with budget.reserve(100 * MIB):
        pass
    assert budget.in_use_mb() == 64  # kept for this process's next decode
    with budget.reserve(90 * MIB):  # which takes it, and what it lacks, without waiting
        assert budget.in_use_mb() == 90
    holder = holders(tmp_path, 128, 64)  # the other half: no wait

    assert budget.in_use_mb() == 128
    holder.release()
    holder = holders(tmp_path, 128, 100)  # waits until this process gives its share back

    assert budget.in_use_mb() == 100
    holder.release()


def test_by_default_a_process_keeps_all_it_took_until_another_waits(tmp_path, holders):
    budget = DecodeBudget(tmp_path, 128, SHORT_WAIT)
    with budget.reserve(100 * MIB):
        pass
    assert budget.in_use_mb() == 128  # what it took, and the rest that was free: kept
    with budget.reserve(120 * MIB):  # the next decode takes it without waiting
        assert budget.in_use_mb() == 128
    holder = holders(tmp_path, 128, 100)  # waits until this process gives its share back

    assert budget.in_use_mb() == 100
    holder.release()


def test_a_holder_killed_with_sigkill_leaves_nothing_held(tmp_path, holders):
    budget = DecodeBudget(tmp_path, 128, SHORT_WAIT, keep_mb=0)
    holder = holders(tmp_path, 128, 128)
    assert budget.in_use_mb() == 128

    holder.kill()

    assert budget.in_use_mb() == 0
    with budget.reserve(128 * MIB):
        pass


def test_small_decodes_reserve_nothing_and_pass_a_full_budget(tmp_path, holders):
    budget = DecodeBudget(tmp_path, 64, SHORT_WAIT, keep_mb=0)
    holders(tmp_path, 64, 64)

    with budget.reserve(RESERVE_FROM - 1):
        pass


def test_threads_of_one_process_exclude_each_other_too(tmp_path):
    budget = DecodeBudget(tmp_path, 128, SHORT_WAIT, keep_mb=0)
    outcome = []

    def other_thread():
        try:
            with budget.reserve(64 * MIB):
                outcome.append("reserved")
        except DecodeBusy:
            outcome.append("busy")

    with budget.reserve(100 * MIB):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        # A decode within a decode in one thread does not wait for itself.
        with budget.reserve(100 * MIB):
            assert budget.in_use_mb() == 100

    assert outcome == ["busy"]


def test_open_image_reserves_its_estimate_before_decoding(tmp_path, holders):
    big = image_bytes("PNG", (2000, 2000))  # 4 Mpx of RGB: 20 MB with the grey copy
    budget = DecodeBudget(tmp_path, 32, SHORT_WAIT, keep_mb=0)
    app_gate = decode.set_memory_gate(budget.reserve)
    try:
        holder = holders(tmp_path, 32, 16)
        with pytest.raises(DecodeBusy):
            decode.analyze(_file(big), max_pixels=10**8)
        assert decode.analyze(_file(image_bytes("PNG", (500, 500))), max_pixels=10**8)

        holder.release()
        assert decode.analyze(_file(big), max_pixels=10**8).width == 2000
    finally:
        decode.set_memory_gate(app_gate)


def test_the_estimate_counts_the_decoded_pixels_and_the_grey_copy():
    with decode.open_image(_file(image_bytes("PNG", (300, 200))), max_pixels=10**8) as image:
        assert decode.decode_bytes(image) == 300 * 200 * (4 + 1)  # RGB is kept in 4 bytes
    grey = image_bytes("PNG", (300, 200), mode="L")
    with decode.open_image(_file(grey), max_pixels=10**8) as image:
        assert decode.decode_bytes(image) == 300 * 200 * 2


def test_gunicorn_workers_answer_503_decode_busy_past_the_wait_then_decode(tmp_path, holders):
    locks = tmp_path / "locks"
    big = image_bytes("PNG", (2000, 2000))
    service = Gunicorn(
        tmp_path / "service",
        IMAGES_DECODE_LOCK_DIR=str(locks),
        IMAGES_DECODE_MEMORY_MB="64",
        IMAGES_DECODE_WAIT_SECONDS=str(SHORT_WAIT),
    )
    with service:
        holder = holders(locks, 64, 64)
        url = f"{service.base}/api/v1/images/upload"

        busy = requests.post(url, files={"file": ("big.png", big, "image/png")}, timeout=30)
        small = requests.post(
            url, files={"file": ("small.png", image_bytes("PNG"), "image/png")}, timeout=30
        )
        holder.kill()
        after = requests.post(url, files={"file": ("big.png", big, "image/png")}, timeout=30)

    assert busy.status_code == 503
    assert busy.json()["code"] == "decode_busy"
    assert busy.headers["Retry-After"] == "2"
    assert small.status_code == 201
    assert after.status_code == 201


def _file(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
