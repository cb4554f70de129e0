"""`make bench`: the service against its cost floors, in one run (docs/benchmarks.md).

Starts the service as `make run` does, in a temporary data folder, drives it over HTTP with
photos from 1 and from 4 concurrent clients, measures the floors in this process on the
same photos (interleaved with the service's requests, so that other load on the machine
hits both alike), and prints the table. Takes about 70 s on 2 cores.

BENCH_ROUNDS (default 3) scales how many requests each operation gets; BENCH_ROWS (default
10000) is how many older images the database holds before the run, so that lookups and
lists run against a table of some size.
"""

import contextlib
import dataclasses
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

from bench import client, floors, footprint, formats, renditions
from bench.photos import BIG, Photo, load_photos
from bench.service import (
    FILE_FLOOR_PATH,
    FLOOR_PATH,
    SERVER,
    Origin,
    Service,
    cpu_seconds,
    memory,
    migrate,
    reset_peak,
    service_env,
)

API = "/api/v1/images"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ROWS = int(os.environ.get("BENCH_ROWS", "10000"))
MB = 1024 * 1024
# Each photo is sent this many times in a round from 4 clients: with twice, the block's end
# (fewer than 4 requests left in flight, a core idle) was a tenth of its time.
COPIES_AT_4 = 4


@dataclasses.dataclass
class Row:
    name: str
    floor_name: str
    floor: client.Timing
    one: client.Timing
    four: client.Timing
    photos: list[int] = dataclasses.field(default_factory=list)  # of each pair, if per photo


