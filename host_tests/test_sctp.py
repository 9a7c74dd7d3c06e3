# mptest-heap: 524288 (two esp32-sized associations in one heap, modules compiled from source)
"""SCTP association pairs on the simulator (virtual clock): handshake, loss, PR-SCTP, bounds."""

import boards
from rtc_micro import compat, events, memory
from rtc_micro.drivers.sim import Network
from rtc_micro.sctp import packet as P
from rtc_micro.sctp.association import ESTABLISHED, Association
from host_tests.support import assert_no_alloc, raises
from rtc_micro.errors import ConfigError, StateError

BOARD = boards.load("esp32").derive(
    # Pair tests run with small-board bounds (16 KiB windows and messages: the esp32 profile's
    # own are smaller still, sized for its heap; these keep the tests' message sizes meaningful).
    sctp_rwnd=16 * 1024, sctp_send_buffer=16 * 1024, sctp_reassembly_bytes=16 * 1024,
    max_message_size=16 * 1024, sctp_max_chunks_in_flight=32)
UNIX = boards.load("unix")
# Message bodies are slices of this (smaller in the MicroPython heap).
SRC = bytes(range(256)) * (128 if compat.MICROPYTHON else 512)


def _on_event(ep, kind):
    m = ep.machine
    if kind == events.SCTP_DATA:
        ep.msgs.append((m.ev_stream, m.ev_ppid, bytes(m.ev_data), m.ev_unordered))
    elif kind == events.SCTP_STREAM_RESET:
        ep.resets.append(m.ev_stream)
    elif kind in (events.SCTP_FAILED, events.SCTP_CLOSED):
        ep.reason = m.ev_reason


def connected_pair(profile_a=BOARD, profile_b=BOARD, seed=1, both=False, mem_a=None):
    net = Network(seed=seed)
    a = Association(profile_a, mem=mem_a)
    b = Association(profile_b)
    ea, eb = net.pair(a, b)
    for ep in (ea, eb):
        ep.msgs = []
        ep.resets = []
        ep.reason = None
        ep.on_event = _on_event
    a.connect(net.now)
    if both:
        b.connect(net.now)
    assert net.run(lambda: a.state == ESTABLISHED and b.state == ESTABLISHED, timeout_ms=5000)
    return net, ea, eb


def test_handshake_one_side():
    net, ea, eb = connected_pair()
    assert ea.has_event(events.SCTP_CONNECTED) and eb.has_event(events.SCTP_CONNECTED)
    assert net.now == 40  # INIT, INIT-ACK, COOKIE-ECHO, COOKIE-ACK at 10 ms each
    assert ea.machine._peer_tag == eb.machine._tag and eb.machine._peer_tag == ea.machine._tag


def test_handshake_init_collision():
    net, ea, eb = connected_pair(both=True)
    assert ea.events.count(events.SCTP_CONNECTED) == 1
    assert eb.events.count(events.SCTP_CONNECTED) == 1
    ea.machine.send(1, 51, b"after collision", 0, 15, False, None, None, net.now)
    assert net.run(lambda: eb.msgs, timeout_ms=2000)
    assert eb.msgs[0] == (1, 51, b"after collision", False)


def test_handshake_survives_loss():
    net = Network(seed=3)
    net.impair(loss=30)
    a = Association(BOARD)
    b = Association(BOARD)
    net.pair(a, b)
    a.connect(0)
    assert net.run(lambda: a.state == ESTABLISHED and b.state == ESTABLISHED, timeout_ms=60000)
    assert a._init_tries + net.dropped > 0


def test_messages_both_ways_and_fragmented():
    net, ea, eb = connected_pair()
    a, b = ea.machine, eb.machine
    assert a.send(3, 53, SRC, 7, 16000, False, None, None, net.now)
    assert b.send(2, 51, b"hi", 0, 2, False, None, None, net.now)
    assert net.run(lambda: ea.msgs and eb.msgs, timeout_ms=5000)
    assert eb.msgs == [(3, 53, SRC[7:16007], False)]
    assert ea.msgs == [(2, 51, b"hi", False)]
    assert net.run(lambda: a.buffered_amount == 0, timeout_ms=2000)


