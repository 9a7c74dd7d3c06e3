"""DTLS 1.2 connection pairs on the simulator, timers, and hostile input (RFC 6347)."""
# mptest-heap: 327680 (two DTLS endpoints in one heap, a third in the slot test, plus the P-256 table and non-frozen modules)

import boards
from rtc_micro import events
from rtc_micro.crypto import x509
from rtc_micro.drivers.sim import Network
from rtc_micro.dtls import Connection
from rtc_micro.dtls import handshake as hs
from rtc_micro import memory
from rtc_micro.dtls import record as rec
from rtc_micro.errors import ConfigError, StateError
from host_tests.support import assert_no_alloc, raises

PROFILE = boards.load("esp32")
_CERTS = []


def certs():
    """Two certificates, made once per module (P-256 keys are slow in pure Python)."""
    if not _CERTS:
        _CERTS.append(x509.Certificate.generate("client"))
        _CERTS.append(x509.Certificate.generate("server"))
    return _CERTS[0], _CERTS[1]


class Tap:
    """Wraps a connection: records the largest datagram and what events said."""

    def __init__(self, conn):
        self.conn = conn
        self.largest = 0
        self.data = []
        self.reasons = []
        self.sent = []

    def handle_packet(self, buf, n, now):
        self.conn.handle_packet(buf, n, now)

    def handle_timeout(self, now):
        self.conn.handle_timeout(now)

    def poll_transmit(self):
        n = self.conn.poll_transmit()
        self.out_data = self.conn.out_data
        if n:
            self.largest = max(self.largest, n)
            self.sent.append(bytes(self.out_data[0:n]))
        return n

    def poll_timeout(self):
        return self.conn.poll_timeout()

    def poll_event(self):
        kind = self.conn.poll_event()
        if kind == events.DTLS_DATA:
            self.data.append(bytes(self.conn.ev_data))
        elif kind == events.DTLS_FAILED:
            self.reasons.append(self.conn.ev_reason)
        return kind


def make_pair(profile=PROFILE, client_fp=None, server_fp=None, seed=1, **impair):
    c_cert, s_cert = certs()
    client = Connection(profile, "client", c_cert, client_fp)
    server = Connection(profile, "server", s_cert, server_fp)
    net = Network(seed=seed)
    if impair:
        net.impair(**impair)
    a, b = net.pair(Tap(client), Tap(server))
    client.start(net.now)
    return net, a, b


def connected(a, b):
    return a.has_event(events.DTLS_CONNECTED) and b.has_event(events.DTLS_CONNECTED)


def test_handshake_keys_and_data_both_ways():
    c_cert, s_cert = certs()
    net, a, b = make_pair(client_fp=s_cert.fingerprint(), server_fp=c_cert.fingerprint().lower())
    assert net.run(lambda: connected(a, b), timeout_ms=5000)
    client, server = a.machine.conn, b.machine.conn
    assert client.srtp_profile == hs.SRTP_AEAD_AES_128_GCM == server.srtp_profile
    km = client.export_keying_material("EXTRACTOR-dtls_srtp", 56)
    assert len(km) == 56 and km == server.export_keying_material("EXTRACTOR-dtls_srtp", 56)
    assert client.srtp_keys() == server.srtp_keys()
    ck, cs, sk, ss = client.srtp_keys()
    assert len(ck) == 16 and len(cs) == 12 and ck + sk + cs + ss == km
    assert client.remote_certificate == s_cert.der and server.remote_certificate == c_cert.der
    client.send(b"xxhello", 2, 5, net.now)
    server.send(bytearray(b"world"), 0, 5, net.now)
    net.run(lambda: a.machine.data and b.machine.data, timeout_ms=1000)
    assert b.machine.data == [b"hello"] and a.machine.data == [b"world"]
    assert a.machine.largest <= PROFILE.mtu and b.machine.largest <= PROFILE.mtu


def test_handshake_with_20_percent_loss_and_small_mtu():
    profile = PROFILE.derive(mtu=300, dtls_max_retransmits=10, dtls_transmit_slots=12)
    net, a, b = make_pair(profile, seed=7, loss=20, duplicate=5, reorder=10, jitter_ms=5)
    assert net.run(lambda: connected(a, b), timeout_ms=120000)
    client, server = a.machine.conn, b.machine.conn
    assert client.export_keying_material(b"EXTRACTOR-dtls_srtp", 60) == (
        server.export_keying_material(b"EXTRACTOR-dtls_srtp", 60)
    )
    assert net.dropped > 0 and client.counters.retransmits + server.counters.retransmits > 0
    assert a.machine.largest <= 300 and b.machine.largest <= 300


