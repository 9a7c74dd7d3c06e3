# mptest-heap: 524288 (two esp32-sized associations in one heap, modules compiled from source)
"""Data channels and DCEP (RFC 8831, RFC 8832) over SCTP pairs on the simulator."""

import boards
from rtc_micro import compat, events
from rtc_micro.datachannel import (
    CLOSED,
    OPEN,
    PPID_BINARY,
    PPID_DCEP,
    PPID_STRING_EMPTY,
    DataChannels,
)
from rtc_micro.drivers.sim import Network
from rtc_micro.errors import ConfigError, StateError
from rtc_micro.sctp.association import ESTABLISHED, Association
from host_tests.support import assert_no_alloc, raises

BOARD = boards.load("esp32").derive(
    # Pair tests run with small-board bounds (16 KiB windows and messages: the esp32 profile's
    # own are smaller still, sized for its heap; these keep the tests' message sizes meaningful).
    sctp_rwnd=16 * 1024, sctp_send_buffer=16 * 1024, sctp_reassembly_bytes=16 * 1024,
    max_message_size=16 * 1024, sctp_max_chunks_in_flight=32)
UNIX = boards.load("unix")


def _on_event(ep, kind):
    m = ep.machine
    if kind == events.CHANNEL_MESSAGE:
        ep.msgs.append((m.ev_channel.id, bytes(m.ev_data), m.ev_binary))
    elif kind == events.CHANNEL_OPEN:
        ep.opened.append(m.ev_channel)
    elif kind == events.CHANNEL_CLOSED:
        ep.closed.append(m.ev_channel.id)
    elif kind == events.CHANNEL_BUFFERED_LOW:
        ep.low.append(m.ev_channel.id)


def dc_pair(profile_a=BOARD, profile_b=BOARD, connect=True):
    net = Network(seed=2)
    a = DataChannels(Association(profile_a), True)
    b = DataChannels(Association(profile_b), False)
    ea, eb = net.pair(a, b)
    for ep in (ea, eb):
        ep.msgs = []
        ep.opened = []
        ep.closed = []
        ep.low = []
        ep.on_event = _on_event
    if connect:
        a.association.connect(net.now)
        b.association.connect(net.now)
        assert net.run(lambda: a.association.state == ESTABLISHED
                       and b.association.state == ESTABLISHED, timeout_ms=5000)
    return net, ea, eb


def test_open_from_either_side_and_messages():
    net, ea, eb = dc_pair()
    a, b = ea.machine, eb.machine
    ca = a.create_channel("chat", protocol="json")
    cb = b.create_channel("cmd")
    assert ca.id == 0 and cb.id == 1  # DTLS client even, server odd (RFC 8832 §6)
    assert net.run(lambda: len(ea.opened) == 2 and len(eb.opened) == 2, timeout_ms=2000)
    peer_chat = b.channel(0)
    assert peer_chat.label == "chat" and peer_chat.protocol == "json" and peer_chat.ordered
    a.send(ca, "hello")
    a.send(ca, b"\x00\x01\x02")
    a.send(ca, "")
    a.send(ca, b"")
    b.send(b.channel(1), "ok")
    assert net.run(lambda: len(eb.msgs) == 4 and ea.msgs, timeout_ms=2000)
    assert eb.msgs == [(0, b"hello", False), (0, b"\x00\x01\x02", True), (0, b"", False),
                       (0, b"", True)]
    assert ea.msgs == [(1, b"ok", False)]


def test_channel_types_travel_in_dcep():
    net, ea, eb = dc_pair()
    a, b = ea.machine, eb.machine
    a.create_channel("u", ordered=False)
    a.create_channel("r", max_retransmits=3)
    a.create_channel("t", ordered=False, max_packet_life_time=250)
    assert net.run(lambda: len(eb.opened) == 3, timeout_ms=2000)
    u, r, t = b.channel(0), b.channel(2), b.channel(4)
    assert not u.ordered and u.max_retransmits is None and u.max_packet_life_time is None
    assert r.ordered and r.max_retransmits == 3
    assert not t.ordered and t.max_packet_life_time == 250
    raises(ConfigError, a.create_channel, "x", True, 1, 1)


def test_negotiated_channels():
    net, ea, eb = dc_pair(connect=False)
    a, b = ea.machine, eb.machine
    ca = a.create_channel("tele", negotiated=True, id=7)
    cb = b.create_channel("tele", negotiated=True, id=7)
    a.association.connect(net.now)
    assert net.run(lambda: ca.state == OPEN and cb.state == OPEN, timeout_ms=2000)
    a.send(ca, b"x" * 3000)
    assert net.run(lambda: eb.msgs, timeout_ms=2000)
    assert eb.msgs == [(7, b"x" * 3000, True)]
    assert eb.machine.association.counters.malformed == 0