def test_bad_checksum_and_tag_are_counted():
    net, ea, eb = connected_pair()
    b = eb.machine
    pkt = bytearray(32)
    P.push_header(pkt, 5000, 5000, b._tag)
    P.push_chunk(pkt, 12, P.HEARTBEAT, 0, 4)
    P.seal(pkt, 16)
    pkt[13] = 1
    b.handle_packet(pkt, 16, net.now)
    assert b.counters.bad_checksum == 1
    P.push_header(pkt, 5000, 5000, b"\x01\x02\x03\x04")
    P.seal(pkt, 16)
    b.handle_packet(pkt, 16, net.now)
    assert b.counters.bad_tag == 1


def test_garbage_never_raises():
    net, ea, eb = connected_pair()
    b = eb.machine
    x = 12345
    for k in range(300):
        n = 12 + (k % 60)
        pkt = bytearray(n)
        for i in range(n):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            pkt[i] = (x >> 16) & 0xFF
        P.push_header(pkt, 5000, 5000, b._tag)
        if n > 16:
            pkt[14] = 0
            pkt[15] = max(0, n - 12 - (k % 9))
        P.seal(pkt, n)
        b.handle_packet(pkt, n, net.now)
        while b.poll_transmit():
            pass
        while b.poll_event():
            pass
    assert b.counters.malformed + b.counters.unknown_chunks > 0


def _bulk(net, ea, eb, total, size, sid=1, unordered=False):
    """Send `total` bytes as messages of `size`; check every message byte-exact and in order."""
    a = ea.machine
    sent = got = 0
    i = 0
    while got < total:
        while sent < total:
            n = min(size, total - sent)
            off = (i * 13) % 251
            if not a.send(sid, 53, SRC, off, n, unordered, None, None, net.now):
                break
            sent += n
            i += 1
        if not net.step():
            break
        while eb.msgs:
            _s, _p, data, _u = eb.msgs.pop(0)
            j = got_msgs = eb.count
            off = (j * 13) % 251
            assert data == SRC[off : off + len(data)], "message %d corrupt" % j
            eb.count = got_msgs + 1
            got += len(data)
        if net.now > 600000:
            break
    return got


def test_bulk_through_loss_reorder_duplication_jitter():
    # 8 MiB in 64 KiB messages with the unix profile on CPython; MicroPython (much slower here,
    # and in a board-sized heap) moves 256 KiB in messages of the esp32's max size.
    if compat.MICROPYTHON:
        total, size, prof = 256 * 1024, BOARD.max_message_size, BOARD
    else:
        total, size, prof = 8 * 1024 * 1024, 65536, UNIX
    net, ea, eb = connected_pair(prof, prof, seed=11)
    net.impair(loss=10, reorder=10, duplicate=5, delay_ms=20, jitter_ms=50)
    eb.count = 0
    assert _bulk(net, ea, eb, total, size) == total
    a = ea.machine
    assert a.counters.retransmits > 0 and eb.machine.counters.duplicates > 0
    assert net.run(lambda: a.buffered_amount == 0, timeout_ms=20000)


def test_partial_reliability_by_retransmits():
    net, ea, eb = connected_pair()
    a = ea.machine
    net.link(ea, eb, loss=100)
    assert a.send(1, 51, b"doomed", 0, 6, False, 2, None, net.now)
    net.advance(30000)
    assert a.counters.abandoned == 1
    assert a._d_xmit[0] == 3  # one send + exactly max_retransmits (2) retransmissions
    net.link(ea, eb, loss=0)
    # The first FORWARD-TSN was lost with the data: T3 repeats it until the peer acks past it.
    assert net.run(lambda: a._acked == a._next_tsn - 1, timeout_ms=70000)
    assert eb.machine._cum == 0 and not eb.msgs
    assert a.send(1, 51, b"next", 0, 4, False, None, None, net.now)
    assert net.run(lambda: eb.msgs, timeout_ms=5000)
    assert eb.msgs == [(1, 51, b"next", False)]  # FORWARD-TSN skipped the abandoned one


def test_partial_reliability_by_lifetime():
    net, ea, eb = connected_pair()
    a = ea.machine
    net.link(ea, eb, loss=100)
    t0 = net.now
    assert a.send(1, 51, SRC, 0, 3000, False, None, 1500, net.now)
    net.advance(1000)
    assert a.counters.abandoned == 0  # still within its lifetime
    net.advance(9000)
    assert a.counters.abandoned == 1 and net.now - t0 >= 1500
    net.link(ea, eb, loss=0)
    assert a.send(1, 51, b"later", 0, 5, False, None, 1500, net.now)
    assert net.run(lambda: eb.msgs, timeout_ms=5000)
    assert eb.msgs == [(1, 51, b"later", False)]