def test_fingerprint_mismatch_fails_both_sides():
    net, a, b = make_pair(client_fp="sha-256 " + ":".join(["AB"] * 32))
    net.run(lambda: a.has_event(events.DTLS_FAILED), timeout_ms=5000)
    assert a.has_event(events.DTLS_FAILED) and not a.has_event(events.DTLS_CONNECTED)
    assert "fingerprint" in a.machine.reasons[0] and "SDP" in a.machine.reasons[0]
    net.run(lambda: b.has_event(events.DTLS_FAILED), timeout_ms=5000)
    assert "alert 42 (bad_certificate)" in b.machine.reasons[0]  # the client told it why


def test_retransmission_timers_then_timeout():
    c_cert, _ = certs()
    profile = PROFILE.derive(dtls_max_retransmits=3)
    client = Connection(profile, "client", c_cert)
    client.start(0)
    assert client.poll_transmit() > 0 and client.poll_transmit() == 0
    at = client.poll_timeout()
    for expected in (1000, 3000, 7000, 15000):
        assert at == expected
        client.handle_timeout(at - 1)
        assert client.poll_transmit() == 0  # not yet due
        client.handle_timeout(at)
        at = client.poll_timeout()
        if expected < 15000:
            assert client.poll_transmit() > 0  # the ClientHello again
    assert client.poll_event() == events.DTLS_FAILED and "timed out" in client.ev_reason
    assert client.poll_timeout() is None


def test_close_notify_reaches_the_peer():
    net, a, b = make_pair()
    assert net.run(lambda: connected(a, b), timeout_ms=5000)
    a.machine.conn.close(net.now)
    assert net.run(lambda: b.has_event(events.DTLS_CLOSED), timeout_ms=1000)
    assert a.has_event(events.DTLS_CLOSED)
    raises(StateError, a.machine.conn.send, b"x", 0, 1, net.now)


def client_hello_record(random=b"\x01" * 32, record_seq=0):
    body = hs.client_hello(random, b"", (1,))
    msg = hs.message(hs.CLIENT_HELLO, 0, body)
    buf = bytearray(rec.HEADER_LEN + len(msg))
    rec.push_record_header(buf, 0, rec.CT_HANDSHAKE, 0, record_seq, len(msg))
    buf[rec.HEADER_LEN :] = msg
    return buf, msg


def server():
    return Connection(PROFILE, "server", certs()[1])


def test_server_answers_fragmented_client_hello_statelessly():
    s = server()
    _buf, msg = client_hello_record()
    body = msg[hs.HEADER_LEN :]
    n = len(body)
    cuts = (0, 20, 50, n)
    for i in (2, 0, 1):  # fragments out of order, one record per datagram
        lo, hi = cuts[i], cuts[i + 1]
        frag = bytearray(hs.HEADER_LEN + hi - lo)
        hs.push_header(frag, 0, hs.CLIENT_HELLO, n, 0, lo, hi - lo)
        frag[hs.HEADER_LEN :] = body[lo:hi]
        d = bytearray(rec.HEADER_LEN + len(frag))
        rec.push_record_header(d, 0, rec.CT_HANDSHAKE, 0, 40 + i, len(frag))
        d[rec.HEADER_LEN :] = frag
        s.handle_packet(d, len(d), 0)
    n = s.poll_transmit()
    out = s.out_data
    assert n > 0 and out[0] == rec.CT_HANDSHAKE and out[rec.HEADER_LEN] == hs.HELLO_VERIFY_REQUEST
    assert rec.record_seq(out, 0) == 41  # the sequence number of the ClientHello that completed
    assert s.poll_timeout() is None and s.poll_event() == 0  # no state, no timer


