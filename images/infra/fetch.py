"""Download an image from a user-supplied URL without becoming an SSRF proxy.

For the asked URL and for every redirect target alike (at most ``policy.max_redirects``):
only http(s) URLs without credentials (else ``InvalidUrl``, before any I/O); only hosts of
``policy.allowed_hosts`` when it is set; the host is resolved once through :func:`resolve` and,
unless ``policy.allow_private``, every address must be public (else ``UrlNotAllowed`` and no
connection). The connection goes to that checked address (no second lookup, no DNS rebinding)
while the Host header, TLS SNI and certificate check use the host name. ``policy.timeout``
bounds the whole download (``DownloadTimeout``); more than ``policy.max_bytes`` body bytes is
``ImageTooLarge``; no proxy, .netrc or Authorization is used; network failures and origin errors
are ``DownloadFailed``. The body is streamed to a temporary file on disk and hashed on the way;
nothing is decoded. Pure: no Django, the caller passes a :class:`FetchPolicy`.
"""

import hashlib
import http.client
import ipaddress
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import idna
import requests
import urllib3
from requests.adapters import HTTPAdapter

from images.errors import DownloadFailed, DownloadTimeout, ImageTooLarge, InvalidUrl, UrlNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

USER_AGENT = "imageservice/1.0"
READ_SIZE = 16 * 1024  # upper bound of one read; a read returns whatever has arrived
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int  # more body bytes than this: ImageTooLarge
    timeout: float = 15.0  # deadline of the whole download, redirects included
    connect_timeout: float = 5.0
    allow_private: bool = False  # lifts the public-address check (labs, tests)
    allowed_hosts: frozenset[str] = frozenset()  # if set, the only host names (on every hop)
    max_redirects: int = 3


@dataclass
class Download:
    file: BinaryIO  # temporary file on disk, at position 0; the caller closes it
    size: int
    sha256: str  # hex digest of the body
    url: str  # as asked
    final_url: str  # as fetched, after redirects
    filename: str  # last non-empty path segment of the asked URL, percent-decoded, or ""


@dataclass(frozen=True)
class _Hop:
    url: str  # rebuilt from the checked parts: what requests sees is what was checked
    host: str  # ASCII host name (or IP literal) used for Host, SNI and the certificate
    host_header: str
    address: IPAddress


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable; IPv4 embedded in IPv6 is judged unwrapped."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address.sixtofour is not None:
            return is_public_address(address.sixtofour)
        if address.teredo is not None:
            return all(is_public_address(embedded) for embedded in address.teredo)
        if address in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not (address.is_multicast or address.is_reserved)


def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses ``host`` resolves to (one ``getaddrinfo`` call), without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


def download(url: str, *, policy: FetchPolicy) -> Download:
    """Fetch ``url`` under ``policy``; the caller closes ``Download.file``."""
    deadline = time.monotonic() + policy.timeout
    current = url
    for _ in range(policy.max_redirects + 1):
        hop = check_url(current, policy)
        with _network_errors(hop.host, deadline), _get(hop, policy, deadline) as response:
            _remaining(deadline)  # headers that arrived only because the watchdog cut them
            if response.status_code in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise DownloadFailed(
                        f"The origin answered {response.status_code} without a Location."
                    )
                current = urljoin(hop.url, _decode_header(location))
                continue
            if not 200 <= response.status_code < 300:
                raise DownloadFailed(f"The origin answered {response.status_code}.")
            file, size, sha256 = _read_body(response, policy, deadline)
            return Download(file, size, sha256, url, hop.url, _filename(url))
    raise DownloadFailed(f"The origin redirected more than {policy.max_redirects} times.")