def test_unordered_delivery_under_reorder():
    net, ea, eb = connected_pair(seed=4)
    net.impair(reorder=40, delay_ms=10, jitter_ms=30)
    a = ea.machine
    for i in range(30):
        assert a.send(2, 53, bytes([i]) * 50, 0, 50, True, None, None, net.now)
    assert net.run(lambda: len(eb.msgs) == 30, timeout_ms=10000)
    order = [m[2][0] for m in eb.msgs]
    assert sorted(order) == list(range(30))
    assert order != list(range(30))  # they really arrived out of order
    assert all(m[3] for m in eb.msgs)


def test_stream_reset():
    net, ea, eb = connected_pair()
    a = ea.machine
    a.send(5, 51, b"last", 0, 4, False, None, None, net.now)
    a.reset_stream(5, net.now)
    assert net.run(lambda: eb.resets, timeout_ms=5000)
    assert eb.resets == [5] and eb.msgs[0][2] == b"last"
    assert net.run(lambda: not a._reset_inflight, timeout_ms=5000)
    assert a._out_ssn[5] == 0


def test_shutdown():
    net, ea, eb = connected_pair()
    a = ea.machine
    a.send(1, 51, SRC, 0, 5000, False, None, None, net.now)
    a.close(net.now)
    assert net.run(lambda: eb.has_event(events.SCTP_CLOSED) and ea.has_event(events.SCTP_CLOSED),
                   timeout_ms=5000)
    assert eb.msgs[0][2] == SRC[0:5000]  # queued data went out before SHUTDOWN


def test_abort_carries_reason():
    net, ea, eb = connected_pair()
    ea.machine.abort("user closed the app", net.now)
    assert net.run(lambda: eb.has_event(events.SCTP_FAILED), timeout_ms=1000)
    assert "user closed the app" in eb.reason


def test_heartbeat_when_idle():
    net, ea, eb = connected_pair()
    a = ea.machine
    net.advance(31000)
    assert a._hb_sent_at is None and a._srtt > 0  # probe sent and answered


def test_never_acking_peer_meets_bounds():
    small = BOARD.derive(sctp_send_buffer=8192, sctp_max_chunks_in_flight=16)
    net, ea, eb = connected_pair(profile_a=small)
    a = ea.machine
    net.link(eb, ea, loss=100)  # nothing comes back
    n = 0
    while a.send(1, 53, SRC, 0, 1000, False, None, None, net.now):
        n += 1
    assert n == 8 and a.counters.send_full == 1 and a.buffered_amount == 8000
    net.advance(600000)
    assert ea.has_event(events.SCTP_FAILED) and "acknowledging" in ea.reason


def test_flood_meets_receive_bounds():
    tiny = BOARD.derive(sctp_reassembly_bytes=8 * 1500, sctp_rwnd=8192)
    net, ea, eb = connected_pair(profile_b=tiny)
    b = eb.machine
    pkt = bytearray(1200)
    # A peer that ignores our window: 100 chunks past a hole the application waits for.
    for k in range(1, 100):
        P.push_header(pkt, 5000, 5000, b._tag)
        end = P.push_data(pkt, 12, 3, b._peer_hi, b._peer_lo, k, 1, k, 53, SRC, 0, 1000)
        P.seal(pkt, end)
        b.handle_packet(pkt, end, net.now)
        while b.poll_transmit():
            pass
    assert b._held <= 8 * 1500 and b._n_free == 0
    assert b.counters.rx_full_drops > 0 and b.counters.rx_window_drops > 0
    assert b._a_rwnd() < 1500
    # The hole arrives: a reneged slot makes room, everything held so far is delivered.
    P.push_header(pkt, 5000, 5000, b._tag)
    end = P.push_data(pkt, 12, 3, b._peer_hi, b._peer_lo, 0, 1, 0, 53, SRC, 0, 1000)
    P.seal(pkt, end)
    b.handle_packet(pkt, end, net.now)
    got = 0
    while b.poll_event() == events.SCTP_DATA:
        got += 1
    assert got == 8 and b._held == 0


