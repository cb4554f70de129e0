"""make bench-similar: the similar-image search at a million images, over HTTP.

For SQLite and for PostgreSQL (127.0.0.1:5432, user postgres, a database of its own that
is dropped afterwards): fill the images table with 1,000,000 rows with synthetic phashes
(no files), start the service under gunicorn exactly as ``make run`` does, and time
``GET /api/v1/images/{id}/similar`` at max_distance 4, 10 and 16: median and p95, results
found, each worker's memory. Beside it, in-process, what the alternatives cost: a numpy
scan of the values, and one SQL scan computing every distance in the database.

    python bench/similar.py [--rows N] [--requests N] [--backends sqlite,postgres]

Every request opens a new connection, so both workers answer (and pay for their index).
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PG_DATABASE = "imageservice_bench"
DISTANCES = (4, 10, 16)
CLUSTER_SHARE = 0.2  # rows that are near-duplicates of another (re-imaged plates)
CLUSTER_SIZE = 10
BATCH = 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="per distance")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, rows=args.rows, requests=args.requests)
        return
    reports = []
    for backend in args.backends.split(","):
        print(f"== {backend}: {args.rows:,} rows", file=sys.stderr, flush=True)
        with database(backend) as (url, data):
            options = ["--rows", str(args.rows), "--requests", str(args.requests)]
            done = subprocess.run(
                [sys.executable, __file__, "--child", backend, *options],
                env={**os.environ, **service_env(url, data)},
                cwd=REPO,
                stdout=subprocess.PIPE,
                check=True,
            )
        reports.append(json.loads(done.stdout))
    print_table(reports)


# --- The driver: one database per backend, made and removed here ----------------------


@contextmanager
def database(backend: str, name: str = PG_DATABASE):
    """A database URL and data folder, both removed afterwards (``name`` on PostgreSQL)."""
    data = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        if backend == "sqlite":
            yield f"sqlite:///{data / 'db.sqlite3'}", data
        elif backend == "postgres":
            psql(f"DROP DATABASE IF EXISTS {name}")
            psql(f"CREATE DATABASE {name}")
            try:
                yield f"{PG_SERVER}/{name}", data
            finally:
                psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            raise SystemExit(f"unknown backend {backend!r}")
    finally:
        shutil.rmtree(data, ignore_errors=True)


def psql(statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


def service_env(url: str, data: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-only-insecure-key",
        "MEDIA_ROOT": str(data / "media"),
        "STATIC_ROOT": str(data / "static"),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }


# --- The child: fill, measure in-process, serve, measure over HTTP -------------------


def child(backend: str, *, rows: int, requests: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imageservice.settings")
    sys.path.insert(0, str(REPO))
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--no-input", verbosity=0)
    started = time.perf_counter()
    hashes, queries = fill(backend, rows)
    report = {"backend": backend, "rows": rows, "fill_s": time.perf_counter() - started}
    report |= in_process(backend, hashes, queries)
    report |= over_http(queries, requests)
    report["load"] = os.getloadavg()[1]  # what else this machine was doing meanwhile
    json.dump(report, sys.stdout)


def synthetic_hashes(rows: int, seed: int = 7) -> tuple[list[int], list[int]]:
    """Unsigned 64-bit phashes: most at random; a share in groups of near-duplicates (each
    member up to 12 bits from its group's centre), spread through the table; and the
    positions of those group members."""
    import numpy as np

    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64, size=rows, dtype=np.uint64)
    groups = int(rows * CLUSTER_SHARE) // CLUSTER_SIZE
    members = rng.permutation(rows)[: groups * CLUSTER_SIZE]
    centres = np.repeat(rng.integers(0, 2**64, size=groups, dtype=np.uint64), CLUSTER_SIZE)
    flips = rng.integers(0, 64, size=(len(members), 12), dtype=np.uint64)
    used = np.arange(12) < rng.integers(0, 13, size=len(members))[:, None]
    masks = np.bitwise_or.reduce(np.where(used, np.uint64(1) << flips, np.uint64(0)), axis=1)
    hashes[members] = centres ^ masks
    return hashes.tolist(), sorted(members.tolist())


def fill(backend: str, rows: int) -> tuple[list[int], list[str]]:
    """Insert the rows (executemany on SQLite, COPY on PostgreSQL) with the secondary
    indexes dropped, then build them again; return the hashes and the ids to query: 100
    members of near-duplicate groups and 100 rows at random."""
    from django.db import connection

    from images.imaging.hashing import int_to_phash, phash_to_int
    from images.models import Image

    fields = Image._meta.concrete_fields
    table = connection.ops.quote_name(Image._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    hashes, grouped = synthetic_hashes(rows)
    sqlite = backend == "sqlite"
    names, template, start = image_row_template(backend)
    varying = ["id", "file", "original", "sha256", "original_sha256", "phash", "phash_value"]
    at = [names.index(name) for name in [*varying, "created_at", "updated_at"]]
    ids: list[str] = []
    with connection.cursor() as cursor:
        indexes = drop_indexes(cursor, backend)
        if sqlite:  # a throwaway database: no fsync, and the primary key's index in memory
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-1000000")
        for offset in range(0, rows, BATCH):
            batch = []
            for i in range(offset, min(rows, offset + BATCH)):
                # Ids in insertion order (random after a counter, like UUIDv7): the primary
                # key's index is appended to, not rewritten at random, so filling is quick.
                pk = f"{i:012x}{os.urandom(10).hex()}"
                ids.append(pk)
                phash = int_to_phash(hashes[i])
                sha = os.urandom(32).hex()
                when = start + timedelta(seconds=i * 30)
                stamp = str(when) if sqlite else when
                name = f"images/{pk[-2:]}/{pk}.jpg"
                row = template.copy()
                values = (pk, name, name, sha, sha, phash, phash_to_int(phash), stamp, stamp)
                for position, value in zip(at, values, strict=True):
                    row[position] = value
                batch.append(row)
            if sqlite:
                marks = ", ".join(["?"] * len(fields))
                cursor.connection.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch
                )
            else:
                copy_sql = f"COPY {table} ({columns}) FROM STDIN"
                with cursor.connection.cursor().copy(copy_sql) as copy:
                    for row in batch:
                        copy.write_row(row)
            print(f"   filled {offset + len(batch):,}", file=sys.stderr, end="\r", flush=True)
        print("\n   indexing", file=sys.stderr, flush=True)
        for statement in indexes:
            cursor.execute(statement)
        cursor.execute("ANALYZE")
    rng = random.Random(11)
    picks = rng.sample(grouped, min(100, len(grouped))) + rng.sample(range(rows), 100)
    return hashes, [str(uuid.UUID(ids[i])) for i in picks]


def image_row_template(backend: str) -> tuple[list[str], list, datetime]:
    """The images table's columns, a row of what every synthetic image shares (None in
    the columns that vary), and the creation time of the first image, a year ago."""
    from images.models import Image

    start = datetime.now(UTC).replace(microsecond=1) - timedelta(days=365)
    if backend == "sqlite":  # stored as naive UTC text, as Django's SQLite backend stores it
        start = start.replace(tzinfo=None)
    constant = {
        "name": "plate",
        "description": "",
        "source_url": None,
        "format": "JPEG",
        "width": 2850,
        "height": 2850,
        "file_size": 341404,
        "original_format": "JPEG",
        "original_file_size": 341404,
        "revision": 0,  # loaded whole by each worker's first search
        "tags": "[]",
        "metadata": "{}",
    }
    names = [field.attname for field in Image._meta.concrete_fields]
    return names, [constant.get(name) for name in names], start


def drop_indexes(cursor, backend: str, table: str = "images_image") -> list[str]:
    """Drop a table's secondary indexes; return the statements that make them again."""
    if backend == "sqlite":
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = %s AND sql IS NOT NULL",
            [table],
        )
    else:
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s "
            "AND i.indexname NOT IN (SELECT conname FROM pg_constraint)",
            [table],
        )
    found = cursor.fetchall()
    for name, _ in found:
        cursor.execute(f'DROP INDEX "{name}"')
    return [statement for _, statement in found]


