# mptest-heap: 524288 (device + browser stand-in in one process; .mpy bytecode sits in the heap)
"""PeerConnection (rtc_micro/peer.py) against a browser stand-in, on the network simulator.

The stand-in is what a browser does to an ICE-lite device: it sends authenticated binding
requests with USE-CANDIDATE (controlling, RFC 8445 §7.2.5), is the DTLS server when the device
answers `a=setup:active`, and runs SCTP and data channels over DTLS, from the same modules.
"""

import boards
from host_tests.support import assert_no_alloc, raises
from rtc_micro import events, sdp, stun
from rtc_micro.compat import ticks_add, ticks_diff
from rtc_micro.crypto import x509
from rtc_micro.crypto.hmac import HmacSha1
from rtc_micro.datachannel import DataChannels
from rtc_micro.drivers.sim import Network
from rtc_micro.dtls import Connection
from rtc_micro.errors import ConfigError, StateError
from rtc_micro.peer import PeerConnection
from rtc_micro.sctp.association import Association

_PROFILE = boards.load("esp32").derive(
    # Pair tests run with small-board bounds (16 KiB windows and messages: the esp32 profile's
    # own are smaller still, sized for its heap; these keep the tests' message sizes meaningful).
    sctp_rwnd=16 * 1024, sctp_send_buffer=16 * 1024, sctp_reassembly_bytes=16 * 1024,
    max_message_size=16 * 1024, sctp_max_chunks_in_flight=32)
_DEV = ("10.0.0.1", 5000)
_BRO = ("10.0.0.2", 6000)
_CERTS = []


def _certs():
    if not _CERTS:
        _CERTS.append(x509.Certificate.generate("device"))
        _CERTS.append(x509.Certificate.generate("browser"))
    return _CERTS


def _offer(fp, ufrag="brws", pwd="browserpassword0123456789"):
    return ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
            "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=ice-options:trickle\r\n"
            "a=fingerprint:sha-256 %s\r\na=setup:actpass\r\na=mid:0\r\n"
            "a=sctp-port:5000\r\na=max-message-size:262144\r\n" % (ufrag, pwd, fp))