def test_hostile_records_are_dropped_and_counted():
    s = server()
    c = s.counters
    garbage = bytearray(b"\x16\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff")
    s.handle_packet(garbage, len(garbage), 0)  # length beyond the datagram
    assert c.malformed == 1
    buf, msg = client_hello_record()
    epoch5 = bytearray(buf)
    epoch5[4] = 5
    s.handle_packet(epoch5, len(epoch5), 0)
    assert c.wrong_epoch == 1
    epoch1 = bytearray(buf)
    epoch1[4] = 1  # protected record before any keys exist
    s.handle_packet(epoch1, len(epoch1), 0)
    assert c.wrong_epoch == 2 and s.poll_transmit() == 0
    for cut in range(rec.HEADER_LEN, len(buf)):  # truncated handshake messages
        t = bytearray(buf[0:cut])
        t[11] = (cut - rec.HEADER_LEN) >> 8
        t[12] = (cut - rec.HEADER_LEN) & 0xFF
        s.handle_packet(t, cut, 0)
    assert s.poll_transmit() == 0 and s.poll_event() == 0
    big = bytearray(rec.HEADER_LEN + hs.HEADER_LEN + 8)
    hs.push_header(big, rec.HEADER_LEN, hs.CLIENT_HELLO, PROFILE.dtls_reassembly_bytes, 0, 0, 8)
    rec.push_record_header(big, 0, rec.CT_HANDSHAKE, 0, 1, hs.HEADER_LEN + 8)
    s.handle_packet(big, len(big), 0)
    assert c.oversized == 1
    tail = bytearray(buf) + b"\x17\xfe"  # a good record, then garbage
    s.handle_packet(tail, len(tail), 0)
    assert s.poll_transmit() > 0 and c.malformed >= 2  # HelloVerifyRequest, junk counted


def test_random_garbage_never_raises():
    s = server()
    state = 12345
    buf = bytearray(300)
    for i in range(200):
        for j in range(len(buf)):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            buf[j] = state >> 16 & 0xFF
        buf[0] = 20 + i % 4  # mostly plausible content types
        buf[1] = 0xFE
        buf[2] = 0xFD
        buf[11] = 0
        buf[12] = i % 250
        s.handle_packet(buf, 13 + i % 250 + i % 3, 0)
    while s.poll_transmit():
        pass
    assert s.counters.malformed + s.counters.wrong_epoch + s.counters.unexpected > 0


def test_replayed_and_tampered_records_after_connect():
    net, a, b = make_pair()
    assert net.run(lambda: connected(a, b), timeout_ms=5000)
    client, srv = a.machine.conn, b.machine.conn
    client.send(b"once", 0, 4, net.now)
    n = client.poll_transmit()
    wire = bytes(client.out_data[0:n])
    for _ in range(2):
        srv.handle_packet(bytearray(wire), n, net.now)
    kinds = []
    while True:
        k = srv.poll_event()
        if not k:
            break
        kinds.append(k)
    assert kinds == [events.DTLS_DATA] and srv.counters.replayed == 1
    client.send(b"twice", 0, 5, net.now)
    n = client.poll_transmit()
    bad = bytearray(client.out_data[0:n])
    bad[n - 1] ^= 1
    srv.handle_packet(bad, n, net.now)
    assert srv.counters.bad_record == 1 and srv.poll_event() == 0
    plain = bytearray(wire)
    plain[4] = 0  # application data in epoch 0
    srv.handle_packet(plain, n, net.now)
    assert srv.poll_event() == 0 and srv.connected


def _round_trip(client, srv, msg, rx):
    client.send(msg, 0, len(msg), 0)
    n = client.poll_transmit()
    memory.copy_into(rx, 0, client.out_data, 0, n)
    srv.handle_packet(rx, n, 0)
    return srv.poll_event()


def test_application_data_path_allocates_nothing():
    net, a, b = make_pair()
    assert net.run(lambda: connected(a, b), timeout_ms=5000)
    client, srv = a.machine.conn, b.machine.conn
    msg = bytearray(b"m" * 200)
    rx = bytearray(PROFILE.mtu)
    assert _round_trip(client, srv, msg, rx) == events.DTLS_DATA
    assert bytes(srv.ev_data) == bytes(msg) and srv.ev_len == 200
    assert assert_no_alloc(_round_trip, client, srv, msg, rx) == events.DTLS_DATA