def check_url(url: str, policy: FetchPolicy) -> _Hop:
    """Validate ``url`` and pin its host to one checked address, before any connection."""
    if not isinstance(url, str) or any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise InvalidUrl("The URL must be text without control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"The URL is malformed: {exc}.") from exc
    if parts.scheme not in ("http", "https"):
        scheme = f"not {parts.scheme}: URLs" if parts.scheme else "and the URL has no scheme"
        raise InvalidUrl(f"Only http and https URLs can be fetched, {scheme}.")
    if not parts.hostname:
        raise InvalidUrl("The URL has no host.")
    if "@" in parts.netloc:
        raise InvalidUrl("URLs with credentials (user:password@) are not accepted.")
    if port == 0:
        raise InvalidUrl("The URL has an invalid port.")
    host = parts.hostname
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidUrl(f"The host name {host!r} is not valid.") from exc
    host_header = f"[{host}]" if ":" in host else host
    if port is not None:
        host_header += f":{port}"
    if policy.allowed_hosts and host.rstrip(".") not in {
        allowed.lower().rstrip(".") for allowed in policy.allowed_hosts
    }:
        raise UrlNotAllowed(
            f"The host {host} is not one of the allowed hosts (IMAGES_URL_ALLOWED_HOSTS)."
        )
    try:
        addresses = resolve(host, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError, ValueError) as exc:
        raise DownloadFailed(f"The host {host} could not be resolved.") from exc
    if not addresses:
        raise DownloadFailed(f"The host {host} could not be resolved.")
    if not policy.allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise UrlNotAllowed(
                    f"The host {host} resolves to a non-public address ({address}); the "
                    "service fetches from private addresses only with the setting "
                    "IMAGES_ALLOW_PRIVATE_URLS=true."
                )
    path = parts.path or "/"
    hop_url = urlunsplit((parts.scheme, host_header, path, parts.query, ""))
    return _Hop(url=hop_url, host=host, host_header=host_header, address=addresses[0])


class _PinnedAdapter(HTTPAdapter):
    """Opens the pool for the checked address while TLS uses the host name (SNI + cert).

    It also remembers every connection it opens, so that a watchdog can cut them at the
    deadline: a per-read socket timeout cannot stop an origin that drips its header lines
    a byte at a time.
    """

    def __init__(self, hop: _Hop) -> None:
        self._hop = hop
        self.connections: list = []
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        opened = self.connections

        def recording(pool_class):
            class Recording(pool_class):
                def _new_conn(self):
                    connection = super()._new_conn()
                    opened.append(connection)
                    return connection

            return Recording

        self.poolmanager.pool_classes_by_scheme = {
            scheme: recording(pool_class)
            for scheme, pool_class in self.poolmanager.pool_classes_by_scheme.items()
        }

    def cut(self) -> None:
        """Shut down every open connection; a blocked read then returns at once."""
        for connection in self.connections:
            sock = getattr(connection, "sock", None)
            if sock is not None:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        host_params["host"] = str(self._hop.address)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self._hop.host
            pool_kwargs["assert_hostname"] = self._hop.host
        return host_params, pool_kwargs


@contextmanager
def _get(hop: _Hop, policy: FetchPolicy, deadline: float) -> Iterator[requests.Response]:
    remaining = _remaining(deadline)
    headers = {
        "Host": hop.host_header,
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Accept-Encoding": "identity",
    }
    with _pinned_session(hop, remaining) as session:
        response = session.get(
            hop.url,
            headers=headers,
            stream=True,
            allow_redirects=False,
            timeout=(min(policy.connect_timeout, remaining), remaining),
        )
        with response:
            yield response


@contextmanager
def _pinned_session(hop: _Hop, remaining: float) -> Iterator[requests.Session]:
    """A session that connects only to the hop's checked address, and is cut just past the
    deadline (a watchdog: every check of the clock after it fails)."""
    with requests.Session() as session:
        session.trust_env = False  # no proxies from the environment, no .netrc
        adapter = _PinnedAdapter(hop)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        watchdog = threading.Timer(remaining + 0.05, adapter.cut)
        watchdog.daemon = True
        watchdog.start()
        try:
            yield session
        finally:
            watchdog.cancel()


def _read_body(
    response: requests.Response, policy: FetchPolicy, deadline: float
) -> tuple[BinaryIO, int, str]:
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > policy.max_bytes:
        raise ImageTooLarge(
            f"The origin announced {declared} bytes; the limit is {policy.max_bytes}."
        )
    raw = response.raw
    file = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller; closed on error
    try:
        digest, size = hashlib.sha256(), 0
        while True:
            connection = getattr(raw, "connection", None)
            if connection is not None and connection.sock is not None:
                connection.sock.settimeout(_remaining(deadline))
            chunk = raw.read1(READ_SIZE, decode_content=False)  # what arrived, up to READ_SIZE
            if not chunk:
                break
            _remaining(deadline)
            size += len(chunk)
            if size > policy.max_bytes:
                raise ImageTooLarge(f"The image is larger than {policy.max_bytes} bytes.")
            digest.update(chunk)
            file.write(chunk)
        file.seek(0)
    except BaseException:
        file.close()
        raise
    return file, size, digest.hexdigest()


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DownloadTimeout("The download did not finish in time.")
    return remaining


@contextmanager
def _network_errors(host: str, deadline: float) -> Iterator[None]:
    """Map requests/urllib3/socket errors to domain errors; domain errors pass through."""
    try:
        yield
    except (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError) as exc:
        raise DownloadTimeout(f"The download from {host} did not finish in time.") from exc
    except (
        requests.RequestException,
        urllib3.exceptions.HTTPError,
        http.client.HTTPException,
        OSError,
    ) as exc:
        if time.monotonic() >= deadline:
            raise DownloadTimeout(f"The download from {host} did not finish in time.") from exc
        if isinstance(exc, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
            raise DownloadFailed(f"The TLS connection to {host} failed.") from exc
        if isinstance(exc, requests.ConnectionError):
            raise DownloadFailed(f"The connection to {host} failed.") from exc
        raise DownloadFailed(f"The download from {host} failed.") from exc


def _decode_header(value: str) -> str:
    """http.client decodes headers as latin-1; origins usually send UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _filename(url: str) -> str:
    segments = [segment for segment in urlsplit(url).path.split("/") if segment]
    # %00 decodes to NUL, which no name may hold (PostgreSQL cannot store it; DRF refuses it
    # in a name given in the request).
    return unquote(segments[-1]).replace("\x00", "") if segments else ""


def post(url: str, *, body: bytes, headers: dict[str, str], policy: FetchPolicy) -> int:
    """POST ``body`` to ``url`` under the same address rules as a download (a webhook's
    delivery): no redirect followed, the answer's status returned, its body not read past
    what fits in the deadline. Errors as ``download``'s."""
    deadline = time.monotonic() + policy.timeout
    hop = check_url(url, policy)
    sent = {"Host": hop.host_header, "User-Agent": USER_AGENT, **headers}
    with _network_errors(hop.host, deadline):
        remaining = _remaining(deadline)
        with _pinned_session(hop, remaining) as session:
            response = session.post(
                hop.url,
                data=body,
                headers=sent,
                stream=True,
                allow_redirects=False,
                timeout=(min(policy.connect_timeout, remaining), remaining),
            )
            with response:
                _remaining(deadline)
                return response.status_code
