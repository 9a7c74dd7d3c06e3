"""Interop: aiortc's SCTP and data channels <-> ours, over a real DTLS connection on loopback UDP.

aiortc side: `RTCDtlsTransport` + `RTCSctpTransport` + `RTCDataChannel`, driven directly (no
RTCPeerConnection, no SDP); its ICE transport is a stand-in giving a UDP socket on 127.0.0.1 (the
role and a datagram pipe are all RTCDtlsTransport uses). Our side: `dtls.Connection` ->
`sctp.Association` -> `DataChannels` on CPython in the same event loop, on its own UDP socket.
Both sides send INIT (as WebRTC does), so the INIT collision path is exercised too.

`test_aiortc_interop_process` runs our side as a separate process, `sctp_peer.py`, on the
MicroPython Unix port (and on CPython), which opens its channels, echoes the peer's and closes a
channel on the text "close".
"""

import asyncio
import os
import socket
import sys
import tempfile

import pytest

aiortc = pytest.importorskip("aiortc")

from aiortc.rtcdatachannel import RTCDataChannel, RTCDataChannelParameters  # noqa: E402
from aiortc.rtcdtlstransport import (  # noqa: E402
    RTCCertificate,
    RTCDtlsFingerprint,
    RTCDtlsParameters,
    RTCDtlsTransport,
)
from aiortc.rtcsctptransport import RTCSctpCapabilities, RTCSctpTransport  # noqa: E402

import boards  # noqa: E402
from rtc_micro import compat, events  # noqa: E402
from rtc_micro.crypto import x509  # noqa: E402
from rtc_micro.datachannel import OPEN, DataChannels  # noqa: E402
from rtc_micro.dtls.connection import Connection  # noqa: E402
from rtc_micro.sctp.association import Association  # noqa: E402

from host_tests.cpython import mpy_tree  # noqa: E402

LIMIT_S = 25
MIB = 1024 * 1024
# 1 MiB messages: the whole message must fit our send ring, chunk slots and message buffer.
PROFILE = boards.load("unix").derive(
    max_message_size=MIB, sctp_send_buffer=2 * MIB, sctp_max_chunks_in_flight=2048,
    sctp_reassembly_bytes=512 * 1024, sctp_rwnd=256 * 1024,
)


def pattern(n, seed):
    return bytes((i * 31 + seed) & 0xFF for i in range(256)) * (n // 256) + bytes(n % 256)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, on_datagram):
        self.on_datagram = on_datagram

    def datagram_received(self, data, addr):
        self.on_datagram(data)


class UdpIce:
    """The part of RTCIceTransport that RTCDtlsTransport uses, over a loopback UDP socket."""

    def __init__(self, role):
        self.role = role
        self.queue = asyncio.Queue()
        self.udp = None
        self.peer = None

    async def open(self):
        loop = asyncio.get_running_loop()
        self.udp, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self.queue.put_nowait), local_addr=("127.0.0.1", 0))
        return self.udp.get_extra_info("sockname")

    async def _recv(self):
        data = await self.queue.get()
        if data is None:
            raise ConnectionError
        return data

    async def _send(self, data):
        self.udp.sendto(data, self.peer)


