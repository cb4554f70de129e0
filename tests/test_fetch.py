"""Tests of images.fetch against real HTTP(S) servers on the loopback interface.

Nothing here reaches the internet: servers listen on 127.0.0.1 (or ::1), and every name that
"resolves" goes through a patched ``fetch.resolve``.
"""

import datetime
import hashlib
import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests.adapters

from images.errors import DownloadFailed, DownloadTimeout, ImageTooLarge, InvalidUrl, UrlNotAllowed
from images.infra import fetch
from images.infra.fetch import FetchPolicy, download, is_public_address

BODY = bytes(range(256)) * 40  # 10 KiB of arbitrary bytes: this module does not decode
BODY_SHA256 = hashlib.sha256(BODY).hexdigest()
OPEN = FetchPolicy(max_bytes=1_000_000, timeout=10, allow_private=True)  # reaches 127.0.0.1


# --------------------------------------------------------------------------- test servers


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.closed.append(self.client_address)

    def do_GET(self):
        self.server.seen.append(Seen(self.path, dict(self.headers)))
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        try:
            self.route(parts.path, query)
        except OSError:  # the client went away: expected when it cuts a download
            self.close_connection = True

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        headers = dict(headers)
        headers.setdefault("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location, status=302):
        self.reply(status, headers={} if location is None else {"Location": location})

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def route(self, path, query):
        stop = self.server.stop
        if path == "/" or path.startswith("/files/") or path == "/image.png":
            self.reply(200, BODY, {"Content-Type": "image/png"})
        elif path == "/html":
            self.reply(200, BODY, {"Content-Type": "text/html; charset=utf-8"})
        elif path == "/empty":
            self.reply(200)
        elif path in ("/missing", "/broken"):
            self.reply(404 if path == "/missing" else 500, b"nope")
        elif path == "/redirect":
            self.redirect(query.get("to"), int(query.get("status", 302)))
        elif path == "/redirect/absolute":
            self.redirect(f"http://127.0.0.1:{self.server.port}/image.png")
        elif path == "/redirect/relative":
            self.redirect("../image.png")
        elif path == "/redirect/root-relative":
            self.redirect("/image.png", 301)
        elif path == "/redirect/loop":
            self.redirect("/redirect/loop")
        elif path.startswith("/hops/"):
            left = int(path.rsplit("/", 1)[1])
            self.redirect(f"/hops/{left - 1}" if left > 1 else "/image.png")
        elif path.startswith("/slow-hops/"):
            stop.wait(0.6)
            left = int(path.rsplit("/", 1)[1])
            self.redirect(f"/slow-hops/{left - 1}" if left > 1 else "/image.png")
        elif path == "/trickle":  # one byte every 0.5 s
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                if stop.wait(0.5):
                    break
                self.wfile.write(b"x")
        elif path == "/trickle-then-stall":  # 5 bytes over 2.5 s, then silence
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(5):
                if stop.wait(0.5):
                    break
                self.wfile.write(b"x")
            stop.wait(15)
        elif path == "/stall":  # headers, then silence
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            stop.wait(15)
        elif path == "/slow-headers":
            stop.wait(15)
            self.reply(200, BODY)
        elif path == "/dripping-headers":  # a header byte every 0.2 s, for ever
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
            while not stop.wait(0.2):
                self.wfile.write(b"z")
                self.wfile.flush()
        elif path in ("/endless", "/endless-chunked"):
            chunked = path == "/endless-chunked"
            self.send_response(200)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")  # body ends when the connection does
                self.close_connection = True
            self.end_headers()
            deadline = time.monotonic() + 20
            while not stop.is_set() and time.monotonic() < deadline:
                block = b"y" * 65536
                self.write_chunk(block) if chunked else self.wfile.write(block)
        elif path in ("/chunked", "/chunked-small-length"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            if path == "/chunked-small-length":  # chunked framing wins over the lie
                self.send_header("Content-Length", "10")
            self.end_headers()
            for start in range(0, len(BODY), 4000):
                self.write_chunk(BODY[start : start + 4000])
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/odd-length":  # not a number: the body ends when the connection does
            self.reply(200, BODY, {"Content-Length": "\u00b2", "Connection": "close"})
            self.close_connection = True
        elif path == "/lying-small":  # says 10, sends 10 KiB
            self.reply(200, BODY, {"Content-Length": "10", "Connection": "close"})
            self.close_connection = True
        elif path == "/lying-huge":  # says 1 TB, sends 10 bytes
            self.reply(200, b"x" * 10, {"Content-Length": str(10**12), "Connection": "close"})
            self.close_connection = True
        elif path == "/short":  # says 1000, sends 10, hangs up
            self.reply(200, b"x" * 10, {"Content-Length": "1000", "Connection": "close"})
            self.close_connection = True
        else:
            self.reply(404)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host="127.0.0.1"):
        super().__init__((host, 0), Handler)
        self.seen: list[Seen] = []
        self.closed: list[object] = []
        self.sni: list[str | None] = []
        self.stop = threading.Event()
        self.ssl_context: ssl.SSLContext | None = None

    def server_bind(self):
        TCPServer.server_bind(self)  # skip HTTPServer's getfqdn(): no reverse DNS lookup
        self.port = self.server_address[1]
        self.server_name, self.server_port = "localhost", self.port

    def finish_request(self, request, client_address):
        if self.ssl_context is not None:  # handshake in the request thread
            request.settimeout(10)
            request = self.ssl_context.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass

    def url(self, path, host="127.0.0.1", scheme="http"):
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}{path}"