class Bench:
    def __init__(self, service: Service, origin: Origin, photos: list[Photo], data: Path):
        self.service, self.origin, self.photos, self.data = service, origin, photos, data
        self.sources = []
        (data / "photos").mkdir()
        (data / "floor").mkdir()
        for photo in photos:
            source = data / "photos" / photo.name
            source.write_bytes(photo.data)
            self.sources.append(source)
        self.uploads = [
            client.multipart_request(
                f"{API}/upload",
                filename=photo.name,
                content_type=photo.content_type,
                data=photo.data,
                expect=201,
            )
            for photo in photos
        ]
        self.big = next(i for i, p in enumerate(photos) if (p.width, p.height) == BIG)
        self.rss: dict[str, int] = {}
        self.machine_scaling = 0.0
        self.peaks: dict[int, int] = {}
        self.connection: client.Client | None = None
        self.generated: list[renditions.Generation] = []
        self.thumbnails = 0
        self.memory: dict[str, dict[str, footprint.Usage]] = {}

    def http(self, requests, clients: int) -> client.Timing:
        before = cpu_seconds(self.service.workers())
        timing = client.run(self.service.host, self.service.port, requests, clients)
        after = cpu_seconds(self.service.workers())
        # A worker recycled meanwhile (max_requests) is left out of the count.
        timing.cpu = sum(after[pid] - before[pid] for pid in after if pid in before)
        self.sample_peaks()
        return timing

    # --- Requests --------------------------------------------------------------------
    def upload(self, index: int, created: list) -> client.Request:
        return dataclasses.replace(
            self.uploads[index], then=lambda answer: created.append((index, answer["id"]))
        )

    def from_url(self, index: int, created: list) -> client.Request:
        return client.json_request(
            "POST",
            f"{API}/",
            {"url": self.origin.url(index)},
            expect=201,
            then=lambda answer: created.append((index, answer["id"])),
        )

    def crop_box(self, index: int) -> tuple[int, int, int, int]:
        """The centre half of the photo, in each direction."""
        photo = self.photos[index]
        width, height = photo.width // 2, photo.height // 2
        left, top = (photo.width - width) // 2, (photo.height - height) // 2
        return left, top, left + width, top + height

    def crop(self, index: int, image_id: str) -> client.Request:
        left, top, right, bottom = self.crop_box(index)
        body = {"width": right - left, "height": bottom - top}
        return client.json_request("PUT", f"{API}/{image_id}", body)

    # --- Phases ----------------------------------------------------------------------
    def warm_up(self) -> list:
        created: list = []
        self.http([client.Request("GET", f"/{FLOOR_PATH}")] * 20, 4)
        self.http([self.upload(i, created) for i in range(len(self.photos))], 4)
        return created

    def big_ingest_rss(self) -> list:
        """Peak RSS of the workers while one 6000x4000 photo is ingested at a time."""
        created: list = []
        workers = self.service.workers()
        self.rss["baseline"] = max(memory(pid).get("VmRSS", 0) for pid in workers)
        if not all(reset_peak(pid) for pid in workers):
            raise RuntimeError("cannot reset the workers' peak RSS (/proc/PID/clear_refs)")
        self.http([self.upload(self.big, created) for _ in range(2)], 1)
        self.rss["big"] = max(memory(pid).get("VmHWM", 0) for pid in workers)
        return created

    def largest_first(self, indexes: list[int]) -> list[int]:
        """A block for 4 clients starts with the largest photos, so that its end is not
        one large photo alone while the other clients have finished (rps would say less
        about throughput than about the block's tail)."""
        return sorted(indexes, key=lambda index: -self.photos[index].pixels)

    def ingest(self, make, floor: client.Timing, created_one: list, created_four: list):
        """Rounds of: each photo once from 1 client (each after its floor), then each photo
        COPIES_AT_4 times from 4 clients, so that both see the same load from the rest of the
        machine."""
        one, four = client.Timing(), client.Timing()
        photos = list(range(len(self.photos)))
        for _ in range(ROUNDS):
            for index in photos:
                floor.measured(*floors.upload_floor(self.sources[index], self.data / "floor"))
                one.add(self.http([make(index, created_one)], 1))
            block = self.largest_first(photos * COPIES_AT_4)
            four.add(self.http([make(index, created_four) for index in block], 4))
        return one, four

    def crops(self, floor: client.Timing, images_one: list, images_four: list):
        """As ingest: rounds of crops from 1 client (each after its floor), then from 4."""
        one, four = client.Timing(), client.Timing()
        per_round = len(images_one) // ROUNDS  # uploaded in rounds of each photo once
        by_photo = sorted(images_four)  # uploaded from 4 clients, in no set order
        for round_ in range(ROUNDS):
            for index, image_id in images_one[round_ * per_round : (round_ + 1) * per_round]:
                floor.measured(*floors.crop_floor(self.sources[index], self.crop_box(index)))
                one.add(self.http([self.crop(index, image_id)], 1))
            block = sorted(
                by_photo[round_::ROUNDS], key=lambda image: -self.photos[image[0]].pixels
            )
            four.add(self.http([self.crop(index, image_id) for index, image_id in block], 4))
        return one, four

    def lookups(self, ids: list[str], downloads: list[tuple[str, str]]) -> dict:
        """From 1 client, each request right after its floor on one keep-alive connection
        (a download after the floor's download of the same file), so that both meet the
        machine in the same state; then blocks of each from 4 clients.

        ``downloads``: (image id, its stored file) of whole photos."""

        def get(path: str) -> client.Request:
            return client.Request("GET", path)

        def cycle(items: list, count: int) -> list:
            return [items[i % len(items)] for i in range(count)]

        floor = get(f"/{FLOOR_PATH}")

        def file_floor(name: str) -> client.Request:
            return get(f"/{FILE_FLOOR_PATH}?name={urllib.parse.quote(name)}")

        pairs = {
            "get": [(floor, get(f"{API}/{image_id}")) for image_id in cycle(ids, 60)],
            "diff": [
                (floor, get(f"{API}/{a}/diff/{b}"))
                for a, b in zip(cycle(ids, 60), cycle(ids[1:], 60), strict=True)
            ],
            "list": [(floor, get(f"{API}/?page_size=100"))] * 10,
            "download": [
                (file_floor(name), get(f"{API}/{image_id}/file"))
                for image_id, name in cycle(downloads, 30)
            ],
        }
        one = {name: (client.Timing(), client.Timing()) for name in pairs}  # floor, operation
        for _ in range(ROUNDS):
            for name, block in pairs.items():
                floor_timing, timing = one[name]
                for floor_request, request in block:
                    floor_timing.add(self.http_one(floor_request))
                    timing.add(self.http_one(request))
        blocks = {
            "request floor": [floor] * 60,
            **{name: [request for _, request in block] for name, block in pairs.items()},
            "download floor": [floor_request for floor_request, _ in pairs["download"]],
        }
        four = {name: client.Timing() for name in blocks}
        for _ in range(ROUNDS):
            for name, requests in blocks.items():
                four[name].add(self.http(requests, 4))
        return one, four

    def http_one(self, request: client.Request) -> client.Timing:
        """One request on the bench's keep-alive connection, with the workers' CPU for it."""
        if self.connection is None:
            self.connection = client.Client(self.service.host, self.service.port)
        workers = self.service.workers()
        before = cpu_seconds(workers)
        elapsed, _ = self.connection.send(request)
        after = cpu_seconds(workers)
        cpu = sum(after[pid] - before[pid] for pid in after if pid in before)
        return client.Timing([elapsed], elapsed, cpu)

    def sample_peaks(self) -> None:
        for pid in self.service.workers():
            peak = memory(pid).get("VmHWM", 0)
            self.peaks[pid] = max(self.peaks.get(pid, 0), peak)

    def run(self) -> list[Row]:
        from images.models import Image

        self.memory["idle, started"] = footprint.idle(self.service)
        with step("warm-up"):
            self.warm_up()
        self.memory["idle, warmed"] = footprint.idle(self.service)
        with step(f"peak RSS ingesting {BIG[0]}x{BIG[1]}"):
            self.big_ingest_rss()
        upload_floor = client.Timing()
        uploaded_one: list = []
        uploaded_four: list = []
        with step("upload"), footprint.Peak(self.service) as peak:
            upload_one, upload_four = self.ingest(
                self.upload, upload_floor, uploaded_one, uploaded_four
            )
        self.memory["peak, uploads"] = peak.peaks
        with step("upload of a 16-bit TIFF and a HEIC"):
            format_rows = formats.upload_rows(self, ROUNDS, Row)
        with step("upload floor in 1 and 2 processes"):
            rates = [
                floors.upload_floor_rate(self.sources, self.data / "floor", processes)
                for processes in (1, 2)
            ]
            self.machine_scaling = rates[1] / rates[0]
        url_floor = client.Timing()
        fetched_one: list = []
        with step("create from URL"):
            url_one, url_four = self.ingest(self.from_url, url_floor, fetched_one, [])
        # Downloads of whole photos (before any crop), through the API and the floor view.
        download_ids = [image_id for _, image_id in fetched_one]
        names = dict(Image.objects.filter(pk__in=download_ids).values_list("pk", "file"))
        downloads = [(image_id, names[uuid.UUID(image_id)]) for image_id in download_ids]
        with step("get, diff, list, download"):
            ids = [image_id for _, image_id in uploaded_one + fetched_one]
            one, four = self.lookups(ids, downloads)
        # Renditions of whole photos (the URL-created ones are never cropped).
        with step("renditions: generation, with floor and pyvips"):
            self.generated = renditions.generation(self, fetched_one)
        with step("renditions: stored"):
            (stored_floor, stored_one, stored_four), stored_floor_four = renditions.stored(
                self, fetched_one, ROUNDS
            )
        with step("admin list page with stored thumbnails"):
            admin_plain, admin_thumbnails, self.thumbnails = renditions.admin_list(self, ROUNDS)
        crop_floor = client.Timing()
        with step("crop"):
            crop_one, crop_four = self.crops(crop_floor, uploaded_one, uploaded_four)
        ingested = list(range(len(self.photos))) * ROUNDS  # the photo of each pair, in order
        cropped = [index for index, _ in uploaded_one]
        request_floor = client.Timing()
        for name in ("get", "diff", "list"):
            request_floor.add(one[name][0])
        download_floor = one["download"][0]
        rows = [
            Row("upload", "upload", upload_floor, upload_one, upload_four, ingested),
            *format_rows,
            Row("create from URL", "upload", url_floor, url_one, url_four, ingested),
            Row("crop (centre half)", "crop", crop_floor, crop_one, crop_four, cropped),
            Row("get", "request", *one["get"], four["get"]),
            Row("diff", "request", *one["diff"], four["diff"]),
            Row("list (100 per page)", "request", *one["list"], four["list"]),
            Row("file download", "download", *one["download"], four["download"]),
            *(
                Row(f"rendition {g.spec}, made", "rendition", g.floor, g.one, client.Timing())
                for g in self.generated
            ),
            Row("rendition, stored", "download", stored_floor, stored_one, stored_four),
            Row(
                "admin list + stored thumbnails",
                "admin list page",
                admin_plain,
                admin_thumbnails,
                client.Timing(),
            ),
            Row("request floor", "request", request_floor, request_floor, four["request floor"]),
            Row(
                "download floor",
                "download",
                download_floor,
                download_floor,
                four["download floor"],
            ),
            Row(
                "download floor (renditions)",
                "download",
                stored_floor,
                stored_floor,
                stored_floor_four,
            ),
        ]
        return rows