class Ours:
    """Our DTLS + SCTP + data channels on a UDP socket, pumped from the event loop."""

    def __init__(self, role, remote_fp):
        self.cert = x509.Certificate.generate()
        self.dtls = Connection(PROFILE, role, self.cert, remote_fp)
        self.dc = DataChannels(Association(PROFILE), role == "client")
        self.rx = bytearray(PROFILE.rx_buffer)
        self.opened = []
        self.closed = []
        self.msgs = []
        self.udp = None
        self.peer = None
        self.wake = asyncio.Event()

    async def open(self):
        loop = asyncio.get_running_loop()
        self.udp, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self._datagram), local_addr=("127.0.0.1", 0))
        return self.udp.get_extra_info("sockname")

    def _datagram(self, data):
        buf = bytearray(data)
        self.dtls.handle_packet(buf, len(buf), compat.ticks_ms())
        self.pump()

    def pump(self):
        now = compat.ticks_ms()
        for m in (self.dtls, self.dc):
            t = m.poll_timeout()
            if t is not None and compat.ticks_diff(now, t) >= 0:
                m.handle_timeout(now)
        busy = True
        while busy:
            busy = False
            while True:
                k = self.dtls.poll_event()
                if not k:
                    break
                busy = True
                if k == events.DTLS_CONNECTED:
                    self.dc.association.connect(now)
                elif k == events.DTLS_DATA:
                    n = self.dtls.ev_len
                    self.rx[0:n] = self.dtls.ev_buf[self.dtls.ev_off : self.dtls.ev_off + n]
                    self.dc.handle_packet(self.rx, n, now)
            while self.dtls.connected:
                n = self.dc.poll_transmit()
                if not n:
                    break
                busy = True
                if not self.dtls.send(self.dc.out_data, 0, n, now):
                    break  # DTLS ring full: SCTP retransmits what was lost
                self._flush()
            while True:
                k = self.dc.poll_event()
                if not k:
                    break
                busy = True
                ch = self.dc.ev_channel
                if k == events.CHANNEL_OPEN:
                    self.opened.append(ch)
                elif k == events.CHANNEL_MESSAGE:
                    self.msgs.append((ch.label, bytes(self.dc.ev_data), self.dc.ev_binary))
                elif k == events.CHANNEL_CLOSED:
                    self.closed.append(ch.label)
            self._flush()
        self.wake.set()

    def _flush(self):
        while True:
            n = self.dtls.poll_transmit()
            if not n:
                return
            self.udp.sendto(bytes(self.dtls.out_data[0:n]), self.peer)

    async def run(self):
        while True:
            self.pump()
            await asyncio.sleep(0.002)


async def until(cond, what, more=None):
    for _ in range(LIMIT_S * 100):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting for " + what + ("; " + more() if more else ""))


async def session(our_role):
    their_ice = UdpIce("controlled" if our_role == "server" else "controlling")
    their_dtls = RTCDtlsTransport(their_ice, [RTCCertificate.generateCertificate()])
    fps = their_dtls.getLocalParameters().fingerprints
    ours = Ours(our_role, fps[0].value)
    their_addr = await their_ice.open()
    our_addr = await ours.open()
    their_ice.peer = our_addr
    ours.peer = their_addr
    pump = asyncio.ensure_future(ours.run())
    try:
        params = RTCDtlsParameters(
            fingerprints=[RTCDtlsFingerprint("sha-256", ours.cert.fingerprint())],
            role="auto")
        if our_role == "client":
            ours.dtls.start(compat.ticks_ms())
            ours.pump()
        await asyncio.wait_for(their_dtls.start(params), LIMIT_S)
        assert their_dtls.state == "connected"
        sctp = RTCSctpTransport(their_dtls)
        await sctp.start(RTCSctpCapabilities(maxMessageSize=MIB), 5000)
        await until(lambda: sctp.state == "connected" and ours.dc.association.state == 3,
                    "SCTP association")
        yield ours, sctp
    finally:
        pump.cancel()
        their_ice.queue.put_nowait(None)
        await their_dtls.stop()
        ours.udp.close()
        their_ice.udp.close()


def _watch(ch):
    """An aiortc channel that keeps what it receives in `ch.got`."""
    ch.got = []
    ch.on("message", ch.got.append)
    return ch


def _collect(sctp):
    """The channels the peer opens on aiortc's `sctp`, by label, each watched."""
    theirs = {}
    sctp.on("datachannel", lambda ch: theirs.__setitem__(ch.label, _watch(ch)))
    return theirs


