"""The service under gunicorn.conf.py (imageservice/gthread_fork.py): slow clients, and
requests whose framing is ambiguous, answered as gunicorn's own gthread answers them.

Real sockets on 127.0.0.1 against a real gunicorn with 2 workers x 4 threads, as `make run`
starts it. With gunicorn's stock gthread worker, the 64 trickling connections below hold
every thread and the normal GET waits until they give up (docs/operating/index.md, "Slow clients").
"""

import io
import json
import re
import socket
import time
import uuid

import gunicorn
import pytest
import requests
from gunicorn.config import Config

from bench.slow_clients import BODY_START, HEADER_START, Tricklers
from imageservice.gthread_fork import FORKED_FROM, Framing, check_gunicorn_version, frame
from tests.factories import image_bytes
from tests.service import REPO, Gunicorn

# A normal request answers within this, however many slow clients there are (it takes
# milliseconds; the bound is wide for a busy machine, and catches a request left waiting).
ANSWERS_WITHIN = 3.0
# The default deadlines are 10 s for the headers, 10 s for the body at a byte a second.
SLOW_CUT_WITHIN = 30.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Gunicorn(tmp_path_factory.mktemp("service")) as running:
        yield running
    assert "Traceback" not in running.log()


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The same service on gunicorn's own gthread worker: what gunicorn alone answers."""
    with Gunicorn(
        tmp_path_factory.mktemp("plain"), GUNICORN_CMD_ARGS="--worker-class gthread"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def stored(server) -> str:
    """The metadata path of one stored image: what the normal GETs ask for."""
    answer = requests.post(
        f"{server.base}/api/v1/images/upload",
        files={"file": ("plate.jpg", io.BytesIO(image_bytes("JPEG", (640, 480))), "image/jpeg")},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return f"/api/v1/images/{answer.json()['id']}"


def normal_gets_answer(server, path: str, count: int = 6) -> None:
    for _ in range(count):
        answer = requests.get(server.base + path, timeout=ANSWERS_WITHIN)
        assert answer.status_code == 200
        time.sleep(0.2)


def wait_until(condition, within: float) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_response(stream) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response from ``stream`` (a socket's file): status, headers, body."""
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int(stream.readline(), 16):
            body += stream.read(size + 2)[:-2]
        stream.readline()
    else:
        body = stream.read(int(headers.get("content-length", 0)))
    return status, headers, body


def upload_head(content_type: str, *fields: str) -> bytes:
    """The head of an upload's request, with these header ``fields`` after the type."""
    lines = ["POST /api/v1/images/upload HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"Content-Type: {content_type}", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    "start",
    [pytest.param(HEADER_START, id="headers"), pytest.param(BODY_START, id="body")],
)
def test_64_connections_trickling_a_byte_a_second_hold_off_no_normal_get_and_are_cut(
    server, stored, start
):
    with Tricklers(server.port, 64, start, seconds=SLOW_CUT_WITHIN + 10) as tricklers:
        time.sleep(1)  # every slow connection has sent its first bytes
        normal_gets_answer(server, stored)
        assert wait_until(lambda: not tricklers.open(), within=SLOW_CUT_WITHIN)
    for trickle in tricklers.trickles:
        status, headers, body = read_response(io.BytesIO(trickle.answer))
        assert status == 408
        assert json.loads(body)["code"] == "request_timeout"
        assert headers["connection"] == "close"


def test_64_clients_keeping_their_end_open_after_a_closing_answer_stall_nothing(server, stored):
    """gunicorn waits up to 2 s for such a client to close, blocking the worker's whole
    loop while it does; here the wait is the selector's."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    lingering = [connect(server) for _ in range(64)]
    for sock in lingering:
        sock.sendall(request)
    normal_gets_answer(server, stored)
    for sock in lingering:  # each was answered, then closed by the service
        stream = sock.makefile("rb")
        assert read_response(stream)[0] == 200
        assert stream.read() == b""
        sock.close()


def test_an_upload_expecting_100_continue_gets_one_and_is_stored(server):
    body, content_type = multipart(image_bytes("JPEG", (320, 240)))
    with connect(server) as sock:
        stream = sock.makefile("rb")
        sock.sendall(
            upload_head(content_type, f"Content-Length: {len(body)}", "Expect: 100-continue")
        )
        assert stream.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert stream.readline() == b"\r\n"
        sock.sendall(body)
        status, _, answer = read_response(stream)
    assert status == 201, answer
    assert json.loads(answer)["width"] == 320


def test_an_upload_announcing_more_than_the_limit_is_refused_before_its_body_is_sent(server):
    with connect(server) as sock:
        stream = sock.makefile("rb")
        sock.sendall(
            upload_head(
                "multipart/form-data; boundary=b",
                "Content-Length: 1000000000",
                "Expect: 100-continue",
            )
        )
        status, headers, answer = read_response(stream)  # no 100 Continue first
        assert status == 413
        assert json.loads(answer)["code"] == "image_too_large"
        assert headers["connection"] == "close"
        assert stream.read() == b""


def test_headers_past_64_kib_are_refused_with_431(server):
    padding = b"".join(b"X-Padding-%d: %s\r\n" % (i, b"p" * 8000) for i in range(9))
    with connect(server) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + padding)
        status, headers, answer = read_response(stream)
        assert status == 431
        assert json.loads(answer)["code"] == "request_headers_too_large"
        assert headers["connection"] == "close"


def test_requests_pipelined_on_one_connection_are_each_answered_in_order(server, stored):
    body, content_type = multipart(image_bytes("PNG", (48, 32)))
    upload = upload_head(content_type, f"Content-Length: {len(body)}") + body
    get = f"GET {stored} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    with connect(server) as sock:
        stream = sock.makefile("rb")
        sock.sendall(get + upload + get)
        first, second, third = (read_response(stream) for _ in range(3))
    assert first[0] == third[0] == 200
    assert json.loads(first[2]) == json.loads(third[2])
    assert second[0] == 201
    assert json.loads(second[2])["width"] == 48


def test_a_chunked_upload_is_answered_and_its_connection_closed(server):
    """Django's WSGI handler reads no chunked body, so the upload has no file."""
    body, content_type = multipart(image_bytes("JPEG", (32, 32)))
    with connect(server) as sock:
        stream = sock.makefile("rb")
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        sock.sendall(upload_head(content_type, "Transfer-Encoding: chunked") + chunked)
        status, headers, answer = read_response(stream)
        assert status == 400
        assert json.loads(answer)["code"]
        assert headers["connection"] == "close"
        assert stream.read() == b""


def test_a_session_of_keep_alive_requests_answers_them_all(server, stored):
    with requests.Session() as session:
        for _ in range(3):
            assert session.get(server.base + stored, timeout=10).status_code == 200
        answer = session.post(
            f"{server.base}/api/v1/images/upload",
            files={"file": ("p.png", io.BytesIO(image_bytes("PNG", (40, 30))), "image/png")},
            timeout=30,
        )
        assert answer.status_code == 201
        assert session.get(server.base + stored, timeout=10).status_code == 200


# --- One parser: framing as gunicorn reads it ----------------------------------------------

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def post(*fields: bytes, body: bytes = b"", eol: bytes = b"\r\n") -> bytes:
    head = [b"POST /api/v1/images/upload HTTP/1.1", b"Host: 127.0.0.1", *fields]
    return eol.join(head) + eol + eol + body


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(
            post(b"Content-Length: 6", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n") + SMUGGLED,
            id="content-length-then-transfer-encoding",
        ),
        pytest.param(
            post(b"Transfer-Encoding: chunked", b"Content-Length: 6", body=b"0\r\n\r\n") + SMUGGLED,
            id="transfer-encoding-then-content-length",
        ),
        pytest.param(
            post(b"Content-Length: 40", b"Transfer-Encoding : chunked", body=b"0\r\n\r\n")
            + SMUGGLED,
            id="transfer-encoding-with-space-before-colon",
        ),
        pytest.param(
            post(b"Content-Length: 0", b"Content-Length: 46") + SMUGGLED,
            id="two-content-lengths-differing",
        ),
        pytest.param(
            post(b"Content-Length: 3", b"Content-Length: 3", body=b"abc") + SMUGGLED,
            id="two-content-lengths-equal",
        ),
        pytest.param(
            post(b"Content-Length: 3, 3", body=b"abc") + SMUGGLED, id="content-length-list"
        ),
        pytest.param(
            post(b"Content-Length : 46") + SMUGGLED, id="content-length-with-space-before-colon"
        ),
        pytest.param(post(b"Content-Length: +3", body=b"abc") + SMUGGLED, id="signed-length"),
        pytest.param(
            post(b"Content-Length: 0", b" 46") + SMUGGLED, id="content-length-folded-onto-a-line"
        ),
        pytest.param(
            post(b"X-Folded: a", b" b", b"Content-Length: 0") + SMUGGLED, id="obsolete-folding"
        ),
        pytest.param(post(b"Content-Length: 0", eol=b"\n") + SMUGGLED, id="bare-lf-throughout"),
        pytest.param(
            b"POST /api/v1/images/upload HTTP/1.1\r\nHost: 127.0.0.1\nContent-Length: 46\r\n\r\n"
            + SMUGGLED,
            id="bare-lf-hiding-a-content-length",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\n" + SMUGGLED,
            id="head-ending-in-a-bare-lf",
        ),
        pytest.param(
            b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + SMUGGLED,
            id="two-blank-lines-before-the-request",
        ),
        pytest.param(
            post(b"Transfer-Encoding: chunked, chunked", body=b"0\r\n\r\n") + SMUGGLED,
            id="chunked-twice",
        ),
        pytest.param(
            post(b"Transfer-Encoding: gzip", b"Content-Length: 0") + SMUGGLED,
            id="transfer-encoding-not-ending-in-chunked",
        ),
        pytest.param(
            b"POST /api/v1/images/upload HTTP/1.0\r\nHost: 127.0.0.1\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
            id="chunked-in-http-1.0",
        ),
    ],
)
def test_an_ambiguously_framed_request_is_refused_as_gunicorn_alone_refuses_it(server, plain, sent):
    """The fork frames a request by gunicorn's parser, so it cannot read a body (or a
    second request) where gunicorn would not: each answer is gunicorn's own 400, the
    connection closes, and the request behind it is never served."""
    fork_answers, plain_answers = answers(server, sent), answers(plain, sent)
    assert fork_answers == plain_answers == [400]


def test_leading_blank_line_and_pipelined_requests_are_answered_as_gunicorn_answers_them(
    server, plain
):
    """The cases that are not refused: one blank line before a request (RFC 9112 lets a
    server ignore it), and requests pipelined behind a body of known length."""
    get = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    sent = b"\r\n" + get + post(b"Content-Length: 3", body=b"abc") + get + last
    fork_answers, plain_answers = answers(server, sent), answers(plain, sent)
    assert fork_answers == plain_answers
    assert fork_answers == [200, 415, 200, 200]  # the body "abc" is no image


def answers(server, sent: bytes) -> list[int]:
    """The statuses of what ``server`` answers to ``sent`` on one connection, until it
    closes (every case here ends in a refusal or Connection: close)."""
    received = b""
    with connect(server) as sock:
        sock.sendall(sent)
        while data := sock.recv(65536):
            received += data
    return [int(status) for status in re.findall(rb"HTTP/1\.[01] (\d{3}) ", received)]


# --- Tied to one gunicorn ------------------------------------------------------------------


def test_the_fork_refuses_to_load_under_another_gunicorn():
    with pytest.raises(RuntimeError, match=r"fork of gunicorn 27\.0\.1"):
        check_gunicorn_version("27.0.2")
    check_gunicorn_version(FORKED_FROM)


def test_the_pinned_and_installed_gunicorn_are_the_one_the_fork_is_of():
    pinned = re.search(r"^gunicorn==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert pinned is not None
    assert pinned[1] == gunicorn.__version__ == FORKED_FROM


def test_a_head_is_framed_only_once_gunicorn_has_all_of_it():
    """Whatever bytes of a request have arrived, the main loop waits until gunicorn's parser
    has the whole head, then knows the body's length from it."""
    request = post(
        b"Content-Type: multipart/form-data; boundary=b",
        b"Content-Length: 5",
        b"Expect: 100-continue",
        body=b"hello",
    )
    head = request.index(b"\r\n\r\n") + 4
    config = Config()
    for end in range(len(request) + 1):
        framing = frame(config, ("127.0.0.1", 1), request[:end])
        if end < head:
            assert framing is None, end
        else:
            assert framing == Framing(head, 5, expects_continue=True), end


def test_a_chunked_body_and_a_refused_head_are_left_to_the_thread():
    config = Config()
    chunked = post(b"Transfer-Encoding: chunked", body=b"0\r\n\r\n")
    assert frame(config, ("127.0.0.1", 1), chunked).length is None
    refused = post(b"Content-Length: 1", b"Content-Length: 2")
    assert frame(config, ("127.0.0.1", 1), refused) == Framing(len(refused), None)
