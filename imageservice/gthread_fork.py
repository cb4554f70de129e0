"""A fork of gunicorn's gthread worker, tied to one gunicorn version: each request is read
whole before a thread takes it.

This overrides gthread's internals (``enqueue_req``, ``handle_request``, ``finish_request``,
``murder_pending``, the request's private ``_expected_100_continue``), so it is written
against gunicorn ``FORKED_FROM`` only: importing it under another version raises, and with
it gunicorn's master refuses to start (requirements.txt pins that version; a test checks
the two agree). Upgrading gunicorn means reading gthread.py's changes and porting them here.
gunicorn's own ``asgi`` worker and waitress were measured in its place and kept neither
(docs/design/server.md).

Why: gthread hands a connection to a thread as soon as its first byte arrives, and the
thread then reads the headers and Django reads the body with blocking reads and no
deadline. A client sending a byte a second holds that thread for hours, and eight such
clients hold all 2 x 4 threads: every other request waits (docs/operating/index.md has
the measurements). gunicorn's ``timeout`` does not help: the worker's main loop keeps
reporting alive while its threads are stuck.

So here the worker's main loop, which already watches every socket with a selector, reads
the request itself, without blocking, until the headers and the body announced by
``Content-Length`` are in; only then does the request go to a thread, which reads it from
that buffer and never from the socket. A slow client costs a buffer, not a thread. Each
connection has a deadline, as Apache's mod_reqtimeout sets one: the headers must be in
within ``REQUEST_HEADER_TIMEOUT`` seconds, the body within ``REQUEST_BODY_TIMEOUT``
seconds plus one second for every ``REQUEST_BODY_MIN_RATE`` bytes received. Past it the
worker answers 408 and closes the connection. Threads stay free for the CPU work (Pillow
decodes without the GIL, on every core the workers have).

One parser: where the head ends and how long the body is are what gunicorn's own parser
says of the bytes received so far (``frame``), never a second reading of the headers, so
the main loop and the thread cannot disagree about a request's framing (two parsers that
disagree are how request smuggling starts). A head gunicorn refuses (conflicting
``Content-Length`` and ``Transfer-Encoding``, two ``Content-Length``s, obsolete line
folding, a bare LF, ...) goes to a thread at once, where gunicorn answers it as it always
does, and the connection closes.

A body of more than ``largest_request_body()`` bytes by its ``Content-Length``, which the
service refuses by that header alone, is not read: the request goes to a thread with its
headers only (the answer is the service's own 413) and the connection closes after it. So
does a chunked body, which Django's WSGI handler does not read. Bodies are held in memory
up to ``SPOOL_IN_MEMORY`` bytes, then in a temporary file; headers up to ``MAX_HEAD``.
"""

import contextlib
import io
import selectors
import socket
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial

import gunicorn
from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.http.errors import NoMoreData
from gunicorn.http.message import Request
from gunicorn.http.unreader import IterUnreader, SocketUnreader
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, ThreadWorker

# The gunicorn whose gthread.py this is a fork of.
FORKED_FROM = "27.0.1"


def check_gunicorn_version(version: str = gunicorn.__version__) -> None:
    if version != FORKED_FROM:
        raise RuntimeError(
            f"imageservice/gthread_fork.py is a fork of gunicorn {FORKED_FROM}'s gthread "
            f"worker and overrides its internals; this is gunicorn {version}. Port the fork "
            "to it (diff gunicorn/workers/gthread.py between the two) and set FORKED_FROM."
        )


check_gunicorn_version()

# What one connection may hold in memory, as a worker holds up to worker_connections (1000)
# of them: a body past this goes to a temporary file; headers past this are not waited for.
SPOOL_IN_MEMORY = 256 * 1024
MAX_HEAD = 64 * 1024
# A closing connection's unread input is drained for at most this long and this much
# (as gunicorn's own close_graceful does), so the client gets the answer, not a reset.
LINGER_SECONDS = 2.0
LINGER_BYTES = 65536
_RECV = 256 * 1024