async def _full(our_role):
    async for ours, sctp in session(our_role):
        theirs = _collect(sctp)

        # Channels opened from either side, and a negotiated one.
        a = _watch(RTCDataChannel(sctp, RTCDataChannelParameters(label="from-aiortc",
                                                                protocol="p1")))
        mine = ours.dc.create_channel("from-us", protocol="p2")
        neg_theirs = _watch(RTCDataChannel(sctp, RTCDataChannelParameters(
            label="neg", negotiated=True, id=20)))
        neg_ours = ours.dc.create_channel("neg", negotiated=True, id=20)
        await until(lambda: "from-us" in theirs and a.readyState == "open"
                    and mine.state == OPEN and neg_ours.state == OPEN, "channels open")
        assert [c.label for c in ours.opened].count("from-aiortc") == 1
        assert ours.dc.channel(a.id).protocol == "p1" and theirs["from-us"].protocol == "p2"
        assert mine.id % 2 == (0 if our_role == "client" else 1)  # RFC 8832 §6

        # 64 KiB and 1 MiB both ways, byte-exact; text and empty messages.
        k64, m1 = pattern(65536, 1), pattern(MIB, 2)
        a.send(k64)
        a.send(m1)
        a.send("text from aiortc")
        a.send(b"")
        for data in (k64, m1):
            while not ours.dc.send(mine, data):
                await asyncio.sleep(0.005)
        ours.dc.send(mine, "text from us")
        neg_theirs.send(b"neg-theirs")
        ours.dc.send(neg_ours, b"neg-ours")
        await until(lambda: len(ours.msgs) == 5 and len(theirs["from-us"].got) == 3
                    and neg_theirs.got, "messages")
        got = {m[1] for m in ours.msgs if m[0] == "from-aiortc"}
        assert k64 in got and m1 in got and b"text from aiortc" in got and b"" in got
        assert ("neg", b"neg-theirs", True) in ours.msgs
        assert theirs["from-us"].got == [k64, m1, "text from us"]
        assert neg_theirs.got == [b"neg-ours"]

        # Unordered / unreliable channels both ways.
        u = _watch(RTCDataChannel(sctp, RTCDataChannelParameters(
            label="u-aiortc", ordered=False, maxRetransmits=0)))
        u2 = ours.dc.create_channel("u-us", ordered=False, max_packet_life_time=5000)
        await until(lambda: "u-us" in theirs and u.readyState == "open" and u2.state == OPEN,
                    "unordered channels")
        assert not ours.dc.channel(u.id).ordered and ours.dc.channel(u.id).max_retransmits == 0
        assert theirs["u-us"].ordered is False and theirs["u-us"].maxPacketLifeTime == 5000
        for i in range(20):
            u.send(bytes([i]) * 100)
            ours.dc.send(u2, bytes([i]) * 100)
        await until(lambda: sum(1 for m in ours.msgs if m[0] == "u-aiortc") == 20
                    and len(theirs["u-us"].got) == 20, "unordered messages")

        # Close from each side.
        ours.dc.close(mine)
        await until(lambda: theirs["from-us"].readyState == "closed" and "from-us" in ours.closed,
                    "close from us")
        a.close()
        await until(lambda: "from-aiortc" in ours.closed, "close from aiortc")
        assert ours.dc.association.counters.malformed == 0


@pytest.mark.parametrize("our_role", ["server", "client"])
def test_aiortc_interop(our_role):
    asyncio.run(asyncio.wait_for(_full(our_role), 60))


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
PEER = os.path.join(ROOT, "host_tests", "cpython", "sctp_peer.py")


def _free_port():
    return mpy_tree.free_port(socket.SOCK_DGRAM)