def _fragmented_datagrams(msg, size, first_record_seq):
    """A handshake message cut into `size`-byte fragments, two records per datagram."""
    body = msg[hs.HEADER_LEN :]
    n = len(body)
    out = []
    seq = first_record_seq
    cur = bytearray()
    for lo in range(0, n, size):
        hi = min(n, lo + size)
        r = bytearray(rec.HEADER_LEN + hs.HEADER_LEN + hi - lo)
        rec.push_record_header(r, 0, rec.CT_HANDSHAKE, 0, seq, hs.HEADER_LEN + hi - lo)
        hs.push_header(r, rec.HEADER_LEN, msg[0], n, hs.pull_seq(msg, 0), lo, hi - lo)
        r[rec.HEADER_LEN + hs.HEADER_LEN :] = body[lo:hi]
        seq += 1
        cur += r
        if seq % 2 == 0:
            out.append(cur)
            cur = bytearray()
    if cur:
        out.append(cur)
    return out


def _padded_client_hello(cookie, msg_seq, pad):
    """Our ClientHello grown to Chrome's size with a padding extension (RFC 7685)."""
    body = bytearray(hs.client_hello(b"\x07" * 32, cookie, (7, 1)))
    i = 2 + 32 + 1 + (1 + len(cookie)) + (2 + 2) + 2  # the extensions length field
    ext_len = ((body[i] << 8) | body[i + 1]) + 4 + pad
    body[i] = ext_len >> 8
    body[i + 1] = ext_len & 0xFF
    body += bytes((0, 21, pad >> 8, pad & 0xFF)) + bytes(pad)
    return hs.message(hs.CLIENT_HELLO, msg_seq, bytes(body))


def test_chrome_sized_client_hello_split_across_records_and_datagrams():
    s = server()
    hello = _padded_client_hello
    first = hello(b"", 0, 1320)
    assert len(first) > 1400
    for d in _fragmented_datagrams(first, 300, 0):
        s.handle_packet(d, len(d), 0)
    n = s.poll_transmit()
    assert n and s.out_data[rec.HEADER_LEN] == hs.HELLO_VERIFY_REQUEST
    cookie = hs.pull_hello_verify_request(s.out_data, rec.HEADER_LEN + hs.HEADER_LEN, n)
    datagrams = _fragmented_datagrams(hello(cookie, 1, 1320), 300, 10)
    for d in reversed(datagrams):  # out of order too
        s.handle_packet(d, len(d), 0)
    n = s.poll_transmit()
    assert n and s.out_data[rec.HEADER_LEN] == hs.SERVER_HELLO
    assert hs.pull_seq(s.out_data, rec.HEADER_LEN) == 1  # follows the ClientHello's numbering
    assert s.poll_timeout() == PROFILE.dtls_initial_timeout_ms  # now it keeps state


def test_renegotiation_is_refused():
    net, a, b = make_pair()
    assert net.run(lambda: connected(a, b), timeout_ms=5000)
    client, srv = a.machine.conn, b.machine.conn
    # A HelloRequest, protected in epoch 1 with the server's keys, as a renegotiating server sends.
    buf = bytearray(rec.HEADER_LEN + rec.GCM_OVERHEAD + hs.HEADER_LEN)
    hs.push_header(buf, rec.HEADER_LEN + rec.EXPLICIT_NONCE_LEN, hs.HELLO_REQUEST, 0, 9, 0, 0)
    n = srv._seal(buf, 0, rec.CT_HANDSHAKE, hs.HEADER_LEN)
    client.handle_packet(buf, n, net.now)
    n = client.poll_transmit()
    assert n == rec.HEADER_LEN + rec.GCM_OVERHEAD + 2 and client.out_data[0] == rec.CT_ALERT
    assert srv._read_prot.open(client.out_data, 0, n - rec.HEADER_LEN) == 2
    assert bytes(client.out_data[21:23]) == b"\x01\x64"  # warning, no_renegotiation
    assert client.connected and client.poll_event() == 0


def test_ephemeral_keys_come_from_the_pool():
    from rtc_micro.crypto import ec

    c_cert, s_cert = certs()
    pool = ec.KeyPool(ec.x25519_keypair, 1)
    pool.fill()
    server_ = Connection(PROFILE, "server", s_cert, None, (1,), x25519_pool=pool)
    client = Connection(PROFILE, "client", c_cert, None, (1,))
    net = Network(seed=3)
    a, b = net.pair(Tap(client), Tap(server_))
    client.start(0)
    assert net.run(lambda: connected(a, b), timeout_ms=5000)
    assert len(pool) == 0 and client.srtp_profile == 1 == server_.srtp_profile


def _drain(conn):
    out = []
    while True:
        n = conn.poll_transmit()
        if not n:
            return out
        out.append(bytearray(conn.out_data[0:n]))