def _answer(status: bytes, detail: bytes, code: bytes) -> bytes:
    """A complete HTTP answer in the API's JSON error format, closing the connection."""
    body = b'{"detail": "%s", "code": "%s"}' % (detail, code)
    return (
        b"HTTP/1.1 %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (status, len(body), body)
    )


REQUEST_TIMEOUT = _answer(
    b"408 Request Timeout", b"The request did not arrive in time.", b"request_timeout"
)
HEADERS_TOO_LARGE = _answer(
    b"431 Request Header Fields Too Large",
    b"The request's headers are larger than 64 KiB.",
    b"request_headers_too_large",
)


class HeadersTooLarge(Exception):
    pass


@dataclass(frozen=True)
class Deadlines:
    header: float
    body: float
    body_min_rate: float

    @classmethod
    def from_settings(cls) -> "Deadlines":
        from django.conf import settings

        return cls(
            settings.REQUEST_HEADER_TIMEOUT,
            settings.REQUEST_BODY_TIMEOUT,
            settings.REQUEST_BODY_MIN_RATE,
        )


@dataclass
class Arrival:
    """A request being read by the main loop: its head until the blank line, then its body."""

    conn: object
    deadline: float
    received: bytearray = field(default_factory=bytearray)
    head: bytes | None = None
    body: tempfile.SpooledTemporaryFile | None = None
    body_left: int = 0  # bytes of the body still to come
    body_started: float = 0.0
    tail: bytes = b""  # bytes after the request (a pipelined next one)
    left_out: bool = False  # the body stays unread: the connection closes after the answer
    continue_sent: bool = False

    @property
    def phase(self) -> str:
        return "headers" if self.head is None else "body"


class ArrivedUnreader(SocketUnreader):
    """What the parser reads a request from: the bytes the main loop buffered, then end of
    input. The socket is never read here (a thread must not wait on a client)."""

    def __init__(self, sock) -> None:
        super().__init__(sock)
        self.sources: deque = deque()

    def feed(self, arrival: Arrival) -> None:
        self.buf.seek(0, io.SEEK_END)
        self.buf.write(arrival.head)
        if arrival.body is not None:
            arrival.body.seek(0)
            self.sources.append(arrival.body)
        if arrival.tail:
            self.sources.append(io.BytesIO(arrival.tail))

    def chunk(self, size_hint=None) -> bytes:
        size = min(max(size_hint or 0, self.mxchunk), self.max_body_chunk)
        while self.sources:
            data = self.sources[0].read(size)
            if data:
                return data
            self.sources.popleft().close()
        return b""

    def keep_leftover(self) -> None:
        """Move what the request left unread (a pipelined next request) into the buffer,
        where the worker looks for it before waiting on the socket again."""
        rest = b"".join(source.read() for source in self.sources)
        self.discard()
        if rest:
            self.buf.seek(0, io.SEEK_END)
            self.buf.write(rest)

    def discard(self) -> None:
        for source in self.sources:
            source.close()
        self.sources.clear()


@dataclass(frozen=True)
class Framing:
    """What gunicorn's parser makes of a complete head."""

    head: int  # bytes of the head, its blank line included
    length: int | None  # of the body; None: gunicorn refuses the head, or it is chunked
    expects_continue: bool = False


def frame(cfg, client, received: bytes) -> Framing | None:
    """gunicorn's own reading of ``received``: None while the head is incomplete. The same
    parser, with the same settings, reads the request again in the thread."""
    if not received:
        return None
    unreader = IterUnreader([received])
    try:
        request = Request(cfg, unreader, client)
    except NoMoreData:
        return None
    except Exception:  # refused: the thread's parser raises it again and answers it
        return Framing(len(received), None)
    rest = unreader.take_buffered()
    reader = request.body.reader
    if isinstance(reader, ChunkedReader):
        length = None
    elif isinstance(reader, LengthReader):
        length = reader.length
    else:  # not for a request in this gunicorn: let the thread read it
        length = None
    return Framing(len(received) - len(rest), length, request._expected_100_continue)


