"""DTLS 1.2 connection, client and server (RFC 6347), keyed for DTLS-SRTP (RFC 5764).

One suite (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, RFC 5289), groups x25519 and secp256r1,
extended master secret (RFC 7627), mutual ECDSA P-256 certificates checked against the SDP
fingerprint (RFC 8122), RFC 5705 exporter. Sans-I/O: `handle_packet(buf, n, now)` decrypts in
place in `buf`, so `ev_data` points into the caller's buffer until the next poll or handle call.
"""

from rtc_micro import events
from rtc_micro.compat import const, ticks_add, ticks_diff, ticks_min
from rtc_micro.crypto import ec, x509
from rtc_micro.crypto.hashes import Transcript, sha256
from rtc_micro.crypto.hmac import hmac_sha256, prf_sha256
from rtc_micro.crypto.random import random_bytes
from rtc_micro.dtls import handshake as hs
from rtc_micro.dtls import record as rec
from rtc_micro.errors import ConfigError, StateError
from rtc_micro.memory import Buffers, copy_into

CLIENT = "client"
SERVER = "server"

# States.
_IDLE = const(0)
_C_HELLO = const(1)  # client: ClientHello sent, waiting for HelloVerifyRequest or ServerHello
_C_SERVER_FLIGHT = const(2)  # client: reading Certificate .. ServerHelloDone
_C_FINISHED = const(3)  # client: flight 5 sent, waiting for the server's Finished
_S_LISTEN = const(4)  # server: stateless until a ClientHello with a valid cookie
_S_CLIENT_FLIGHT = const(5)  # server: flight 4 sent, reading Certificate .. Finished
_CONNECTED = const(6)
_CLOSED = const(7)
_FAILED = const(8)

# Alerts (RFC 5246 §7.2).
_WARNING = const(1)
_FATAL = const(2)
_CLOSE_NOTIFY = const(0)
_UNEXPECTED_MESSAGE = const(10)
_HANDSHAKE_FAILURE = const(40)
_BAD_CERTIFICATE = const(42)
_ILLEGAL_PARAMETER = const(47)
_DECRYPT_ERROR = const(51)
_INTERNAL_ERROR = const(80)
_NO_RENEGOTIATION = const(100)
_NO_HEAP = ("the heap ran out during the DTLS handshake: too little free memory for another "
            "session (end one, or give the board's sessions smaller buffers)")

_MAX_TIMEOUT_MS = const(60000)  # RFC 6347 §4.2.4.1
_COOKIE_LEN = const(20)
_EMPTY_RENEGOTIATION_INFO_SCSV = const(0x00FF)
_PENDING_MAX = const(8)  # future handshake messages held while an earlier one is missing
_MIN_FRAGMENT = const(32)

_ALERT_NAMES = {
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    110: "unsupported_extension",
}

_SRTP_KEY_SALT = {
    hs.SRTP_AES128_CM_HMAC_SHA1_80: (16, 14),
    hs.SRTP_AEAD_AES_128_GCM: (16, 12),
}


class Counters:
    """What the connection dropped, and why (peer input never raises)."""

    def __init__(self):
        self.malformed = 0  # records or handshake fragments that do not parse
        self.bad_record = 0  # protected records that fail authentication
        self.replayed = 0  # records seen before or older than the window
        self.wrong_epoch = 0  # records for an epoch we have no keys for
        self.oversized = 0  # handshake messages larger than the reassembly area
        self.unexpected = 0  # well-formed input that the state does not allow
        self.retransmits = 0  # flights we sent again
        self.tx_dropped = 0  # datagrams dropped because the transmit ring was full
        self.events_dropped = 0  # events dropped because the event ring was full


def _normalize_fingerprint(fp):
    """'AB:CD:...' from an SDP fingerprint value, with or without its 'sha-256 ' prefix."""
    if fp is None:
        return None
    parts = fp.strip().split()
    if len(parts) == 2 and parts[0].lower() != "sha-256":
        raise ConfigError("remote fingerprint uses %s: only sha-256 is supported" % parts[0])
    return parts[-1].upper()


_HANDSHAKE = "dtls_handshake"  # the lease on the shared handshake buffers