def test_close_via_stream_reset_both_ways():
    net, ea, eb = dc_pair()
    a, b = ea.machine, eb.machine
    c1 = a.create_channel("one")
    c2 = a.create_channel("two")
    assert net.run(lambda: len(eb.opened) == 2, timeout_ms=2000)
    a.close(c1)
    assert net.run(lambda: ea.closed and eb.closed, timeout_ms=3000)
    assert ea.closed == [0] and eb.closed == [0] and c1.state == CLOSED
    b.close(b.channel(2))
    assert net.run(lambda: len(ea.closed) == 2 and len(eb.closed) == 2, timeout_ms=3000)
    assert c2.state == CLOSED
    c3 = a.create_channel("again")  # the stream id is free again
    assert c3.id == 0
    assert net.run(lambda: len(eb.opened) == 3, timeout_ms=3000)
    a.send(c3, "after reset")
    assert net.run(lambda: eb.msgs, timeout_ms=2000)
    assert eb.msgs == [(0, b"after reset", False)]


def test_buffered_amount_and_low_water():
    net, ea, eb = dc_pair()
    a = ea.machine
    ch = a.create_channel("bulk")
    assert net.run(lambda: ch.state == OPEN, timeout_ms=2000)
    data = bytes(2000)
    sent = 0
    while a.send(ch, data):
        sent += 1
    assert sent >= 4 and 2000 * sent <= ch.buffered_amount <= 2000 * sent + 16  # + DCEP OPEN
    assert a.association.counters.send_full == 1
    assert net.run(lambda: ea.low, timeout_ms=5000)
    assert ea.low == [ch.id] and ch.buffered_amount <= BOARD.channel_low_water


def test_max_channels_bound():
    # 64 channels at once with the unix profile (CPython; the MicroPython heap holds 8 with the
    # esp32 profile below).
    if not compat.MICROPYTHON:
        net, ea, eb = dc_pair(UNIX, UNIX)
        a = ea.machine
        chans = [a.create_channel("c%d" % i) for i in range(64)]
        raises(StateError, a.create_channel, "one too many")
        assert net.run(lambda: len(eb.opened) == 64 and len(ea.opened) == 64, timeout_ms=5000)
        for ch in chans:
            a.send(ch, ch.label)
        assert net.run(lambda: len(eb.msgs) == 64, timeout_ms=5000)
        assert sorted(m[1] for m in eb.msgs) == sorted(c.label.encode() for c in chans)
    # A board with max_channels 8 refuses the ninth channel a bigger peer opens.
    net, ea, eb = dc_pair(BOARD.derive(max_channels=16), BOARD)
    a, b = ea.machine, eb.machine
    for i in range(9):
        a.create_channel("c%d" % i)
    assert net.run(lambda: ea.closed, timeout_ms=5000)
    assert len(eb.opened) == 8 and b.counters.refused == 1 and ea.closed == [16]


def test_association_failure_closes_channels():
    net, ea, eb = dc_pair()
    a, b = ea.machine, eb.machine
    a.create_channel("x")
    assert net.run(lambda: eb.opened, timeout_ms=2000)
    a.association.abort("bye", net.now)
    assert net.run(lambda: eb.closed, timeout_ms=2000)
    assert eb.has_event(events.SCTP_FAILED) and "bye" in b.ev_reason


def test_malformed_dcep_is_counted():
    net, ea, eb = dc_pair()
    a, b = ea.machine, eb.machine
    a.association.send(5, PPID_DCEP, b"\x03\x00", 0, 2, False, None, None, net.now)
    a.association.send(9, PPID_BINARY, b"zz", 0, 2, False, None, None, net.now)
    assert net.run(lambda: b.counters.dcep_malformed and b.counters.unknown_stream,
                   timeout_ms=2000)
    assert PPID_STRING_EMPTY == 56


def test_channel_send_allocates_nothing():
    if not compat.MICROPYTHON:
        assert_no_alloc(len, b"")  # skips with the reason on CPython
    net, ea, eb = dc_pair()
    a = ea.machine
    ch = a.create_channel("tele")
    assert net.run(lambda: ch.state == OPEN, timeout_ms=2000)
    reading = bytearray(b"t=21.5")

    def send_and_transmit(c, m):
        assert a.send(c, m)
        return a.poll_transmit()

    assert assert_no_alloc(send_and_transmit, ch, reading) > 0