def _peer_argv(runtime):
    if runtime == "cpython":
        return [sys.executable, "-u", PEER]
    if not os.path.exists(MICROPYTHON):
        pytest.skip("no MicroPython Unix port in .venv")
    import subprocess

    check = subprocess.run(
        [MICROPYTHON, "-c", "import sys; sys.path.insert(0, '.'); import rtc_micro.errors"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if check.returncode:  # a shared module, not SCTP: report it, do not hide SCTP failures
        pytest.skip("MicroPython cannot import rtc_micro.errors: " + (check.stdout
                                                                     + check.stderr)[-200:])
    return [MICROPYTHON, "-X", "heapsize=8m", PEER]


async def _with_process(runtime, our_role):
    their_ice = UdpIce("controlled" if our_role == "server" else "controlling")
    their_dtls = RTCDtlsTransport(their_ice, [RTCCertificate.generateCertificate()])
    their_port = (await their_ice.open())[1]
    our_port = _free_port()
    their_ice.peer = ("127.0.0.1", our_port)
    fp = their_dtls.getLocalParameters().fingerprints[0].value
    errors = tempfile.TemporaryFile("w+")  # tracebacks, apart from the line protocol
    proc = await asyncio.create_subprocess_exec(
        *_peer_argv(runtime), our_role, str(our_port), str(their_port), fp, str(LIMIT_S),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=errors)
    lines = []

    def stderr_tail():
        errors.seek(0)
        return errors.read()[-800:]

    async def read():
        while True:
            try:
                line = await proc.stdout.readline()
            except Exception as e:
                lines.append("READER %r" % e)
                raise
            if not line:
                lines.append("READER EOF")
                return
            lines.append(line.decode().rstrip())

    reader = asyncio.ensure_future(read())

    async def line(prefix):
        await until(lambda: any(x.startswith(prefix) for x in lines),
                    "%r from our peer; output: %s" % (prefix, lines[-8:]), stderr_tail)
        return [x for x in lines if x.startswith(prefix)][0]

    try:
        our_fp = (await line("fingerprint "))[12:]
        params = RTCDtlsParameters(fingerprints=[RTCDtlsFingerprint("sha-256", our_fp)],
                                   role="auto")
        await asyncio.wait_for(their_dtls.start(params), LIMIT_S)
        sctp = RTCSctpTransport(their_dtls)
        theirs = _collect(sctp)

        await sctp.start(RTCSctpCapabilities(maxMessageSize=MIB), 5000)
        await line("sctp")
        echo = _watch(RTCDataChannel(sctp, RTCDataChannelParameters(label="from-aiortc")))
        u = _watch(RTCDataChannel(sctp, RTCDataChannelParameters(
            label="u-aiortc", ordered=False, maxRetransmits=0)))
        neg = _watch(RTCDataChannel(sctp, RTCDataChannelParameters(
            label="neg", negotiated=True, id=20)))
        await until(lambda: echo.readyState == "open" and u.readyState == "open"
                    and "from-us" in theirs and "u-us" in theirs,
                    "channels open; peer output: %s" % lines[-8:], stderr_tail)
        k64, m1 = pattern(65536, 3), pattern(MIB, 4)
        sent = [k64, m1, "text from aiortc", b""]
        for m in sent:
            echo.send(m)
        for i in range(20):
            u.send(bytes([i]) * 100)
        neg.send(b"neg-theirs")
        await until(lambda: len(echo.got) == 4 and len(u.got) == 20 and neg.got
                    and len(theirs["from-us"].got) == 3 and len(theirs["u-us"].got) == 20,
                    "messages; peer output: %s" % lines[-8:], stderr_tail)
        assert echo.got == sent  # 64 KiB and 1 MiB back, byte-exact, in order
        assert sorted(u.got) == sorted(bytes([i]) * 100 for i in range(20))
        assert sorted(theirs["u-us"].got) == sorted(bytes([i]) * 100 for i in range(20))
        assert neg.got == [b"neg-ours"]
        assert theirs["from-us"].got == [pattern(65536, 1), pattern(MIB, 2), "text from us"]
        assert theirs["from-us"].protocol == "p2"
        assert theirs["u-us"].ordered is False and theirs["u-us"].maxPacketLifeTime == 5000
        assert "msg neg 10 1" in lines and "msg u-aiortc 100 1" in lines
        echo.send("close")  # our peer closes this one
        theirs["from-us"].close()  # and we close one of its
        await until(lambda: echo.readyState == "closed", "close from our peer", stderr_tail)
        await line("closed from-us")
        assert not any(x.startswith("failed") for x in lines), lines
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        reader.cancel()
        errors.close()
        their_ice.queue.put_nowait(None)
        await their_dtls.stop()
        their_ice.udp.close()


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
@pytest.mark.parametrize("our_role", ["server", "client"])
def test_aiortc_interop_process(runtime, our_role):
    asyncio.run(asyncio.wait_for(_with_process(runtime, our_role), 60))