def in_process(backend: str, hashes: list[int], queries: list[str]) -> dict:
    """The alternatives, timed in this process on the same data."""
    import numpy as np
    from django.db import connection

    from images import similarity

    values = np.array(hashes, dtype=np.uint64)
    query = int(values[12345])
    numpy_ms = timed(lambda: np.flatnonzero(np.bitwise_count(values ^ np.uint64(query)) <= 10))
    index = similarity.PhashIndex()
    load_s = timed(index.refresh, repeat=1) / 1000
    scan_ms = timed(lambda: index.candidates(query, 10))
    signed = query - (1 << 64) if query >= 1 << 63 else query
    with connection.cursor() as cursor:
        if backend == "sqlite":
            connection.connection.create_function(
                "hamming", 2, lambda a, b: ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()
            )
            distance = "hamming(phash_value, %s)"
        else:  # PostgreSQL 14+
            distance = "bit_count((phash_value # %s)::bit(64))"
        sql = f"SELECT count(*) FROM images_image WHERE {distance} <= 10"
        sql_ms = timed(lambda: cursor.execute(sql, [signed]) or cursor.fetchone(), repeat=3)
    return {
        "numpy_plain_ms": numpy_ms,
        "index_load_s": load_s,
        "index_scan_ms": scan_ms,
        "index_mb": index.refresh()[0].nbytes / 2**20,
        "sql_scan_ms": sql_ms,
    }