class Server6(Server):
    address_family = socket.AF_INET6


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    with serving(Server()) as running:
        yield running


def fake_dns(monkeypatch, table: dict[str, list[str]]) -> list[str]:
    """Patch fetch.resolve: names in ``table`` resolve as given, IP literals as themselves."""
    asked: list[str] = []

    def resolve(host, port):
        asked.append(host)
        if host in table:
            return [ipaddress.ip_address(address) for address in table[host]]
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    monkeypatch.setattr(fetch, "resolve", resolve)
    return asked


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


# --------------------------------------------------------------------------- URL validation


@pytest.mark.parametrize(
    "url",
    [
        "",
        "incorrect",
        "example.com/image.png",
        "//example.com/image.png",
        "file:///etc/passwd",
        "ftp://example.com/image.png",
        "gopher://example.com:70/_GET",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "http://",
        "http:///image.png",
        "http://:80/image.png",
        "https://user:pass@example.com/image.png",
        "http://user@example.com/image.png",
        "http://[::1/image.png",
        "http://example.com:99999/image.png",
        "http://example.com:http/image.png",
        "http://example.com:0/image.png",
        "http://exa\nmple.com/image.png",
        "http://example.com/image.png\r\nX-Injected: 1",
    ],
)
def test_invalid_urls_are_refused_before_any_network_activity(monkeypatch, url):
    def no_network(*args, **kwargs):
        raise AssertionError("network activity before the URL was validated")

    monkeypatch.setattr(fetch, "resolve", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(InvalidUrl) as caught:
        download(url, policy=OPEN)
    assert caught.value.detail


# --------------------------------------------------------------------------- address policy

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "2002:808:808::",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, server and client public
]
NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "100.127.255.255",
    "0.0.0.0",
    "192.0.2.1",
    "198.18.0.1",
    "203.0.113.5",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "ff0e::1",  # global-scope multicast
    "2001:db8::1",
    "::7f00:1",  # IPv4-compatible ::127.0.0.1
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64 prefix
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "2001:0:a00:1:8000:63bf:f7f7:f7f7",  # Teredo, server 10.0.0.1
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_public(address):
    assert is_public_address(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_private_reserved_and_wrapped_private_addresses_are_not_public(address):
    assert is_public_address(ipaddress.ip_address(address)) is False


LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "127.1",
    "017700000001",
    "0177.0.0.1",
    "[::ffff:127.0.0.1]",
    "localhost",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_in_any_spelling_is_refused_and_no_request_is_sent(server, host):
    # The real resolver: getaddrinfo turns every spelling into 127.0.0.1 without any DNS query.
    with pytest.raises(UrlNotAllowed):
        download(f"http://{host}:{server.port}/image.png", policy=FetchPolicy(max_bytes=10**6))
    assert server.seen == []


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "017700000001"])
def test_alternative_spellings_are_judged_by_what_they_resolve_to(server, host):
    with download(f"http://{host}:{server.port}/image.png", policy=OPEN).file as file:
        assert file.read() == BODY
    assert server.seen[0].headers["Host"] == f"{host}:{server.port}"


