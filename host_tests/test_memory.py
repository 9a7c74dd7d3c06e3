# mptest-heap: 524288 (device and browser stand-in sessions in one heap, as test_peer.py)
"""memory.Buffers: a session slot's buffers reused session after session (docs/memory.md)."""

import boards
from host_tests.test_peer import _connected, _session
from rtc_micro.memory import Buffers
from rtc_micro.peer import PeerConnection

_ESP32 = boards.load("esp32")


def test_take_makes_once_and_lease_goes_to_one_holder_at_a_time():
    shared = Buffers()
    slot = Buffers(shared)
    a = slot.take("x", 100)
    assert slot.take("x", 100) is a and len(a) == 100 and slot.take("x", 50) is not a
    assert slot.shared is shared and shared.shared is shared and slot.total() == 50
    first = object()
    second = object()
    assert shared.lease("set", first) and shared.lease("set", first)
    assert not shared.lease("set", second)
    shared.give_back("set", second)  # not its lease: nothing changes
    assert not shared.lease("set", second)
    shared.give_back("set", first)
    assert shared.lease("set", second)


def test_sessions_on_a_slot_reuse_its_buffers_and_hand_back_the_shared_ones():
    shared = Buffers()
    slot = Buffers(shared)
    PeerConnection.reserve(_ESP32, slot)
    made = slot.total() + shared.total()
    net, pc, dev, bro = _session(_ESP32, mem=slot)
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    ring = pc.sctp._ring
    assert ring is slot.take("sctp_send", _ESP32.sctp_send_buffer)
    pc.close(net.now)
    pc.release()
    net = pc = dev = bro = None
    # A session closed before its DTLS handshake ends, then one that connects, on the same
    # slot: the same buffers, and the shared handshake buffers came back each time.
    pc = _session(_ESP32, mem=slot)[1]
    transcript = shared.take("dtls_transcript", _ESP32.dtls_transcript_bytes)
    assert pc.dtls._transcript._buf is transcript
    pc.close(0)
    pc.release()
    net, pc, dev, bro = _session(_ESP32, seed=2, mem=slot)
    assert pc.sctp._ring is ring and pc.dtls._transcript._buf is transcript
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    dev.echo = True
    ch = bro.open("echo", net.now)
    bro.send(ch, "second session", net.now)
    assert net.run(until=lambda: bro.messages, timeout_ms=5000)
    assert bro.messages == [("echo", False, b"second session")]
    assert slot.total() + shared.total() == made  # nothing new was made
