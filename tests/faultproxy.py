"""A TCP proxy between pymongo and the test server that injects network faults per request and reply.

``FaultProxy(server_uri)`` listens on a free loopback port and forwards to the
host of ``server_uri``. It runs an asyncio loop in a daemon thread of the
process that starts it (``start()`` / ``stop()``, or a ``with`` block), and
reads the MongoDB wire protocol's framing (an int32 little-endian length in
front of every message), so each fault hits one whole request or reply, never
a TCP segment. Worker subprocesses reach it through ``proxy.uri``: the
server's URI with the proxy's host:port, the same database path and options,
and ``directConnection=true`` so that pymongo never follows hosts the server
advertises around the proxy. Only ``mongodb://`` URIs with one host are taken.

Faults, each counted by kind in ``counts()`` once it took effect:

* ``reset_next(point)``: a reset (SO_LINGER 0, then close: an RST to both ends)
  at one of three points of an exchange: ``"before_request"`` (the request is
  never forwarded: nothing is applied, the client sees an error),
  ``"after_request"`` (the request is forwarded and the server's reply awaited,
  so the server has applied it, and the reply is thrown away: the client sees
  an error) or ``"after_reply"`` (the client has its reply; its pooled
  connection is dead, so the next call that uses it fails).
* ``delay_next(seconds, then="forward" | "drop")``: the reply is held that long,
  then forwarded, or dropped and the connection reset. The request has been
  applied either way.
* ``half_open_next(point)``: at that point the connection stops forwarding in
  both directions and closes nothing; the client waits until its own
  ``socketTimeoutMS`` (forever without one). The proxy closes the server side
  only when the client closes its own.
* ``cut()``: every open connection is reset and every new one is reset as soon
  as it is accepted, until ``restore()``. New connections are refused by a
  reset rather than by closing the listening socket, so that no other process
  can take the port meanwhile and ``.uri`` stays valid.
* ``randomize(seed, reset=0.05, delay=0.02, delay_seconds=1.0)``: each command
  request draws once from ``random.Random(seed)``: a reset at a random one of
  the three points with probability ``reset``, a delayed reply with
  probability ``delay``, a half-open connection with probability
  ``half_open``. The same seed and the same order of requests give the same
  faults. ``calm()`` ends random mode and drops faults not yet used.

``reset_next`` / ``delay_next`` / ``half_open_next`` take ``command=`` (only a
request whose command has that name, e.g. ``"insert"``) and ``times=`` (the next
that many such requests), and come before random mode. A request with the
``moreToCome`` flag (an unacknowledged write) gets no reply, so its
``after_request`` and ``after_reply`` faults act right after it is forwarded.

Which requests are faulted: the command name of every request is read
(OP_MSG, legacy OP_QUERY, OP_COMPRESSED with noop or zlib). ``hello`` and
``isMaster`` requests, which pymongo's monitors send and every new connection
starts with, are forwarded untouched unless ``FaultProxy(...,
faults_on_hello=True)``, so a fault hits a command and not server discovery.
``cut()`` applies to every connection.

``counts()`` has every name of ``COUNTS``: the fault kinds, ``connections``
(accepted), ``requests`` (commands), ``hello_requests``, ``replies`` (forwarded
to the client), ``upstream_unreachable`` (the server refused the proxy: the
client was reset) and ``protocol_errors``; ``faults()`` has only the fault
kinds of ``FAULT_KINDS``. ``errors`` lists anything unexpected that went wrong
inside the proxy (a bug, or bytes that are not the wire protocol), for a test
to assert empty.

Example, four worker processes with 5 % of requests reset::

    with FaultProxy(database_uri) as proxy:
        proxy.randomize(seed=1, reset=0.05)
        workers = [subprocess.Popen([sys.executable, "worker.py", proxy.uri]) for _ in range(4)]
        ...
        print(proxy.faults())
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Collection, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

__all__ = (
    "AFTER_REPLY",
    "AFTER_REQUEST",
    "BEFORE_REQUEST",
    "COUNTS",
    "FAULT_KINDS",
    "POINTS",
    "FaultProxy",
    "command_name",
    "proxied_uri",
)

Point = Literal["before_request", "after_request", "after_reply"]
BEFORE_REQUEST: Point = "before_request"
AFTER_REQUEST: Point = "after_request"
AFTER_REPLY: Point = "after_reply"
POINTS: tuple[Point, ...] = (BEFORE_REQUEST, AFTER_REQUEST, AFTER_REPLY)

FAULT_KINDS = (
    *(f"reset_{point}" for point in POINTS),
    "delay_forward",
    "delay_drop",
    *(f"half_open_{point}" for point in POINTS),
    "cut_reset",  # an open connection reset by cut()
    "cut_refused",  # a new connection reset while cut
)
COUNTS = ("connections", "requests", "hello_requests", "replies", "upstream_unreachable",
          "protocol_errors", *FAULT_KINDS)

OP_REPLY, OP_COMPRESSED, OP_QUERY, OP_MSG = 1, 2012, 2004, 2013
HELLO_NAMES = frozenset({"hello", "ismaster"})  # compared lower-cased: isMaster too
MAX_MESSAGE = 64 * 1024 * 1024  # above MongoDB's 48 MB maxMessageSizeBytes
_MORE_TO_COME = 1 << 1
_CHECKSUM_PRESENT = 1 << 0

_T = TypeVar("_T")


def proxied_uri(server_uri: str, host: str, port: int) -> str:
    """``server_uri`` with its host:port replaced by ``host:port`` and ``directConnection=true``
    added, keeping credentials, database path and options.

    Refuses (ValueError) a URI that is not ``mongodb://``, names more or fewer than one host,
    or sets ``directConnection`` to anything but true.
    """
    parts = urlsplit(server_uri)
    if parts.scheme != "mongodb":
        raise ValueError(
            f"the proxy needs a mongodb:// URI naming one host, not {parts.scheme}:// "
            f"({server_uri.split('@')[-1][:60]!r})")
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if not hosts or "," in hosts:
        raise ValueError(f"the proxy stands in for exactly one host, not {hosts!r}")
    options = [option for option in parts.query.split("&") if option]
    for option in options:
        key, _, value = option.partition("=")
        if key.lower() == "directconnection" and value.lower() != "true":
            raise ValueError(
                f"directConnection={value} would let pymongo connect around the proxy")
    if not any(option.lower().startswith("directconnection=") for option in options):
        options.append("directConnection=true")
    address = f"[{host}]" if ":" in host else host
    netloc = f"{userinfo}{at}{address}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", "&".join(options), ""))


def _first_key(message: bytes, document: int) -> str:
    """The first key of the BSON document at offset ``document`` ("" if it is empty)."""
    if message[document + 4] == 0:
        return ""
    start = document + 5  # past the int32 size and the element's type byte
    return message[start:message.index(b"\0", start)].decode("utf-8", "replace")


def command_name(message: bytes) -> str | None:
    """The command a whole request message carries (``"insert"``, ``"hello"``...), or None
    for a message that carries no readable command (a reply, snappy or zstd compression)."""
    opcode = int.from_bytes(message[12:16], "little")
    if opcode == OP_MSG:
        flags = int.from_bytes(message[16:20], "little")
        position, end = 20, len(message) - (4 if flags & _CHECKSUM_PRESENT else 0)
        while position < end:
            kind = message[position]
            if kind == 0:
                return _first_key(message, position + 1)
            position += 1 + int.from_bytes(message[position + 1:position + 5], "little")
        return None
    if opcode == OP_QUERY:
        # flags, then the collection's name as a C string, then numberToSkip, numberToReturn
        document = message.index(b"\0", 20) + 1 + 8
        name = _first_key(message, document)
        if name == "$query":  # {"$query": {command...}, "$readPreference": ...}
            return _first_key(message, document + 4 + 1 + len("$query") + 1)
        return name
    if opcode == OP_COMPRESSED:
        original, compressor, data = message[16:20], message[24], message[25:]
        if compressor == 0:
            inner = data
        elif compressor == 2:
            inner = zlib.decompress(data)
        else:
            return None
        return command_name(message[:12] + original + inner)
    return None


@dataclass(frozen=True)
class _Fault:
    kind: Literal["reset", "delay", "half_open"]
    point: Point
    seconds: float = 0.0
    then: Literal["forward", "drop"] = "forward"


@dataclass
class _Scheduled:
    fault: _Fault
    command: str | None
    times: int


@dataclass(frozen=True)
class _Random:
    rng: random.Random
    reset: float
    delay: float
    delay_seconds: float
    delay_then: Literal["forward", "drop"]
    half_open: float
    commands: frozenset[str] | None


class _ProtocolError(Exception):
    """Bytes that are not a wire-protocol message."""


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(4)
    length = int.from_bytes(head, "little", signed=True)
    if not 16 <= length <= MAX_MESSAGE:
        raise _ProtocolError(f"a message length of {length} bytes (a message is 16 to {MAX_MESSAGE})")
    return head + await reader.readexactly(length - 4)


def _abort(writer: asyncio.StreamWriter | None, rst: bool) -> None:
    if writer is None:
        return
    if rst:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:  # already closed by the peer
                pass
    writer.transport.abort()


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.server: asyncio.StreamWriter | None = None
        self.pending: dict[int, _Fault] = {}  # request id -> what to do with its reply
        self.silent = False  # half-open: nothing is forwarded any more
        self.closed = False

    def reset(self) -> None:
        if not self.closed:
            self.closed = True
            _abort(self.client, rst=True)
            _abort(self.server, rst=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for writer in (self.client, self.server):
                if writer is not None:
                    writer.close()


class FaultProxy:
    """A fault-injecting proxy in front of the one server ``server_uri`` names; see the module
    docstring. Refuses a URI it cannot stand in for (ValueError) and calls before ``start()``
    that need the running proxy (RuntimeError)."""

    def __init__(self, server_uri: str, *, faults_on_hello: bool = False,
                 listen_host: str = "127.0.0.1", listen_port: int = 0) -> None:
        proxied_uri(server_uri, listen_host, listen_port or 1)  # refuses a URI it cannot serve
        parts = urlsplit(server_uri)
        if parts.hostname is None:
            raise ValueError(f"no host in {server_uri!r}")
        self.server_uri = server_uri
        self.upstream = (parts.hostname, parts.port or 27017)
        self.faults_on_hello = faults_on_hello
        self.listen_host, self.port = listen_host, listen_port
        self.errors: list[str] = []
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._scheduled: list[_Scheduled] = []
        self._random: _Random | None = None
        self._cut = False
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None

    # -- running ------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The host the proxy listens on."""
        return self.listen_host

    @property
    def address(self) -> str:
        """``host:port`` the proxy listens on."""
        return f"{self.listen_host}:{self.port}"

    @property
    def uri(self) -> str:
        """The server's URI pointed at the proxy (see ``proxied_uri``); needs ``start()``."""
        self._running()
        return proxied_uri(self.server_uri, self.listen_host, self.port)

    def start(self) -> FaultProxy:
        """Listen (on a free port unless one was given) and forward, from a daemon thread."""
        if self._loop is not None:
            raise RuntimeError(f"the proxy at {self.address} is already running")
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="faultproxy", daemon=True)
        self._thread.start()
        self._loop = loop
        try:
            self._call(self._listen())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket and end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shut(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------------------

    def reset_next(self, point: Point = AFTER_REQUEST, *, command: str | None = None,
                   times: int = 1) -> None:
        """Reset the connection of the next ``times`` command requests (named ``command``, if
        given) at ``point``."""
        self._schedule(_Fault("reset", _point(point)), command, times)

    def delay_next(self, seconds: float, *, then: Literal["forward", "drop"] = "forward",
                   command: str | None = None, times: int = 1) -> None:
        """Hold the replies to the next ``times`` command requests for ``seconds``, then forward
        them, or drop them and reset the connection."""
        self._schedule(_Fault("delay", AFTER_REQUEST, _seconds(seconds), _then(then)), command,
                       times)

    def half_open_next(self, point: Point = BEFORE_REQUEST, *, command: str | None = None,
                       times: int = 1) -> None:
        """Stop forwarding on the connection of the next ``times`` command requests at
        ``point``, closing nothing."""
        self._schedule(_Fault("half_open", _point(point)), command, times)

    def randomize(self, seed: int, *, reset: float = 0.0, delay: float = 0.0,
                  delay_seconds: float = 1.0, delay_then: Literal["forward", "drop"] = "forward",
                  half_open: float = 0.0, commands: Collection[str] | None = None) -> None:
        """Fault each command request (named in ``commands``, if given) at random with these
        probabilities, drawn from ``random.Random(seed)``; refuses rates outside 0..1 or
        adding up to more than 1."""
        rates = {"reset": reset, "delay": delay, "half_open": half_open}
        for name, rate in rates.items():
            if not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
                raise ValueError(f"{name}={rate!r}: a rate is a number from 0 to 1")
        if sum(rates.values()) > 1:
            raise ValueError(f"the rates add up to {sum(rates.values())}, more than 1: {rates}")
        if isinstance(commands, str):
            raise ValueError(f"commands={commands!r}: give a collection of command names")
        chosen = _Random(random.Random(seed), reset, delay, _seconds(delay_seconds),
                         _then(delay_then), half_open,
                         None if commands is None else frozenset(commands))
        with self._lock:
            self._random = chosen

    def calm(self) -> None:
        """End random mode and forget scheduled faults not yet used (a cut stays cut)."""
        with self._lock:
            self._random = None
            self._scheduled.clear()

    def pending(self) -> int:
        """How many scheduled faults are still to be used."""
        with self._lock:
            return sum(plan.times for plan in self._scheduled)

    def cut(self) -> None:
        """Reset every open connection and every new one until ``restore()``; returns once the
        open ones are reset."""
        self._call(self._set_cut(True))

    def restore(self) -> None:
        """Accept and forward connections again after ``cut()``."""
        self._call(self._set_cut(False))

    @property
    def is_cut(self) -> bool:
        """Whether connections are being cut."""
        return self._cut

    def counts(self) -> dict[str, int]:
        """Everything counted so far, by the names in ``COUNTS`` (zeros included)."""
        with self._lock:
            return {key: self._counts[key] for key in COUNTS}

    def faults(self) -> dict[str, int]:
        """The faults injected so far, by kind (all of ``FAULT_KINDS``, zeros included)."""
        counts = self.counts()
        return {kind: counts[kind] for kind in FAULT_KINDS}

    # -- inside the loop ----------------------------------------------------------------------

    def _running(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the proxy is not running: call start() or use it in a with block")
        return self._loop

    def _call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        try:
            loop = self._running()
        except RuntimeError:
            coroutine.close()
            raise
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=10)

    def _schedule(self, fault: _Fault, command: str | None, times: int) -> None:
        if not isinstance(times, int) or times < 1:
            raise ValueError(f"times={times!r}: a fault is scheduled for 1 or more requests")
        if command is not None and not isinstance(command, str):
            raise ValueError(f"command={command!r}: a command name is a string")
        with self._lock:
            self._scheduled.append(_Scheduled(fault, command, times))

    def _count(self, key: str) -> None:
        if key not in COUNTS:
            raise KeyError(f"{key!r} is not one of the proxy's counts")
        with self._lock:
            self._counts[key] += 1

    def _choose(self, name: str | None) -> _Fault | None:
        with self._lock:
            self._counts["requests"] += 1
            for index, plan in enumerate(self._scheduled):
                if plan.command is None or plan.command == name:
                    plan.times -= 1
                    if not plan.times:
                        del self._scheduled[index]
                    return plan.fault
            chance = self._random
            if chance is None or (chance.commands is not None and name not in chance.commands):
                return None
            draw = chance.rng.random()
            if draw < chance.reset:
                return _Fault("reset", chance.rng.choice(POINTS))
            if draw < chance.reset + chance.delay:
                return _Fault("delay", AFTER_REQUEST, chance.delay_seconds, chance.delay_then)
            if draw < chance.reset + chance.delay + chance.half_open:
                return _Fault("half_open", chance.rng.choice(POINTS))
            return None

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.listen_host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shut(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.reset()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)

    async def _set_cut(self, cut: bool) -> None:
        self._cut = cut
        if cut:
            for link in list(self._links):
                if not link.closed:
                    self._count("cut_reset")
                    link.reset()

    async def _serve(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        link = _Link(client_writer)
        self._links.add(link)
        try:
            self._count("connections")
            if self._cut:
                self._count("cut_refused")
                link.reset()
                return
            try:
                server_reader, link.server = await asyncio.open_connection(*self.upstream)
            except OSError:
                self._count("upstream_unreachable")
                link.reset()
                return
            if link.closed:  # cut while connecting
                _abort(link.server, rst=True)
                return
            for writer in (client_writer, link.server):
                # drain() then waits until a message is in the kernel, before a reset may follow
                writer.transport.set_write_buffer_limits(high=0)
            await self._pump(link, client_reader, server_reader)
        except Exception as err:  # a bug in the proxy: reported, not swallowed
            self.errors.append(f"{type(err).__name__}: {err}")
            link.reset()
        finally:
            link.close()
            self._links.discard(link)
            self._handlers.discard(handler)

    async def _pump(self, link: _Link, client_reader: asyncio.StreamReader,
                    server_reader: asyncio.StreamReader) -> None:
        tasks = [asyncio.ensure_future(self._requests(link, client_reader)),
                 asyncio.ensure_future(self._replies(link, server_reader))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = task.exception()
            if isinstance(error, _ProtocolError):
                self._count("protocol_errors")
                self.errors.append(f"not the wire protocol: {error}")
                link.reset()
            elif error is not None and not isinstance(error, _GONE):
                raise error

    async def _requests(self, link: _Link, reader: asyncio.StreamReader) -> None:
        assert link.server is not None
        while True:
            message = await _read_message(reader)
            if link.silent:
                continue
            name = command_name(message)
            if name is not None and name.lower() in HELLO_NAMES and not self.faults_on_hello:
                self._count("hello_requests")
                fault = None
            else:
                fault = self._choose(name)
            if fault is not None and fault.point == BEFORE_REQUEST:
                self._count(f"{fault.kind}_{fault.point}")
                if fault.kind == "reset":
                    link.reset()
                    return
                link.silent = True
                continue
            link.server.write(message)
            await link.server.drain()
            if fault is None:
                continue
            flags = int.from_bytes(message[16:20], "little")
            if int.from_bytes(message[12:16], "little") == OP_MSG and flags & _MORE_TO_COME:
                if fault.kind == "delay":
                    continue  # no reply to hold
                self._count(f"{fault.kind}_{fault.point}")
                if fault.kind == "reset":
                    link.reset()
                    return
                link.silent = True
                continue
            link.pending[int.from_bytes(message[4:8], "little", signed=True)] = fault

    async def _replies(self, link: _Link, reader: asyncio.StreamReader) -> None:
        client = link.client
        while True:
            message = await _read_message(reader)
            if link.silent:
                continue
            fault = link.pending.pop(int.from_bytes(message[8:12], "little", signed=True), None)
            if fault is not None and fault.kind == "delay":
                self._count(f"delay_{fault.then}")
                await asyncio.sleep(fault.seconds)
                if fault.then == "drop":
                    link.reset()
                    return
            elif fault is not None and fault.point == AFTER_REQUEST:
                self._count(f"{fault.kind}_{fault.point}")
                if fault.kind == "reset":
                    link.reset()
                    return
                link.silent = True
                continue
            client.write(message)
            await client.drain()
            self._count("replies")
            if fault is not None and fault.point == AFTER_REPLY:
                self._count(f"{fault.kind}_{fault.point}")
                if fault.kind == "reset":
                    link.reset()
                    return
                link.silent = True


# How a pump ends when either end goes away; the other pump is then stopped too.
_GONE = (asyncio.IncompleteReadError, ConnectionError, OSError)


def _point(point: str) -> Point:
    if point not in POINTS:
        raise ValueError(f"point={point!r}: expected one of {', '.join(POINTS)}")
    return point


def _seconds(seconds: float) -> float:
    if not isinstance(seconds, (int, float)) or not 0 < seconds <= 3600:
        raise ValueError(f"seconds={seconds!r}: a delay is more than 0 and at most 3600 seconds")
    return float(seconds)


def _then(then: str) -> Literal["forward", "drop"]:
    if then not in ("forward", "drop"):
        raise ValueError(f"then={then!r}: expected 'forward' or 'drop'")
    return then  # type: ignore[return-value]