def timed(work, repeat: int = 20) -> float:
    """Median milliseconds of ``work()``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@contextmanager
def serving():
    """The service under gunicorn as `make run` starts it, on a free port: (port, pid)."""
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "-c", "gunicorn.conf.py", "imageservice.wsgi"]
    server = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)
    try:
        wait_until_up(port)
        yield port, server.pid
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def over_http(queries: list[str], requests: int) -> dict:
    with serving() as (port, master):
        workers = worker_pids(master)
        rss_before = {pid: rss_mb(pid) for pid in workers}  # index loading has begun
        up = time.monotonic()
        cold = [get(port, f"/api/v1/images/{queries[i]}/similar")[0] for i in range(8)]
        report = {"workers": len(workers), "cold_ms": max(cold)}
        # Each worker loads its index in a background thread when it starts; measure once
        # both have (16 searches in a row under 250 ms, over new connections).
        quick = 0
        while quick < 16 and time.monotonic() - up < 120:
            quick = quick + 1 if get(port, f"/api/v1/images/{queries[0]}/similar")[0] < 250 else 0
        report["ready_s"] = time.monotonic() - up
        plain = [get(port, f"/api/v1/images/{queries[i % len(queries)]}")[0] for i in range(100)]
        report["get_ms"] = {"median_ms": statistics.median(plain), "p95_ms": percentile(plain, 95)}
        for distance in DISTANCES:
            times, counts = [], []
            for i in range(requests):
                query = queries[i % len(queries)]
                path = f"/api/v1/images/{query}/similar?max_distance={distance}"
                elapsed, body = get(port, path)
                times.append(elapsed)
                counts.append(body["count"])
            report[f"d{distance}"] = {
                "median_ms": statistics.median(times),
                "p95_ms": percentile(times, 95),
                "mean_found": statistics.mean(counts),
            }
        report["rss_before_mb"] = sorted(rss_before.values())
        report["rss_after_mb"] = sorted(rss_mb(pid) for pid in workers)
        report["after_write"] = after_writes(port, queries)
        return report


def after_writes(port: int, queries: list[str], rounds: int = 20) -> dict:
    """A search right after another process stored an image: the feed's catch-up."""
    from django.db import transaction

    from images import similarity
    from images.models import Image

    template = Image.objects.get(pk=queries[0])
    times = []
    for i in range(rounds):
        with transaction.atomic():
            template.pk = uuid.uuid4()
            template.revision = similarity.next_revision()
            template.name = f"written-{i}"
            template.save(force_insert=True)
        elapsed, body = get(port, f"/api/v1/images/{queries[0]}/similar?max_distance=0&limit=1")
        assert body["results"][0]["image"]["id"] == str(template.pk), body  # the newest
        times.append(elapsed)
    return {"median_ms": statistics.median(times), "p95_ms": percentile(times, 95)}