def test_a_held_message_holds_the_peer_back_and_comes_again():
    """hold(): the message stays (a single chunk in its slot, a fragmented one in the message
    buffer), nothing after it is delivered, the sender is held back by the window; resume()
    delivers it again (ev_repeat) and the rest follow in order."""
    net, ea, eb = connected_pair(profile_b=BOARD.derive(sctp_rwnd=6000))
    a, b = ea.machine, eb.machine
    held = []

    def hold_each_once(ep, kind):
        if kind == events.SCTP_DATA and not b.ev_repeat:
            held.append(bytes(b.ev_data))
            b.hold()
            return
        _on_event(ep, kind)

    eb.on_event = hold_each_once
    sizes = (100, 3000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000)
    off = 0
    for n in sizes:
        assert a.send(1, 53, SRC, off, n, False, None, None, net.now)
        off += n
    for first in range(len(sizes)):
        assert net.run(lambda: len(held) > first, timeout_ms=2000)
        net.advance(1000)
        assert b.holding and len(held) == first + 1 and len(eb.msgs) == first
        want = SRC[sum(sizes[:first]):sum(sizes[:first + 1])]
        assert held[-1] == want
        if first == 0:  # everything else has to wait in the window or at the sender
            assert a.buffered_amount >= 3000 and b._a_rwnd() < 1200
        b.resume()
        net.advance(10)
        assert eb.msgs[-1] == (1, 53, want, False)
    assert net.run(lambda: a.buffered_amount == 0, timeout_ms=5000)
    assert len(eb.msgs) == len(sizes) and not b.holding
    assert raises(StateError, b.hold)  # only right after SCTP_DATA


def test_slots_share_the_buffer_fragmented_messages_are_gathered_in():
    """Associations of a device's slots share one message buffer (memory.Buffers.shared): while
    one holds a fragmented message in it, another's fragmented message waits in its slots
    (counted; single-chunk messages need no buffer and still come) and is gathered within a
    few ms of the buffer coming free."""
    shared = memory.Buffers()
    net = Network(seed=2)
    rx1 = Association(BOARD, mem=memory.Buffers(shared))
    rx2 = Association(BOARD, mem=memory.Buffers(shared))
    assert rx1._msg is rx2._msg
    tx1, tx2 = Association(BOARD), Association(BOARD)
    eps = net.pair(tx1, rx1) + net.pair(tx2, rx2, ("10.0.0.3", 5000), ("10.0.0.4", 5000))
    for ep in eps:
        ep.msgs = []
        ep.reason = None
        ep.on_event = _on_event
    tx1.connect(net.now)
    tx2.connect(net.now)
    assert net.run(lambda: rx1.state == ESTABLISHED and rx2.state == ESTABLISHED, timeout_ms=5000)
    f1, f2 = eps[1], eps[3]

    def hold_first(ep, kind):
        if kind == events.SCTP_DATA and not rx1.ev_repeat:
            rx1.hold()
        _on_event(ep, kind)

    f1.on_event = hold_first
    assert tx1.send(1, 53, SRC, 0, 3000, False, None, None, net.now)
    assert net.run(lambda: rx1.holding, timeout_ms=2000)
    assert tx2.send(1, 53, SRC, 0, 100, False, None, None, net.now)
    assert tx2.send(1, 53, SRC, 100, 3000, False, None, None, net.now)
    net.advance(1000)
    assert [len(m[2]) for m in f2.msgs] == [100]  # the fragmented one waits for the buffer
    assert rx2.counters.gather_waits >= 1 and rx2._held == 3000
    rx1.resume()
    net.advance(30)
    assert f1.msgs[-1][2] == SRC[0:3000]
    assert [m[2] for m in f2.msgs] == [SRC[0:100], SRC[100:3100]]
    assert not rx1._msg_mine and not rx2._msg_mine  # given back once each was read


def test_oversized_message_aborts():
    small = BOARD.derive(max_message_size=4096)
    net, ea, eb = connected_pair(profile_b=small)
    ea.machine.send(1, 53, SRC, 0, 9000, False, None, None, net.now)
    assert net.run(lambda: eb.has_event(events.SCTP_FAILED), timeout_ms=5000)
    assert "max_message_size" in eb.reason
    assert net.run(lambda: ea.has_event(events.SCTP_FAILED), timeout_ms=5000)


def test_send_misuse_raises():
    net, ea, eb = connected_pair(profile_a=BOARD.derive(max_message_size=1000))
    a = ea.machine
    raises(ConfigError, a.send, 1, 53, SRC, 0, 1001, False, None, None, 0)
    raises(ConfigError, a.send, 1, 53, SRC, 0, 0, False, None, None, 0)
    a.remote_max_message_size = 500  # the peer's SDP a=max-message-size
    raises(ConfigError, a.send, 1, 53, SRC, 0, 501, False, None, None, 0)
    assert a.send(1, 53, SRC, 0, 500, False, None, None, 0)