@pytest.mark.parametrize(
    "addresses",
    [
        ["93.184.216.34", "10.0.0.1"],
        ["10.0.0.1", "93.184.216.34"],
        ["2606:4700:4700::1111", "::ffff:127.0.0.1"],
        ["8.8.8.8", "169.254.169.254"],
    ],
)
def test_a_name_with_any_non_public_address_is_refused(monkeypatch, server, addresses):
    fake_dns(monkeypatch, {"mixed.example.test": addresses})
    with pytest.raises(UrlNotAllowed):
        download("http://mixed.example.test/image.png", policy=FetchPolicy(max_bytes=10**6))
    assert server.seen == []


@pytest.mark.parametrize(
    ("allowed", "host", "permitted"),
    [
        ({"images.example.test"}, "images.example.test", True),
        ({"Images.Example.TEST"}, "images.example.test", True),
        ({"images.example.test"}, "IMAGES.example.test", True),
        ({"other.example.test"}, "images.example.test", False),
        ({"example.test"}, "images.example.test", False),
        ({"images.example.test"}, "evil.images.example.test", False),
        ({"images.example.test"}, "images.example.test.evil.test", False),
    ],
)
def test_allowed_hosts_are_matched_exactly_and_case_insensitively(
    monkeypatch, server, allowed, host, permitted
):
    asked = fake_dns(monkeypatch, {host.lower(): ["127.0.0.1"]})
    policy = FetchPolicy(max_bytes=10**6, allow_private=True, allowed_hosts=frozenset(allowed))
    url = f"http://{host}:{server.port}/image.png"
    if permitted:
        assert download(url, policy=policy).size == len(BODY)
    else:
        with pytest.raises(UrlNotAllowed):
            download(url, policy=policy)
        assert asked == []  # not even resolved
        assert server.seen == []


@pytest.mark.parametrize("answer", [socket.gaierror(socket.EAI_NONAME, "unknown"), []])
def test_a_name_that_does_not_resolve_is_a_download_failure(monkeypatch, answer):
    def resolve(host, port):
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(fetch, "resolve", resolve)
    with pytest.raises(DownloadFailed, match="could not be resolved"):
        download("http://nowhere.invalid/image.png", policy=OPEN)


def test_the_connection_goes_to_the_address_checked_by_the_single_resolution(monkeypatch, server):
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])  # a rebinding DNS would answer differently
    asked = []

    def resolve(host, port):
        asked.append((host, port))
        return [ipaddress.ip_address(address) for address in next(answers)]

    looked_up = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(fetch, "resolve", resolve)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    result = download(f"http://images.example.test:{server.port}/image.png", policy=OPEN)
    result.file.close()
    assert asked == [("images.example.test", server.port)]
    assert "images.example.test" not in looked_up  # no second lookup by the HTTP stack
    assert server.seen[0].headers["Host"] == f"images.example.test:{server.port}"