class Browser:
    """Controlling ICE (checks every 50 ms until answered, then every 2.5 s), DTLS, SCTP."""

    def __init__(self, profile, cert, ufrag="brws"):
        self.ufrag = ufrag
        self.pwd = "browserpassword0123456789"
        self.cert = cert
        self.profile = profile
        self.dtls = None
        self.sctp = None
        self.out_data = bytearray(200)
        self.out_addr = _DEV
        self.checks = True  # False: stop sending checks (consent test)
        self.check_at = 0
        self.answered = 0
        self.messages = []
        self.states = []
        self._pending = None
        self._txid = bytearray(12)

    def set_answer(self, text):
        a = sdp.parse(text)
        tp = a.transport()
        self.remote_ufrag = tp.ice_ufrag
        self._hmac = HmacSha1(tp.ice_pwd.encode())
        role = "server" if tp.setup == "active" else "client"
        self.dtls = Connection(self.profile, role, self.cert, "sha-256 " + tp.fingerprint)
        self.sctp = Association(self.profile)
        self.dc = DataChannels(self.sctp, role == "client")
        if role == "client":
            self.dtls.start(0)

    def _check(self):
        b = self.out_data
        self._txid[0] = (self._txid[0] + 1) & 0xFF
        off = stun.push_header(b, stun.BINDING_REQUEST, self._txid, 0)
        user = (self.remote_ufrag + ":" + self.ufrag).encode()
        off = stun.push_attr(b, off, stun.ATTR_USERNAME, user, 0, len(user))
        off = stun.push_attr(b, off, stun.ATTR_PRIORITY, b"\x6e\x00\x1e\xff", 0, 4)
        off = stun.push_attr(b, off, stun.ATTR_ICE_CONTROLLING, b"12345678", 0, 8)
        off = stun.push_flag(b, off, stun.ATTR_USE_CANDIDATE)
        off = stun.push_integrity(b, off, self._hmac)
        return stun.push_fingerprint(b, off)

    def handle_datagram(self, buf, n, addr, now):
        if buf[0] < 4:
            if buf[0] == 1 and buf[1] == 1:  # binding success
                self.answered += 1
        elif 20 <= buf[0] < 64 and self.dtls is not None:
            self.dtls.handle_packet(buf, n, now)
        self._pump(now)

    def handle_timeout(self, now):
        for m in (self.dtls, self.dc):
            if m is not None:
                at = m.poll_timeout()
                if at is not None and ticks_diff(at, now) <= 0:
                    m.handle_timeout(now)
        if self.checks and ticks_diff(self.check_at, now) <= 0:
            self._pending = self._check()
            self.check_at = ticks_add(now, 2500 if self.answered else 50)
        self._pump(now)

    def _pump(self, now):
        if self.dtls is None:
            return
        while True:
            k = self.dtls.poll_event()
            if not k:
                break
            self.states.append(k)
            if k == events.DTLS_CONNECTED:
                self.sctp.connect(now)
            elif k == events.DTLS_DATA:
                d = self.dtls.ev_data
                self.dc.handle_packet(d, len(d), now)
        self._flush(now)
        while True:
            k = self.dc.poll_event()
            if not k:
                break
            self.states.append(k)
            if k == events.CHANNEL_MESSAGE:
                ch = self.dc.ev_channel
                self.messages.append((ch.label, self.dc.ev_binary, bytes(self.dc.ev_data)))
        self._flush(now)  # what the events queued (DCEP ACK, ...)

    def _flush(self, now):
        while self.dtls.connected:
            n = self.dc.poll_transmit()
            if not n:
                break
            self.dtls.send(self.sctp.out_data, 0, n, now)

    def poll_transmit(self):
        if self._pending:
            n, self._pending = self._pending, None
            return n
        if self.dtls is None:
            return 0
        n = self.dtls.poll_transmit()
        if n:
            self.out_data = self.dtls.out_data
        else:
            self.out_data = bytearray(200)
        return n

    def poll_timeout(self):
        t = self.check_at if self.checks else None
        for m in (self.dtls, self.dc):
            if m is not None:
                at = m.poll_timeout()
                if at is not None and (t is None or ticks_diff(at, t) < 0):
                    t = at
        return t

    def open(self, label, now):
        ch = self.dc.create_channel(label, now=now)
        self._pump(now)
        return ch

    def send(self, ch, data, now):
        assert self.dc.send(ch, data, now=now)
        self._pump(now)


class SimPeer:
    """Adapts PeerConnection's single drain to the simulator's poll_transmit/poll_event, keeping
    copies of messages and state changes."""

    def __init__(self, pc):
        self.pc = pc
        self.out_data = None
        self.out_addr = None
        self.messages = []
        self.states = []
        self.media = []  # (kind, seq, payload) of RTP_PACKET events
        self.echo = False
        self.defer = 0  # messages to defer_message() (each the first time it comes)

    def handle_datagram(self, buf, n, addr, now):
        self.now = now
        self.pc.handle_datagram(buf, n, addr, now)

    def handle_timeout(self, now):
        self.now = now
        self.pc.handle_timeout(now)

    def poll_timeout(self):
        return self.pc.poll_timeout()

    def poll_transmit(self):
        pc = self.pc
        while True:
            k = pc.poll()
            if k == events.NONE:
                return 0
            if k == events.TRANSMIT:
                self.out_data = pc.out_data
                self.out_addr = pc.out_addr
                return len(pc.out_data)
            if k == events.CONNECTION_STATE:
                self.states.append((pc.ev_state, pc.ev_reason))
            elif k == events.CHANNEL_OPEN:
                self.states.append(("open", pc.out_channel.label))
            elif k == events.CHANNEL_MESSAGE:
                data = bytes(pc.out_data)
                binary = pc.out_binary
                self.messages.append((pc.out_channel.label, binary, data))
                if self.defer:
                    self.defer -= 1
                    pc.defer_message()
                elif self.echo:
                    pc.send(pc.out_channel, data if binary else data.decode(), self.now)
            elif k == events.KEYFRAME_REQUEST:
                self.states.append(("keyframe", pc.out_track.kind))
            elif k == events.RTP_PACKET:
                self.media.append((pc.out_track.kind, pc.out_track.receiver.ev_seq,
                                   bytes(pc.out_data)))

    def poll_event(self):
        return 0


