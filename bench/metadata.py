"""make bench-metadata: finding, ordering and counting by tags and metadata at a million
images, over HTTP.

For SQLite and for PostgreSQL (127.0.0.1:5432, user postgres, a database of its own that
is dropped afterwards): fill the tables with 1,000,000 images (no files), each with 3 tags
of 300 and 8 metadata keys (``experiment`` of 100 values, ``concentration`` a number from 0
to 100, ``timepoint`` 0-99, ``plate`` of 1,000 values, and four more), then start the
service under gunicorn exactly as ``make run`` does and time the first page of
``GET /api/v1/images/`` filtered by a key's equality, a tag and a numeric range (1% of the
rows match each), ordered by ``metadata.timepoint``, and the facets of ``plate``: median and
p95. Beside it, in-process on the same data, what the alternative design costs: the JSON
columns alone (a GIN index on PostgreSQL; on SQLite, which has none, a scan).

    python bench/metadata.py [--rows N] [--requests N] [--backends sqlite,postgres]
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import similar  # noqa: E402  (the bench's shared helpers: databases, HTTP)

PG_DATABASE = "imageservice_bench_metadata"
BATCH = 20_000
TAGS = 300  # 3 per image: each tag on 1% of the images
EXPERIMENTS = 100
PLATES = 1000
TIMEPOINTS = 100
STAINS = ("DAPI", "GFP", "RFP", "Cy5", "brightfield")
WELLS = [f"{row}{column:02d}" for row in "ABCDEFGH" for column in range(1, 13)]
TABLES = ("images_image", "images_imagetag", "images_imagemetadatavalue")
GOAL_PAGE_MS, GOAL_FACET_MS = 50, 250


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100, help="per case")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--no-http", action="store_true", help="in-process measurements only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, rows=args.rows, requests=args.requests, http=not args.no_http)
        return
    reports = []
    for backend in args.backends.split(","):
        print(f"== {backend}: {args.rows:,} images", file=sys.stderr, flush=True)
        with similar.database(backend, PG_DATABASE) as (url, data):
            options = ["--rows", str(args.rows), "--requests", str(args.requests)]
            if args.no_http:
                options.append("--no-http")
            done = subprocess.run(
                [sys.executable, __file__, "--child", backend, *options],
                env={**os.environ, **similar.service_env(url, data)},
                cwd=REPO,
                stdout=subprocess.PIPE,
                check=True,
            )
        reports.append(json.loads(done.stdout))
    print_tables(reports)


# --- The child: fill, measure in-process, serve, measure over HTTP -------------------


def child(backend: str, *, rows: int, requests: int, http: bool) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imageservice.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--no-input", verbosity=0)
    started = time.perf_counter()
    fill(backend, rows)
    report = {"backend": backend, "rows": rows, "fill_s": time.perf_counter() - started}
    report["sizes_mb"] = sizes(backend)
    report["design"] = in_process_design()
    report["json"] = in_process_json(backend)
    if http:
        report["http"] = over_http(requests)
    report["load"] = os.getloadavg()[1]  # what else this machine was doing meanwhile
    json.dump(report, sys.stdout)


def synthetic(i: int, rng: random.Random) -> tuple[list[str], dict]:
    """Image ``i``'s tags and metadata: each value drawn at random, independently."""
    tags = [f"tag-{t:03d}" for t in rng.sample(range(TAGS), 3)]
    metadata = {
        "experiment": f"E{rng.randrange(EXPERIMENTS):03d}",
        "plate": f"P-{rng.randrange(PLATES):04d}",
        "well": rng.choice(WELLS),
        "timepoint": rng.randrange(TIMEPOINTS),
        "concentration": round(rng.uniform(0, 100), 3),
        "stain": rng.choice(STAINS),
        "passed_qc": rng.random() < 0.9,
        "operator": f"op-{rng.randrange(20):02d}",
    }
    return tags, metadata