@pytest.fixture
def server6() -> Iterator[Server]:
    try:
        instance = Server6("::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    with serving(instance) as running:
        yield running


def test_a_name_pinned_to_an_ipv6_address_is_fetched_from_it(monkeypatch, server6):
    fake_dns(monkeypatch, {"v6.example.test": ["::1"]})
    result = download(f"http://v6.example.test:{server6.port}/image.png", policy=OPEN)
    result.file.close()
    assert result.size == len(BODY)
    assert server6.seen[0].headers["Host"] == f"v6.example.test:{server6.port}"


def test_ipv6_loopback_literal_is_refused(server6):
    with pytest.raises(UrlNotAllowed):
        download(server6.url("/image.png", host="::1"), policy=FetchPolicy(max_bytes=10**6))
    assert server6.seen == []


# --------------------------------------------------------------------------- successful downloads


def test_the_body_lands_in_a_temporary_file_with_size_and_sha256(server):
    result = download(server.url("/files/photo.png?size=large"), policy=OPEN)
    with result.file as file:
        assert file.tell() == 0
        assert file.fileno() >= 0  # a real file on disk, not a BytesIO
        assert file.read() == BODY
    assert result.size == len(BODY)
    assert result.sha256 == BODY_SHA256
    assert result.url == result.final_url == server.url("/files/photo.png?size=large")
    assert result.filename == "photo.png"


@pytest.mark.parametrize(
    ("path", "filename"),
    [
        ("/files/photo.png", "photo.png"),
        ("/files/album/", "album"),
        ("/files//photo.png//", "photo.png"),
        ("/files/caf%C3%A9%20au%20lait.png", "café au lait.png"),
        ("/files/a%00b.png", "ab.png"),
        ("/files/a.png?name=b.png#c.png", "a.png"),
        ("/", ""),
        ("", ""),
    ],
)
def test_filename_is_the_last_path_segment_of_the_asked_url(server, path, filename):
    with download(server.url(path), policy=OPEN).file as file:
        assert file.read() == BODY
    result = download(server.url(path), policy=OPEN)
    result.file.close()
    assert result.filename == filename


def test_an_empty_body_is_a_valid_download(server):
    result = download(server.url("/empty"), policy=OPEN)
    result.file.close()
    assert (result.size, result.sha256) == (0, hashlib.sha256(b"").hexdigest())


def test_chunked_transfer_encoding_is_read_whole(server):
    result = download(server.url("/chunked"), policy=OPEN)
    with result.file as file:
        assert file.read() == BODY
    assert result.sha256 == BODY_SHA256


def test_a_content_length_that_is_not_a_number_decides_nothing(server):
    result = download(server.url("/odd-length"), policy=OPEN)
    with result.file as file:
        assert file.read() == BODY


def test_content_type_decides_nothing(server):
    result = download(server.url("/html"), policy=OPEN)
    with result.file as file:
        assert file.read() == BODY


def test_requests_carry_our_headers_and_no_credentials_from_the_environment(
    monkeypatch, tmp_path, server
):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # discard port: would fail if used
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    download(server.url("/image.png"), policy=OPEN).file.close()
    headers = {name.lower(): value for name, value in server.seen[0].headers.items()}
    assert headers["user-agent"] == "imageservice/1.0"
    assert headers["accept-encoding"] == "identity"
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert "authorization" not in headers
    assert "proxy-authorization" not in headers
    assert "cookie" not in headers


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    "path",
    [
        "/redirect/absolute",
        "/redirect/relative",
        "/redirect/root-relative",
        "/redirect?status=301&to=/image.png",
        "/redirect?status=302&to=/image.png",
        "/redirect?status=303&to=/image.png",
        "/redirect?status=307&to=/image.png",
        "/redirect?status=308&to=/image.png",
        "/redirect?to=image.png",
        "/hops/3",
    ],
)
def test_redirects_are_followed_to_the_image(server, path):
    result = download(server.url(path), policy=OPEN)
    with result.file as file:
        assert file.read() == BODY
    assert result.url == server.url(path)
    assert result.final_url == server.url("/image.png")
    assert server.seen[-1].path == "/image.png"


@pytest.mark.parametrize(
    ("path", "max_redirects", "requests_seen"),
    [("/redirect/loop", 3, 4), ("/hops/4", 3, 4), ("/redirect/absolute", 0, 1), ("/hops/2", 1, 2)],
)
def test_too_many_redirects_is_a_download_failure(server, path, max_redirects, requests_seen):
    policy = FetchPolicy(max_bytes=10**6, allow_private=True, max_redirects=max_redirects)
    with pytest.raises(DownloadFailed, match="redirected more than"):
        download(server.url(path), policy=policy)
    assert len(server.seen) == requests_seen


def test_a_redirect_without_location_is_a_download_failure(server):
    with pytest.raises(DownloadFailed, match="without a Location"):
        download(server.url("/redirect"), policy=OPEN)


@pytest.mark.parametrize(
    "target",
    ["file:///etc/passwd", "ftp://127.0.0.1/image.png", "gopher://127.0.0.1:6379/_FLUSHALL"],
)
def test_a_redirect_to_another_scheme_is_refused(server, target):
    with pytest.raises(InvalidUrl):
        download(server.url(f"/redirect?to={target}"), policy=OPEN)
    assert len(server.seen) == 1


def test_a_redirect_to_a_host_outside_the_allow_list_is_refused(monkeypatch, server):
    asked = fake_dns(monkeypatch, {"images.example.test": ["127.0.0.1"]})
    target = f"http://elsewhere.example.test:{server.port}/image.png"
    policy = FetchPolicy(
        max_bytes=10**6, allow_private=True, allowed_hosts=frozenset({"images.example.test"})
    )
    with pytest.raises(UrlNotAllowed):
        download(f"http://images.example.test:{server.port}/redirect?to={target}", policy=policy)
    assert asked == ["images.example.test"]  # the target was not even resolved
    assert len(server.seen) == 1