def get(port: int, path: str) -> tuple[float, dict]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body[:300]!r}")
    return elapsed, json.loads(body)


def wait_until_up(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            get(port, "/api/v1/images/?page_size=1")
            return
        except (OSError, RuntimeError):
            time.sleep(0.2)
    raise RuntimeError("the service did not start")


def worker_pids(master: int) -> list[int]:
    deadline = time.monotonic() + 30
    expected = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if len(children) >= expected:
            return [int(pid) for pid in children]
        time.sleep(0.2)
    raise RuntimeError("the workers did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def ready(report: dict) -> str:
    return f"{report['ready_s']:.1f}"


def found(report: dict, distance: int) -> str:
    return f"{report[f'd{distance}']['mean_found']:.1f}"


def print_table(reports: list[dict]) -> None:
    print()
    conn_max_age = os.environ.get("CONN_MAX_AGE", "0")
    print(
        "similar over HTTP (gunicorn as `make run`, a new HTTP connection per request, "
        f"CONN_MAX_AGE={conn_max_age})"
    )
    print()
    header = "| | " + " | ".join(r["backend"] for r in reports) + " |"
    print(header)
    print("|---" * (len(reports) + 1) + "|")

    def row(label: str, cell) -> None:
        print(f"| {label} | " + " | ".join(cell(r) for r in reports) + " |")

    row("rows", lambda r: f"{r['rows']:,}")
    row("fill (s)", lambda r: f"{r['fill_s']:.0f}")
    for d in DISTANCES:
        row(
            f"max_distance {d}: median / p95 (ms)",
            lambda r, d=d: f"{r[f'd{d}']['median_ms']:.1f} / {r[f'd{d}']['p95_ms']:.1f}",
        )
        row(
            f"max_distance {d}: images found, mean",
            lambda r, d=d: f"{r[f'd{d}']['mean_found']:.1f}",
        )
    row(
        "for comparison, GET /images/{id}: median / p95 (ms)",
        lambda r: f"{r['get_ms']['median_ms']:.1f} / {r['get_ms']['p95_ms']:.1f}",
    )
    row(
        "right after another process wrote: median / p95 (ms)",
        lambda r: f"{r['after_write']['median_ms']:.1f} / {r['after_write']['p95_ms']:.1f}",
    )
    row("slowest of the first 8 searches (ms)", lambda r: f"{r['cold_ms']:.0f}")
    row("all workers' indexes loaded, after the service answered (s)", lambda r: ready(r))
    row(
        "worker RSS before / after (MB)",
        lambda r: ", ".join(
            f"{b:.0f} / {a:.0f}" for b, a in zip(r["rss_before_mb"], r["rss_after_mb"], strict=True)
        ),
    )
    row("load average (5 min) at the end, 2 cores", lambda r: f"{r['load']:.1f}")
    print()
    print("in-process, same data, max_distance 10")
    print()
    print(header)
    print("|---" * (len(reports) + 1) + "|")
    row("index load from the database (s)", lambda r: f"{r['index_load_s']:.2f}")
    row("index memory (MB)", lambda r: f"{r['index_mb']:.1f}")
    row("index scan, blocked XOR + popcount (ms)", lambda r: f"{r['index_scan_ms']:.2f}")
    row("numpy XOR + popcount, whole array (ms)", lambda r: f"{r['numpy_plain_ms']:.2f}")
    row("one SQL scan computing every distance (ms)", lambda r: f"{r['sql_scan_ms']:.0f}")


if __name__ == "__main__":
    main()