def _session(profile=_PROFILE, seed=1, fp=None, mem=None):
    dev_cert, bro_cert = _certs()
    pc = PeerConnection(profile, dev_cert, _DEV[0], _DEV[1], mem=mem)
    bro = Browser(profile, bro_cert)
    answer = pc.accept_offer(_offer(fp or bro_cert.fingerprint()), 0)
    bro.set_answer(answer)
    dev = SimPeer(pc)
    net = Network(seed=seed)
    net.add(dev, _DEV, _BRO)
    net.add(bro, _BRO, _DEV)
    return net, pc, dev, bro


def _connected(pc, bro):
    return (pc.state == "connected" and bro.sctp is not None
            and events.SCTP_CONNECTED in bro.states)


def test_answer_and_states_before_any_packet():
    dev_cert, bro_cert = _certs()
    pc = PeerConnection(_PROFILE, dev_cert, "192.168.4.1", 5000)
    assert pc.state == "new"
    answer = sdp.parse(pc.accept_offer(_offer(bro_cert.fingerprint()), 0))
    tp = answer.transport()
    assert answer.ice_lite and tp.setup == "active" and tp.fingerprint == dev_cert.fingerprint()
    assert tp.candidates[0].ip == "192.168.4.1" and tp.candidates[0].port == 5000
    assert pc.role == "client" and pc.state == "connecting"
    assert pc.poll() == events.CONNECTION_STATE and pc.ev_state == "connecting"
    assert pc.poll() == events.NONE
    # Renegotiation on the same transport answers again with a new version.
    again = sdp.parse(pc.accept_offer(_offer(bro_cert.fingerprint()), 0))
    assert again.origin_id == answer.origin_id and int(again.origin_version) == 2
    e = raises(StateError, pc.accept_offer, _offer(bro_cert.fingerprint(), "othr"), 0)
    assert "ICE restart" in str(e)


def test_bad_offers_raise_before_state_changes():
    dev_cert, _ = _certs()
    pc = PeerConnection(_PROFILE, dev_cert, "192.168.4.1", 5000)
    bad = _offer("AB:CD").replace("m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
                                  "m=audio 9 UDP/TLS/RTP/SAVPF 0")
    e = raises(ConfigError, pc.accept_offer, bad, 0)
    assert "no m=application" in str(e)
    assert pc.state == "new" and pc.dtls is None


def test_connects_and_exchanges_messages():
    net, pc, dev, bro = _session()
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    assert [s for s, _r in dev.states] == ["connecting", "connected"]
    assert pc.ice.selected_addr == _BRO
    dev.echo = True
    ch = bro.open("echo", net.now)
    assert net.run(until=lambda: events.CHANNEL_OPEN in bro.states, timeout_ms=5000)
    assert ("open", "echo") in dev.states
    bro.send(ch, "hello device", net.now)
    bro.send(ch, b"\x00binary", net.now)
    assert net.run(until=lambda: len(bro.messages) == 2, timeout_ms=5000)
    assert dev.messages == [("echo", False, b"hello device"), ("echo", True, b"\x00binary")]
    assert bro.messages == dev.messages
    st = pc.stats()
    assert st["messagesReceived"] == 2 and st["messagesSent"] == 2 and st["dtlsRole"] == "client"
    assert st["packetsSent"] > 3 and st["bytesReceived"] > 500
    assert pc.counters.unverified == 0 and pc.counters.malformed == 0


def test_a_deferred_message_comes_again_once_resumed():
    net, pc, dev, bro = _session()
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    ch = bro.open("echo", net.now)
    assert net.run(until=lambda: events.CHANNEL_OPEN in bro.states, timeout_ms=5000)
    dev.defer = 1
    bro.send(ch, "first", net.now)
    bro.send(ch, b"second" * 300, net.now)  # two DATA chunks
    net.advance(1000)
    assert dev.messages == [("echo", False, b"first")] and pc.message_deferred
    pc.resume_messages()
    net.advance(10)
    assert dev.messages == [("echo", False, b"first"), ("echo", False, b"first"),
                            ("echo", True, b"second" * 300)]
    c = pc.counters
    assert c.messages_received == 2 and c.messages_deferred == 1 and not pc.message_deferred
    raises(StateError, pc.defer_message)  # only while handling CHANNEL_MESSAGE


