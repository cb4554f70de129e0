"""Multipart bodies of random shape against upload and search: never a 5xx, and what is
refused leaves no row, no stored file and no temporary file.

The shape varies, not only the values: field names (`file`, other known fields, unknown
and odd ones), repeated fields, empty parts, parts with and without a filename, text where
a file is expected and a file where text is, base64 transfer encoding (right and wrong),
a body cut short, a missing closing boundary, and a Content-Type whose boundary is not the
body's, or missing. Part contents are images (accepted or not) and other bytes.

``make test`` runs FUZZ_EXAMPLES (40) bodies per endpoint from FUZZ_SEED; ``make fuzz``
runs more (README, "Fuzzing").
"""

import base64
import os
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from images.models import Image
from tests.conftest import stored_files
from tests.factories import image_bytes

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
SEED = int(os.environ.get("FUZZ_SEED", "20261124"))

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120 + EXAMPLES)]

CONTENTS = [
    image_bytes("JPEG", (24, 16)),
    image_bytes("PNG", (16, 16)),
    image_bytes("GIF", (16, 16)),
    b"",
    b"hello",
    b'{"plate": "P-0042"}',
    b"plate,well",
    b"0000000000000000",
    b"10",
]
KNOWN_FIELDS = [
    "file",
    "name",
    "description",
    "tags",
    "metadata",
    "url",
    "phash",
    "max_distance",
    "limit",
]
ODD_FIELDS = ["image", "extra", "files", "file[]", "FILE", "", " file", 'fi"le', "fïle"]


@dataclass(frozen=True)
class Part:
    name: str | None  # None: no name parameter at all
    filename: str | None  # None: a text field
    content: bytes
    content_type: str | None
    encoding: str | None  # Content-Transfer-Encoding: "base64" (right), "base64!" (not)

    def render(self) -> bytes:
        disposition = "form-data"
        if self.name is not None:
            disposition += f'; name="{self.name}"'
        if self.filename is not None:
            disposition += f'; filename="{self.filename}"'
        headers = [f"Content-Disposition: {disposition}"]
        if self.content_type is not None:
            headers.append(f"Content-Type: {self.content_type}")
        content = self.content
        if self.encoding is not None:
            headers.append("Content-Transfer-Encoding: base64")
            if self.encoding == "base64":
                content = base64.b64encode(content)
        return "\r\n".join(headers).encode() + b"\r\n\r\n" + content


@dataclass(frozen=True)
class Body:
    parts: list[Part]
    boundary: str
    header_boundary: str | None  # None: the Content-Type names no boundary
    closed: bool  # the closing boundary is there
    cut: int | None  # the body is cut to this many bytes
    preamble: bytes

    def render(self) -> bytes:
        dash = f"--{self.boundary}".encode()
        body = self.preamble
        for part in self.parts:
            body += dash + b"\r\n" + part.render() + b"\r\n"
        if self.closed:
            body += dash + b"--\r\n"
        return body if self.cut is None else body[: self.cut]

    def shape(self) -> str:
        """The body without the contents, for a failure's message."""
        parts = [
            (p.name, p.filename, len(p.content), p.content_type, p.encoding) for p in self.parts
        ]
        rest = (self.header_boundary, self.boundary, self.closed, self.cut, self.preamble)
        return f"parts (name, filename, size, type, encoding): {parts}; boundary, cut: {rest}"

    def content_type(self) -> str:
        if self.header_boundary is None:
            return "multipart/form-data"
        return f"multipart/form-data; boundary={self.header_boundary}"


parts = st.builds(
    Part,
    name=st.one_of(
        st.just("file"),
        st.sampled_from(KNOWN_FIELDS),
        st.sampled_from(ODD_FIELDS),
        st.none(),
        st.text(max_size=12),
    ),
    filename=st.one_of(
        st.none(),
        st.just("plate.jpg"),
        st.sampled_from(["plate.jpg", "b.png", "", "..", "../x.png", "é.jpg", "a\\b.png"]),
        st.text(max_size=12),
    ),
    content=st.one_of(st.sampled_from(CONTENTS), st.binary(max_size=64)),
    content_type=st.one_of(
        st.none(), st.sampled_from(["image/jpeg", "image/png", "text/plain", "", "x"])
    ),
    encoding=st.one_of(st.none(), st.none(), st.none(), st.sampled_from(["base64", "base64!"])),
)


IMAGE_PART = Part("file", "plate.jpg", CONTENTS[0], "image/jpeg", None)


@st.composite
def bodies(draw) -> Body:
    boundary = draw(st.sampled_from(["b0undary", "----WebKitFormBoundary7MA4YWxk", "x"]))
    header_boundary = draw(
        st.one_of(
            st.just(boundary),
            st.just(boundary),
            st.just(boundary),
            st.none(),
            st.sampled_from(["other", "", '"quoted"', boundary + "x"]),
        )
    )
    drawn = draw(st.lists(parts, max_size=5))
    if draw(st.booleans()):  # half the bodies carry one good image among the other parts
        drawn.insert(draw(st.integers(0, len(drawn))), IMAGE_PART)
    body = Body(
        parts=drawn,
        boundary=boundary,
        header_boundary=header_boundary,
        closed=draw(st.integers(0, 3)) > 0,
        cut=None,
        preamble=draw(st.sampled_from([b"", b"", b"preamble\r\n", b"\r\n"])),
    )
    if draw(st.integers(0, 3)) == 0:  # one body in four is cut short
        size = len(body.render())
        body = Body(**{**body.__dict__, "cut": draw(st.integers(0, max(size - 1, 0)))})
    return body


def image_parts(body: Body) -> int:
    """The parts that may carry the image: Django trims a field's name."""
    return sum((p.name or "").strip() == "file" and bool(p.filename) for p in body.parts)


@pytest.mark.parametrize("path", ["/api/v1/images/upload", "/api/v1/images/search"])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@seed(SEED)
@given(body=bodies())
def test_multipart_bodies_of_any_shape_never_5xx_and_refusals_leave_nothing(
    path, body, temp_folder, media_root
):
    api = APIClient(raise_request_exception=False)
    rows, files = Image.all_objects.count(), len(stored_files(media_root))

    response = api.generic("POST", path, body.render(), content_type=body.content_type())

    status = response.status_code
    answer = response.json()
    event(f"{status} {answer.get('code', '')}")
    assert status < 500, (status, answer, body.shape())
    assert list(temp_folder.iterdir()) == [], body.shape()
    if path.endswith("upload") and status == 201:
        assert image_parts(body) >= 1, body.shape()
        assert Image.all_objects.count() == rows + 1
        return
    assert status in (200, 400, 413, 415), (status, answer, body.shape())
    if status >= 400:
        assert answer["code"], answer
        assert answer["detail"], answer
    assert Image.all_objects.count() == rows, body.shape()
    assert len(stored_files(media_root)) == files, body.shape()