@contextlib.contextmanager
def step(name: str):
    """Say on stderr what the bench is doing, and how long it took."""
    print(f"{name} ...", end="", file=sys.stderr, flush=True)
    start = time.perf_counter()
    yield
    print(f" {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)


def seed(rows: int) -> None:
    """Older images in the database: rows only (lookups and lists never open a file)."""
    from images.models import Image

    template = {
        "description": "",
        "file": "images/seed/seed.jpg",
        "format": "JPEG",
        "width": 2850,
        "height": 2850,
        "file_size": 341404,
        "original": "images/seed/seed.jpg",
        "original_format": "JPEG",
        "original_file_size": 341404,
    }
    batch = []
    for n in range(rows):
        digest = f"{n:064x}"
        phash = f"{n * 0x9E3779B97F4A7C15 % (1 << 64):016x}"
        value = int(phash, 16)
        batch.append(
            Image(
                name=f"seed-{n}",
                sha256=digest,
                original_sha256=digest,
                phash=phash,
                phash_value=value - (1 << 64) if value >= 1 << 63 else value,
                **template,
            )
        )
    Image.objects.bulk_create(batch, batch_size=1000)


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def p95_ms(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] * 1000
    return statistics.quantiles(values, n=20, method="inclusive")[18] * 1000


def _by_photo(row: Row) -> dict[int, tuple[float, float, float]]:
    """Per photo: the floor's median ms, the operation's median ms, the pairs' median ratio."""
    pairs: dict[int, list[tuple[float, float]]] = {}
    for index, floor, mine in zip(row.photos, row.floor.latencies, row.one.latencies, strict=True):
        pairs.setdefault(index, []).append((floor, mine))
    return {
        index: (
            median_ms([floor for floor, _ in values]),
            median_ms([mine for _, mine in values]),
            statistics.median(mine / floor for floor, mine in values),
        )
        for index, values in pairs.items()
    }


def report(rows: list[Row], bench: Bench, photos: list[Photo], elapsed: float) -> str:
    workers = len(bench.service.workers())
    threads = os.environ.get("GUNICORN_THREADS", "4")
    server = f"BENCH_SERVER={SERVER}" if SERVER else "gunicorn.conf.py"
    lines = [
        f"{os.cpu_count()} cores; {server}, {workers} workers x {threads} threads; "
        f"SQLite with {ROWS} older rows; {ROUNDS} rounds.",
        "Photos: "
        + ", ".join(
            f"{p.name} ({p.width}x{p.height} {p.format}, {len(p.data) / MB:.1f} MiB)"
            for p in photos
        ),
        "",
        "1 client, against the floors:",
        "",
        "| operation | floor | floor median ms | median ms | p95 ms | req/s | x floor "
        "| CPU ms | CPU x floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = {}
    for row in rows:
        one, floor = row.one, row.floor
        ratios[row.name] = statistics.median(
            mine / its_floor for mine, its_floor in zip(one.latencies, floor.latencies, strict=True)
        )
        lines.append(
            f"| {row.name} | {row.floor_name} | {median_ms(floor.latencies):.1f} "
            f"| {median_ms(one.latencies):.1f} | {p95_ms(one.latencies):.1f} | {one.rps:.1f} "
            f"| {ratios[row.name]:.2f} | {one.cpu_each * 1000:.1f} "
            f"| {one.cpu_each / floor.cpu_each:.2f} |"
        )
    lines += [
        "",
        "Per photo, 1 client (medians over the rounds; x = median of the pairs' ratios):",
        "",
        "| photo | upload floor ms | upload ms | x | from URL ms | x | crop floor ms "
        "| crop ms | x |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_photo = {row.name: _by_photo(row) for row in rows if row.photos}
    for index, photo in enumerate(photos):
        cells = []
        for name, with_floor in [
            ("upload", True),
            ("create from URL", False),
            ("crop (centre half)", True),
        ]:
            floor_ms, mine_ms, ratio = by_photo[name][index]
            if with_floor:
                cells.append(f"{floor_ms:.1f}")
            cells += [f"{mine_ms:.1f}", f"{ratio:.2f}"]
        lines.append(f"| {photo.name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "4 clients:",
        "",
        "| operation | median ms | p95 ms | req/s | req/s x 1 client | worker cores busy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    scaling = {}
    for row in rows:
        one, four = row.one, row.four
        if not four.latencies:  # made once per image, or a page with its images
            continue
        scaling[row.name] = four.rps / one.rps
        lines.append(
            f"| {row.name} | {median_ms(four.latencies):.1f} | {p95_ms(four.latencies):.1f} "
            f"| {four.rps:.1f} | {scaling[row.name]:.2f} | {four.cores:.2f} |"
        )
    lines += renditions.report(bench.generated, bench.thumbnails)
    lines += footprint.report(bench.memory)
    big = bench.photos[bench.big]
    budget = 4 * big.pixels + 150 * MB
    peak_big = bench.rss.get("big", 0)
    lines += [
        "",
        "Floors: upload = read the file, sha256, imagehash.phash (one full decode), write a "
        "new file; crop = decode, crop, encode as the service does, phash of the result "
        "(a JPEG's decoded again from its encoded bytes); both measured in this process. "
        "request = a trivial DRF view; download = the stored file streamed by a plain "
        "Django view; both served by the same gunicorn. Each request from 1 client comes "
        "right after its floor, on the same photo or file: 'x floor' is the median of "
        "these pairs' ratios (other load on the machine meets both of a pair alike). CPU "
        "ms: the workers' CPU time per request (the scheduler's count; the in-process "
        "floors': this process's), mean.",
        "",
        f"The machine meanwhile: 2 processes running the upload floor side by side got "
        f"{bench.machine_scaling:.2f}x the throughput of 1 (2.00 on 2 idle cores). "
        "'worker cores busy': the workers' CPU time over the wall time.",
        "",
        f"Peak worker RSS: idle {bench.rss['baseline'] / MB:.0f} MiB; ingesting one "
        f"{big.width}x{big.height} photo at a time {peak_big / MB:.0f} MiB "
        f"(budget 4 B/px + 150 MiB = {budget / MB:.0f} MiB); over the whole run "
        f"{max(bench.peaks.values()) / MB:.0f} MiB.",
        "",
        "Targets: "
        + "; ".join(
            f"{name} {value:.2f} {'<=' if value <= limit else '>'} {limit}"
            for name, value, limit in [
                ("upload x floor", ratios["upload"], 1.2),
                ("crop x floor", ratios["crop (centre half)"], 1.3),
                ("get x floor", ratios["get"], 1.6),
                ("diff x floor", ratios["diff"], 2.0),
                *(
                    (f"{g.spec} made x floor", ratios[f"rendition {g.spec}, made"], 1.25)
                    for g in bench.generated
                ),
                ("stored rendition x download floor", ratios["rendition, stored"], 1.2),
                ("admin list x page alone", ratios["admin list + stored thumbnails"], 2.0),
            ]
        )
        + f"; uploads at 4 clients {scaling['upload']:.2f}x 1 client "
        f"({'>=' if scaling['upload'] >= 1.8 else '<'} 1.8); peak RSS "
        f"{peak_big / MB:.0f} MiB ({'<=' if peak_big <= budget else '>'} {budget / MB:.0f}).",
        f"Ran in {elapsed:.0f} s.",
    ]
    return "\n".join(lines)


def main() -> None:
    started = time.perf_counter()
    with step("photos"):
        photos = load_photos()
    with tempfile.TemporaryDirectory(prefix="imageservice-bench-") as tmp:
        data = Path(tmp)
        env = service_env(data)
        with step("migrate, seed"):
            migrate(env)
            os.environ.update(env)
            import django

            django.setup()
            seed(ROWS)
        with Origin(photos) as origin, Service(env, data / "gunicorn.log") as service:
            bench = Bench(service, origin, photos, data)
            try:
                rows = bench.run()
            except client.BenchError as exc:
                print(f"bench failed: {exc}\n{service.log_tail()}", file=sys.stderr)
                raise SystemExit(1) from exc
            text = report(rows, bench, photos, time.perf_counter() - started)
    print(text)
