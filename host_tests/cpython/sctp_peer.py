"""Our side of the aiortc data channel interop, as a process (MicroPython Unix port or CPython).

    micropython -X heapsize=8m host_tests/cpython/sctp_peer.py ROLE PORT PEER_PORT PEER_FP SECONDS

ROLE is our DTLS role (client/server). DTLS -> SCTP -> DataChannels over one UDP socket on
127.0.0.1:PORT, talking to 127.0.0.1:PEER_PORT. Once the association is up it opens "from-us"
(sends a 64 KiB and a 1 MiB pattern and "text from us"), "u-us" (unordered, 5 s lifetime, 20
messages) and the negotiated "neg" (id 20, sends b"neg-ours"); it echoes every message that
arrives on a channel the peer opened, and closes a channel on the text "close". Lines printed:
`fingerprint FP`, `sctp`, `open LABEL`, `msg LABEL LEN BINARY`, `closed LABEL`, `failed REASON`.
Used by host_tests/cpython/test_sctp_aiortc.py.
"""

import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _here + "/../..")

import boards  # noqa: E402
from rtc_micro import events  # noqa: E402
from rtc_micro.compat import ticks_add, ticks_diff, ticks_min, ticks_ms  # noqa: E402
from rtc_micro.crypto import x509  # noqa: E402
from rtc_micro.datachannel import DataChannels  # noqa: E402
from rtc_micro.drivers.udp import UdpDriver, resolve  # noqa: E402
from rtc_micro.dtls.connection import Connection  # noqa: E402
from rtc_micro.sctp.association import ESTABLISHED, Association  # noqa: E402

MIB = 1024 * 1024
PROFILE = boards.load("unix").derive(
    max_message_size=MIB, sctp_send_buffer=2 * MIB, sctp_max_chunks_in_flight=2048,
    sctp_reassembly_bytes=512 * 1024, sctp_rwnd=256 * 1024,
)


def pattern(n, seed):
    block = bytes((i * 31 + seed) & 0xFF for i in range(256))
    return block * (n // 256) + bytes(n % 256)


class Stack:
    """DTLS outside, data channels inside: one machine for UdpDriver."""

    def __init__(self, role, peer_fp):
        self.cert = x509.Certificate.generate()
        self.dtls = Connection(PROFILE, role, self.cert, peer_fp)
        self.dc = DataChannels(Association(PROFILE), role == "client")
        self.rx = bytearray(PROFILE.rx_buffer)
        self.outbox = []  # (channel, data, binary) waiting for send-buffer room
        self.out_data = None
        self.done = False

    def handle_packet(self, buf, n, now):
        self.dtls.handle_packet(buf, n, now)
        self.pump(now)

    def handle_timeout(self, now):
        for m in (self.dtls, self.dc):
            t = m.poll_timeout()
            if t is not None and ticks_diff(now, t) >= 0:
                m.handle_timeout(now)
        self.pump(now)

    def poll_timeout(self):
        return ticks_min(self.dtls.poll_timeout(), self.dc.poll_timeout())

    def poll_transmit(self):
        n = self.dtls.poll_transmit()
        self.out_data = self.dtls.out_data
        return n

    def queue(self, ch, data, binary):
        self.outbox.append((ch, data, binary))

    def pump(self, now):
        d = self.dtls
        dc = self.dc
        while True:
            k = d.poll_event()
            if not k:
                break
            if k == events.DTLS_CONNECTED:
                dc.association.connect(now)
            elif k == events.DTLS_DATA:
                n = d.ev_len
                self.rx[0:n] = d.ev_buf[d.ev_off : d.ev_off + n]
                dc.handle_packet(self.rx, n, now)
            elif k == events.DTLS_FAILED:
                print("failed " + d.ev_reason)
                self.done = True
        while True:
            k = dc.poll_event()
            if not k:
                break
            ch = dc.ev_channel
            if k == events.SCTP_CONNECTED:
                print("sctp")
                mine = dc.create_channel("from-us", protocol="p2")
                self.queue(mine, pattern(65536, 1), True)
                self.queue(mine, pattern(MIB, 2), True)
                self.queue(mine, "text from us", False)
                # A lifetime long enough for the 2 MiB queued ahead on this loopback.
                u = dc.create_channel("u-us", ordered=False, max_packet_life_time=5000)
                for i in range(20):
                    self.queue(u, bytes([i]) * 100, True)
                neg = dc.create_channel("neg", negotiated=True, id=20)
                self.queue(neg, b"neg-ours", True)
            elif k == events.CHANNEL_OPEN:
                print("open " + ch.label)
            elif k == events.CHANNEL_MESSAGE:
                data = bytes(dc.ev_data)
                print("msg %s %d %d" % (ch.label, len(data), dc.ev_binary))
                if data == b"close":
                    dc.close(ch, now)
                elif not ch.label.endswith("-us") and ch.label != "neg":
                    self.queue(ch, data, dc.ev_binary)
            elif k == events.CHANNEL_CLOSED:
                print("closed " + (ch.label if ch else ""))
            elif k == events.SCTP_FAILED or k == events.SCTP_CLOSED:
                print("failed " + dc.ev_reason)
                self.done = True
        while self.outbox and dc.association.state == ESTABLISHED:
            ch, data, binary = self.outbox[0]
            if ch.state > 1:
                self.outbox.pop(0)
                continue
            if ch.state != 1:
                break  # wait for CHANNEL_OPEN
            if not dc.send(ch, data, 0, len(data), binary, now):
                break
            self.outbox.pop(0)
        while d.connected:
            n = dc.poll_transmit()
            if not n:
                break
            if not d.send(dc.out_data, 0, n, now):
                break  # DTLS ring full: SCTP retransmits what was lost


def main(argv):
    role, port, peer_port, peer_fp, seconds = argv[0], int(argv[1]), int(argv[2]), argv[3], int(
        argv[4])
    stack = Stack(role, peer_fp)
    print("fingerprint " + stack.cert.fingerprint())
    udp = UdpDriver("127.0.0.1", port, resolve("127.0.0.1", peer_port), PROFILE.rx_buffer)
    if role == "client":
        stack.dtls.start(ticks_ms())
    end_at = ticks_add(ticks_ms(), seconds * 1000)
    stats_at = ticks_add(ticks_ms(), 5000)
    try:
        while ticks_diff(end_at, ticks_ms()) > 0 and not stack.done:
            udp.step(stack, 5)
            stack.pump(ticks_ms())
            if ticks_diff(ticks_ms(), stats_at) >= 0:  # for a person reading a failed test
                stats_at = ticks_add(ticks_ms(), 5000)
                a = stack.dc.association
                print("stats sctp %r cum=%d acked=%d next=%d flight=%d cwnd=%d rwnd=%d dtls %r" % (
                    a.counters.__dict__, a._cum, a._acked, a._next_tsn, a._flight, a._cwnd,
                    a._peer_rwnd, stack.dtls.counters.__dict__))
    finally:
        udp.close()


if __name__ == "__main__":
    main(sys.argv[1:])
