"""The rendition rows of `make bench` (docs/benchmarks.md).

generation: the first request for a rendition (decode, resize, encode, store, record)
against the rendition floor measured in this process on the same photo, each request right
after its floor; pyvips' ``thumbnail_buffer`` of the same rendition is timed beside them.
stored: the next requests for the same renditions, each after the download floor of the
rendition's own stored file. admin list: the images admin's first page (50 images) and
then its thumbnails, all stored by then, fetched over 4 connections as a browser does,
against the same page without its thumbnails.
"""

import html
import re
import statistics
import urllib.parse
import uuid
from dataclasses import dataclass, field

from bench import client, floors
from bench.service import FILE_FLOOR_PATH

API = "/api/v1/images"
GENERATED = ("fill-256x256", "max-1024x1024", "max-1024x1024.webp")
ADMIN_LIST = "/admin/images/image/"
# A browser loads a page's images over several connections; 4 is the bench's concurrency.
THUMBNAIL_CONNECTIONS = 4
_THUMBNAIL = re.compile(r'<img src="([^"]*/thumbnail/[^"]*)"')


@dataclass
class Generation:
    spec: str
    floor: client.Timing = field(default_factory=client.Timing)
    one: client.Timing = field(default_factory=client.Timing)
    vips: client.Timing = field(default_factory=client.Timing)


def rendition_path(image_id: str, spec: str) -> str:
    return f"{API}/{image_id}/renditions/{spec}"


def generation(bench, images: list[tuple[int, str]]) -> list[Generation]:
    """Each spec of GENERATED made once for each of ``images`` ((photo index, id) of whole
    photos without renditions yet), each request between its floor and pyvips."""
    results = []
    for spec in GENERATED:
        result = Generation(spec)
        for index, image_id in images:
            source = bench.sources[index]
            result.floor.measured(*floors.rendition_floor(source, spec))
            result.one.add(bench.http_one(client.Request("GET", rendition_path(image_id, spec))))
            result.vips.measured(*floors.vips_rendition(source, spec))
        results.append(result)
    return results


def stored(bench, images: list[tuple[int, str]], rounds: int):
    """The renditions ``generation`` made, served again: from 1 client each after the
    download floor of its own stored file; then blocks of each from 4 clients."""
    from images.models import Rendition

    rows = Rendition.objects.filter(image_id__in=[uuid.UUID(i) for _, i in images])
    pairs = []
    for image_id, spec, fmt, name in rows.values_list("image_id", "spec", "format", "file"):
        # The sources are JPEG and PNG: a WebP one was asked for with its suffix.
        asked = f"{spec}.webp" if fmt == "WEBP" else spec
        floor = client.Request("GET", f"/{FILE_FLOOR_PATH}?name={urllib.parse.quote(name)}")
        pairs.append((floor, client.Request("GET", rendition_path(str(image_id), asked))))
    floor_one, one = client.Timing(), client.Timing()
    for _ in range(rounds):
        for floor, request in pairs:
            floor_one.add(bench.http_one(floor))
            one.add(bench.http_one(request))
    floor_four, four = client.Timing(), client.Timing()
    for _ in range(rounds):
        floor_four.add(bench.http([floor for floor, _ in pairs], 4))
        four.add(bench.http([request for _, request in pairs], 4))
    return (floor_one, one, four), floor_four


def admin_session() -> str:
    """A staff user's admin session, made in the service's database as a login makes it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    user = User.objects.create_superuser("bench", password=uuid.uuid4().hex)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


def admin_list(bench, rounds: int) -> tuple[client.Timing, client.Timing, int]:
    """The admin's first list page alone, and the page with its thumbnails (stored before
    the timing starts), from 1 client; and how many thumbnails the page shows."""
    cookie = {"Cookie": admin_session()}
    page = client.Request("GET", ADMIN_LIST, headers=cookie)
    _, body = client.Client(bench.service.host, bench.service.port).send(page)
    thumbnails = [
        client.Request("GET", html.unescape(src), headers=cookie)
        for src in _THUMBNAIL.findall(body.decode())
    ]
    if not thumbnails:
        raise client.BenchError(f"{ADMIN_LIST} shows no thumbnails")
    bench.http(thumbnails, THUMBNAIL_CONNECTIONS)  # made and stored
    plain, with_thumbnails = client.Timing(), client.Timing()
    for _ in range(rounds * 5):
        plain.add(bench.http_one(page))
        timing = bench.http_one(page)
        block = bench.http(thumbnails, THUMBNAIL_CONNECTIONS)
        with_thumbnails.add(
            client.Timing(
                [timing.wall + block.wall], timing.wall + block.wall, timing.cpu + block.cpu
            )
        )
    return plain, with_thumbnails, len(thumbnails)


def report(results: list[Generation], thumbnails: int) -> list[str]:
    """The generation table: the service and pyvips against the floor, per spec."""
    lines = [
        "",
        "Renditions made on first request, 1 client, against the rendition floor (decode "
        "with shrink-on-load, resize, encode, in this process) and pyvips' thumbnail_buffer "
        "of the same rendition (x = median of the pairs' ratios; CPU: pyvips' counts all "
        "its threads):",
        "",
        "| rendition | floor ms | service ms | x floor | pyvips ms | pyvips x floor "
        "| floor CPU ms | service CPU ms | pyvips CPU ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        floor, one, vips = result.floor, result.one, result.vips
        lines.append(
            f"| {result.spec} | {_median_ms(floor)} | {_median_ms(one)} "
            f"| {_ratio(one, floor):.2f} | {_median_ms(vips)} | {_ratio(vips, floor):.2f} "
            f"| {floor.cpu_each * 1000:.1f} | {one.cpu_each * 1000:.1f} "
            f"| {vips.cpu_each * 1000:.1f} |"
        )
    lines += [
        "",
        f"Admin list: its first page, then the {thumbnails} thumbnails it shows (all stored) "
        f"over {THUMBNAIL_CONNECTIONS} connections, against the same page alone.",
    ]
    return lines


def _median_ms(timing: client.Timing) -> str:
    return f"{statistics.median(timing.latencies) * 1000:.1f}"


def _ratio(mine: client.Timing, floor: client.Timing) -> float:
    return statistics.median(a / b for a, b in zip(mine.latencies, floor.latencies, strict=True))
