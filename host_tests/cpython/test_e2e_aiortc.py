"""End to end: examples/device.py (MicroPython Unix port, or CPython) with aiortc as the browser.

Issue 8 item 6(a), (c), (d). On MicroPython the device starts with its board's budget free in one
block after its imports, as on a board running frozen bytecode (tools/board_heap.py and
tools/as_frozen.py). (a) and the first two-clients test run the esp32s3 profile (64 KiB
max-message-size, two sessions); (d) runs the esp32 profile's 110 KB with two session slots
(`--sessions 2`); with its default one slot it serves session after session; the restart and
demo tests run the Pico W profile (160 KB).
"""

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from host_tests.cpython import mpy_tree

aioice = pytest.importorskip("aioice")
aiortc = pytest.importorskip("aiortc")

ROOT = mpy_tree.ROOT
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import board_heap  # noqa: E402
from whep_client import WhepClient, gather_on_loopback, http_request  # noqa: E402

_ARGV = {}


def free_port():
    return mpy_tree.free_port()


class DeviceProcess:
    """examples/device.py in a subprocess on one runtime and board; stopped by pid."""

    def __init__(self, runtime, mpy_dir, port, board="picow", args=()):
        self.runtime = runtime
        self.mpy_dir = mpy_dir
        self.port = port
        self.board = board
        self.args = list(args)
        self.proc = None

    def argv(self):
        if self.runtime != "micropython":
            return [sys.executable, "examples/device.py"]
        key = (self.board, self.mpy_dir)
        if key not in _ARGV:
            _ARGV[key] = board_heap.argv(self.board, self.mpy_dir, "examples/device.py")
        return _ARGV[key]

    def start(self):
        env = dict(os.environ)
        if self.runtime == "micropython":
            env["MICROPYPATH"] = self.mpy_dir + ":.frozen"
        self.proc = subprocess.Popen(
            self.argv() + ["--port", str(self.port), "--board", self.board] + self.args,
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening http://"), line + self._rest()
        return self

    def _rest(self):
        if self.proc.poll() is None:
            return ""
        return self.proc.stdout.read()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _device(request, board, args=()):
    gather_on_loopback()
    mpy = request.getfixturevalue("mpy_dir") if request.param == "micropython" else None
    dev = DeviceProcess(request.param, mpy, free_port(), board, args).start()
    request.addfinalizer(dev.stop)
    return dev


@pytest.fixture(params=["micropython", "cpython"])
def device(request):
    return _device(request, "picow")


@pytest.fixture(params=["micropython", "cpython"])
def roomy_device(request):
    return _device(request, "esp32s3")


@pytest.fixture(params=["micropython", "cpython"])
def esp32_device(request):
    return _device(request, "esp32")


@pytest.fixture(params=["micropython", "cpython"])
def esp32_two_sessions(request):
    return _device(request, "esp32", ["--sessions", "2"])


async def _wait(predicate, seconds):
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.02)


def test_echo_unordered_telemetry_delete(roomy_device):
    async def run():
        c = WhepClient("127.0.0.1", roomy_device.port)
        echo = c.channel("echo")
        lossy = c.channel("lossy", ordered=False, maxRetransmits=0)
        tel = c.channel("telemetry")
        await c.connect()
        await asyncio.wait_for(echo.opened.wait(), 10)
        # 100 messages of 0 to 64 KiB (the esp32s3's max-message-size), text and binary, at
        # most 4 in flight (the device holds a few echoes while its send buffer drains).
        sent = []
        got = []
        for i in range(100):
            size = (i * 65536) // 99
            if i % 2:
                msg = bytes((i + k) & 0xFF for k in range(size))
            else:
                msg = ("t%d" % i + "x" * size)[0:max(size, 1)]
            sent.append(msg)
            echo.send(msg)
            if len(sent) - len(got) >= 4:
                got.append(await asyncio.wait_for(echo.inbox.get(), 30))
        while len(got) < len(sent):
            got.append(await asyncio.wait_for(echo.inbox.get(), 30))
        assert got == sent  # byte-exact, in order, text stays text, binary stays binary
        await asyncio.wait_for(lossy.opened.wait(), 5)
        lossy.send(b"unordered")
        assert await asyncio.wait_for(lossy.inbox.get(), 5) == b"unordered"
        line = json.loads(await asyncio.wait_for(tel.inbox.get(), 5))
        assert line["uptime_ms"] > 0 and line["bytes_sent"] > 0 and "free_heap" in line
        assert await c.delete() == 200
        await _wait(lambda: c.pc.connectionState in ("closed", "failed"), 10)
        await c.pc.close()

    asyncio.run(run())