def test_connects_through_loss_and_reordering():
    net, pc, dev, bro = _session(seed=7)
    net.impair(loss=15, reorder=10, jitter_ms=5)
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=60000)
    dev.echo = True
    ch = bro.open("bulk", net.now)
    bro.send(ch, b"\x00\x01\x02" * 1000, net.now)  # several DATA chunks, reassembled
    assert net.run(until=lambda: bro.messages, timeout_ms=30000)
    assert bro.messages[0] == ("bulk", True, b"\x00\x01\x02" * 1000)


def test_device_opens_unordered_channel():
    net, pc, dev, bro = _session()
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    ch = pc.create_data_channel("telemetry", ordered=False, max_retransmits=0)
    assert ch.id % 2 == 0  # the DTLS client takes even stream ids (RFC 8832 §6)
    assert net.run(until=lambda: ("open", "telemetry") in dev.states, timeout_ms=5000)
    assert pc.send(ch, '{"uptime": 1}', net.now)
    assert net.run(until=lambda: bro.messages, timeout_ms=5000)
    assert bro.messages == [("telemetry", False, b'{"uptime": 1}')]


def test_dtls_only_from_checked_addresses_and_demux_counts():
    _net, pc, _dev, _bro = _session()
    hello = bytearray(b"\x16\xfe\xfd" + bytes(40))
    pc.handle_datagram(hello, len(hello), ("6.6.6.6", 1), 0)
    pc.handle_datagram(bytearray(b"\x80" + bytes(11)), 12, _BRO, 0)
    pc.handle_datagram(bytearray(b"\xff\x00"), 2, _BRO, 0)
    pc.handle_datagram(bytearray(1), 0, _BRO, 0)
    c = pc.counters
    assert (c.unverified, c.media_dropped, c.malformed) == (1, 1, 2)


def test_consent_loss_disconnects_then_fails():
    net, pc, dev, bro = _session()
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    bro.checks = False
    assert net.run(until=lambda: pc.state == "disconnected", timeout_ms=40000)
    assert "consent" in dev.states[-1][1]
    assert net.run(until=lambda: pc.state == "failed", timeout_ms=70000)
    assert dev.states[-1][0] == "failed" and "ICE failed" in dev.states[-1][1]


def test_wrong_fingerprint_fails_with_reason():
    net, pc, dev, bro = _session(fp=":".join(["00"] * 32))
    assert net.run(until=lambda: pc.state == "failed", timeout_ms=30000)
    assert dev.states[-1][1].startswith("DTLS: ")


def test_close_tells_the_peer():
    net, pc, dev, bro = _session()
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    pc.close(net.now)
    assert net.run(until=lambda: events.DTLS_CLOSED in bro.states, timeout_ms=5000)
    assert dev.states[-1][0] == "closed"
    raises(StateError, pc.accept_offer, _offer("AB"), net.now)


def test_release_after_close_drops_the_session_buffers():
    net, pc, dev, bro = _session()
    raises(StateError, pc.release)  # still connecting: close() first
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    dev.echo = True
    ch = bro.open("echo", net.now)
    bro.send(ch, "hi", net.now)
    assert net.run(until=lambda: bro.messages, timeout_ms=5000)
    assert pc.out_channel is not None  # the last event's channel, which holds the association
    pc.close(net.now)
    net.run(timeout_ms=1000)
    pc.release()
    assert pc.dtls is None and pc.sctp is None and pc.channels is None
    assert pc.out_data is None and pc.out_channel is None
    # A late datagram or timer after release is counted, never raises.
    before = pc.counters.unverified
    pc.handle_datagram(bytearray(b"\x16\xfe\xfd" + bytes(20)), 23, _BRO, net.now)
    pc.handle_timeout(net.now)
    assert pc.counters.unverified == before + 1 and pc.poll() == events.NONE


def test_idle_poll_and_timeout_allocate_nothing():
    net, pc, dev, bro = _session()
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    while pc.poll():
        pass
    assert assert_no_alloc(pc.poll) == events.NONE
    assert_no_alloc(pc.handle_timeout, net.now)
    assert assert_no_alloc(pc.poll_timeout) is not None


# ---- PeerConnection as the offerer (a client of the device: ICE controlling, DTLS server) -----