def test_mutated_server_flight_never_raises():
    c_cert, s_cert = certs()
    client = Connection(PROFILE, "client", c_cert)
    srv = Connection(PROFILE, "server", s_cert)
    client.start(0)
    for d in _drain(client):  # ClientHello -> HelloVerifyRequest
        srv.handle_packet(d, len(d), 0)
    for d in _drain(srv):
        client.handle_packet(d, len(d), 0)
    for d in _drain(client):  # ClientHello with the cookie -> flight 4
        srv.handle_packet(d, len(d), 0)
    flight4 = _drain(srv)
    assert client.state == 1 and len(flight4) >= 1
    hvr_random = client._client_random
    state = 99
    fresh = None
    for i in range(40):
        if fresh is None or fresh.state != 1:  # a new client waiting for the server's flight
            fresh = Connection(PROFILE, "client", c_cert)
            fresh.start(0)
            fresh._client_random = hvr_random  # so the server's signature still verifies
            _drain(fresh)
        d = bytearray(flight4[i % len(flight4)])
        for _ in range(1 + i % 3):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            d[(state >> 8) % len(d)] ^= 1 << (state % 8)
        fresh.handle_packet(d, len(d), 0)
        _drain(fresh)
        while fresh.poll_event():
            pass
    # Unmutated, the same flight completes the client's side of the exchange.
    for d in flight4:
        client.handle_packet(bytearray(d), len(d), 0)
    assert client.state == 3 and len(_drain(client)) > 0  # flight 5 sent, waiting for Finished


class RecordTap(Tap):
    """Feeds each record of a datagram separately and lets a test edit records on the way in."""

    def __init__(self, conn, edit):
        Tap.__init__(self, conn)
        self.edit = edit  # edit(conn, record_bytearray) before the record is handled

    def handle_packet(self, buf, n, now):
        off = 0
        while off < n:
            length = rec.pull_record(buf, off, n)
            if length < 0:
                return
            r = bytearray(buf[off : off + rec.HEADER_LEN + length])
            self.edit(self.conn, r)
            self.conn.handle_packet(r, len(r), now)
            off += rec.HEADER_LEN + length


def _edited_pair(client_edit=None, server_edit=None, s_cert=None):
    c_cert, default_s_cert = certs()
    client = Connection(PROFILE, "client", c_cert)
    server_ = Connection(PROFILE, "server", s_cert or default_s_cert)
    net = Network(seed=4)
    wrap_c = RecordTap(client, client_edit) if client_edit else Tap(client)
    wrap_s = RecordTap(server_, server_edit) if server_edit else Tap(server_)
    a, b = net.pair(wrap_c, wrap_s)
    client.start(0)
    net.run(lambda: a.machine.reasons or b.machine.reasons or connected(a, b), timeout_ms=5000)
    return a.machine, b.machine


def _corrupt_signature(conn, r):
    # The ServerKeyExchange: flip a bit in the last byte of its DER signature.
    if r[0] == rec.CT_HANDSHAKE and r[rec.HEADER_LEN] == hs.SERVER_KEY_EXCHANGE:
        r[len(r) - 1] ^= 1


def test_bad_server_key_exchange_signature_fails_with_a_reason():
    a, _b = _edited_pair(client_edit=_corrupt_signature)
    assert a.reasons and "signature" in a.reasons[0]
    assert not a.conn.connected


def _skew_transcript(conn, r):
    # Just before the client's Finished (the first epoch-1 handshake record), make the server's
    # transcript differ from the client's: its Finished check must fail.
    if r[0] == rec.CT_HANDSHAKE and rec.record_epoch(r, 0) == 1 and not conn.connected:
        conn._transcript.update(b"skew")


def test_bad_finished_fails_with_a_reason():
    _a, b = _edited_pair(server_edit=_skew_transcript)
    assert b.reasons and "Finished" in b.reasons[0]


def _no_heap_for_key_exchange(conn, r):
    # The client's ServerKeyExchange step runs out of heap half way (a board with a session up).
    if r[0] == rec.CT_HANDSHAKE and r[rec.HEADER_LEN] == hs.SERVER_KEY_EXCHANGE:
        def no_heap(*args):
            raise MemoryError("memory allocation failed")

        conn._handlers = dict(conn._handlers)
        conn._handlers[hs.SERVER_KEY_EXCHANGE] = no_heap