def test_two_clients_then_third_refused(roomy_device):
    device = roomy_device

    async def run():
        clients = []
        for _ in range(2):
            c = WhepClient("127.0.0.1", device.port)
            c.echo = c.channel("echo")
            await c.connect()
            clients.append(c)
        for i, c in enumerate(clients):
            await asyncio.wait_for(c.echo.opened.wait(), 10)
            c.echo.send("client %d" % i)
        for i, c in enumerate(clients):
            assert await asyncio.wait_for(c.echo.inbox.get(), 5) == "client %d" % i
        third = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        third.createDataChannel("x")
        await third.setLocalDescription(await third.createOffer())
        st, _loc, body = http_request("127.0.0.1", device.port, "POST", "/whep",
                                      third.localDescription.sdp.encode(), "application/sdp")
        assert st == 503 and b"max_sessions" in body
        await third.close()
        for c in clients:
            assert await c.delete() == 200
            await c.pc.close()

    asyncio.run(run())


def test_esp32_serves_session_after_session(esp32_device):
    """On esp32's 110 KB: a second client is refused while one is connected; then sessions keep
    being accepted, each echoing 4 KiB (the profile's largest message) and ended by DELETE:
    the slot's buffers are reused, so the heap does not fragment session by session."""

    async def run():
        first = WhepClient("127.0.0.1", esp32_device.port)
        first.echo = first.channel("echo")
        await first.connect()
        await asyncio.wait_for(first.echo.opened.wait(), 15)
        st, _loc, body = http_request("127.0.0.1", esp32_device.port, "POST", "/whep",
                                      first.pc.localDescription.sdp.encode(), "application/sdp")
        assert st == 503 and b"max_sessions" in body
        clients = [first]
        for i in range(6):
            c = clients[-1]
            # One at a time: two 4 KiB echoes exceed esp32's 4 KB send buffer, and the device
            # then holds a copy (docs/memory.md).
            for msg in ((("session %d " % i) * 410)[0:4096],
                        bytes((i + k) & 0xFF for k in range(4096))):
                c.echo.send(msg)
                assert await asyncio.wait_for(c.echo.inbox.get(), 15) == msg
            st, _loc, body = http_request("127.0.0.1", esp32_device.port, "DELETE", c.location)
            assert st == 200, body
            await c.pc.close()
            # As a person would: a reconnect within ~50 ms can find the last session's objects
            # still in the heap and get 503 with Retry-After (docs/memory.md).
            await asyncio.sleep(0.3)
            if i < 5:
                c = WhepClient("127.0.0.1", esp32_device.port)
                c.echo = c.channel("echo")
                await c.connect()
                await asyncio.wait_for(c.echo.opened.wait(), 15)
                clients.append(c)

    asyncio.run(run())


