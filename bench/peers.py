"""`make bench-peers`: the service beside thumbor, in one interleaved run.

thumbor (PyPI, THUMBOR_VERSION) is installed into a virtual environment of its own under the
run's temporary folder (pip's cache makes a second run quick) and started twice on
127.0.0.1, each with 2 processes as the service has 2 workers: once with its file result
storage (what it made is stored and served again), once without (every request makes the
image again). Both read the sample photos (bench/photos.py: ``shared/samples`` beside the
repo, or BENCH_SAMPLES) with the file loader; the service gets the same photos uploaded.

Each round asks, for every photo and spec in turn, the service, thumbor with and without
result storage: first with a size none has made yet (generation), then the same request
again, then STORED_ASKS times more (stored serving, as every later request meets it: the
service and thumbor's result storage in strict turns, no generation between them). The
service's ``/file`` of an image whose file is one of the stored renditions (same bytes, same
size) is asked as often beside them, after a first ask that reads its row. Every request is
timed alone on a keep-alive connection, the three peers' requests one after the other, so
that other load on the machine meets them alike; a ratio is the median of the pairs' ratios.

BENCH_ROUNDS (default 3) sets the rounds; THUMBOR_VERSION the version to install.
"""

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench import client
from bench.photos import load_photos
from bench.run import step
from bench.service import HOST, Service, free_port, migrate, service_env

API = "/api/v1/images"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# Stored serving asked this many times per photo, spec and round (a median of one ask per
# photo and spec moved by 0.3 from run to run).
STORED_ASKS = 5
THUMBOR_VERSION = os.environ.get("THUMBOR_VERSION", "7.8.0")
# (the service's spec, thumbor's path before the photo's name); {s}: the size, which each
# round changes so that a generation is one.
SPECS = [
    ("fill-{s}x{s}", "unsafe/{s}x{s}"),
    ("max-{s}x{s}", "unsafe/fit-in/{s}x{s}"),
    ("max-{s}x{s}.webp", "unsafe/fit-in/{s}x{s}/filters:format(webp)"),
]
SIZES = {"fill-{s}x{s}": 256, "max-{s}x{s}": 1024, "max-{s}x{s}.webp": 1024}
# thumbor's encoders set as the service's (images/imaging/resize.py): JPEG 85, WebP 80.
THUMBOR_CONF = """
LOADER = "thumbor.loaders.file_loader"
FILE_LOADER_ROOT_PATH = {photos!r}
STORAGE = "thumbor.storages.no_storage"
SECURITY_KEY = "bench"
ALLOW_UNSAFE_URL = True
QUALITY = 85
WEBP_QUALITY = 80
AUTO_WEBP = False
RESPECT_ORIENTATION = True
"""
RESULT_STORAGE_CONF = """
RESULT_STORAGE = "thumbor.result_storages.file_storage"
RESULT_STORAGE_FILE_STORAGE_ROOT_PATH = {root!r}
RESULT_STORAGE_STORES_UNSAFE = True
RESULT_STORAGE_EXPIRATION_SECONDS = 0
"""


@dataclass
class Peer:
    name: str
    host: str
    port: int
    times: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.connection = client.Client(self.host, self.port)

    def get(self, path: str, row: tuple[str, str], **kwargs) -> object:
        elapsed, answer = self.connection.send(client.Request("GET", path, **kwargs))
        self.times.setdefault(row, []).append(elapsed)
        return answer


class Thumbor:
    """thumbor on 127.0.0.1 with 2 processes, until the ``with`` block ends."""

    def __init__(self, venv: Path, conf: Path, log: Path) -> None:
        self.venv, self.conf, self.log_path, self.port = venv, conf, log, free_port()

    def __enter__(self) -> "Thumbor":
        self.log = self.log_path.open("wb")
        command = [str(self.venv / "bin" / "thumbor"), "-c", str(self.conf), "-i", HOST]
        command += ["-p", str(self.port), "--processes", "2", "-l", "error"]
        # A group of its own: thumbor forks its processes, which its end does not end.
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"thumbor exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthcheck", timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("thumbor did not answer in 60 s")

    def __exit__(self, *exc) -> None:
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # the forks, if any outlived it
            os.killpg(group, signal.SIGKILL)
        self.log.close()


def install_thumbor(folder: Path) -> Path:
    venv = folder / "thumbor-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", f"thumbor=={THUMBOR_VERSION}"],
        check=True,
    )
    return venv


def upload(peer: Peer, name: str, data: bytes, content_type: str) -> str:
    request = client.multipart_request(
        f"{API}/upload", filename=name, content_type=content_type, data=data
    )
    request.expect = 201
    _, answer = peer.connection.send(request)
    return answer["id"]