def test_a_handshake_short_of_heap_fails_with_a_reason():
    """MemoryError inside a handshake step never leaves a half-updated handshake (which used to
    fail later as 'unexpected message'): DTLS_FAILED says the heap ran out, and the peer is sent
    internal_error."""
    a, b = _edited_pair(client_edit=_no_heap_for_key_exchange)
    assert a.reasons and "heap ran out" in a.reasons[0]
    assert any(d[0] == rec.CT_ALERT and d[-1] == 80 for d in a.sent)  # internal_error
    assert not a.conn.connected and not b.conn.connected


class _NotP256:
    """A 'certificate' whose DER is not an X.509 P-256 certificate (key pair still valid)."""

    def __init__(self, cert):
        self.der = b"\x30\x03\x02\x01\x01"
        self.private_key = cert.private_key
        self.public_key = cert.public_key


def test_certificate_without_p256_key_fails_with_a_reason():
    a, _b = _edited_pair(s_cert=_NotP256(certs()[1]))
    assert a.reasons and "P-256" in a.reasons[0]


def test_early_messages_held_within_the_reassembly_budget():
    client = Connection(PROFILE, "client", certs()[0])
    client.start(0)
    _drain(client)
    body = bytes(500)
    for seq in range(3, 40):  # whole messages far ahead of the expected ServerHello (seq 0)
        msg = hs.message(hs.CERTIFICATE, seq, body)
        d = bytearray(rec.HEADER_LEN + len(msg))
        rec.push_record_header(d, 0, rec.CT_HANDSHAKE, 0, seq, len(msg))
        d[rec.HEADER_LEN :] = msg
        client.handle_packet(d, len(d), 0)
    assert client._pending_bytes <= PROFILE.dtls_reassembly_bytes and len(client._pending) <= 8
    assert client.counters.oversized > 0 and client.state == 1 and client.poll_event() == 0


def test_configuration_errors_say_what_to_change():
    cert = certs()[0]
    e = raises(ConfigError, Connection, PROFILE.derive(mtu=300), "client", cert)
    assert "dtls_transmit_slots" in str(e)
    assert "role" in str(raises(ConfigError, Connection, PROFILE, "peer", cert))
    assert "0x0002" in str(raises(ConfigError, Connection, PROFILE, "client", cert, None, (2,)))
    assert "sha-1" in str(raises(ConfigError, Connection, PROFILE, "client", cert, "sha-1 AB:CD"))
    client = Connection(PROFILE, "client", cert)
    raises(StateError, client.send, b"x", 0, 1, 0)
    raises(StateError, client.export_keying_material, "EXTRACTOR-dtls_srtp", 60)
    client.start(0)
    raises(StateError, client.start, 0)


def _handshake_released(conn):
    return conn._transcript is None and conn._rx is None and conn._flight is None


def test_handshake_buffers_released_once_no_longer_needed():
    net, a, b = make_pair()
    client, srv = a.machine.conn, b.machine.conn
    assert len(client._tx) == PROFILE.dtls_transmit_slots == 4 == len(srv._tx)
    assert net.run(lambda: connected(a, b), timeout_ms=5000)
    # The client got the last flight: it never resends its own (RFC 6347 §4.2.4).
    assert _handshake_released(client) and client._rx_bits is None and client._pending is None
    assert len(client._tx) == PROFILE.dtls_connected_slots == 2  # once drained
    # The server keeps its final flight, with a timer, until the client shows it has it.
    assert srv._flight and srv._transcript is not None and srv.poll_timeout() is not None
    assert len(srv._tx) == 4
    client.send(b"ping", 0, 4, net.now)
    assert net.run(lambda: b.machine.data, timeout_ms=1000) and b.machine.data == [b"ping"]
    assert _handshake_released(srv) and srv.poll_timeout() is None and len(srv._tx) == 2
    srv.send(b"pong", 0, 4, net.now)
    assert net.run(lambda: a.machine.data, timeout_ms=1000) and a.machine.data == [b"pong"]
    assert client.export_keying_material("EXTRACTOR-dtls_srtp", 60) == (
        srv.export_keying_material("EXTRACTOR-dtls_srtp", 60)
    )