def test_esp32_heap_holds_two_clients_at_once(esp32_two_sessions):
    """Issue 8 6(d): the esp32 profile's 110 KB (on x64, whose words and GC blocks make objects
    take up to twice a board's bytes) with two session slots. Two clients connect, then both
    echo 4 KiB text and binary at once; a third is refused for max_sessions (before its offer
    is read); both still echo; after both hang up a new client is served."""
    port = esp32_two_sessions.port

    async def echo(c, msg):
        c.echo.send(msg)
        assert await asyncio.wait_for(c.echo.inbox.get(), 15) == msg

    async def connect():
        # 503 "short of memory; retry shortly" with Retry-After: 1 is the device's answer when
        # the heap has no block for the offer just then (1 run in ~25: reading a 0.9 KB body);
        # a WHEP client retries as asked. Any other refusal, or a third, fails the test.
        for attempt in range(3):
            c = WhepClient("127.0.0.1", port)
            c.echo = c.channel("echo")
            try:
                await c.connect()
                break
            except AssertionError as e:
                await c.pc.close()
                assert "503: the device is short of memory" in str(e) and attempt < 2, e
                await asyncio.sleep(1)
        await asyncio.wait_for(c.echo.opened.wait(), 15)
        return c

    async def run():
        clients = [await connect(), await connect()]
        for k in range(2):
            msgs = [((("client %d " % i) * 410)[0:4096] if k == 0 else
                     bytes((i + j) & 0xFF for j in range(4096))) for i in range(2)]
            await asyncio.gather(*[echo(c, m) for c, m in zip(clients, msgs)])
        st, _loc, body = http_request("127.0.0.1", port, "POST", "/whep",
                                      clients[0].pc.localDescription.sdp.encode(),
                                      "application/sdp")
        assert st == 503 and b"max_sessions" in body, body
        await asyncio.gather(*[echo(c, "still here") for c in clients])
        for c in clients:
            assert await c.delete() == 200
            await c.pc.close()
        await asyncio.sleep(0.3)
        c = await connect()
        await echo(c, bytes(range(256)) * 16)
        assert await c.delete() == 200
        await c.pc.close()

    asyncio.run(run())


def test_one_session_board_refuses_a_second_and_keeps_the_first(device):
    async def run():
        first = WhepClient("127.0.0.1", device.port)
        first.echo = first.channel("echo")
        await first.connect()
        await asyncio.wait_for(first.echo.opened.wait(), 10)
        second = WhepClient("127.0.0.1", device.port)
        second.channel("echo")
        try:
            await second.connect()
        except AssertionError as e:
            assert "503" in str(e) and "max_sessions" in str(e)
        else:
            raise AssertionError("a one-session device accepted a second session")
        await second.pc.close()
        first.echo.send("still here")
        assert await asyncio.wait_for(first.echo.inbox.get(), 5) == "still here"
        assert await first.delete() == 200
        await first.pc.close()

    asyncio.run(run())


def test_device_restart_is_seen_and_a_new_session_works(device, monkeypatch):
    # aioice checks consent every 5 s and gives up after 6 misses (30 s); 1 s keeps this short.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 1)

    async def run():
        c = WhepClient("127.0.0.1", device.port)
        c.echo = c.channel("echo")
        await c.connect()
        await asyncio.wait_for(c.echo.opened.wait(), 10)
        device.stop()
        device.start()
        # The old session's peer vanished: aiortc notices (consent / SCTP) and fails or closes.
        # Usually within ~8 s; on a loaded 2-core CI machine it has taken longer than 20 s.
        c.echo.send("anyone?")
        await _wait(lambda: c.pc.connectionState in ("failed", "closed"), 45)
        await c.pc.close()
        d = WhepClient("127.0.0.1", device.port)
        d.echo = d.channel("echo")
        await d.connect()
        await asyncio.wait_for(d.echo.opened.wait(), 10)
        d.echo.send("again")
        assert await asyncio.wait_for(d.echo.inbox.get(), 5) == "again"
        await d.pc.close()

    asyncio.run(run())


def test_demo_client_report(device):
    """examples/whep_client.py, the client tools/demo runs, completes against the device."""
    report = asyncio.run(__import__("whep_client").demo_session("127.0.0.1", device.port, 4, 1))
    assert report[0].startswith("connected") and report[-1].endswith("-> 200")
    assert sum(1 for line in report if line.endswith(" ok")) == 4