def fill(backend: str, rows: int) -> None:
    """Insert the images and their index rows (executemany on SQLite, COPY on PostgreSQL)
    with the secondary indexes and foreign keys dropped, then make them again."""
    from django.db import connection, transaction

    from images.labels import index as metadata_index
    from images.models import Image

    fields = Image._meta.concrete_fields
    sqlite = backend == "sqlite"
    names, template, start = similar.image_row_template(backend)
    template[names.index("phash")], template[names.index("phash_value")] = "0" * 16, 0
    varying = ["id", "file", "original", "sha256", "original_sha256", "tags", "metadata"]
    at = [names.index(name) for name in [*varying, "created_at", "updated_at"]]
    tag_columns = ("image_id", "tag", "image_created_at")
    value_columns = ("image_id", "key", "text", "number", "boolean", "image_created_at")
    # (The strings here are all short: no long_text.)
    rng = random.Random(5)
    with connection.cursor() as cursor:
        undo = drop_indexes(cursor, backend)
        if sqlite:  # a throwaway database: no fsync, no foreign key checks while filling
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-1000000")
        for offset in range(0, rows, BATCH):
            images, tags, values = [], [], []
            for i in range(offset, min(rows, offset + BATCH)):
                # Ids in insertion order: the primary keys' indexes are appended to.
                pk = f"{i:012x}{os.urandom(10).hex()}"
                image_tags, metadata = synthetic(i, rng)
                sha = os.urandom(32).hex()
                when = start + timedelta(seconds=i * 30)
                stamp = str(when) if sqlite else when
                name = f"images/{pk[-2:]}/{pk}.jpg"
                row = template.copy()
                given = (pk, name, name, sha, sha, json.dumps(image_tags), json.dumps(metadata))
                for position, value in zip(at, (*given, stamp, stamp), strict=True):
                    row[position] = value
                images.append(row)
                tags += [(pk, tag, stamp) for tag in image_tags]
                values += [(pk, k, *columns(v), stamp) for k, v in metadata.items()]
            with transaction.atomic():  # one commit per batch, not one per row
                insert(cursor, sqlite, "images_image", [f.column for f in fields], images)
                insert(cursor, sqlite, "images_imagetag", tag_columns, tags)
                insert(cursor, sqlite, "images_imagemetadatavalue", value_columns, values)
            print(f"   filled {offset + len(images):,}", file=sys.stderr, end="\r", flush=True)
        print("\n   indexing", file=sys.stderr, flush=True)
        if not sqlite:  # sort each index in memory rather than in temporary files
            cursor.execute("SET maintenance_work_mem = '1GB'")
        for statement in undo:
            cursor.execute(statement)
    metadata_index.recount()  # the facet counts the services keep as they write
    with connection.cursor() as cursor:
        if sqlite:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("ANALYZE")
        else:  # what autovacuum does to a table that stopped changing: visibility, statistics
            cursor.execute("VACUUM (ANALYZE)")


def columns(value) -> tuple:
    if isinstance(value, bool):
        return None, None, value
    if isinstance(value, str):
        return value, None, None
    return None, float(value), None


def insert(cursor, sqlite: bool, table: str, names, rows: list) -> None:
    columns_sql = ", ".join(f'"{name}"' for name in names)
    if sqlite:
        marks = ", ".join(["?"] * len(names))
        cursor.connection.executemany(
            f'INSERT INTO "{table}" ({columns_sql}) VALUES ({marks})', rows
        )
    else:
        with cursor.connection.cursor().copy(f'COPY "{table}" ({columns_sql}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)


def drop_indexes(cursor, backend: str) -> list[str]:
    """Drop the tables' secondary indexes (and, on PostgreSQL, the index tables' foreign
    keys, checked row by row otherwise); return the statements that make them again."""
    undo = []
    for table in TABLES:
        undo += similar.drop_indexes(cursor, backend, table)
    if backend == "postgres":
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
            [list(TABLES[1:])],
        )
        for table, name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            undo.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    return undo


def sizes(backend: str) -> dict[str, float]:
    """Megabytes on disk: each table with its indexes."""
    from django.db import connection

    with connection.cursor() as cursor:
        if backend == "postgres":
            cursor.execute(
                "SELECT t, pg_total_relation_size(t::regclass) FROM unnest(%s::text[]) AS t",
                [list(TABLES)],
            )
        else:
            cursor.execute(
                "SELECT coalesce(i.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
                "LEFT JOIN sqlite_master i ON i.name = d.name GROUP BY 1"
            )
        found = dict(cursor.fetchall())
    return {table: found.get(table, 0) / 2**20 for table in TABLES}


# --- What is measured -----------------------------------------------------------------


# (label, query parameters as a function of the request's number): each request asks for
# other values, so no answer is served from a cache the previous request warmed.
def experiment(n: int) -> dict:
    return {"metadata.experiment": f"E{n % EXPERIMENTS:03d}"}


def tag(n: int) -> dict:
    return {"tag": f"tag-{n % TAGS:03d}"}


def concentration(n: int) -> dict:
    return {"metadata.concentration__gte": n % 99, "metadata.concentration__lt": n % 99 + 1}