def run(tmp: Path) -> tuple[list[str], dict[str, Peer]]:
    with step(f"thumbor {THUMBOR_VERSION} into a virtual environment"):
        venv = install_thumbor(tmp)
    photos = [p for p in load_photos() if not p.generated] or load_photos()[:2]
    folder = tmp / "photos"
    folder.mkdir()
    for photo in photos:
        (folder / photo.name).write_bytes(photo.data)
    plain = tmp / "thumbor.conf"
    plain.write_text(THUMBOR_CONF.format(photos=str(folder)))
    stored = tmp / "thumbor-result-storage.conf"
    stored.write_text(plain.read_text() + RESULT_STORAGE_CONF.format(root=str(tmp / "results")))
    env = service_env(tmp / "service")
    (tmp / "service").mkdir()
    migrate(env)
    with (
        Service(env, tmp / "gunicorn.log") as service,
        Thumbor(venv, stored, tmp / "thumbor-rs.log") as with_results,
        Thumbor(venv, plain, tmp / "thumbor.log") as without,
    ):
        ours = Peer("service", service.host, service.port)
        thumbor = Peer("thumbor, result storage", HOST, with_results.port)
        thumbor_plain = Peer("thumbor, no result storage", HOST, without.port)
        ids = [upload(ours, p.name, p.data, p.content_type) for p in photos]
        with step(f"{ROUNDS} rounds of {len(photos)} photos x {len(SPECS)} specs"):
            for round_ in range(ROUNDS + 1):  # the first warms up, and is not counted
                for photo, image_id in zip(photos, ids, strict=True):
                    for spec, path in SPECS:
                        size = SIZES[spec] - round_
                        ask(ours, thumbor, thumbor_plain, photo, image_id, spec, path, size)
        peers = {"ours": ours, "thumbor": thumbor, "plain": thumbor_plain}
        for peer in peers.values():  # the warm-up round's requests are left out
            for times in peer.times.values():
                del times[: len(times) // (ROUNDS + 1)]
    return report(peers, photos), peers


def ask(ours, thumbor, thumbor_plain, photo, image_id, spec, path, size) -> None:
    name = spec.format(s=size)
    key = spec.format(s=SIZES[spec])
    mine = f"{API}/{image_id}/renditions/{name}"
    theirs = f"/{path.format(s=size)}/{photo.name}"
    # made; served once more (the service remembers where a stored rendition is on its first
    # serve); then stored serving as every later request meets it.
    for state in ("made", "warming"):
        row = (key, state)
        data = ours.get(mine, row)
        thumbor.get(theirs, row)
        thumbor_plain.get(theirs, row)
    # The service's /file of the same bytes as a stored image: the same size served by the
    # download path, beside the stored rendition (its first ask reads the row).
    file = None
    if not name.endswith(".webp"):
        content_type = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
        copy = upload(ours, f"{name}-{photo.name}", data, content_type)
        file = f"{API}/{copy}/file"
        ours.get(file, (key, "/file, first"))
    # Stored serving: the service and thumbor's result storage in strict turns, so that each
    # request comes right after the other server's (a process that answered last meets warm
    # caches; one that comes after another, or after a generation, cold ones), and no
    # generation between them; that thumbor's own "stored" asks (it makes the image again
    # each time) come after. The /file asks take turns with thumbor's result storage too,
    # whose answers beside them are a row of their own, the /file ratio's pair.
    for _ in range(STORED_ASKS):
        ours.get(mine, (key, "stored"))
        thumbor.get(theirs, (key, "stored"))
        if file:
            ours.get(file, (key, "/file, same bytes"))
            thumbor.get(theirs, (key, "stored, beside /file"))
    for _ in range(STORED_ASKS):
        thumbor_plain.get(theirs, (key, "stored"))


def _ratio(mine: list[float], theirs: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(mine, theirs, strict=True))


def report(peers: dict[str, Peer], photos) -> list[str]:
    ours, thumbor, plain = peers["ours"], peers["thumbor"], peers["plain"]
    lines = [
        f"thumbor {THUMBOR_VERSION}, 2 processes, with and without its file result storage; "
        f"the service, 2 workers; {ROUNDS} rounds; photos: "
        + ", ".join(f"{p.name} ({p.width}x{p.height})" for p in photos),
        "",
        "| rendition | request | service ms | thumbor RS ms | thumbor ms | x thumbor RS "
        "| x thumbor |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (spec, state), mine in ours.times.items():
        if state in ("/file, same bytes", "/file, first", "warming"):
            continue
        rs, no_rs = thumbor.times[(spec, state)], plain.times[(spec, state)]
        lines.append(
            f"| {spec} | {state} | {statistics.median(mine) * 1000:.1f} "
            f"| {statistics.median(rs) * 1000:.1f} | {statistics.median(no_rs) * 1000:.1f} "
            f"| {_ratio(mine, rs):.2f} | {_ratio(mine, no_rs):.2f} |"
        )
    lines += [
        "",
        "The service's /file of an image whose file is the stored rendition (same bytes):",
        "",
        "| rendition | /file ms | stored rendition ms | stored x /file | /file x thumbor RS |",
        "|---|---:|---:|---:|---:|",
    ]
    for (spec, state), files in ours.times.items():
        if state != "/file, same bytes":
            continue
        stored, rs = ours.times[(spec, "stored")], thumbor.times[(spec, "stored, beside /file")]
        lines.append(
            f"| {spec} | {statistics.median(files) * 1000:.1f} "
            f"| {statistics.median(stored) * 1000:.1f} | {_ratio(stored, files):.2f} "
            f"| {_ratio(files, rs):.2f} |"
        )
    return lines


def main() -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="imageservice-bench-peers-") as tmp:
        lines, _ = run(Path(tmp))
    print("\n".join([*lines, "", f"Ran in {time.perf_counter() - started:.0f} s."]))


if __name__ == "__main__":
    main()