@pytest.fixture
def loopback_counts_as_public(monkeypatch):
    """Let 127.0.0.1 pass for public so a first hop can reach the test server with
    allow_private=False; every other address is judged by the real check."""
    real = fetch.is_public_address
    loopback = ipaddress.ip_address("127.0.0.1")
    monkeypatch.setattr(fetch, "is_public_address", lambda a: a == loopback or real(a))


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://internal.example.test/admin",
        "http://rebound.example.test/",
        "http://[::1]/",
        "http://0.0.0.0/",
    ],
)
def test_each_redirect_target_address_is_checked_like_the_first(
    monkeypatch, server, loopback_counts_as_public, target
):
    asked = fake_dns(
        monkeypatch,
        {
            "public.example.test": ["127.0.0.1"],
            "internal.example.test": ["10.0.0.1"],
            "rebound.example.test": ["93.184.216.34", "192.168.0.1"],
        },
    )
    first = f"http://public.example.test:{server.port}/redirect?to={target}"
    with pytest.raises(UrlNotAllowed):
        download(first, policy=FetchPolicy(max_bytes=10**6))
    assert len(server.seen) == 1
    assert asked[0] == "public.example.test"
    assert len(asked) == 2  # the target was resolved, then refused


def test_a_redirect_to_a_permitted_host_passes_the_same_checks(
    monkeypatch, server, loopback_counts_as_public
):
    asked = fake_dns(monkeypatch, {"public.example.test": ["127.0.0.1"]})
    target = f"http://public.example.test:{server.port}/image.png"
    first = f"http://public.example.test:{server.port}/redirect?to={target}"
    result = download(first, policy=FetchPolicy(max_bytes=10**6))
    result.file.close()
    assert result.final_url == target
    assert asked == ["public.example.test", "public.example.test"]  # once per hop


# --------------------------------------------------------------------------- origin failures


@pytest.mark.parametrize(("path", "status"), [("/missing", 404), ("/broken", 500)])
def test_an_origin_error_is_a_download_failure_naming_its_status(server, path, status):
    with pytest.raises(DownloadFailed) as caught:
        download(server.url(path), policy=OPEN)
    assert caught.value.detail == f"The origin answered {status}."


def test_a_refused_connection_is_a_download_failure():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nobody listens there
    with pytest.raises(DownloadFailed, match="connection"):
        download(f"http://127.0.0.1:{port}/image.png", policy=OPEN)


def test_a_body_shorter_than_announced_is_a_download_failure(server):
    with pytest.raises(DownloadFailed):
        download(server.url("/short"), policy=OPEN)


def test_https_to_a_plain_http_origin_is_a_download_failure(server):
    with pytest.raises(DownloadFailed, match="TLS"):
        download(server.url("/image.png", scheme="https"), policy=OPEN)


# --------------------------------------------------------------------------- deadline


def test_trickling_origin_is_cut_at_the_deadline(server):
    policy = FetchPolicy(max_bytes=10**6, timeout=1.5, allow_private=True)
    started = time.monotonic()
    with pytest.raises(DownloadTimeout):
        download(server.url("/trickle"), policy=policy)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "path",
    ["/stall", "/slow-headers", "/dripping-headers", "/slow-hops/3", "/redirect?to=/trickle"],
)
def test_the_deadline_covers_waiting_and_all_redirects(server, path):
    policy = FetchPolicy(max_bytes=10**6, timeout=1.5, allow_private=True)
    started = time.monotonic()
    with pytest.raises(DownloadTimeout):
        download(server.url(path), policy=policy)
    assert time.monotonic() - started < 10


def test_a_stall_late_in_the_body_is_cut_at_the_deadline_not_a_read_timeout_later(server):
    # A per-read timeout fixed when the request started would fire at about 2.5 + 3 s.
    policy = FetchPolicy(max_bytes=10**6, timeout=3, allow_private=True)
    started = time.monotonic()
    with pytest.raises(DownloadTimeout):
        download(server.url("/trickle-then-stall"), policy=policy)
    assert time.monotonic() - started < policy.timeout + 1.5


# --------------------------------------------------------------------------- size limit


@pytest.mark.parametrize(
    ("path", "max_bytes"),
    [
        ("/endless", 1000),  # no Content-Length, never ends
        ("/endless-chunked", 1000),
        ("/chunked", 1000),
        ("/chunked-small-length", 1000),  # Content-Length 10 is a lie; the chunks count
        ("/lying-huge", 10**6),  # Content-Length 10**12: refused before reading
        ("/image.png", len(BODY) - 1),
    ],
)
def test_a_body_over_the_limit_is_cut(server, path, max_bytes):
    policy = FetchPolicy(max_bytes=max_bytes, timeout=10, allow_private=True)
    started = time.monotonic()
    with pytest.raises(ImageTooLarge):
        download(server.url(path), policy=policy)
    assert time.monotonic() - started < 10