BY_TIMEPOINT = {"ordering": "metadata.timepoint"}
PAGES = [
    ("metadata.experiment=E… (1%)", experiment),
    ("tag=… (1%)", tag),
    ("metadata.concentration__gte=…&__lt=… (1%)", concentration),
    ("ordering=metadata.timepoint (all images)", lambda n: BY_TIMEPOINT),
    (
        "metadata.experiment=E… (1%)&ordering=metadata.timepoint",
        lambda n: experiment(n) | BY_TIMEPOINT,
    ),
    ("tag=… (1%)&ordering=metadata.timepoint", lambda n: tag(n) | BY_TIMEPOINT),
    (
        "concentration range (1%)&ordering=metadata.timepoint",
        lambda n: concentration(n) | BY_TIMEPOINT,
    ),
    (
        "metadata.experiment=E… (1%)&ordering=-metadata.timepoint",
        lambda n: experiment(n) | {"ordering": "-metadata.timepoint"},
    ),
    ("no filter, newest first (for comparison)", lambda n: {}),
]
FACETS = [
    ("facets field=metadata.plate (1,000 values)", lambda n: {"field": "metadata.plate"}),
    ("facets field=tags (300 values)", lambda n: {"field": "tags"}),
    (
        "facets field=metadata.plate, experiment=E… (1%)",
        lambda n: {"field": "metadata.plate"} | experiment(n),
    ),
]
GOALS = {label: GOAL_PAGE_MS for label, _ in PAGES[:8]} | {FACETS[0][0]: GOAL_FACET_MS}
MEASURED_IN_PROCESS = PAGES[:8] + FACETS[:1]


def in_process_design(repeat: int = 20) -> dict:
    """The chosen design's queries in this process (first page and count), without HTTP."""
    from django.http import QueryDict

    from images.labels import facets as label_facets
    from images.labels import queries as label_queries
    from images.labels import rules as lab_metadata

    report = {}
    for label, params in MEASURED_IN_PROCESS:

        def run(n: int, params=params, label=label) -> None:
            query = QueryDict(mutable=True)
            for key, value in params(n).items():
                query[key] = str(value)
            filters = lab_metadata.parse_filters(query.lists())
            if label.startswith("facets"):
                label_facets.facets(filters, key="plate", limit=100)
                return
            ordering = lab_metadata.parse_ordering(query.get("ordering"))
            listed = label_queries.listing(filters, ordering)
            assert listed.count() > 0, label
            assert len(list(listed[:20])) == 20, label

        report[label] = timed(run, repeat)
    return report


def in_process_json(backend: str) -> dict:
    """The same questions of the JSON columns alone: on PostgreSQL with GIN indexes (made
    here, then dropped), on SQLite with none (it has no index for JSON containment)."""
    from django.db import connection

    page = "SELECT id FROM images_image WHERE {} ORDER BY created_at DESC, id DESC LIMIT 20"
    count = "SELECT count(*) FROM images_image WHERE {}"
    if backend == "postgres":
        conditions = [
            ("metadata @> %s::jsonb", lambda n: json.dumps({"experiment": f"E{n:03d}"})),
            ("tags @> %s::jsonb", lambda n: json.dumps([f"tag-{n:03d}"])),
            ("(metadata->>'concentration')::float8 BETWEEN %s AND %s + 1", None),
        ]
        order = (
            "SELECT id FROM images_image ORDER BY (metadata->'timepoint') NULLS LAST, "
            "created_at, id LIMIT 20"
        )
        facet = (
            "SELECT metadata->'plate', count(*) FROM images_image GROUP BY 1 "
            "ORDER BY 2 DESC LIMIT 100"
        )
    else:
        conditions = [
            ("json_extract(metadata, '$.experiment') = %s", lambda n: f"E{n:03d}"),
            (
                "EXISTS (SELECT 1 FROM json_each(images_image.tags) WHERE value = %s)",
                lambda n: f"tag-{n:03d}",
            ),
            ("json_extract(metadata, '$.concentration') BETWEEN %s AND %s + 1", None),
        ]
        order = (
            "SELECT id FROM images_image ORDER BY json_extract(metadata, '$.timepoint') IS NULL, "
            "json_extract(metadata, '$.timepoint'), created_at, id LIMIT 20"
        )
        facet = (
            "SELECT json_extract(metadata, '$.plate'), count(*) FROM images_image GROUP BY 1 "
            "ORDER BY 2 DESC LIMIT 100"
        )
    report = {}
    with connection.cursor() as cursor:
        if backend == "postgres":
            started = time.perf_counter()
            cursor.execute(
                "CREATE INDEX bench_gin_metadata ON images_image "
                "USING gin (metadata jsonb_path_ops)"
            )
            cursor.execute(
                "CREATE INDEX bench_gin_tags ON images_image USING gin (tags jsonb_path_ops)"
            )
            cursor.execute("ANALYZE images_image")
            report["gin_build_s"] = time.perf_counter() - started
            cursor.execute(
                "SELECT sum(pg_relation_size(c)) FROM unnest(%s::regclass[]) AS c",
                [["bench_gin_metadata", "bench_gin_tags"]],
            )
            report["gin_mb"] = float(cursor.fetchone()[0]) / 2**20
        for (label, _), (condition, value) in zip(PAGES[:3], conditions, strict=True):

            def run(n: int, condition=condition, value=value) -> None:
                args = [value(n % 100)] if value else [n % 99, n % 99]
                cursor.execute(page.format(condition), args)
                cursor.fetchall()
                cursor.execute(count.format(condition), args)
                cursor.fetchone()

            report[label] = timed(run, 5)
        report[PAGES[3][0]] = timed(lambda n: cursor.execute(order) or cursor.fetchall(), 3)
        # (JSON alone has no index that orders by a key either: the same scan and sort.)
        report[FACETS[0][0]] = timed(lambda n: cursor.execute(facet) or cursor.fetchall(), 3)
        if backend == "postgres":
            cursor.execute("DROP INDEX bench_gin_metadata, bench_gin_tags")
    return report