def test_steady_state_allocates_nothing():
    if not compat.MICROPYTHON:
        assert_no_alloc(len, b"")  # skips with the reason on CPython
    net, ea, eb = connected_pair()
    a, b = ea.machine, eb.machine
    msg = bytearray(b"sensor:21.5C")
    now = net.now

    def send_small(m, t):
        assert a.send(1, 51, m, 0, 12, False, None, None, t)
        return a.poll_transmit()

    assert_no_alloc(send_small, msg, now)
    net.run(lambda: a.buffered_amount == 0, timeout_ms=2000)
    assert a.send(1, 51, msg, 0, 12, False, None, None, now)
    n = a.poll_transmit()
    assert n == 12 + 16 + 12
    pkt = bytearray(a.out_data[0:n])
    b2 = eb.machine

    def receive_and_sack(p, n, t):
        b2.handle_packet(p, n, t)
        b2._ctl |= 4  # SACK now, not after the delay
        assert b2.poll_transmit() == 12 + 16
        assert b2.poll_event() == events.SCTP_DATA and b2.ev_len == 12
        return 0

    # Fresh DATA each time: rewrite the TSN so the receiver sees a new chunk, not a duplicate.
    def next_data(p, n, t):
        b2._cum -= 1
        b2._deliver -= 1
        return receive_and_sack(p, n, t)

    receive_and_sack(pkt, n, now)
    assert_no_alloc(next_data, pkt, n, now)
    assert b2.counters.duplicates == 0


def _hand(src, dst, now):
    """Move one packet from src to dst by hand; returns a copy of it."""
    n = src.poll_transmit()
    assert n
    pkt = bytearray(src.out_data[0:n])
    dst.handle_packet(bytearray(pkt), n, now)
    return pkt


def test_cookie_keeps_no_state_and_is_checked():
    a = Association(BOARD)
    b = Association(BOARD)
    a.connect(0)
    init = _hand(a, b, 0)
    assert init[12] == P.INIT
    assert b.state == 0 and b._peer_tag == bytearray(4)  # INIT-ACK sent, nothing remembered
    _hand(b, a, 0)
    n = a.poll_transmit()
    echo = bytearray(a.out_data[0:n])
    assert echo[12] == P.COOKIE_ECHO
    forged = bytearray(echo)
    forged[20] ^= 1  # inside the signed cookie body
    P.seal(forged, n)
    b.handle_packet(forged, n, 10)
    assert b.counters.bad_cookie == 1 and b.state == 0
    b.handle_packet(bytearray(echo), n, 61000)  # older than the cookie lifetime
    assert b.counters.bad_cookie == 2 and b.state == 0
    b.handle_packet(bytearray(echo), n, 20)
    assert b.state == ESTABLISHED and b.poll_event() == events.SCTP_CONNECTED
    _hand(b, a, 20)
    assert a.state == ESTABLISHED


def test_a_slot_reuses_its_buffers_and_slots_share_the_packet_being_built():
    shared = memory.Buffers()
    slot = memory.Buffers(shared)
    net, ea, eb = connected_pair(mem_a=slot)
    first = ea.machine
    assert first.send(1, 53, SRC, 0, 5000, False, None, None, net.now)
    assert net.run(lambda: eb.msgs, timeout_ms=5000) and eb.msgs[0][2] == SRC[0:5000]
    first.abort("session over", net.now)
    # The next association on the slot: the same buffers, holding the last session's bytes,
    # and nothing of them reaches the new peer.
    net, ea, eb = connected_pair(mem_a=slot, seed=2)
    again = ea.machine
    assert again._ring is first._ring and again._rx is first._rx and again._msg is first._msg
    assert again.send(2, 53, SRC, 9, 3000, False, None, None, net.now)
    assert eb.machine.send(2, 53, SRC, 1, 4000, False, None, None, net.now)
    assert net.run(lambda: eb.msgs and ea.msgs, timeout_ms=5000)
    assert eb.msgs == [(2, 53, SRC[9:3009], False)] and ea.msgs == [(2, 53, SRC[1:4001], False)]
    # Another slot builds its packets in the same scratch: it is sent before the next is built.
    other = Association(BOARD, mem=memory.Buffers(shared))
    other.connect(0)
    n = other.poll_transmit()
    assert n and again.out_data[0:n] == other.out_data[0:n]
