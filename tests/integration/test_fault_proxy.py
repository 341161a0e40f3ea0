"""The fault proxy, with real pymongo through it to the real server: each fault does what it says."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
import uuid
import zlib

import bson
import pytest
from pymongo import MongoClient
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

from conftest import TEST_DB_PREFIX, with_database
from faultproxy import FAULT_KINDS, FaultProxy, command_name, proxied_uri

# Small timeouts keep each test quick; no retries, so every fault reaches the caller.
OPTIONS = {"serverSelectionTimeoutMS": 2000, "connectTimeoutMS": 1000, "socketTimeoutMS": 500,
           "retryWrites": False, "retryReads": False}
DATABASE = f"{TEST_DB_PREFIX}faultproxy_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def direct(server_uri):
    """The test database, reached without the proxy, to see what was really stored."""
    client = MongoClient(with_database(server_uri, DATABASE), **OPTIONS)
    yield client[DATABASE]
    client.drop_database(DATABASE)
    client.close()


@pytest.fixture
def proxy(server_uri):
    with FaultProxy(with_database(server_uri, DATABASE)) as running:
        yield running
    assert running.errors == []


@pytest.fixture
def connect(proxy):
    """MongoClients through the proxy (OPTIONS unless overridden), closed after the test."""
    clients = []

    def make(**options):
        clients.append(MongoClient(proxy.uri, **{**OPTIONS, **options}))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def collection(direct, connect, request):
    """This test's collection through the proxy (the server already selected), emptied first."""
    name = request.node.name[:60]
    direct[name].delete_many({})
    proxied = connect().get_default_database()[name]
    proxied.find_one()
    return proxied


def stored(direct, collection, doc_id):
    return direct[collection.name].find_one({"_id": doc_id}) is not None