class LoseFinalFlight(Tap):
    """Drops the first datagram that starts with ChangeCipherSpec (the server's last flight)."""

    def __init__(self, conn):
        Tap.__init__(self, conn)
        self.lost = 0

    def poll_transmit(self):
        n = Tap.poll_transmit(self)
        if n and not self.lost and self.out_data[0] == rec.CT_CHANGE_CIPHER_SPEC:
            self.lost = 1
            n = Tap.poll_transmit(self)
        return n


def test_lost_final_flight_is_resent_then_released_by_the_timer():
    c_cert, s_cert = certs()
    client = Connection(PROFILE, "client", c_cert)
    srv = Connection(PROFILE, "server", s_cert)
    net = Network(seed=3)
    a, b = net.pair(Tap(client), LoseFinalFlight(srv))
    client.start(net.now)
    assert net.run(lambda: b.has_event(events.DTLS_CONNECTED), timeout_ms=5000)
    assert b.machine.lost == 1 and not client.connected and not _handshake_released(srv)
    # The client's timer resends its flight; the server answers it from the kept flight.
    assert net.run(lambda: a.has_event(events.DTLS_CONNECTED), timeout_ms=5000)
    assert client.counters.retransmits == 1 and srv.counters.retransmits == 1
    assert _handshake_released(client) and not _handshake_released(srv)
    # No data from the client: the hold ends when the client would have given up anyway.
    net.advance(PROFILE.dtls_handshake_timeout_ms)
    assert _handshake_released(srv) and srv.poll_timeout() is None and srv.connected
    srv.send(b"after", 0, 5, net.now)
    client.send(b"release", 0, 7, net.now)
    assert net.run(lambda: a.machine.data and b.machine.data, timeout_ms=1000)
    assert a.machine.data == [b"after"] and b.machine.data == [b"release"]
    # A handshake message after the release is counted, not reassembled.
    unexpected = srv.counters.unexpected
    msg = hs.message(hs.CERTIFICATE, 9, bytes(40))
    d = bytearray(rec.HEADER_LEN + len(msg))
    rec.push_record_header(d, 0, rec.CT_HANDSHAKE, 0, 99, len(msg))
    d[rec.HEADER_LEN :] = msg
    srv.handle_packet(d, len(d), net.now)
    assert srv.counters.unexpected == unexpected + 1 and srv.connected


def _slot_pair(slot, fp=None):
    c_cert, s_cert = certs()
    client = Connection(PROFILE, "client", c_cert, fp, mem=slot)
    net = Network(seed=5)
    a, b = net.pair(Tap(client), Tap(Connection(PROFILE, "server", s_cert)))
    client.start(net.now)
    return net, a, b


def test_slot_buffers_are_reused_and_handshake_buffers_lent_to_one_handshake_at_a_time():
    shared = memory.Buffers()
    slot = memory.Buffers(shared)
    net, a, b = _slot_pair(slot)
    first = a.machine.conn
    transcript = shared.take("dtls_transcript", PROFILE.dtls_transcript_bytes)
    assert first._transcript._buf is transcript and first._rx is shared.take(
        "dtls_reassembly", PROFILE.dtls_reassembly_bytes)
    # Another slot's handshake meanwhile makes its own handshake buffers.
    other = Connection(PROFILE, "client", certs()[0], mem=memory.Buffers(shared))
    assert other._transcript._buf is not transcript and len(other._tx) == 4
    assert net.run(lambda: connected(a, b), timeout_ms=5000)
    # Connected: the handshake buffers are back; the slot keeps its 2 transmit buffers.
    assert _handshake_released(first) and len(first._tx) == PROFILE.dtls_connected_slots
    ring = slot.take("dtls_transmit", PROFILE.dtls_connected_slots * PROFILE.mtu)
    first.send(b"on the slot's ring", 0, 18, net.now)
    assert first.poll_transmit() and ring[0] == rec.CT_APPLICATION_DATA
    # The next session on the slot gets the same ring and, the lease being free, the
    # shared handshake buffers; a failed handshake gives them back too.
    net, a, b = _slot_pair(slot, fp="sha-256 " + ":".join(["AB"] * 32))
    again = a.machine.conn
    assert again._transcript._buf is transcript
    again._tx[0][0] = 0x55
    assert ring[0] == 0x55
    assert net.run(lambda: a.has_event(events.DTLS_FAILED), timeout_ms=5000)
    assert Connection(PROFILE, "client", certs()[0], mem=slot)._transcript._buf is transcript
    other.close(0)
