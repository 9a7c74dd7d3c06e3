# mptest-heap: 786432 (three device sessions and browser stand-ins, which make their own buffers)
"""memory.Buffers: a session slot's buffers reused session after session (docs/memory.md)."""

import boards
from host_tests.support import raises
from host_tests.test_peer import _certs, _connected, _offer, _session
from rtc_micro import events
from rtc_micro.datachannel import OPEN, DataChannels
from rtc_micro.errors import StateError
from rtc_micro.memory import Buffers, renew
from rtc_micro.peer import PeerConnection
from rtc_micro.dtls import Connection
from rtc_micro.sctp.association import Association

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


class _Thing:
    def __init__(self, n, tag="x"):
        self.n = n
        self.tag = tag


def test_renew_initialises_the_slot_s_instance_again():
    slot = Buffers()
    a = renew(slot, _Thing, 1)
    slot.retire()
    assert (a.n, a.tag) == (None, None)
    b = renew(slot, _Thing, 2, tag="y")
    assert b is a and (a.n, a.tag) == (2, "y")
    assert renew(None, _Thing, 3) is not renew(None, _Thing, 3)


def test_tables_are_made_once_and_filled_again_and_retire_ends_leases():
    shared = Buffers()
    slot = Buffers(shared)
    t = slot.table("t", 4)
    t[2] = 7
    assert slot.table("t", 4, -1) is t and t == [-1, -1, -1, -1]
    assert slot.table("t", 5) is not t and Buffers().table("t", 3, None) == [None] * 3
    m = renew(slot, _Thing, 1)
    assert shared.lease("buf", m)
    slot.retire()  # a session cut short: what its machine had leased is free again
    assert shared.lease("buf", object())


def test_channels_of_an_ended_session_refuse_its_renewed_association():
    slot = Buffers()
    old = renew(slot, Association, _ESP32, 5000, 5000, slot)
    channels = DataChannels(old, True)
    ch = channels.create_channel("cmd", negotiated=True, id=0)
    slot.retire()
    assert old._ring is None and old.life is None  # the slot holds no session state
    assert "ended" in str(raises(StateError, channels.create_channel, "late"))
    again = renew(slot, Association, _ESP32, 5000, 5000, slot)
    assert again is old and again._ring is slot.take("sctp_send", _ESP32.sctp_send_buffer)
    ch.state = OPEN  # even one that believes it is open
    raises(StateError, channels.send, ch, "to the next session's peer?")
    raises(StateError, channels.close, ch)
    DataChannels(again, True).create_channel("fresh")


def test_a_reused_peer_connection_answers_after_release_until_the_slot_starts_again():
    """`Buffers.reuse`: the slot's PeerConnection and ICE agent keep their fields through
    retire() (late datagrams and stats still get answers), and the next session initialises
    the same objects again instead of growing new attribute tables."""
    shared = Buffers()
    slot = Buffers(shared)
    PeerConnection.reserve(_ESP32, slot, _certs()[0])
    first = slot.reuse(PeerConnection, _ESP32, _certs()[0], "127.0.0.1", 5000, mem=slot)
    ice = first.ice
    first.accept_offer(_offer(_certs()[1].fingerprint()), 0)
    first.close(0)
    first.release()
    assert first.state == "closed" and first.ice is ice and first.dtls is None
    while first.poll() != events.NONE:  # the close's own events
        pass
    first.handle_datagram(bytearray(b"\x16\xfe\xfd" + bytes(20)), 23, ("127.0.0.1", 9), 10)
    first.handle_timeout(10)
    assert first.poll() == events.NONE and first.counters.unverified == 1
    second = slot.reuse(PeerConnection, _ESP32, _certs()[0], "127.0.0.1", 5001, mem=slot)
    assert second is first and second.ice is ice and second.state == "new"
    assert second.counters.unverified == 0 and second.local.port == 5001


def test_sessions_on_a_slot_reuse_its_buffers_and_hand_back_the_shared_ones():
    shared = Buffers()
    slot = Buffers(shared)
    PeerConnection.reserve(_ESP32, slot)
    made = slot.total() + shared.total()
    net, pc, dev, bro = _session(_ESP32, mem=slot)
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    ring = pc.sctp._ring
    assert ring is slot.take("sctp_send", _ESP32.sctp_send_buffer)
    machines = (pc.sctp, pc.dtls)
    pc.close(net.now)
    pc.release()
    assert machines[0].counters is None and machines[1]._write_prot is None  # keys not kept
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
    assert (pc.sctp, pc.dtls) == machines  # initialised again, not made anew
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    dev.echo = True
    ch = bro.open("echo", net.now)
    bro.send(ch, "second session", net.now)
    assert net.run(until=lambda: bro.messages, timeout_ms=5000)
    assert bro.messages == [("echo", False, b"second session")]
    assert slot.total() + shared.total() == made  # nothing new was made


def test_a_slot_reserved_with_the_certificate_has_its_machines_before_its_first_session():
    shared = Buffers()
    slot = Buffers(shared)
    PeerConnection.reserve(_ESP32, slot, _certs()[0])
    made = [m for m, names in slot._machines.values() if names]
    assert len(made) == 2 and made[0].counters is None and made[1].counters is None  # empty
    shell = slot.reuse(PeerConnection, _ESP32, _certs()[0], "0.0.0.0", 0, mem=slot)
    ice = shell.ice
    assert shell.state == "new" and len(slot._machines) == 4  # made at boot too, not again
    dtls = slot.renew(Connection, _ESP32, "client", _certs()[0], mem=slot)
    sctp = slot.renew(Association, _ESP32, mem=slot)
    assert dtls in made and sctp in made
    assert sctp._ring is slot.take("sctp_send", _ESP32.sctp_send_buffer)
    dtls.close(0)
    slot.retire()
    net, pc, dev, bro = _session(_ESP32, mem=slot)
    assert pc.dtls is dtls and pc.sctp is sctp and pc.ice is ice  # the first session uses them
    # The reserving handshake gave the shared buffers back: this session has them.
    assert pc.dtls._transcript._buf is shared.take("dtls_transcript", _ESP32.dtls_transcript_bytes)
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