def wait_until(condition, seconds=5.0):
    """Whether ``condition()`` became true within ``seconds`` (polled, never longer)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def others_zero(proxy, *kinds):
    return {kind: n for kind, n in proxy.faults().items() if kind not in kinds and n}


def test_without_faults_every_command_passes_and_is_counted(proxy, collection, direct):
    collection.insert_one({"_id": 1})
    assert collection.find_one({"_id": 1}) == {"_id": 1}
    counts = proxy.counts()
    assert counts["requests"] >= 3  # the fixture's find, the insert, the find
    assert counts["replies"] >= counts["requests"]  # hello replies too
    assert counts["hello_requests"] >= 2  # the monitor's and the pooled connection's handshake
    assert proxy.faults() == dict.fromkeys(FAULT_KINDS, 0)
    assert stored(direct, collection, 1)


def test_reset_before_the_request_fails_the_call_and_nothing_is_stored(proxy, collection, direct):
    proxy.reset_next("before_request", command="insert")
    with pytest.raises(AutoReconnect) as raised:
        collection.insert_one({"_id": "lost"})
    assert not isinstance(raised.value, NetworkTimeout), "a reset, not a timeout"
    assert not stored(direct, collection, "lost")
    assert proxy.faults()["reset_before_request"] == 1
    assert others_zero(proxy, "reset_before_request") == {}
    collection.insert_one({"_id": "next"})  # the proxy goes on forwarding
    assert stored(direct, collection, "next")


def test_reset_after_the_request_fails_the_call_yet_the_write_is_stored(proxy, collection, direct):
    proxy.reset_next("after_request", command="insert")
    with pytest.raises(AutoReconnect) as raised:
        collection.insert_one({"_id": "applied"})
    assert not isinstance(raised.value, NetworkTimeout)
    assert stored(direct, collection, "applied")
    assert proxy.faults()["reset_after_request"] == 1
    assert others_zero(proxy, "reset_after_request") == {}


def test_reset_after_the_reply_lets_the_call_succeed_and_kills_its_connection(
        proxy, connect, direct):
    proxied = connect(maxPoolSize=1).get_default_database()["after_reply"]
    direct["after_reply"].delete_many({})
    proxied.find_one()
    proxy.reset_next("after_reply", command="insert")
    proxied.insert_one({"_id": "answered"})
    assert stored(direct, proxied, "answered")
    assert proxy.faults()["reset_after_reply"] == 1
    with pytest.raises(AutoReconnect):  # the one pooled connection was reset
        proxied.find_one({"_id": "answered"})
    assert proxied.find_one({"_id": "answered"}) == {"_id": "answered"}
    assert others_zero(proxy, "reset_after_reply") == {}


def test_a_reply_delayed_past_the_socket_timeout_times_out_and_the_write_is_stored(
        proxy, collection, direct):
    proxy.delay_next(1.5, command="insert")
    started = time.monotonic()
    with pytest.raises(NetworkTimeout):
        collection.insert_one({"_id": "late"})
    assert time.monotonic() - started < 1.5, "the client gave up before the reply came"
    assert wait_until(lambda: stored(direct, collection, "late"))
    assert proxy.faults()["delay_forward"] == 1
    assert others_zero(proxy, "delay_forward") == {}


def test_a_reply_delayed_within_the_timeout_arrives_late(proxy, collection, direct):
    proxy.delay_next(0.3, command="insert")
    started = time.monotonic()
    assert collection.insert_one({"_id": "slow"}).acknowledged
    assert time.monotonic() - started >= 0.3
    assert proxy.faults()["delay_forward"] == 1


def test_a_delayed_reply_dropped_resets_the_connection_after_the_delay(proxy, connect, direct):
    proxied = connect(socketTimeoutMS=None).get_default_database()["dropped"]
    direct["dropped"].delete_many({})
    proxied.find_one()
    proxy.delay_next(0.3, then="drop", command="insert")
    started = time.monotonic()
    with pytest.raises(AutoReconnect) as raised:
        proxied.insert_one({"_id": "unanswered"})
    assert not isinstance(raised.value, NetworkTimeout)
    assert time.monotonic() - started >= 0.3
    assert stored(direct, proxied, "unanswered")
    assert proxy.faults()["delay_drop"] == 1


def test_a_half_open_connection_times_the_call_out(proxy, collection, direct):
    proxy.half_open_next("before_request", command="insert")
    started = time.monotonic()
    with pytest.raises(NetworkTimeout):
        collection.insert_one({"_id": "unsent"})
    assert 0.4 < time.monotonic() - started < 2.0  # the client's socketTimeoutMS, 500 ms
    assert not stored(direct, collection, "unsent")
    proxy.half_open_next("after_request", command="insert")
    with pytest.raises(NetworkTimeout):
        collection.insert_one({"_id": "sent"})
    assert stored(direct, collection, "sent")
    faults = proxy.faults()
    assert (faults["half_open_before_request"], faults["half_open_after_request"]) == (1, 1)
    assert others_zero(proxy, "half_open_before_request", "half_open_after_request") == {}


def test_a_cut_fails_calls_with_a_selection_timeout_and_a_restore_brings_them_back(
        proxy, connect, collection, direct):
    proxy.cut()
    assert proxy.is_cut
    assert proxy.faults()["cut_reset"] >= 2  # the monitor's connection and the pooled one
    errors = []
    for _ in range(3):  # the pooled connection, reset, fails first; then selection does
        with pytest.raises(ConnectionFailure) as raised:
            collection.insert_one({"_id": "during"})
        errors.append(raised.value)
        if isinstance(raised.value, ServerSelectionTimeoutError):
            break
    assert isinstance(errors[-1], ServerSelectionTimeoutError), errors
    fresh = connect(serverSelectionTimeoutMS=500)
    with pytest.raises(ServerSelectionTimeoutError):
        fresh.admin.command("ping")
    assert proxy.faults()["cut_refused"] >= 1
    assert not stored(direct, collection, "during")

    proxy.restore()
    assert not proxy.is_cut
    collection.insert_one({"_id": "after"})
    assert connect().admin.command("ping")["ok"] == 1  # a new client finds the server too
    assert stored(direct, collection, "after")


def test_hello_is_left_alone_unless_asked(server_uri):
    uri = with_database(server_uri, DATABASE)
    with FaultProxy(uri) as proxy:
        proxy.randomize(seed=1, reset=1.0)
        with MongoClient(proxy.uri, **OPTIONS) as client:
            with pytest.raises(AutoReconnect) as raised:  # the server was found; the ping reset
                client.admin.command("ping")
        assert not isinstance(raised.value, ServerSelectionTimeoutError)
        assert proxy.counts()["hello_requests"] >= 1
    with FaultProxy(uri, faults_on_hello=True) as proxy:
        proxy.randomize(seed=1, reset=1.0)  # before the client's monitor says hello
        with MongoClient(proxy.uri, **{**OPTIONS, "serverSelectionTimeoutMS": 500}) as client:
            with pytest.raises(ServerSelectionTimeoutError):
                client.admin.command("ping")
        assert proxy.counts()["hello_requests"] == 0
        assert sum(proxy.faults().values()) >= 1


def test_random_faults_come_at_about_the_rates_asked(proxy, collection, direct):
    requests, acknowledged, attempted = 300, set(), set()
    proxy.randomize(seed=20261127, reset=0.05, delay=0.02, delay_seconds=0.05)
    before = proxy.counts()["requests"]
    for n in range(requests):
        attempted.add(n)
        try:
            collection.insert_one({"_id": n})
            acknowledged.add(n)
        except ConnectionFailure:
            pass
    proxy.calm()
    faults, seen = proxy.faults(), proxy.counts()["requests"] - before
    resets = sum(faults[f"reset_{point}"] for point in ("before_request", "after_request",
                                                         "after_reply"))
    print(f"\n{seen} requests, faults: { {k: n for k, n in faults.items() if n} }")
    # A reset after a reply fails the next call before its request reaches the proxy.
    assert requests - faults["reset_after_reply"] <= seen <= requests
    assert 0.02 * seen <= resets <= 0.10 * seen
    assert all(faults[f"reset_{point}"] for point in ("before_request", "after_request",
                                                       "after_reply"))
    assert 1 <= faults["delay_forward"] <= 0.05 * seen
    stored_ids = {doc["_id"] for doc in direct[collection.name].find()}
    assert acknowledged <= stored_ids <= attempted
    assert len(acknowledged) < requests


def test_the_same_seed_faults_the_same_requests(proxy, collection):
    def faulted_calls(seed):
        proxy.randomize(seed=seed, delay=0.1, delay_seconds=0.01)
        slow = []
        for n in range(60):
            delayed = proxy.faults()["delay_forward"]
            collection.find_one({"_id": n})
            if proxy.faults()["delay_forward"] > delayed:
                slow.append(n)
        proxy.calm()
        return slow

    first = faulted_calls(5)
    assert first, "no request was delayed at a 10 % rate over 60"
    assert faulted_calls(5) == first
    assert faulted_calls(6) != first


def test_a_worker_process_goes_through_the_proxy(proxy, direct):
    direct["workers"].delete_many({})
    proxy.reset_next("after_request", command="insert")
    worker = (
        "import sys\n"
        "from pymongo import MongoClient\n"
        "from pymongo.errors import AutoReconnect\n"
        "db = MongoClient(sys.argv[1], retryWrites=False).get_default_database()\n"
        "for n in range(20):\n"
        "    try:\n"
        "        db.workers.insert_one({'_id': n})\n"
        "    except AutoReconnect:\n"
        "        print('failed', n)\n")
    done = subprocess.run([sys.executable, "-c", worker, proxy.uri], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["failed", "0"]
    assert sorted(doc["_id"] for doc in direct["workers"].find()) == list(range(20))
    assert proxy.faults()["reset_after_request"] == 1


def test_the_proxied_uri_keeps_the_database_and_options():
    uri = proxied_uri("mongodb://u:p@db.internal:27017/roleplay?w=majority&appName=a", "h", 9)
    assert uri == "mongodb://u:p@h:9/roleplay?w=majority&appName=a&directConnection=true"
    assert proxied_uri("mongodb://db:1", "::1", 9) == "mongodb://[::1]:9/?directConnection=true"
    for refused, says in [("mongodb+srv://cluster.example/db", "mongodb://"),
                          ("mongodb://a:1,b:2/db", "exactly one host"),
                          ("mongodb://a:1/db?directConnection=false", "around the proxy")]:
        with pytest.raises(ValueError, match=says):
            proxied_uri(refused, "h", 9)


def test_bad_fault_settings_are_refused_naming_what_is_wrong(server_uri):
    proxy = FaultProxy(server_uri)
    for call, says in [(lambda: proxy.reset_next("sometime"), "point='sometime'"),
                       (lambda: proxy.delay_next(0), "seconds=0"),
                       (lambda: proxy.delay_next(1, then="later"), "then='later'"),
                       (lambda: proxy.half_open_next(times=0), "times=0"),
                       (lambda: proxy.randomize(1, reset=1.5), "reset=1.5"),
                       (lambda: proxy.randomize(1, reset=0.6, delay=0.6), "more than 1"),
                       (lambda: proxy.randomize(1, commands="insert"), "collection")]:
        with pytest.raises(ValueError, match=says):
            call()
    assert proxy.pending() == 0
    with pytest.raises(RuntimeError, match="not running"):
        proxy.cut()
    with pytest.raises(RuntimeError, match="not running"):
        proxy.uri  # noqa: B018


def test_command_names_are_read_from_each_kind_of_request():
    command = bson.encode({"isMaster": 1, "helloOk": True})
    op_msg = struct.pack("<iiiiI", 21 + len(command), 7, 0, 2013, 0) + b"\0" + command
    assert command_name(op_msg) == "isMaster"
    wrapped = bson.encode({"$query": {"insert": "c"}, "$readPreference": {"mode": "primary"}})
    body = struct.pack("<i", 0) + b"admin.$cmd\0" + struct.pack("<ii", 0, -1)
    for document, name in [(command, "isMaster"), (wrapped, "insert")]:
        op_query = struct.pack("<iiii", 16 + len(body) + len(document), 8, 0, 2004)
        assert command_name(op_query + body + document) == name
    packed = zlib.compress(op_msg[16:])
    compressed = struct.pack("<iiiiiiB", 25 + len(packed), 9, 0, 2012, 2013, len(op_msg) - 16, 2)
    assert command_name(compressed + packed) == "isMaster"
    reply = struct.pack("<iiii", 16, 10, 7, 1)
    assert command_name(reply) is None


def test_bytes_that_are_not_the_wire_protocol_are_refused_and_reported(server_uri):
    with FaultProxy(server_uri) as proxy:
        with socket.create_connection((proxy.host, proxy.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
            try:
                assert sock.recv(1024) == b""
            except ConnectionResetError:
                pass
        assert wait_until(lambda: proxy.counts()["protocol_errors"] == 1)
        assert proxy.errors == [
            "not the wire protocol: a message length of 542393671 bytes (a message is 16 to "
            "67108864)"]