def take_buffers(profile, mem, hs_mem=None):
    """The buffers a connection takes: from `mem` (a `memory.Buffers`) its transmit ring kept
    once connected; from `hs_mem` (default `mem.shared`: one handshake at a time has them) the
    handshake reassembly area and its bitmap, the transcript and the ring's flight-only slots."""
    if hs_mem is None:
        hs_mem = mem.shared
    mtu = profile.mtu
    slots = profile.dtls_transmit_slots
    keep = max(1, min(slots, profile.dtls_connected_slots))
    cap = profile.dtls_reassembly_bytes
    return (mem.take("dtls_transmit", keep * mtu),
            hs_mem.take("dtls_reassembly", cap),
            hs_mem.take("dtls_reassembly_bits", (cap + 7) // 8),
            hs_mem.take("dtls_transcript", profile.dtls_transcript_bytes),
            hs_mem.take("dtls_flight_transmit", (slots - keep) * mtu))


class Connection:
    """One DTLS 1.2 association; `role` is "client" or "server" (RFC 6347).

    `x25519_pool`/`p256_pool`: optional `crypto.ec.KeyPool`s of ephemeral keys made while idle.
    `mem`: a `memory.Buffers` for the transmit ring and the handshake buffers (see
    `take_buffers`); None: make them.
    """

    def __init__(
        self,
        profile,
        role,
        certificate,
        remote_fingerprint=None,
        srtp_profiles=(hs.SRTP_AEAD_AES_128_GCM, hs.SRTP_AES128_CM_HMAC_SHA1_80),
        x25519_pool=None,
        p256_pool=None,
        mem=None,
    ):
        if role != CLIENT and role != SERVER:
            raise ConfigError("role must be 'client' or 'server', not %r" % (role,))
        for p in srtp_profiles:
            if p not in _SRTP_KEY_SALT:
                raise ConfigError("unsupported SRTP profile 0x%04x: use 0x0001 or 0x0007" % p)
        der = certificate.der
        if len(der) + 64 > profile.dtls_flight_bytes // 2:
            raise ConfigError(
                "certificate of %d bytes does not fit profile.dtls_flight_bytes=%d: raise it"
                % (len(der), profile.dtls_flight_bytes)
            )
        self.role = role
        self.certificate = certificate
        self.remote_fingerprint = _normalize_fingerprint(remote_fingerprint)
        self.srtp_profiles = tuple(srtp_profiles)
        self._x25519_pool = x25519_pool
        self._p256_pool = p256_pool
        if profile.mtu < 256:
            raise ConfigError("profile.mtu=%d is too small for DTLS: use >= 256" % profile.mtu)
        # A whole flight goes into the transmit ring at once: make sure the largest one fits.
        per_datagram = profile.mtu - rec.HEADER_LEN - hs.HEADER_LEN - rec.GCM_OVERHEAD
        if profile.dtls_flight_bytes // per_datagram + 2 > profile.dtls_transmit_slots:
            raise ConfigError(
                "a %d-byte flight at mtu=%d needs more than dtls_transmit_slots=%d datagrams: "
                "raise dtls_transmit_slots or mtu, or lower dtls_flight_bytes"
                % (profile.dtls_flight_bytes, profile.mtu, profile.dtls_transmit_slots)
            )
        self._handlers = _CLIENT_HANDLERS if role == CLIENT else _SERVER_HANDLERS
        self.counters = Counters()
        self._mtu = profile.mtu
        self._max_retransmits = profile.dtls_max_retransmits
        self._initial_timeout_ms = profile.dtls_initial_timeout_ms
        self._handshake_timeout_ms = profile.dtls_handshake_timeout_ms
        self._flight_cap = profile.dtls_flight_bytes
        mem = mem or Buffers()
        # The handshake's buffers: the set every slot shares, unless another handshake has it.
        self._hs_mem = mem.shared if mem.shared.lease(_HANDSHAKE, self) else Buffers()
        ring, rx, bits, transcript, flight_ring = take_buffers(profile, mem, self._hs_mem)
        # Transmit ring of whole datagrams: the first `keep` stay once connected.
        mtu = profile.mtu
        self._tx = []
        for buf in (ring, flight_ring):
            for i in range(0, len(buf), mtu):
                self._tx.append(memoryview(buf)[i : i + mtu])
        slots = len(self._tx)
        self._tx_len = mem.table("dtls_tx_len", slots)
        self._tx_keep = len(ring) // mtu  # once the handshake is released
        self._tx_head = 0
        self._tx_count = 0
        self.out_data = self._tx[0]
        # Events ring: kind, and for DTLS_DATA the buffer/offset/length of the plaintext.
        slots = profile.event_slots
        self._ev_kind = mem.table("dtls_ev_kind", slots)
        self._ev_buf = mem.table("dtls_ev_buf", slots, None)
        self._ev_off = mem.table("dtls_ev_off", slots)
        self._ev_len = mem.table("dtls_ev_len", slots)
        self._ev_head = 0
        self._ev_count = 0
        self.ev_reason = ""
        self.ev_buf = None  # DTLS_DATA: the plaintext is ev_buf[ev_off:ev_off+ev_len]
        self.ev_off = 0
        self.ev_len = 0
        # Handshake-only state, allocated here (not at handshake start: fragmentation on a board)
        # and dropped by _release_handshake() once no retransmission can need it.
        # Reassembly (RFC 6347 §4.2.3): one message at a time, bounded.
        self._rx = rx
        self._rx_mv = memoryview(rx)
        self._rx_bits = bits
        self._rx_seq = -1
        self._rx_type = 0
        self._rx_len = 0
        self._rx_got = 0
        self._pending = {}  # seq -> (type, body) of whole messages that arrived early
        self._pending_bytes = 0
        self._transcript = Transcript(len(transcript), transcript)
        self._cookie_secret = random_bytes(32) if role == SERVER else None
        self._reset_handshake()
        self.state = _S_LISTEN if role == SERVER else _IDLE

    def _reset_handshake(self):
        self._next_recv = 0  # message_seq we expect next
        self._next_send = 0
        self._peer_flight_last = -1  # message_seq ending the peer's last complete flight
        self._expect = 0
        self._flight = []  # [content type, epoch, bytes] of our last flight
        self._flight_bytes = 0
        self._send_seq = [0, 0]  # record sequence per epoch
        self._write_epoch = 0
        self._write_prot = None
        self._read_prot = None
        self._replay = rec.ReplayWindow()
        self._rexmit_at = None
        self._timeout_ms = self._initial_timeout_ms
        self._retransmits = 0
        self._deadline_at = None  # handshake limit; once connected, end of the final-flight hold
        self._client_random = b""
        self._server_random = b""
        self._cookie = b""
        self._suite = 0
        self._group = 0
        self._ems = False
        self._cert_requested = False
        self._eph_priv = None
        self._eph_pub = None
        self._peer_eph = None
        self._peer_pub = None
        self._master = None
        self._digest_before = None
        self.srtp_profile = 0
        self.remote_certificate = None

    # ---- API -------------------------------------------------------------------------------

    @property
    def connected(self):
        return self.state == _CONNECTED

    def start(self, now):
        """Client: send the first ClientHello (RFC 6347 §4.2.1)."""
        if self.role != CLIENT or self.state != _IDLE:
            raise StateError("start() is for a client that has not started yet")
        self._client_random = random_bytes(32)
        self._deadline_at = ticks_add(now, self._handshake_timeout_ms)
        self._send_client_hello(now)

    def send(self, buf, off, n, now):
        """Send `buf[off:off+n]` as one application-data record; False when the ring is full."""
        if self.state != _CONNECTED:
            raise StateError("DTLS is not connected: wait for DTLS_CONNECTED before send()")
        if n + rec.HEADER_LEN + rec.GCM_OVERHEAD > self._mtu:
            raise ConfigError(
                "%d bytes do not fit one record under mtu=%d: send at most %d"
                % (n, self._mtu, self._mtu - rec.HEADER_LEN - rec.GCM_OVERHEAD)
            )
        slot = self._tx_slot()
        if slot is None:
            return False
        copy_into(slot, rec.HEADER_LEN + rec.EXPLICIT_NONCE_LEN, buf, off, n)
        self._tx_commit(self._seal(slot, 0, rec.CT_APPLICATION_DATA, n))
        return True

    def close(self, now):
        """Send close_notify (RFC 5246 §7.2.1) and stop."""
        if self.state == _CLOSED or self.state == _FAILED:
            return
        if self._write_epoch:
            self._send_alert(_WARNING, _CLOSE_NOTIFY)
        self.state = _CLOSED
        self._stop_timers()
        self._release_handshake()
        self._push_event(events.DTLS_CLOSED)

    def export_keying_material(self, label, n):
        """RFC 5705 exporter without context: PRF(master, label, client_random+server_random)."""
        if self.state != _CONNECTED:
            raise StateError("export_keying_material() needs a connected DTLS session")
        if isinstance(label, str):
            label = label.encode()
        return prf_sha256(self._master, label, self._client_random + self._server_random, n)

    def srtp_keys(self):
        """(client_key, client_salt, server_key, server_salt) (RFC 5764 §4.2)."""
        if not self.srtp_profile:
            raise StateError("no SRTP profile was negotiated")
        kl, sl = _SRTP_KEY_SALT[self.srtp_profile]
        km = self.export_keying_material(b"EXTRACTOR-dtls_srtp", 2 * (kl + sl))
        return km[0:kl], km[2 * kl : 2 * kl + sl], km[kl : 2 * kl], km[2 * kl + sl :]

    # ---- outputs ---------------------------------------------------------------------------

    def poll_transmit(self):
        if not self._tx_count:
            if self._flight is None and len(self._tx) > self._tx_keep:
                self._shrink_ring()
            return 0
        i = self._tx_head
        self.out_data = self._tx[i]
        self._tx_head = (i + 1) % len(self._tx)
        self._tx_count -= 1
        return self._tx_len[i]

    def poll_timeout(self):
        return ticks_min(self._rexmit_at, self._deadline_at)

    def poll_event(self):
        if not self._ev_count:
            return events.NONE
        slots = len(self._ev_kind)
        i = (self._ev_head - self._ev_count) % slots
        self._ev_count -= 1
        kind = self._ev_kind[i]
        if kind == events.DTLS_DATA:
            self.ev_buf = self._ev_buf[i]
            self.ev_off = self._ev_off[i]
            self.ev_len = self._ev_len[i]
            self._ev_buf[i] = None
        return kind

    @property
    def ev_data(self):
        """The DTLS_DATA plaintext as a memoryview (allocates one; ev_buf/ev_off/ev_len don't)."""
        return memoryview(self.ev_buf)[self.ev_off : self.ev_off + self.ev_len]

    def _push_event(self, kind, buf=None, off=0, n=0):
        slots = len(self._ev_kind)
        if self._ev_count >= slots:
            self.counters.events_dropped += 1
            return
        i = self._ev_head
        self._ev_kind[i] = kind
        self._ev_buf[i] = buf
        self._ev_off[i] = off
        self._ev_len[i] = n
        self._ev_head = (i + 1) % slots
        self._ev_count += 1

    def _shrink_ring(self):
        """After the handshake, once drained: drop the transmit buffers only flights needed."""
        del self._tx[self._tx_keep :]  # (_tx_len stays: a slot's table, the next session's too)
        self._tx_head = 0
        self.out_data = self._tx[0]

    def _tx_slot(self):
        """The next free transmit buffer, or None (counted) when the ring is full."""
        if self._tx_count >= len(self._tx):
            self.counters.tx_dropped += 1
            return None
        return self._tx[(self._tx_head + self._tx_count) % len(self._tx)]

    def _tx_commit(self, n):
        self._tx_len[(self._tx_head + self._tx_count) % len(self._tx)] = n
        self._tx_count += 1

    # ---- timers ----------------------------------------------------------------------------

    def handle_timeout(self, now):
        if self.state == _CLOSED or self.state == _FAILED:
            return
        if self._deadline_at is not None and ticks_diff(now, self._deadline_at) >= 0:
            if self.state == _CONNECTED:
                self._release_handshake()  # the peer has stopped retransmitting by now
                return
            self._fail("DTLS handshake timed out after %d ms" % self._handshake_timeout_ms, 0)
            return
        if self._rexmit_at is None or ticks_diff(now, self._rexmit_at) < 0:
            return
        if self._retransmits >= self._max_retransmits:
            self._fail(
                "DTLS handshake timed out: no answer after %d retransmissions (is the peer "
                "reachable and speaking DTLS 1.2?)" % self._retransmits,
                0,
            )
            return
        self._retransmits += 1
        self._timeout_ms = min(self._timeout_ms * 2, _MAX_TIMEOUT_MS)
        self._rexmit_at = ticks_add(now, self._timeout_ms)
        self._transmit_flight(True)

    def _stop_timers(self):
        self._rexmit_at = None
        self._deadline_at = None

    # ---- failure ---------------------------------------------------------------------------

    def _fail(self, reason, alert):
        if self.state == _FAILED or self.state == _CLOSED:
            return
        if alert:
            self._send_alert(_FATAL, alert)
        self.state = _FAILED
        self._stop_timers()
        self._flight = []
        self._hs_mem.give_back(_HANDSHAKE, self)  # never used again: the next handshake's
        self.ev_reason = reason
        self._push_event(events.DTLS_FAILED)

    def _send_alert(self, level, desc):
        slot = self._tx_slot()
        if slot is None:
            return
        if self._write_epoch:
            p = rec.HEADER_LEN + rec.EXPLICIT_NONCE_LEN
            slot[p] = level
            slot[p + 1] = desc
            self._tx_commit(self._seal(slot, 0, rec.CT_ALERT, 2))
        else:
            slot[rec.HEADER_LEN] = level
            slot[rec.HEADER_LEN + 1] = desc
            rec.push_record_header(slot, 0, rec.CT_ALERT, 0, self._next_seq(0), 2)
            self._tx_commit(rec.HEADER_LEN + 2)

    # ---- record output ---------------------------------------------------------------------

    def _next_seq(self, epoch):
        s = self._send_seq[epoch]
        self._send_seq[epoch] = s + 1
        return s

    def _seal(self, buf, off, ctype, n):
        """Protect the plaintext at `buf[off+21:]` in epoch 1; returns the record size."""
        return self._write_prot.seal(buf, off, ctype, 1, self._next_seq(1), n)

    def _add_to_flight(self, ctype, epoch, data):
        self._flight_bytes += len(data)
        if self._flight_bytes > self._flight_cap:
            self._fail("our handshake flight exceeds profile.dtls_flight_bytes: raise it", 0)
            return
        self._flight.append((ctype, epoch, data))

    def _new_flight(self):
        self._flight = []
        self._flight_bytes = 0

    def _handshake_message(self, msg_type, body, epoch=0):
        """Add a handshake message to our flight and to the transcript."""
        msg = hs.message(msg_type, self._next_send, body)
        self._next_send += 1
        if not self._transcript.update(msg):
            self._fail("handshake transcript exceeds profile.dtls_transcript_bytes: raise it", 0)
            return
        self._add_to_flight(rec.CT_HANDSHAKE, epoch, msg)

    def _arm_timer(self, now):
        self._retransmits = 0
        self._timeout_ms = self._initial_timeout_ms
        self._rexmit_at = ticks_add(now, self._timeout_ms)

    def _send_flight(self, state, expect, now):
        """Our flight is built: wait for `expect` in `state`, send it and arm its timer."""
        if self.state == _FAILED:
            return
        self.state = state
        self._expect = expect
        self._arm_timer(now)
        self._transmit_flight(False)

    def _transmit_flight(self, again):
        """Write our flight into datagrams of at most `mtu` bytes, fragmenting messages."""
        if not self._flight:  # none, or released after the handshake
            return
        if again:
            self.counters.retransmits += 1
        mtu = self._mtu
        slot = None
        pos = 0
        for ctype, epoch, data in self._flight:
            overhead = rec.HEADER_LEN + (rec.GCM_OVERHEAD if epoch else 0)
            if ctype != rec.CT_HANDSHAKE:
                if slot is None or pos + overhead + 1 > mtu:
                    if slot is not None:
                        self._tx_commit(pos)
                    slot = self._tx_slot()
                    pos = 0
                    if slot is None:
                        return
                pos += self._write_record(slot, pos, ctype, epoch, data, 0, 0, 0)
                continue
            total = len(data) - hs.HEADER_LEN
            frag_off = 0
            while True:
                room = mtu - pos - overhead - hs.HEADER_LEN
                if slot is None or (room < _MIN_FRAGMENT and room < total - frag_off):
                    if slot is not None:
                        self._tx_commit(pos)
                    slot = self._tx_slot()
                    pos = 0
                    if slot is None:
                        return
                    room = mtu - overhead - hs.HEADER_LEN
                frag_len = min(room, total - frag_off)
                pos += self._write_record(slot, pos, ctype, epoch, data, 1, frag_off, frag_len)
                frag_off += frag_len
                if frag_off >= total:
                    break
        if slot is not None:
            self._tx_commit(pos)

    def _write_record(self, slot, pos, ctype, epoch, data, is_hs, frag_off, frag_len):
        """One record at `slot[pos]`: a handshake fragment or a whole CCS/alert; its size."""
        p = pos + rec.HEADER_LEN + (rec.EXPLICIT_NONCE_LEN if epoch else 0)
        if is_hs:
            hs.push_header(
                slot, p, data[0], len(data) - hs.HEADER_LEN, hs.pull_seq(data, 0), frag_off,
                frag_len,
            )
            a = hs.HEADER_LEN + frag_off
            copy_into(slot, p + hs.HEADER_LEN, data, a, frag_len)  # no slice copy of data
            n = hs.HEADER_LEN + frag_len
        else:
            n = len(data)
            slot[p : p + n] = data
        if epoch:
            return self._seal(slot, pos, ctype, n)
        rec.push_record_header(slot, pos, ctype, 0, self._next_seq(0), n)
        return rec.HEADER_LEN + n

    # ---- record input ----------------------------------------------------------------------

    def handle_packet(self, buf, n, now):
        """Process one datagram (one or more records, RFC 6347 §4.1); decrypts in place."""
        if self.state == _CLOSED or self.state == _FAILED:
            return
        if isinstance(buf, bytes):
            raise ConfigError("handle_packet decrypts in place: pass a bytearray, not bytes")
        off = 0
        while off < n and self.state != _CLOSED and self.state != _FAILED:
            length = rec.pull_record(buf, off, n)
            if length < 0:
                self.counters.malformed += 1  # the rest of the datagram cannot be framed
                return
            self._handle_record(buf, off, length, now)
            off += rec.HEADER_LEN + length

    def _handle_record(self, buf, off, length, now):
        ctype = buf[off]
        epoch = rec.record_epoch(buf, off)
        p = off + rec.HEADER_LEN
        if epoch == 1:
            if self._read_prot is None:
                self.counters.wrong_epoch += 1
                return
            seq = rec.record_seq(buf, off)
            if not self._replay.check(seq):
                self.counters.replayed += 1
                return
            length = self._read_prot.open(buf, off, length)
            if length < 0:
                self.counters.bad_record += 1
                return
            self._replay.update(seq)
            p += rec.EXPLICIT_NONCE_LEN
        elif epoch != 0:
            self.counters.wrong_epoch += 1
            return
        if ctype == rec.CT_HANDSHAKE:
            try:
                self._handle_handshake_record(buf, p, p + length, epoch, rec.record_seq(buf, off),
                                              now)
            except MemoryError:  # a handshake step cut short cannot be undone: say why
                self._fail(_NO_HEAP, _INTERNAL_ERROR)
        elif ctype == rec.CT_APPLICATION_DATA:
            if epoch != 1 or self.state != _CONNECTED:
                self.counters.unexpected += 1
                return
            if self._flight is not None:
                self._release_handshake()  # the peer has our Finished: it sends data
            self._push_event(events.DTLS_DATA, buf, p, length)
        elif ctype == rec.CT_ALERT:
            if length != 2:
                self.counters.malformed += 1
                return
            if epoch == 0 and self._read_prot is not None:
                self.counters.unexpected += 1  # unauthenticated alert once keys exist
                return
            self._handle_alert(buf[p], buf[p + 1])
        else:  # ChangeCipherSpec: keys are chosen by the record epoch (RFC 6347 §4.1)
            if length != 1 or buf[p] != 1:
                self.counters.malformed += 1

    def _handle_alert(self, level, desc):
        if desc == _CLOSE_NOTIFY:
            if self.state == _CONNECTED:
                self._send_alert(_WARNING, _CLOSE_NOTIFY)
            self.state = _CLOSED
            self._stop_timers()
            self._release_handshake()
            self._push_event(events.DTLS_CLOSED)
        elif level == _FATAL:
            name = _ALERT_NAMES.get(desc, "see RFC 5246 §7.2")
            self._fail("peer sent fatal DTLS alert %d (%s)" % (desc, name), 0)

    def _handle_handshake_record(self, buf, p, end, epoch, record_seq, now):
        while p < end and self.state != _FAILED:
            if end - p < hs.HEADER_LEN:
                self.counters.malformed += 1
                return
            msg_type = buf[p]
            length = hs.pull_length(buf, p)
            seq = hs.pull_seq(buf, p)
            frag_off = hs.pull_frag_off(buf, p)
            frag_len = hs.pull_frag_len(buf, p)
            body = p + hs.HEADER_LEN
            if body + frag_len > end or frag_off + frag_len > length:
                self.counters.malformed += 1
                return
            p = body + frag_len
            if (msg_type == hs.FINISHED) != (epoch == 1):
                renegotiate = msg_type == hs.CLIENT_HELLO or msg_type == hs.HELLO_REQUEST
                if epoch == 1 and renegotiate and self.state == _CONNECTED:
                    self._send_alert(_WARNING, _NO_RENEGOTIATION)  # we refuse (RFC 5246 §7.2.2)
                else:
                    self.counters.unexpected += 1
                continue
            if self.state == _S_LISTEN:
                if msg_type != hs.CLIENT_HELLO:
                    self.counters.unexpected += 1
                    continue
                if seq != self._next_recv:  # stateless: follow the client's numbering
                    self._next_recv = seq
                    self._rx_seq = -1
            if seq < self._next_recv:
                if seq == self._peer_flight_last and frag_off + frag_len == length:
                    self._transmit_flight(True)  # the peer lost our answer (RFC 6347 §4.2.4)
                continue
            if self._rx is None:
                self.counters.unexpected += 1  # a new message after the handshake was released
                continue
            if length + hs.HEADER_LEN > len(self._rx):
                self.counters.oversized += 1
                continue
            if seq > self._next_recv:
                self._hold(msg_type, seq, buf, body, length, frag_off, frag_len)
                continue
            if not self._reassemble(msg_type, seq, buf, body, length, frag_off, frag_len):
                continue
            self._rx_seq = -1
            self._deliver(msg_type, seq, self._rx_mv, length, record_seq, now)
            while self._pending and self._next_recv in self._pending and self.state < _CLOSED:
                t, data = self._pending.pop(self._next_recv)
                self._pending_bytes -= len(data)
                self._deliver(t, self._next_recv, memoryview(data), len(data), 0, now)

    def _hold(self, msg_type, seq, buf, body, length, frag_off, frag_len):
        """Keep a whole future message (bounded); fragments of one wait for a retransmission."""
        if frag_off != 0 or frag_len != length or seq in self._pending:
            return
        if len(self._pending) >= _PENDING_MAX or self._pending_bytes + length > len(self._rx):
            self.counters.oversized += 1
            return
        self._pending[seq] = (msg_type, bytes(buf[body : body + length]))
        self._pending_bytes += length

    def _reassemble(self, msg_type, seq, buf, body, length, frag_off, frag_len):
        """Copy a fragment of the expected message; True once the message is whole."""
        if self._rx_seq != seq:
            self._rx_seq = seq
            self._rx_type = msg_type
            self._rx_len = length
            self._rx_got = 0
            bits = self._rx_bits
            for i in range((length + 7) // 8):
                bits[i] = 0
        elif msg_type != self._rx_type or length != self._rx_len:
            self.counters.malformed += 1
            return False
        rx = self._rx
        bits = self._rx_bits
        got = self._rx_got
        for i in range(frag_off, frag_off + frag_len):
            m = 1 << (i & 7)
            if not bits[i >> 3] & m:
                bits[i >> 3] |= m
                rx[i] = buf[body + i - frag_off]
                got += 1
        self._rx_got = got
        return got == length

    # ---- handshake messages ----------------------------------------------------------------

    def _deliver(self, msg_type, seq, body, n, record_seq, now):
        """A whole handshake message in order: hash it, then run its handler."""
        if self.state == _S_LISTEN:
            self._server_client_hello(body, n, seq, record_seq, now)
            return
        if msg_type != self._expect and not (
            msg_type == hs.CERTIFICATE_REQUEST and self._expect == hs.SERVER_HELLO_DONE
        ):
            if not (self.state == _C_HELLO and msg_type == hs.HELLO_VERIFY_REQUEST):
                self._fail(
                    "unexpected DTLS handshake message %d (wanted %d)" % (msg_type, self._expect),
                    _UNEXPECTED_MESSAGE,
                )
                return
        self._next_recv = seq + 1
        if msg_type == hs.HELLO_VERIFY_REQUEST:
            self._client_hello_verify(body, n, seq, now)
            return
        if msg_type == hs.CERTIFICATE_VERIFY or msg_type == hs.FINISHED:
            self._digest_before = self._transcript.digest()
        hdr = bytearray(hs.HEADER_LEN)
        hs.push_header(hdr, 0, msg_type, n, seq, 0, n)
        if not (self._transcript.update(hdr) and self._transcript.update(body[0:n])):
            self._fail("handshake transcript exceeds profile.dtls_transcript_bytes: raise it", 0)
            return
        self._handlers[msg_type](self, body, n, seq, now)

    # Client side.

    def _send_client_hello(self, now):
        self._new_flight()
        self._transcript.reset()
        body = hs.client_hello(self._client_random, self._cookie, self.srtp_profiles)
        self._handshake_message(hs.CLIENT_HELLO, body)
        self.state = _C_HELLO
        self._expect = hs.SERVER_HELLO
        self._arm_timer(now)
        self._transmit_flight(False)

    def _client_hello_verify(self, body, n, seq, now):
        cookie = hs.pull_hello_verify_request(body, 0, n)
        if cookie is None or not cookie:
            self.counters.malformed += 1
            return
        self._cookie = cookie
        self._peer_flight_last = seq
        self._send_client_hello(now)

    def _client_server_hello(self, body, n, seq, now):
        h = hs.pull_server_hello(body, 0, n)
        if h is None:
            self._fail("malformed ServerHello", _ILLEGAL_PARAMETER)
            return
        if h.version != 0xFEFD or h.suites[0] != hs.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
            self._fail("server chose a version or suite we did not offer", _HANDSHAKE_FAILURE)
            return
        if h.srtp_profiles:
            if len(h.srtp_profiles) != 1 or h.srtp_profiles[0] not in self.srtp_profiles:
                self._fail("server chose an SRTP profile we did not offer", _ILLEGAL_PARAMETER)
                return
            self.srtp_profile = h.srtp_profiles[0]
        self._server_random = h.random
        self._ems = h.ems
        self._suite = h.suites[0]
        self.state = _C_SERVER_FLIGHT
        self._expect = hs.CERTIFICATE

    def _peer_certificate(self, body, n, who):
        """Check the peer's Certificate: one P-256 key, fingerprint as in SDP. False on failure."""
        ders = hs.pull_certificate(body, 0, n)
        if ders is None:
            self._fail("malformed Certificate from the %s" % who, _BAD_CERTIFICATE)
            return False
        if not ders:
            self._fail(
                "the %s sent no certificate (WebRTC requires one, RFC 8827 §6.5)" % who,
                _HANDSHAKE_FAILURE,
            )
            return False
        pub = x509.public_key_from_der(ders[0])
        if pub is None:
            self._fail(
                "the %s certificate has no ECDSA P-256 key (the only form we accept)" % who,
                _BAD_CERTIFICATE,
            )
            return False
        fp = x509.fingerprint_sha256(ders[0])
        if self.remote_fingerprint is not None and fp.upper() != self.remote_fingerprint:
            self._fail(
                "the %s certificate fingerprint %s does not match the fingerprint in SDP %s"
                % (who, fp, self.remote_fingerprint),
                _BAD_CERTIFICATE,
            )
            return False
        self.remote_certificate = ders[0]
        self._peer_pub = pub
        return True

    def _certificate_msg(self, body, n, seq, now):
        if self.role == CLIENT:
            if self._peer_certificate(body, n, "server"):
                self._expect = hs.SERVER_KEY_EXCHANGE
        elif self._peer_certificate(body, n, "client"):
            self._expect = hs.CLIENT_KEY_EXCHANGE

    def _client_server_key_exchange(self, body, n, seq, now):
        k = hs.pull_server_key_exchange(body, 0, n)
        if k is None:
            self._fail("malformed ServerKeyExchange", _ILLEGAL_PARAMETER)
            return
        if k.group not in (hs.GROUP_X25519, hs.GROUP_SECP256R1):
            self._fail("server chose a group we did not offer", _ILLEGAL_PARAMETER)
            return
        if k.sig_alg != hs.ECDSA_SECP256R1_SHA256:
            self._fail("server signed with an algorithm we did not offer", _ILLEGAL_PARAMETER)
            return
        digest = sha256(self._client_random + self._server_random + k.params)
        if not ec.p256_verify(self._peer_pub, digest, k.signature):
            self._fail("bad ServerKeyExchange signature", _DECRYPT_ERROR)
            return
        self._group = k.group
        self._peer_eph = k.public
        self._expect = hs.SERVER_HELLO_DONE

    def _client_certificate_request(self, body, n, seq, now):
        algs = hs.pull_certificate_request(body, 0, n)
        if algs is None:
            self._fail("malformed CertificateRequest", _ILLEGAL_PARAMETER)
            return
        if hs.ECDSA_SECP256R1_SHA256 not in algs:
            self._fail("server does not accept ecdsa_secp256r1_sha256 certificates", 0)
            return
        self._cert_requested = True

    def _client_server_hello_done(self, body, n, seq, now):
        if n:
            self._fail("malformed ServerHelloDone", _ILLEGAL_PARAMETER)
            return
        self._peer_flight_last = seq
        self._new_flight()
        if self._cert_requested:
            self._handshake_message(hs.CERTIFICATE, hs.certificate((self.certificate.der,)))
        pms = self._key_share()
        if pms is None:
            self._fail("server key share is not a valid point", _ILLEGAL_PARAMETER)
            return
        self._handshake_message(hs.CLIENT_KEY_EXCHANGE, hs.client_key_exchange(self._eph_pub))
        self._derive_keys(pms)
        if self._cert_requested:
            sig = ec.p256_sign(self.certificate.private_key, self._transcript.digest())
            self._handshake_message(hs.CERTIFICATE_VERIFY, hs.certificate_verify(sig))
        self._change_cipher_spec_and_finished(b"client finished")
        self._send_flight(_C_FINISHED, hs.FINISHED, now)

    def _client_finished(self, body, n, seq, now):
        if not self._check_finished(body, n, b"server finished"):
            return
        self._peer_flight_last = seq
        self._connected()
        self._release_handshake()  # the server sent the last flight: we never resend ours

    # Server side.

    def _cookie_for(self, h):
        data = h.random + h.session_id + h.raw_suites
        return hmac_sha256(self._cookie_secret, data)[0:_COOKIE_LEN]

    def _server_client_hello(self, body, n, seq, record_seq, now):
        """RFC 6347 §4.2.1: answer without state until the ClientHello carries our cookie."""
        h = hs.pull_client_hello(body, 0, n)
        if h is None:
            self.counters.malformed += 1
            return
        cookie = self._cookie_for(h)
        if h.cookie != cookie:
            if self._send_seq[0] < record_seq:
                self._send_seq[0] = record_seq  # reuse the ClientHello's number (§4.2.1)
            self._new_flight()
            msg = hs.message(hs.HELLO_VERIFY_REQUEST, seq, hs.hello_verify_request(cookie))
            self._add_to_flight(rec.CT_HANDSHAKE, 0, msg)
            self._transmit_flight(False)
            self._new_flight()
            self._next_recv = seq + 1
            return
        if hs.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 not in h.suites:
            self._fail(
                "client offers no TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", _HANDSHAKE_FAILURE
            )
            return
        groups = h.groups or [hs.GROUP_SECP256R1]
        if hs.GROUP_X25519 in groups:
            self._group = hs.GROUP_X25519
        elif hs.GROUP_SECP256R1 in groups:
            self._group = hs.GROUP_SECP256R1
        else:
            self._fail("client offers neither x25519 nor secp256r1", _HANDSHAKE_FAILURE)
            return
        if h.sig_algs and hs.ECDSA_SECP256R1_SHA256 not in h.sig_algs:
            self._fail("client does not accept ecdsa_secp256r1_sha256", _HANDSHAKE_FAILURE)
            return
        for p in self.srtp_profiles:
            if p in h.srtp_profiles:
                self.srtp_profile = p
                break
        if self._send_seq[0] < record_seq:
            self._send_seq[0] = record_seq
        self._client_random = h.random
        self._server_random = random_bytes(32)
        self._ems = h.ems
        self._suite = hs.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        self._deadline_at = ticks_add(now, self._handshake_timeout_ms)
        self._transcript.reset()
        msg = hs.message(hs.CLIENT_HELLO, seq, body[0:n])
        if not self._transcript.update(msg):
            self._fail("handshake transcript exceeds profile.dtls_transcript_bytes: raise it", 0)
            return
        self._next_recv = seq + 1
        self._next_send = seq  # as if our HelloVerifyRequest had used the earlier numbers
        self._peer_flight_last = seq
        self._new_flight()
        # RFC 5746 §3.6: renegotiation_info only if offered (extension or SCSV 0x00FF).
        reneg = h.reneg_info is not None or _EMPTY_RENEGOTIATION_INFO_SCSV in h.suites
        formats = hs.EXT_EC_POINT_FORMATS in h.ext_types
        body = hs.server_hello(
            self._server_random, self._suite, self.srtp_profile, self._ems, reneg, formats
        )
        self._handshake_message(hs.SERVER_HELLO, body)
        self._handshake_message(hs.CERTIFICATE, hs.certificate((self.certificate.der,)))
        self._new_ephemeral()
        params = hs.ecdh_params(self._group, self._eph_pub)
        digest = sha256(self._client_random + self._server_random + params)
        sig = ec.p256_sign(self.certificate.private_key, digest)
        self._handshake_message(hs.SERVER_KEY_EXCHANGE, hs.server_key_exchange(params, sig))
        self._handshake_message(hs.CERTIFICATE_REQUEST, hs.certificate_request())
        self._handshake_message(hs.SERVER_HELLO_DONE, b"")
        self._send_flight(_S_CLIENT_FLIGHT, hs.CERTIFICATE, now)

    def _server_client_key_exchange(self, body, n, seq, now):
        pub = hs.pull_client_key_exchange(body, 0, n)
        if pub is None:
            self._fail("malformed ClientKeyExchange", _ILLEGAL_PARAMETER)
            return
        self._peer_eph = pub
        pms = self._key_share()
        if pms is None:
            self._fail("client key share is not a valid point", _ILLEGAL_PARAMETER)
            return
        self._derive_keys(pms)
        self._expect = hs.CERTIFICATE_VERIFY

    def _server_certificate_verify(self, body, n, seq, now):
        sig = hs.pull_certificate_verify(body, 0, n)
        if sig is None or not ec.p256_verify(self._peer_pub, self._digest_before, sig):
            self._fail("bad CertificateVerify signature from the client", _DECRYPT_ERROR)
            return
        self._expect = hs.FINISHED

    def _server_finished(self, body, n, seq, now):
        if not self._check_finished(body, n, b"client finished"):
            return
        self._peer_flight_last = seq
        self._new_flight()
        self._change_cipher_spec_and_finished(b"server finished")
        self._transmit_flight(False)
        self._connected()
        # Keep the final flight for the client's retransmitted Finished (RFC 6347 §4.2.4) until
        # its first application data proves it has ours, or until it would have given up.
        self._deadline_at = ticks_add(now, self._handshake_timeout_ms)

    # Shared.

    def _new_ephemeral(self):
        if self._group == hs.GROUP_X25519:
            pool, make = self._x25519_pool, ec.x25519_keypair
        else:
            pool, make = self._p256_pool, ec.p256_keypair
        self._eph_priv, self._eph_pub = pool.take() if pool is not None else make()

    def _key_share(self):
        """The ECDHE premaster secret with the peer's point, or None for a bad point."""
        if self._eph_priv is None:
            self._new_ephemeral()
        peer = self._peer_eph
        if self._group == hs.GROUP_X25519:
            if len(peer) != 32:
                return None
            return ec.x25519(self._eph_priv, peer)
        if len(peer) != 65:
            return None
        return ec.p256_ecdh(self._eph_priv, peer)

    def _derive_keys(self, pms):
        """Master secret (RFC 7627 §4 or RFC 5246 §8.1) and the GCM key block (RFC 5288)."""
        randoms = self._client_random + self._server_random
        if self._ems:
            self._master = prf_sha256(
                pms, b"extended master secret", self._transcript.digest(), 48
            )
        else:
            self._master = prf_sha256(pms, b"master secret", randoms, 48)
        kb = prf_sha256(
            self._master, b"key expansion", self._server_random + self._client_random, 40
        )
        client = rec.GcmProtection(kb[0:16], kb[32:36])
        server = rec.GcmProtection(kb[16:32], kb[36:40])
        if self.role == CLIENT:
            self._write_prot, self._read_prot = client, server
        else:
            self._write_prot, self._read_prot = server, client
        self._eph_priv = None

    def _change_cipher_spec_and_finished(self, label):
        self._add_to_flight(rec.CT_CHANGE_CIPHER_SPEC, 0, b"\x01")
        self._write_epoch = 1
        verify = prf_sha256(self._master, label, self._transcript.digest(), 12)
        self._handshake_message(hs.FINISHED, verify, 1)

    def _check_finished(self, body, n, label):
        expected = prf_sha256(self._master, label, self._digest_before, 12)
        if n != 12 or bytes(body[0:12]) != expected:
            self._fail("bad Finished from the peer (keys or transcript differ)", _DECRYPT_ERROR)
            return False
        return True

    def _connected(self):
        self.state = _CONNECTED
        self._stop_timers()
        self._expect = -1
        self._push_event(events.DTLS_CONNECTED)

    def _release_handshake(self):
        """Drop what only the handshake needs (~7 KB on esp32); keys and exporter stay."""
        self._hs_mem.give_back(_HANDSHAKE, self)
        self._rx = None
        self._rx_mv = None
        self._rx_bits = None
        self._pending = None
        self._pending_bytes = 0
        self._transcript = None
        self._flight = None
        self._flight_bytes = 0
        self._cookie_secret = None
        self._cookie = b""
        self._eph_priv = None
        self._eph_pub = None
        self._peer_eph = None
        self._peer_pub = None
        self._digest_before = None
        self._x25519_pool = None
        self._p256_pool = None
        self._deadline_at = None


_CLIENT_HANDLERS = {
    hs.SERVER_HELLO: Connection._client_server_hello,
    hs.CERTIFICATE: Connection._certificate_msg,
    hs.SERVER_KEY_EXCHANGE: Connection._client_server_key_exchange,
    hs.CERTIFICATE_REQUEST: Connection._client_certificate_request,
    hs.SERVER_HELLO_DONE: Connection._client_server_hello_done,
    hs.FINISHED: Connection._client_finished,
}
_SERVER_HANDLERS = {
    hs.CERTIFICATE: Connection._certificate_msg,
    hs.CLIENT_KEY_EXCHANGE: Connection._server_client_key_exchange,
    hs.CERTIFICATE_VERIFY: Connection._server_certificate_verify,
    hs.FINISHED: Connection._server_finished,
}