def _client_session(seed=1):
    """An offerer PeerConnection at _BRO and an answerer (the ICE-lite device) at _DEV."""
    dev_cert, cli_cert = _certs()
    cli = PeerConnection(_PROFILE, cli_cert, _BRO[0], _BRO[1])
    pc = PeerConnection(_PROFILE, dev_cert, _DEV[0], _DEV[1])
    offer = cli.create_offer()
    answer = pc.accept_offer(offer, 0)
    cli.set_remote_description(answer, "answer", 0)
    assert "a=ice-lite" not in offer and "a=ice-lite" in answer
    net = Network(seed=seed)
    c = SimPeer(cli)
    d = SimPeer(pc)
    net.add(c, _BRO, _DEV)
    net.add(d, _DEV, _BRO)
    return net, cli, pc, c, d


def test_offerer_connects_to_the_ice_lite_answerer_and_echoes():
    net, cli, pc, c, d = _client_session()
    ch = cli.create_data_channel("echo")
    assert ch.id % 2 == 1  # the offerer is the DTLS server here: odd stream ids
    d.echo = True
    assert net.run(until=lambda: ("open", "echo") in c.states, timeout_ms=5000)
    # 7 round trips of 20 ms: ICE check, nomination, HelloVerifyRequest, server flight,
    # client Finished, INIT / INIT-ACK, COOKIE-ECHO / COOKIE-ACK then DCEP OPEN / ACK overlap.
    assert net.now == 140
    assert [s for s, _r in c.states] == ["connecting", "connected", "open"]
    assert cli.role == "server" and pc.role == "client"
    assert cli.ice.selected_addr == _DEV and pc.ice.selected_addr == _BRO
    assert cli.send(ch, "hello device", net.now) and cli.send(ch, b"\x01\x02", net.now)
    assert net.run(until=lambda: len(c.messages) == 2, timeout_ms=5000)
    assert c.messages == [("echo", False, b"hello device"), ("echo", True, b"\x01\x02")]
    st = cli.stats()
    assert st["iceRole"] == "controlling" and st["dtlsRole"] == "server"
    assert pc.stats()["iceRole"] == "controlled"


def test_offerer_connects_through_loss_and_reordering():
    net, cli, pc, c, d = _client_session(seed=11)
    net.impair(loss=15, reorder=10, jitter_ms=5)
    ch = cli.create_data_channel("bulk")
    d.echo = True
    assert net.run(until=lambda: ("open", "bulk") in c.states, timeout_ms=60000)
    assert cli.send(ch, b"\x07\x08\x09" * 1000, net.now)  # several DATA chunks
    assert net.run(until=lambda: c.messages, timeout_ms=30000)
    assert c.messages[0] == ("bulk", True, b"\x07\x08\x09" * 1000)
    assert net.dropped > 0


def test_offerer_fails_with_a_reason_when_nobody_answers():
    dev_cert, cli_cert = _certs()
    cli = PeerConnection(_PROFILE, cli_cert, _BRO[0], _BRO[1])
    answer = PeerConnection(_PROFILE, dev_cert, _DEV[0], _DEV[1]).accept_offer(
        cli.create_offer(), 0)
    cli.set_remote_description(answer, "answer", 0)
    net = Network()
    c = SimPeer(cli)
    net.add(c, _BRO, _DEV)  # nobody at _DEV
    assert net.run(until=lambda: cli.state == "failed", timeout_ms=60000)
    assert net.now == 39500 and "no connectivity check" in c.states[-1][1]  # RFC 8489 Rc, Rm


def test_answering_an_ice_lite_offer_makes_us_the_controlling_agent():
    dev_cert, bro_cert = _certs()
    pc = PeerConnection(_PROFILE, dev_cert, _DEV[0], _DEV[1])
    lite_offer = _offer(bro_cert.fingerprint()).replace("t=0 0\r\n", "t=0 0\r\na=ice-lite\r\n")
    lite_offer += "a=candidate:1 1 udp 2130706431 10.0.0.2 6000 typ host\r\n"
    answer = pc.accept_offer(lite_offer, 0)
    assert "a=ice-lite" not in answer and pc.stats()["iceRole"] == "controlling"
    assert pc.poll_timeout() == 0  # a check to the offer's candidate is due at once
    pc.handle_timeout(0)
    k = pc.poll()
    while k and k != events.TRANSMIT:  # the "connecting" state event comes first
        k = pc.poll()
    assert k == events.TRANSMIT and pc.out_addr == ("10.0.0.2", 6000) and pc.out_data[0] == 0  # a binding request