class BufferingThreadWorker(ThreadWorker):
    def init_process(self) -> None:
        self.arrivals: dict[object, Arrival] = {}
        self.lingering: dict[object, list] = {}  # conn: [deadline, bytes drained]
        self.stopping_at: float | None = None
        # TLS, HTTP/2, uWSGI and PROXY-protocol connections are read by gunicorn as usual
        # (the service uses none of them).
        self.buffering = (
            not self.cfg.is_ssl
            and "h2" not in self.cfg.http_protocols
            and getattr(self.cfg, "protocol", "http") == "http"
            and getattr(self.cfg, "proxy_protocol", "off") in ("off", False)
        )
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        from images.api.parsers import largest_request_body

        self.deadlines = Deadlines.from_settings()
        self.max_body = largest_request_body()

    # --- Reading in the main loop ---------------------------------------------------------

    def enqueue_req(self, conn) -> None:
        """Called by gthread for a new connection, a kept-alive one that became readable, or
        one with a pipelined request already read: read that request before a thread."""
        if not self.buffering or conn.__dict__.pop("arrived", False):
            super().enqueue_req(conn)
            return
        arrival = Arrival(conn, deadline=time.monotonic() + self.deadlines.header)
        if conn.parser is not None:  # a kept-alive connection: its earlier read-ahead first
            arrival.received += conn.parser.unreader.take_buffered()
        conn.sock.setblocking(False)
        self.arrivals[conn] = arrival
        try:
            if arrival.received and self._complete(arrival, b""):
                self._dispatch(arrival)
                return
        except HeadersTooLarge:
            self._refuse(arrival, HEADERS_TOO_LARGE)
            return
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, arrival))

    def _readable(self, arrival: Arrival, sock) -> None:
        if arrival.head is None:
            want = MAX_HEAD + 1 - len(arrival.received)
        else:
            want = min(arrival.body_left, _RECV)  # never past the body: the rest is the next
        try:
            data = sock.recv(want)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop(arrival)
            return
        try:
            complete = self._complete(arrival, data)
        except HeadersTooLarge:
            self._refuse(arrival, HEADERS_TOO_LARGE)
            return
        except Exception:  # this loop serves every connection of the worker: drop just this
            self.log.exception("Error reading a request from %s", arrival.conn.client)
            self._drop(arrival)
            return
        if complete:
            self.poller.unregister(sock)
            self._dispatch(arrival)

    def _complete(self, arrival: Arrival, data: bytes) -> bool:
        """Take in ``data``; whether the request is all here now."""
        if arrival.head is None:
            arrival.received += data
            framing = frame(self.cfg, arrival.conn.client, bytes(arrival.received))
            if framing is None:
                if len(arrival.received) > MAX_HEAD:  # nginx's default allows 32 KiB
                    raise HeadersTooLarge()
                return False
            self._headers_done(arrival, framing)
        elif data:
            arrival.body.write(data)
            arrival.body_left -= len(data)
            arrival.deadline = (
                arrival.body_started
                + self.deadlines.body
                + arrival.body.tell() / self.deadlines.body_min_rate
            )
        return arrival.body_left <= 0

    def _headers_done(self, arrival: Arrival, framing: Framing) -> None:
        received = bytes(arrival.received)
        arrival.head, arrival.received = received[: framing.head], bytearray()
        after = received[framing.head :]
        length = framing.length
        if length is None or length > self.max_body:
            # Refused by gunicorn, chunked (Django's WSGI handler reads none), or refused by
            # its Content-Length alone: the body stays unread, gunicorn's parser in the
            # thread reads the same head and answers.
            arrival.head = received
            arrival.left_out = True
            return
        arrival.tail = after[length:]
        if not length:
            return
        # Closed by the parser's reads, or by _drop (a request cut or abandoned).
        arrival.body = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        arrival.body.write(after[:length])
        arrival.body_left = length - len(after[:length])
        arrival.body_started = time.monotonic()
        arrival.deadline = arrival.body_started + self.deadlines.body
        if arrival.body_left and framing.expects_continue:
            # The client waits for this before it sends the body.
            self._send(arrival.conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
            arrival.continue_sent = True

    def _dispatch(self, arrival: Arrival) -> None:
        conn = arrival.conn
        del self.arrivals[conn]
        conn.init()  # the parser, on the plain socket (no I/O for HTTP/1 without TLS)
        if not isinstance(conn.parser.unreader, ArrivedUnreader):
            conn.parser.unreader = ArrivedUnreader(conn.sock)
        conn.parser.unreader.feed(arrival)
        conn.arrived = True
        conn.arrival = arrival
        self.enqueue_req(conn)

    # --- Deadlines --------------------------------------------------------------------------

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        if not self.alive and self.stopping_at is None:
            self.stopping_at = now
        for arrival in list(self.arrivals.values()):
            idle = arrival.head is None and not arrival.received
            if self.stopping_at is not None and idle:
                # Stopping: a connection that sent nothing is closed soon, as kept-alive ones are.
                arrival.deadline = min(arrival.deadline, self.stopping_at + STOP_KEEPALIVE_LINGER)
            if arrival.deadline <= now:
                if idle:
                    self._drop(arrival)
                else:
                    self._cut(arrival)
        for conn, (deadline, _) in list(self.lingering.items()):
            if deadline <= now:
                self._close(conn)

    def _cut(self, arrival: Arrival) -> None:
        from imageservice import metrics

        metrics.SLOW_REQUESTS_CUT.labels(arrival.phase).inc()
        client = arrival.conn.client
        self.log.info(
            "Cut a slow request from %s: its %s did not arrive in time",
            client[0] if isinstance(client, tuple) else client,
            arrival.phase,
        )
        self._refuse(arrival, REQUEST_TIMEOUT)

    def _refuse(self, arrival: Arrival, answer: bytes) -> None:
        """Answer and close, draining what the client still sends meanwhile (closing on
        unread input would reset the connection, and the answer with it)."""
        self._forget(arrival)
        self._send(arrival.conn.sock, answer)
        self._linger(arrival.conn)

    def _drop(self, arrival: Arrival) -> None:
        self._forget(arrival)
        self._close(arrival.conn)

    def _forget(self, arrival: Arrival) -> None:
        self.arrivals.pop(arrival.conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(arrival.conn.sock)
        if arrival.body is not None:
            arrival.body.close()

    def _close(self, conn) -> None:
        self.lingering.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    @staticmethod
    def _send(sock, data: bytes) -> None:
        # Small enough for the socket's buffer; a client that does not read loses it.
        with contextlib.suppress(OSError):
            sock.send(data)

    # --- In the thread and after it ---------------------------------------------------------

    def handle_request(self, req, conn):
        arrival = conn.__dict__.pop("arrival", None)
        if arrival is not None:
            if arrival.continue_sent or arrival.left_out:
                req._expected_100_continue = False  # sent already / the body is not wanted
            if arrival.left_out:
                req.force_close()  # the body's bytes are still on the socket
        return super().handle_request(req, conn)

    def finish_request(self, conn, fs) -> None:
        """Back on the main loop after a thread answered."""
        if not self.buffering:
            super().finish_request(conn, fs)
            return
        unreader = conn.parser.unreader if conn.parser is not None else None
        try:
            keep = fs.result() is True
        except BaseException:  # cancelled, or the thread raised past gunicorn's handlers
            keep = False
        if keep:
            if isinstance(unreader, ArrivedUnreader):
                unreader.keep_leftover()
            super().finish_request(conn, fs)
            return
        if isinstance(unreader, ArrivedUnreader):
            unreader.discard()
        self._linger(conn)

    def _linger(self, conn) -> None:
        """Close after the answer: send FIN, then drain what the client still sends until it
        closes too, so its unread input does not make the kernel reset the answer away.
        gunicorn does this here with blocking reads of up to 2 s, which stops this loop, and
        with it every connection of the worker, for each client that keeps its end open."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn))
        except (OSError, ValueError, KeyError):
            self.nr_conns -= 1
            conn.close()
            return
        self.lingering[conn] = [time.monotonic() + LINGER_SECONDS, 0]

    def _drain(self, conn, sock) -> None:
        try:
            data = sock.recv(LINGER_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        state = self.lingering[conn]
        state[1] += len(data)
        if not data or state[1] >= LINGER_BYTES:
            self._close(conn)