def timed(work, repeat: int) -> dict:
    """Median and p95 milliseconds of ``work(n)`` for n = 0, 1, ..."""
    times = []
    for n in range(repeat):
        started = time.perf_counter()
        work(n)
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "p95_ms": similar.percentile(times, 95)}


def over_http(requests: int) -> dict:
    import urllib.parse

    report = {}
    with similar.serving() as (port, _):
        for label, params in PAGES + FACETS:
            path = "/api/v1/images/facets" if label.startswith("facets") else "/api/v1/images/"
            times, counts = [], []
            for n in range(requests):
                elapsed, body = similar.get(port, f"{path}?{urllib.parse.urlencode(params(n))}")
                times.append(elapsed)
                counts.append(body["count"] if "count" in body else len(body["values"]))
            report[label] = {
                "median_ms": statistics.median(times),
                "p95_ms": similar.percentile(times, 95),
                "mean_found": statistics.mean(counts),
            }
    return report


# --- The tables -----------------------------------------------------------------------


def print_tables(reports: list[dict]) -> None:
    header = "| | " + " | ".join(r["backend"] for r in reports) + " |"
    rule = "|---" * (len(reports) + 1) + "|"

    def row(label: str, cell) -> None:
        print(f"| {label} | " + " | ".join(cell(r) for r in reports) + " |")

    def ms(section: str, label: str):
        def cell(report: dict) -> str:
            found = report.get(section, {}).get(label)
            if not found:
                return "-"
            text = f"{found['median_ms']:.1f} / {found['p95_ms']:.1f}"
            goal = GOALS.get(label)
            if section == "http" and goal:
                text += " ✓" if found["median_ms"] <= goal else " ✗"
            return text

        return cell

    conn_max_age = os.environ.get("CONN_MAX_AGE", "600")
    if any("http" in r for r in reports):
        print()
        print(
            "First page (20) over HTTP, median / p95 ms (gunicorn as `make run`, a new HTTP "
            f"connection per request, CONN_MAX_AGE={conn_max_age}); ✓: within the goal "
            f"({GOAL_PAGE_MS} ms a page, {GOAL_FACET_MS} ms facets)"
        )
        print()
        print(header)
        print(rule)
        row("images", lambda r: f"{r['rows']:,}")
        for label, _ in PAGES + FACETS:
            row(label, ms("http", label))
        row("load average (5 min) at the end, 2 cores", lambda r: f"{r['load']:.1f}")
    print()
    print("In-process, same data, median / p95 ms: the query alone (first page and count)")
    print()
    print(header)
    print(rule)
    for label, _ in MEASURED_IN_PROCESS:
        row(f"index tables: {label}", ms("design", label))
    for label, _ in PAGES[:4] + FACETS[:1]:
        row(f"JSON columns alone: {label}", ms("json", label))
    row(
        "JSON columns alone: GIN indexes build (s) / size (MB)",
        lambda r: (
            f"{r['json']['gin_build_s']:.0f} / {r['json']['gin_mb']:.0f}"
            if "gin_mb" in r["json"]
            else "no GIN"
        ),
    )
    print()
    print("Filling and size")
    print()
    print(header)
    print(rule)
    row("fill and index (s)", lambda r: f"{r['fill_s']:.0f}")
    for table in TABLES:
        row(f"{table} with its indexes (MB)", lambda r, t=table: f"{r['sizes_mb'][t]:.0f}")


if __name__ == "__main__":
    main()