def test_a_body_of_exactly_the_limit_is_accepted(server):
    policy = FetchPolicy(max_bytes=len(BODY), allow_private=True)
    result = download(server.url("/chunked"), policy=policy)
    result.file.close()
    assert result.size == len(BODY)


def test_a_small_lying_content_length_cannot_bring_in_more_bytes(server):
    # HTTP framing ends the body after the 10 announced bytes; the rest is never read as body.
    result = download(server.url("/lying-small"), policy=FetchPolicy(1000, allow_private=True))
    with result.file as file:
        assert file.read() == BODY[:10]
    assert result.size == 10


# --------------------------------------------------------------------------- cleanup


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/endless", ImageTooLarge),
        ("/lying-huge", ImageTooLarge),
        ("/trickle", DownloadTimeout),
        ("/short", DownloadFailed),
    ],
)
def test_the_temporary_file_is_closed_on_error(monkeypatch, server, path, error):
    created = []
    real = tempfile.TemporaryFile

    def recording(*args, **kwargs):
        created.append(real(*args, **kwargs))
        return created[-1]

    monkeypatch.setattr(tempfile, "TemporaryFile", recording)
    policy = FetchPolicy(max_bytes=1000, timeout=1.5, allow_private=True)
    with pytest.raises(error):
        download(server.url(path), policy=policy)
    assert all(file.closed for file in created)


@pytest.mark.parametrize("path", ["/image.png", "/hops/2", "/missing", "/lying-huge", "/endless"])
def test_every_connection_is_closed(server, path):
    with suppress(DownloadFailed, ImageTooLarge):
        download(server.url(path), policy=FetchPolicy(max_bytes=1000, allow_private=True))
    assert wait_for(lambda: len(server.closed) == len(server.seen))


# --------------------------------------------------------------------------- TLS


def make_certificates(directory, name):
    """A throwaway CA and a certificate for ``name`` it signed; returns (ca, cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fetch tests CA")])

    def builder(subject, public_key):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )

    usage = dict.fromkeys(
        ["content_commitment", "data_encipherment", "key_agreement", "encipher_only"], False
    )
    ca = (
        builder(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=True,
                crl_sign=True,
                decipher_only=False,
                **usage,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key.public_key())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[Server, str]]:
    """An HTTPS server whose certificate names images.example.test only (no IP address)."""
    ca, cert, key = make_certificates(tmp_path, "images.example.test")
    instance = Server()
    instance.ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    instance.ssl_context.load_cert_chain(cert, key)
    instance.ssl_context.sni_callback = lambda sock, name, context: instance.sni.append(name)
    with serving(instance) as running:
        yield running, str(ca)


@pytest.fixture
def trust_test_ca(monkeypatch, tls_server):
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", tls_server[1])


def test_https_sends_sni_and_verifies_the_host_name_on_the_pinned_address(
    monkeypatch, tls_server, trust_test_ca
):
    server, _ = tls_server
    asked = fake_dns(monkeypatch, {"images.example.test": ["127.0.0.1"]})
    url = server.url("/image.png", host="images.example.test", scheme="https")
    result = download(url, policy=OPEN)
    with result.file as file:
        assert file.read() == BODY
    assert asked == ["images.example.test"]
    assert server.sni == ["images.example.test"]
    assert server.seen[0].headers["Host"] == f"images.example.test:{server.port}"


@pytest.mark.parametrize("name", ["other.example.test", "127.0.0.1"])
def test_https_certificate_for_another_name_is_a_download_failure(
    monkeypatch, tls_server, trust_test_ca, name
):
    server, _ = tls_server
    fake_dns(monkeypatch, {"other.example.test": ["127.0.0.1"]})
    with pytest.raises(DownloadFailed, match="TLS"):
        download(server.url("/image.png", host=name, scheme="https"), policy=OPEN)
    assert server.seen == []


def test_https_certificate_from_an_unknown_authority_is_a_download_failure(monkeypatch, tls_server):
    server, _ = tls_server
    fake_dns(monkeypatch, {"images.example.test": ["127.0.0.1"]})
    url = server.url("/image.png", host="images.example.test", scheme="https")
    with pytest.raises(DownloadFailed, match="TLS"):
        download(url, policy=OPEN)
    assert server.seen == []
