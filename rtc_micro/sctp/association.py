"""SCTP association for WebRTC (RFC 9260, RFC 8261, RFC 3758, RFC 6525), sans-I/O.

One class, `Association`, with the machine contract of docs/architecture.md. Every buffer is
allocated in `__init__` from the board profile; see docs/sctp.md for the memory layout, the
TSN representation (small relative ints, never 32-bit Python ints) and the timer constants.
"""

from rtc_micro import events
from rtc_micro.compat import const, ticks_add, ticks_diff, ticks_min, urandom
from rtc_micro.crypto.hmac import hmac_sha256
from rtc_micro.errors import ConfigError, StateError
from rtc_micro.memory import Buffers, copy_into
from rtc_micro.sctp import packet as P
from rtc_micro.sctp.packet import (
    DATA_HEADER,
    FLAG_BEGIN,
    FLAG_END,
    FLAG_UNORDERED,
    HEADER,
    pull_rel,
    pull_small32,
    pull_u16,
    push_chunk,
    push_data,
    push_rel,
    push_small32,
    push_u16,
)

# States (RFC 9260 §4).
CLOSED = const(0)
COOKIE_WAIT = const(1)
COOKIE_ECHOED = const(2)
ESTABLISHED = const(3)
SHUTDOWN_PENDING = const(4)
SHUTDOWN_SENT = const(5)
SHUTDOWN_RECEIVED = const(6)
SHUTDOWN_ACK_SENT = const(7)

# RFC 8261 §5: the SCTP packet rides in one DTLS record; room for its header, explicit nonce and
# tag (AES-GCM: 13 + 8 + 16) or IV, MAC and padding (CBC-SHA1: 13 + 16 + 20 + 16).
DTLS_OVERHEAD = const(64)

# Timers (ms). RFC 9260 §16 says RTO.initial 1 s, RTO.min 1 s; WebRTC stacks run lower minima
# (dcsctp: 400 ms) because data channels carry interactive traffic; we take RTO.min 200 ms.
_RTO_INITIAL = const(1000)
_RTO_MIN = const(200)
_RTO_MAX = const(60000)
_SACK_DELAY = const(200)  # RFC 9260 §6.2: at most 500 ms; every second packet acked at once
_HB_INTERVAL = const(30000)
_MAX_INIT_RETRANS = const(8)
_MAX_RETRANS = const(10)  # Association.Max.Retrans
_COOKIE_LIFE = const(60000)
_MAX_GAPS = const(32)  # gap blocks reported per SACK
_MAX_DUPS = const(16)
_MAX_COOKIE = const(512)
_GATHER_RETRY_MS = const(10)  # a fragmented message waiting for the shared message buffer
_MESSAGE = "sctp_message"  # the lease of the message buffer (memory.Buffers.shared)

# Send chunk states.
_NEW = const(0)
_FLIGHT = const(1)
_RTX = const(2)
_GAP = const(3)
_ABANDONED = const(4)

# Control chunks waiting for poll_transmit.
_C_INIT = const(1)
_C_COOKIE = const(2)
_C_SACK = const(4)
_C_FWD = const(8)
_C_RECONF_REQ = const(16)
_C_RECONF_RESP = const(32)
_C_SHUTDOWN = const(64)
_C_SHUTDOWN_ACK = const(128)
_C_HEARTBEAT = const(256)

# Receive TSN window entries.
_MISSING = const(-1)
_DONE = const(-2)

_OUR_EXTENSIONS = b"\x82\xc0"  # RE-CONFIG, FORWARD-TSN (RFC 5061 §4.2.7)
_COOKIE_BODY = const(32)
_MAC = const(32)


class Counters:
    """Why packets were dropped and what recovery cost (plain ints)."""

    def __init__(self):
        self.malformed = 0
        self.bad_checksum = 0
        self.bad_tag = 0
        self.bad_cookie = 0
        self.duplicates = 0  # DATA chunks received twice
        self.rx_window_drops = 0  # DATA beyond our TSN window
        self.rx_full_drops = 0  # DATA dropped (or reneged) for want of a reassembly slot
        self.send_full = 0  # send() refused: send buffer or chunk slots full
        self.retransmits = 0
        self.fast_retransmits = 0
        self.t3_expiries = 0
        self.abandoned = 0  # messages given up by their partial-reliability policy
        self.errors_received = 0  # ERROR chunks
        self.unknown_chunks = 0
        self.event_drops = 0
        self.gather_waits = 0  # a fragmented message waited: another association gathered one


def _slot_bytes(profile):
    """A reassembly slot holds one DATA chunk of the largest datagram we accept."""
    return profile.rx_buffer - HEADER - DATA_HEADER


def take_buffers(profile, mem=None):
    """The association's large buffers from `mem` (a `memory.Buffers`; None: new ones): send
    ring, reassembly slots and peer's cookie; from `mem.shared`, what every slot's association
    shares: the packet being built (it leaves in DTLS before another association builds one)
    and the buffer a fragmented message is gathered in (leased while one is gathered)."""
    if mem is None:
        mem = Buffers()
    slot = _slot_bytes(profile)
    return (mem.take("sctp_send", profile.sctp_send_buffer),
            mem.take("sctp_receive", max(2, profile.sctp_reassembly_bytes // slot) * slot),
            mem.shared.take(_MESSAGE, profile.max_message_size),
            mem.take("sctp_cookie", _MAX_COOKIE),
            mem.shared.take("sctp_packet", profile.mtu - DTLS_OVERHEAD))


class Association:
    """One SCTP association over a DTLS connection (RFC 8261): packets are DTLS payloads."""

    def __init__(self, profile, local_port=5000, remote_port=5000, mem=None):
        """`mem`: a `memory.Buffers` to take the large buffers from (reused across sessions);
        None: make them."""
        self.profile = profile
        self.local_port = local_port
        self.remote_port = remote_port
        self.max_packet = profile.mtu - DTLS_OVERHEAD
        # User bytes per DATA chunk, a multiple of 4 so a full chunk needs no padding.
        self.max_data = (self.max_packet - HEADER - DATA_HEADER) & ~3
        if self.max_data < 64:
            raise ConfigError("profile.mtu %d too small for SCTP over DTLS" % profile.mtu)
        self.max_message_size = profile.max_message_size  # ours: advertise in SDP
        # The peer's a=max-message-size (RFC 8841 §6), set from its SDP; 0: no limit given.
        self.remote_max_message_size = 0
        self.n_streams = 2 * profile.max_channels
        self.counters = Counters()
        self.state = CLOSED
        self._dead = False  # closed after being used: input is ignored
        # New for each session this object serves (memory.Buffers.renew initialises it again
        # for a slot's next session): channels of an earlier session on it can tell.
        self.life = object()
        if mem is None:
            mem = Buffers()
        ring, rx, msg, cookie, packet = take_buffers(profile, mem)
        self.out_data = memoryview(packet)  # shared scratch: the caller sends it before others run
        self._now = 0
        # Identity: fixed for the life of the object, so INIT-ACK needs no state (RFC 9260 §5.1).
        self._tag = bytearray(urandom(4))
        while self._tag == b"\x00\x00\x00\x00":
            self._tag = bytearray(urandom(4))
        itsn = urandom(4)
        self._itsn = itsn
        self._my_hi = (itsn[0] << 8) | itsn[1]
        self._my_lo = (itsn[2] << 8) | itsn[3]
        self._secret = urandom(32)
        self._peer_tag = bytearray(4)
        self._peer_hi = 0
        self._peer_lo = 0
        self._peer_rwnd = 0
        self.peer_reconfig = False  # the peer announced RE-CONFIG (RFC 6525): channels can close
        self._cookie = cookie
        self._cookie_n = 0
        self._init_tries = 0
        self._ctl = 0
        self._reply_n = 0
        # Send side: payload ring + chunk descriptors indexed by TSN % slots (TSNs are relative
        # to our initial TSN: 0, 1, 2 ...).
        self._ring = ring
        self._ring_head = 0
        self._ring_used = 0
        self._waste = 0
        d = profile.sctp_max_chunks_in_flight
        self._d = d
        self._d_off = mem.table("sctp_d_off", d)
        self._d_len = mem.table("sctp_d_len", d)
        self._d_waste = mem.table("sctp_d_waste", d)
        self._d_flags = mem.table("sctp_d_flags", d)
        self._d_sid = mem.table("sctp_d_sid", d)
        self._d_ssn = mem.table("sctp_d_ssn", d)
        self._d_ppid = mem.table("sctp_d_ppid", d)
        self._d_state = mem.table("sctp_d_state", d)
        self._d_sent_at = mem.table("sctp_d_sent_at", d)
        self._d_xmit = mem.table("sctp_d_xmit", d)
        self._d_miss = mem.table("sctp_d_miss", d)
        self._d_max_rtx = mem.table("sctp_d_max_rtx", d)
        self._d_expire_at = mem.table("sctp_d_expire_at", d, None)
        self._acked = -1  # cumulative TSN ack point
        self._next_tsn = 0
        self._next_send = 0  # first never-sent TSN
        self._adv_point = -1  # Advanced.Peer.Ack.Point (RFC 3758 §3.5)
        self._n_rtx = 0
        self._fast_rtx = False
        self._flight = 0
        self._cwnd = min(4 * self.max_packet, max(2 * self.max_packet, 4380))
        self._ssthresh = profile.sctp_rwnd
        self._pba = 0  # partial_bytes_acked
        self._recovery_exit = None  # fast recovery ends when this TSN is acked
        self._rto = _RTO_INITIAL
        self._srtt = 0
        self._rttvar = 0
        self._errors = 0
        self._out_ssn = mem.table("sctp_out_ssn", self.n_streams)
        self._buffered = mem.table("sctp_buffered", self.n_streams)
        self.buffered_amount = 0
        self._low_water = profile.channel_low_water
        # Receive side: fixed slots (one DATA chunk each) and a TSN window mapping to them.
        self._slot = _slot_bytes(profile)
        ns = len(rx) // self._slot
        self._n_slots = ns
        self._rx = rx
        self._s_len = mem.table("sctp_s_len", ns)
        self._s_flags = mem.table("sctp_s_flags", ns)
        self._s_sid = mem.table("sctp_s_sid", ns)
        self._s_ppid = mem.table("sctp_s_ppid", ns)
        self._free = mem.table("sctp_free", ns)  # stack of free slots
        for i in range(ns):
            self._free[i] = i
        self._n_free = ns
        self._w = 2 * ns
        self._rx_slot = mem.table("sctp_rx_slot", self._w, _MISSING)
        self._cum = -1  # peer's TSNs, relative to its initial TSN
        self._deliver = 0  # next TSN to deliver (<= cum + 1)
        self._rx_high = -1
        self._held = 0
        self._unord = mem.table("sctp_unord", ns)  # start TSNs of complete unordered messages
        self._unord_n = 0
        self._dups = mem.table("sctp_dups", _MAX_DUPS)
        self._n_dups = 0
        self._rx_packets = 0  # packets with DATA since our last SACK
        self._last_rwnd = profile.sctp_rwnd
        self._mem = mem
        self._msg = msg  # shared by every slot: ours while _msg_mine (lease)
        self._msg_mine = False
        self._msg_out = False  # the last SCTP_DATA was gathered in _msg: give it back next poll
        self._gather_at = None  # try the lease again then (another association had it)
        self._lent = -1  # slot handed out in ev_buf, freed at the next poll_event
        self._asm_n = -1  # bytes of the in-sequence message gathered in _msg (-1: none)
        self._asm_sid = 0
        self._asm_ppid = 0
        self._asm_flags = 0
        # A message the application held back (hold()): 1 held, 2 to be delivered again.
        self._hold = 0
        self._hold_sid = 0
        self._can_hold = False  # the last poll_event returned SCTP_DATA
        self.ev_repeat = False  # this SCTP_DATA is a held message delivered again
        # Stream reset (RFC 6525).
        self._reset_q = []  # our outgoing streams waiting to be reset
        self._reset_inflight = []
        self._reconf_seq = 0
        self._req_seq = bytearray(4)
        self._peer_req_seq = bytearray(4)  # last request sequence number the peer used
        self._resp_seq = bytearray(4)
        self._resp_result = 0
        self._deferred = None  # (last TSN, streams) of a peer reset waiting for its data
        # Timers.
        self._t1_at = None
        self._t2_at = None
        self._t3_at = None
        self._sack_at = None
        self._hb_at = None
        self._hb_sent_at = None
        self._reconf_at = None
        # Events.
        ne = profile.event_slots
        self._ev_kind = mem.table("sctp_ev_kind", ne)
        self._ev_sid = mem.table("sctp_ev_sid", ne)
        self._ev_r = 0
        self._ev_n = 0
        self.ev_reason = ""
        self.ev_stream = 0
        self.ev_ppid = 0
        self.ev_unordered = False
        self.ev_buf = None
        self.ev_off = 0
        self.ev_len = 0

    # ---------------------------------------------------------------- API

    @property
    def ev_data(self):
        """The message of the last SCTP_DATA event (a memoryview, valid until the next poll)."""
        return memoryview(self.ev_buf)[self.ev_off : self.ev_off + self.ev_len]

    def connect(self, now):
        """Send INIT (RFC 9260 §5.1). In WebRTC both ends may call this; collisions resolve."""
        if self.state != CLOSED:
            raise StateError("connect() on an association that is not closed")
        self._now = now
        self.state = COOKIE_WAIT
        self._ctl |= _C_INIT
        self._t1_at = ticks_add(now, self._rto)

    def send(self, sid, ppid, buf, off, n, unordered, max_retransmits, lifetime_ms, now):
        """Queue one message; False (counted) when the send buffer is full — pace with
        `buffered_amount` and SCTP_BUFFERED_LOW. `max_retransmits`/`lifetime_ms` None: reliable.
        """
        self._now = now
        if self.state < COOKIE_WAIT or self.state > ESTABLISHED:
            raise StateError("send() on an association that is not open")
        limit = self.max_message_size
        rl = self.remote_max_message_size
        if rl and rl < limit:
            limit = rl
        if n <= 0 or n > limit:
            raise ConfigError("message of %d bytes: must be 1..%d (max_message_size, ours and "
                              "the peer's)" % (n, limit))
        if sid < 0 or sid >= self.n_streams:
            raise ConfigError("stream %d: must be below %d (2 * max_channels)"
                              % (sid, self.n_streams))
        d = self._d
        k = (n + self.max_data - 1) // self.max_data
        if self._next_tsn - self._acked - 1 + k > d:
            self.counters.send_full += 1
            return False
        head = self._ring_head
        used = self._ring_used
        tsn = self._next_tsn
        ssn = 0 if unordered else self._out_ssn[sid]
        base_flags = FLAG_UNORDERED if unordered else 0
        max_rtx = -1 if max_retransmits is None else max_retransmits
        expire = None if lifetime_ms is None else ticks_add(now, lifetime_ms)
        size = len(self._ring)
        left = n
        src_off = off
        while left > 0:
            m = left if left < self.max_data else self.max_data
            at = self._ring_alloc(head, used, m, size)
            waste = self._waste
            if at < 0:
                self.counters.send_full += 1
                return False  # nothing committed yet: head/used/next_tsn untouched
            i = tsn % d
            copy_into(self._ring, at, buf, src_off, m)
            self._d_off[i] = at
            self._d_len[i] = m
            self._d_waste[i] = waste
            f = base_flags
            if left == n:
                f |= FLAG_BEGIN
            if left == m:
                f |= FLAG_END
            self._d_flags[i] = f
            self._d_sid[i] = sid
            self._d_ssn[i] = ssn
            self._d_ppid[i] = ppid
            self._d_state[i] = _NEW
            self._d_xmit[i] = 0
            self._d_miss[i] = 0
            self._d_max_rtx[i] = max_rtx
            self._d_expire_at[i] = expire
            head = at + m
            used += m + waste
            tsn += 1
            left -= m
            src_off += m
        self._ring_head = head
        self._ring_used = used
        self._next_tsn = tsn
        if not unordered:
            self._out_ssn[sid] = (ssn + 1) & 0xFFFF
        self._buffered[sid] += n
        self.buffered_amount += n
        return True

    def stream_buffered(self, sid):
        """Bytes of stream `sid` queued or in flight."""
        return self._buffered[sid]

    def reset_stream(self, sid, now):
        """Reset our outgoing stream `sid` (RFC 6525 §5.1.2): how a data channel closes."""
        self._now = now
        if sid in self._reset_q or sid in self._reset_inflight:
            return
        if len(self._reset_q) >= self.n_streams:
            raise StateError("too many stream resets queued")
        self._reset_q.append(sid)
        self._start_reconfig(now)

    def close(self, now):
        """Graceful SHUTDOWN once everything queued is acknowledged (RFC 9260 §9.2)."""
        self._now = now
        if self.state == ESTABLISHED:
            self.state = SHUTDOWN_PENDING
            self._check_shutdown(now)
        elif self.state < ESTABLISHED:
            self._closed(events.SCTP_CLOSED, "closed before the association was up", False)

    def abort(self, reason, now):
        """ABORT the association with a user-initiated cause carrying `reason` (RFC 9260 §9.1)."""
        self._now = now
        if self.state != CLOSED:
            self._closed(events.SCTP_CLOSED, reason, True, P.CAUSE_USER_ABORT)

    # ---------------------------------------------------------------- machine contract

    def poll_timeout(self):
        t = ticks_min(self._t3_at, self._sack_at)
        t = ticks_min(t, self._t1_at)
        t = ticks_min(t, self._t2_at)
        t = ticks_min(t, self._hb_at)
        t = ticks_min(t, self._gather_at)
        return ticks_min(t, self._reconf_at)

    def handle_timeout(self, now):
        self._now = now
        if self._t1_at is not None and ticks_diff(now, self._t1_at) >= 0:
            self._on_t1(now)
        if self._t2_at is not None and ticks_diff(now, self._t2_at) >= 0:
            self._on_t2(now)
        if self._t3_at is not None and ticks_diff(now, self._t3_at) >= 0:
            self._on_t3(now)
        if self._sack_at is not None and ticks_diff(now, self._sack_at) >= 0:
            self._sack_at = None
            self._ctl |= _C_SACK
        if self._hb_at is not None and ticks_diff(now, self._hb_at) >= 0:
            self._on_heartbeat_timer(now)
        if self._reconf_at is not None and ticks_diff(now, self._reconf_at) >= 0:
            self._reconf_at = None
            if self._reset_inflight:
                self._ctl |= _C_RECONF_REQ
        if self._gather_at is not None and ticks_diff(now, self._gather_at) >= 0:
            self._gather_at = None  # the next poll_event asks for the message buffer again

    def handle_packet(self, buf, n, now):
        """One SCTP packet (a DTLS application-data record). Never raises on peer input."""
        self._now = now
        c = self.counters
        if self._dead:
            return
        if n < HEADER + 4:
            c.malformed += 1
            return
        if not P.checksum_ok(buf, n):
            c.bad_checksum += 1
            return
        if pull_u16(buf, 2) != self.local_port or pull_u16(buf, 0) != self.remote_port:
            c.malformed += 1
            return
        first = buf[HEADER]
        if first == P.INIT:
            if buf[4] | buf[5] | buf[6] | buf[7]:
                c.bad_tag += 1
                return
        elif not self._tag_is(buf, self._tag):
            t_flag = (first == P.ABORT or first == P.SHUTDOWN_COMPLETE) and buf[HEADER + 1] & 1
            if not (t_flag and self._tag_is(buf, self._peer_tag)):
                c.bad_tag += 1
                return
        off = HEADER
        got_data = False
        while off + 4 <= n and not self._dead:
            kind = buf[off]
            ln = pull_u16(buf, off + 2)
            if ln < 4 or off + ln > n:
                c.malformed += 1
                break
            if kind == P.DATA:
                if self.state >= ESTABLISHED:
                    self._handle_data(buf, off, ln)
                    got_data = True
            elif kind == P.SACK:
                self._handle_sack(buf, off, ln, now)
            elif not self._handle_control(kind, buf, off, ln, now):
                break
            off += P.padded(ln)
        if got_data:
            self._rx_packets += 1
            if self._rx_packets >= 2 or self._ctl & _C_SACK:
                self._ctl |= _C_SACK
                self._sack_at = None
            elif self._sack_at is None:
                self._sack_at = ticks_add(now, _SACK_DELAY)
            if self._deferred is not None:
                self._try_deferred_reset()

    def poll_transmit(self):
        """Build the next packet into out_data; its length, 0 when there is nothing to send."""
        if self._reply_n:
            n = self._reply_n
            self._reply_n = 0
            return n
        ctl = self._ctl
        if ctl & _C_INIT:
            self._ctl &= ~_C_INIT
            return self._build_init(P.INIT, None, b"\x00\x00\x00\x00")
        if self.state == CLOSED or self.state == COOKIE_WAIT:
            return 0
        buf = self.out_data
        P.push_header(buf, self.local_port, self.remote_port, self._peer_tag)
        off = HEADER
        if self.state == COOKIE_ECHOED:
            if ctl & _C_COOKIE:
                self._ctl &= ~_C_COOKIE
                n = self._cookie_n
                end = push_chunk(buf, off, P.COOKIE_ECHO, 0, 4 + n)
                copy_into(buf, end, self._cookie, 0, n)
                return self._seal(end + P.padded(n))
            return 0
        if ctl & _C_SACK:
            off = self._push_sack(buf, off)
        if ctl & _C_FWD:
            self._ctl &= ~_C_FWD
            if self._adv_point > self._acked:
                off = self._push_forward_tsn(buf, off)
        if ctl & (_C_RECONF_REQ | _C_RECONF_RESP):
            off = self._push_reconfig(buf, off)
        if ctl & _C_HEARTBEAT:
            self._ctl &= ~_C_HEARTBEAT
            end = push_chunk(buf, off, P.HEARTBEAT, 0, 12)
            push_u16(buf, end, P.P_HEARTBEAT_INFO)
            push_u16(buf, end + 2, 8)
            push_small32(buf, end + 4, self._now & 0x3FFFFFFF)
            off = end + 8
        if ctl & _C_SHUTDOWN:
            self._ctl &= ~_C_SHUTDOWN
            end = push_chunk(buf, off, P.SHUTDOWN, 0, 8)
            push_rel(buf, end, self._peer_hi, self._peer_lo, self._cum)
            off = end + 4
        if ctl & _C_SHUTDOWN_ACK:
            self._ctl &= ~_C_SHUTDOWN_ACK
            off = push_chunk(buf, off, P.SHUTDOWN_ACK, 0, 4)
        if self.state == ESTABLISHED or self.state == SHUTDOWN_PENDING or (
            self.state == SHUTDOWN_RECEIVED
        ):
            off = self._push_data_chunks(buf, off)
        if off == HEADER:
            return 0
        return self._seal(off)

    def poll_event(self):
        """Next event kind (0 when none); details in ev_* attributes until the next poll."""
        self._can_hold = self.ev_repeat = False
        if not self._hold:
            if self._lent >= 0:
                self._release(self._lent)
                self._lent = -1
            if self._msg_out:
                self._msg_out = False
                self._give_message()
        if self._ev_n:
            i = self._ev_r
            self._ev_r = (i + 1) % len(self._ev_kind)
            self._ev_n -= 1
            self.ev_stream = self._ev_sid[i]
            return self._ev_kind[i]
        if self._hold:
            if self._hold == 1:
                return events.NONE
            self._hold = 0
            self.ev_stream = self._hold_sid
            self._can_hold = self.ev_repeat = True
            return events.SCTP_DATA
        if self._deliver_next():
            self._can_hold = True
            return events.SCTP_DATA
        return events.NONE

    def hold(self):
        """Right after SCTP_DATA: keep that message (in its slot or the message buffer, which
        nothing else fills meanwhile) and deliver nothing after it until `resume()`, then deliver
        it again (`ev_repeat`). Its bytes stay in the receive window, so the peer is held back
        by the window (RFC 9260 §6.2) instead of the application copying the message."""
        if not self._can_hold:
            raise StateError("hold() is only for the message of the last SCTP_DATA event")
        self._hold = 1
        self._hold_sid = self.ev_stream

    def resume(self):
        """Deliver a held message again at the next poll_event."""
        if self._hold == 1:
            self._hold = 2

    @property
    def holding(self):
        """True while a held message waits for `resume()`."""
        return self._hold == 1

    # ---------------------------------------------------------------- handshake

    def _tag_is(self, buf, tag):
        return buf[4] == tag[0] and buf[5] == tag[1] and buf[6] == tag[2] and buf[7] == tag[3]

    def _seal(self, n):
        P.seal(self.out_data, n)
        return n

    def _build_init(self, kind, cookie, vtag):
        """INIT or INIT-ACK (RFC 9260 §3.3.2-3) into out_data; returns its length."""
        buf = self.out_data
        P.push_header(buf, self.local_port, self.remote_port, vtag)
        v = HEADER + 4
        buf[v : v + 4] = self._tag
        push_small32(buf, v + 4, self._a_rwnd())
        push_u16(buf, v + 8, self.n_streams)
        push_u16(buf, v + 10, self.n_streams)
        buf[v + 12 : v + 16] = self._itsn
        end = P.push_param(buf, v + 16, P.P_FORWARD_TSN_SUPPORTED, b"")
        end = P.push_param(buf, end, P.P_SUPPORTED_EXTENSIONS, _OUR_EXTENSIONS)
        if cookie is not None:
            end = P.push_param(buf, end, P.P_STATE_COOKIE, cookie)
        push_chunk(buf, HEADER, kind, 0, end - HEADER)
        return self._seal(end)

    def _handle_control(self, kind, buf, off, ln, now):
        """Every chunk but DATA and SACK. False: stop processing this packet."""
        if kind == P.INIT:
            self._handle_init(buf, off, ln, now)
            return False
        if kind == P.INIT_ACK:
            self._handle_init_ack(buf, off, ln, now)
        elif kind == P.COOKIE_ECHO:
            self._handle_cookie_echo(buf, off, ln, now)
        elif kind == P.COOKIE_ACK:
            if self.state == COOKIE_ECHOED:
                self._established(now)
        elif kind == P.HEARTBEAT:
            self._reply_chunk(P.HEARTBEAT_ACK, buf, off + 4, ln - 4)
        elif kind == P.HEARTBEAT_ACK:
            if ln >= 12 and self._hb_sent_at is not None:
                self._rtt_sample(ticks_diff(now, pull_small32(buf, off + 8)))
                self._hb_sent_at = None
                self._errors = 0
        elif kind == P.FORWARD_TSN:
            if ln >= 8 and self.state >= ESTABLISHED:
                self._handle_forward_tsn(pull_rel(buf, off + 4, self._peer_hi, self._peer_lo))
        elif kind == P.RECONFIG:
            if self.state >= ESTABLISHED:
                self._handle_reconfig(buf, off, ln, now)
        elif kind == P.ABORT:
            self._closed(events.SCTP_FAILED, self._abort_reason(buf, off, ln), False)
            return False
        elif kind == P.SHUTDOWN:
            if self.state == ESTABLISHED or self.state == SHUTDOWN_PENDING:
                self.state = SHUTDOWN_RECEIVED
                self._check_shutdown(now)
        elif kind == P.SHUTDOWN_ACK:
            if self.state == SHUTDOWN_SENT or self.state == SHUTDOWN_ACK_SENT:
                self._reply_chunk(P.SHUTDOWN_COMPLETE, buf, off, 0)
                self._closed(events.SCTP_CLOSED, "", False)
                return False
        elif kind == P.SHUTDOWN_COMPLETE:
            if self.state == SHUTDOWN_ACK_SENT:
                self._closed(events.SCTP_CLOSED, "", False)
                return False
        elif kind == P.ERROR:
            self.counters.errors_received += 1
        else:
            self.counters.unknown_chunks += 1
            action = kind >> 6  # RFC 9260 §3.2: what to do with an unknown chunk type
            if action & 1:
                self._reply_error_unknown(buf, off, ln)
            return action >= 2
        return True

    def _handle_init(self, buf, off, ln, now):
        """Answer INIT with INIT-ACK and a signed cookie, keeping no state (RFC 9260 §5.1)."""
        if ln < 20:
            self.counters.malformed += 1
            return
        v = off + 4
        if self.state >= ESTABLISHED:
            return  # restart (RFC 9260 §5.2.2) is not supported: the old association stays
        caps = self._peer_caps(buf, v + 16, off + ln)
        body = bytearray(_COOKIE_BODY)
        body[0:16] = buf[v : v + 16]  # peer tag, a_rwnd, OS, MIS, initial TSN
        body[16:20] = self._tag
        push_small32(body, 20, now & 0x3FFFFFFF)
        body[24] = caps
        cookie = bytes(body) + hmac_sha256(self._secret, body)
        self._reply_n = self._build_init(P.INIT_ACK, cookie, bytes(buf[v : v + 4]))

    def _peer_caps(self, buf, start, end):
        caps = 0
        for t, vo, vn in P.pull_params(buf, start, end):
            if t == P.P_FORWARD_TSN_SUPPORTED:
                caps |= 1
            elif t == P.P_SUPPORTED_EXTENSIONS:
                for i in range(vn):
                    if buf[vo + i] == P.RECONFIG:
                        caps |= 2
                    elif buf[vo + i] == P.FORWARD_TSN:
                        caps |= 1
        return caps

    def _handle_init_ack(self, buf, off, ln, now):
        if self.state != COOKIE_WAIT or ln < 20:
            return
        v = off + 4
        cookie = None
        for t, vo, vn in P.pull_params(buf, v + 16, off + ln):
            if t == P.P_STATE_COOKIE:
                cookie = (vo, vn)
        if cookie is None or cookie[1] > _MAX_COOKIE:
            self._closed(events.SCTP_FAILED, "peer INIT-ACK without a usable state cookie", True)
            return
        self._adopt_peer(buf, v, self._peer_caps(buf, v + 16, off + ln))
        copy_into(self._cookie, 0, buf, cookie[0], cookie[1])
        self._cookie_n = cookie[1]
        self.state = COOKIE_ECHOED
        self._ctl |= _C_COOKIE
        self._init_tries = 0
        self._t1_at = ticks_add(now, self._rto)

    def _adopt_peer(self, buf, v, caps):
        """Peer parameters from an INIT/INIT-ACK body (or our cookie copy of one)."""
        self._peer_tag[0:4] = buf[v : v + 4]
        self._peer_rwnd = pull_small32(buf, v + 4)
        self._peer_hi = pull_u16(buf, v + 12)
        self._peer_lo = pull_u16(buf, v + 14)
        self.peer_reconfig = bool(caps & 2)
        push_rel(self._peer_req_seq, 0, self._peer_hi, self._peer_lo, -1)

    def _handle_cookie_echo(self, buf, off, ln, now):
        n = ln - 4
        v = off + 4
        if n != _COOKIE_BODY + _MAC:
            self.counters.bad_cookie += 1
            return
        body = bytes(buf[v : v + _COOKIE_BODY])
        mac = hmac_sha256(self._secret, body)
        diff = 0
        for i in range(_MAC):
            diff |= mac[i] ^ buf[v + _COOKIE_BODY + i]
        age = ticks_diff(now, pull_small32(body, 20))
        if diff or body[16:20] != self._tag or age < 0 or age > _COOKIE_LIFE:
            self.counters.bad_cookie += 1
            return
        if self.state >= ESTABLISHED:
            if body[0:4] == self._peer_tag:
                self._reply_chunk(P.COOKIE_ACK, buf, off, 0)  # our COOKIE-ACK was lost
            return
        self._adopt_peer(body, 0, body[24])
        self._reply_chunk(P.COOKIE_ACK, buf, off, 0)
        self._established(now)

    def _established(self, now):
        self.state = ESTABLISHED
        self._t1_at = None
        self._ctl &= ~(_C_COOKIE | _C_INIT)
        self._ssthresh = self._peer_rwnd
        self._rto = _RTO_INITIAL  # handshake back-off says nothing about the path's RTT
        self._hb_at = ticks_add(now, _HB_INTERVAL)
        self._event(events.SCTP_CONNECTED, 0)

    def _on_t1(self, now):
        self._init_tries += 1
        if self._init_tries > _MAX_INIT_RETRANS:
            self._t1_at = None
            self._closed(events.SCTP_FAILED, "no answer to INIT/COOKIE-ECHO from the peer", False)
            return
        self._rto = min(self._rto * 2, _RTO_MAX)
        self._t1_at = ticks_add(now, self._rto)
        self._ctl |= _C_INIT if self.state == COOKIE_WAIT else _C_COOKIE

    # ---------------------------------------------------------------- replies, failures, events

    def _reply_chunk(self, kind, src, src_off, n):
        """A one-chunk packet whose value is src[src_off:src_off+n], sent before anything else."""
        buf = self.out_data
        if HEADER + 4 + P.padded(n) > len(buf):
            self.counters.malformed += 1
            return
        P.push_header(buf, self.local_port, self.remote_port, self._peer_tag)
        end = push_chunk(buf, HEADER, kind, 0, 4 + n)
        copy_into(buf, end, src, src_off, n)
        pad = P.padded(n)
        for i in range(end + n, end + pad):
            buf[i] = 0
        self._reply_n = self._seal(end + pad)

    def _reply_error_unknown(self, buf, off, ln):
        """ERROR "Unrecognized Chunk Type" quoting the chunk (RFC 9260 §3.3.10.6)."""
        n = min(ln, self.max_packet - HEADER - 8)
        out = self.out_data
        P.push_header(out, self.local_port, self.remote_port, self._peer_tag)
        end = push_chunk(out, HEADER, P.ERROR, 0, 8 + n)
        push_u16(out, end, P.CAUSE_UNRECOGNIZED_CHUNK)
        push_u16(out, end + 2, 4 + n)
        copy_into(out, end + 4, buf, off, n)
        pad = P.padded(n)
        for i in range(end + 4 + n, end + 4 + pad):
            out[i] = 0
        self._reply_n = self._seal(end + 4 + pad)

    def _abort_reason(self, buf, off, ln):
        if ln >= 8:
            cause = pull_u16(buf, off + 4)
            cl = pull_u16(buf, off + 6)
            if cause == P.CAUSE_USER_ABORT and 4 < cl <= ln - 4:
                text = bytes(buf[off + 8 : off + 4 + cl]).decode("utf-8", "replace")
                return "peer aborted the association: " + text
            return "peer aborted the association (cause %d)" % cause
        return "peer aborted the association"

    def _closed(self, kind, reason, send_abort, cause=P.CAUSE_PROTOCOL_VIOLATION):
        """Go to CLOSED, optionally sending ABORT with `reason`; raise `kind` with it."""
        if send_abort and self.state >= COOKIE_ECHOED:
            text = reason.encode()[: self.max_packet - HEADER - 12]
            buf = self.out_data
            P.push_header(buf, self.local_port, self.remote_port, self._peer_tag)
            n = len(text)
            end = push_chunk(buf, HEADER, P.ABORT, 0, 8 + n)
            push_u16(buf, end, cause)
            push_u16(buf, end + 2, 4 + n)
            buf[end + 4 : end + 4 + n] = text
            pad = P.padded(n)
            for i in range(end + 4 + n, end + 4 + pad):
                buf[i] = 0
            self._reply_n = self._seal(end + 4 + pad)
        self.state = CLOSED
        self._dead = True
        self._hold = 0  # a held message goes with the association
        self._msg_out = False
        self._give_message()
        self._gather_at = None
        self._ctl = 0
        self._t1_at = self._t2_at = self._t3_at = self._sack_at = None
        self._hb_at = self._reconf_at = None
        self.ev_reason = reason
        self._event(kind, 0)

    def _event(self, kind, sid):
        ne = len(self._ev_kind)
        if self._ev_n >= ne:
            self.counters.event_drops += 1
            return
        i = (self._ev_r + self._ev_n) % ne
        self._ev_kind[i] = kind
        self._ev_sid[i] = sid
        self._ev_n += 1

    # ---------------------------------------------------------------- receiving DATA

    def _a_rwnd(self):
        w = self.profile.sctp_rwnd - self._held
        return w if w > 0 else 0

    def _handle_data(self, buf, off, ln):
        """Store one DATA chunk in a reassembly slot (RFC 9260 §6.2); delivery is lazy."""
        n = ln - DATA_HEADER
        if n <= 0 or n > self._slot:
            self.counters.malformed += 1
            return
        tsn = pull_rel(buf, off + 4, self._peer_hi, self._peer_lo)
        w = self._w
        if tsn <= self._cum:
            self._duplicate(tsn)
            return
        if tsn - self._deliver >= w:
            self.counters.rx_window_drops += 1
            self._ctl |= _C_SACK
            return
        pos = tsn % w
        if self._rx_slot[pos] != _MISSING:
            self._duplicate(tsn)
            return
        if self._n_free == 0 and not self._renege(tsn):
            self.counters.rx_full_drops += 1
            self._ctl |= _C_SACK
            return
        self._n_free -= 1
        s = self._free[self._n_free]
        copy_into(self._rx, s * self._slot, buf, off + DATA_HEADER, n)
        flags = buf[off + 1]
        self._s_len[s] = n
        self._s_flags[s] = flags
        self._s_sid[s] = (buf[off + 8] << 8) | buf[off + 9]
        self._s_ppid[s] = pull_small32(buf, off + 12)
        self._rx_slot[pos] = s
        self._held += n
        if tsn > self._rx_high:
            self._rx_high = tsn
        if tsn == self._cum + 1:
            self._advance_cum()
        else:
            self._ctl |= _C_SACK  # a gap: report it at once (RFC 9260 §6.7)
        if flags & 7 == 7 and self._unord_n < len(self._unord):  # an unordered single chunk
            self._unord[self._unord_n] = tsn
            self._unord_n += 1

    def _duplicate(self, tsn):
        self.counters.duplicates += 1
        if self._n_dups < _MAX_DUPS:
            self._dups[self._n_dups] = tsn
            self._n_dups += 1
        self._ctl |= _C_SACK

    def _advance_cum(self):
        w = self._w
        t = self._cum + 1
        rs = self._rx_slot
        while t - self._deliver < w and rs[t % w] != _MISSING and t <= self._rx_high:
            t += 1
        self._cum = t - 1

    def _renege(self, tsn):
        """Free the highest slot above the cumulative TSN for `tsn` below it (RFC 9260 §6.2)."""
        w = self._w
        t = self._rx_high
        while t > tsn and t > self._cum:
            s = self._rx_slot[t % w]
            if s >= 0:
                self._rx_slot[t % w] = _MISSING
                self._held -= self._s_len[s]
                self._free[self._n_free] = s
                self._n_free += 1
                if t == self._rx_high:
                    self._rx_high = t - 1
                return True
            t -= 1
        return False

    def _release(self, s):
        self._held -= self._s_len[s]
        self._free[self._n_free] = s
        self._n_free += 1
        if self._last_rwnd < self.max_packet and self._a_rwnd() >= self.profile.sctp_rwnd // 2:
            self._ctl |= _C_SACK  # window update: the peer may be waiting on a zero window

    def _deliver_next(self):
        """Hand out the next complete message: unordered single chunks at once, the rest in TSN
        order. Fragments are gathered into the message buffer as soon as they are in sequence,
        so the slots only ever hold what is above a gap (RFC 9260 §6.6, §6.9).
        """
        w = self._w
        rs = self._rx_slot
        while self._unord_n:
            self._unord_n -= 1
            b = self._unord[self._unord_n]
            s = rs[b % w]
            if b >= self._deliver and s >= 0:
                rs[b % w] = _DONE
                return self._lend(s)
        while self._deliver <= self._cum:
            t = self._deliver
            s = rs[t % w]
            if s >= 0 and self._s_flags[s] & 3 == FLAG_BEGIN and not self._take_message():
                return False  # another association gathers one: ours stays in the slots
            rs[t % w] = _MISSING
            self._deliver = t + 1
            if s < 0:
                if s == _MISSING and self._asm_n >= 0:
                    self._asm_n = -1  # skipped by FORWARD-TSN: drop a message cut short
                    self._give_message()
                continue
            f = self._s_flags[s]
            if f & FLAG_BEGIN:
                if f & FLAG_END:
                    if self._asm_n >= 0:  # a message cut short before this one
                        self._asm_n = -1
                        self._give_message()
                    return self._lend(s)
                self._asm_n = 0
                self._asm_sid = self._s_sid[s]
                self._asm_ppid = self._s_ppid[s]
                self._asm_flags = f
            elif self._asm_n < 0:
                self._release(s)  # the tail of a message we gave up on
                continue
            m = self._s_len[s]
            n = self._asm_n
            if n + m > len(self._msg):
                self._closed(events.SCTP_FAILED, "peer sent a message larger than "
                             "max_message_size (%d bytes)" % len(self._msg), True)
                return False
            copy_into(self._msg, n, self._rx, s * self._slot, m)
            self._asm_n = n + m
            self._release(s)
            if f & FLAG_END:
                self.ev_stream = self._asm_sid
                self.ev_ppid = self._asm_ppid
                self.ev_unordered = bool(self._asm_flags & FLAG_UNORDERED)
                self.ev_buf = self._msg
                self.ev_off = 0
                self.ev_len = n + m
                self._asm_n = -1
                self._msg_out = True
                return True
        return False

    def _take_message(self):
        """Lease the message buffer all slots' associations share, to gather a fragmented
        message in: True when this association has it; False (counted, retried in
        _GATHER_RETRY_MS) while another one gathers or holds a message in it."""
        if self._msg_mine:
            return True
        if self._mem.shared.lease(_MESSAGE, self):
            self._msg_mine = True
            self._gather_at = None
            return True
        if self._gather_at is None:
            self.counters.gather_waits += 1
            self._gather_at = ticks_add(self._now, _GATHER_RETRY_MS)
        return False

    def _give_message(self):
        if self._msg_mine:
            self._msg_mine = False
            self._mem.shared.give_back(_MESSAGE, self)

    def _lend(self, s):
        """A one-chunk message straight from its slot; the slot is freed at the next poll."""
        self.ev_stream = self._s_sid[s]
        self.ev_ppid = self._s_ppid[s]
        self.ev_unordered = bool(self._s_flags[s] & FLAG_UNORDERED)
        self.ev_buf = self._rx
        self.ev_off = s * self._slot
        self.ev_len = self._s_len[s]
        self._lent = s
        return True

    def _handle_forward_tsn(self, new_cum):
        """Skip TSNs the peer abandoned (RFC 3758 §3.6)."""
        self._ctl |= _C_SACK
        if new_cum <= self._cum:
            return
        w = self._w
        if new_cum - self._deliver >= w:
            new_cum = self._deliver + w - 1
        self._cum = new_cum
        if new_cum > self._rx_high:
            self._rx_high = new_cum
        self._advance_cum()
        if self._deferred is not None:
            self._try_deferred_reset()

    def _push_sack(self, buf, off):
        """SACK with gap blocks and duplicate TSNs (RFC 9260 §3.3.4)."""
        self._ctl &= ~_C_SACK
        self._sack_at = None
        self._rx_packets = 0
        w = self._w
        rs = self._rx_slot
        cum = self._cum
        room = (self.max_packet - off - 16) // 4
        if room > _MAX_GAPS:
            room = _MAX_GAPS
        v = off + 4
        g = v + 12
        ngaps = 0
        t = cum + 1
        high = self._rx_high
        while t <= high and ngaps < room:
            if rs[t % w] == _MISSING:
                t += 1
                continue
            start = t
            while t <= high and rs[t % w] != _MISSING:
                t += 1
            push_u16(buf, g, start - cum)
            push_u16(buf, g + 2, t - 1 - cum)
            g += 4
            ngaps += 1
        nd = self._n_dups
        if nd > room - ngaps:
            nd = room - ngaps
        for i in range(nd):
            push_rel(buf, g, self._peer_hi, self._peer_lo, self._dups[i])
            g += 4
        self._n_dups = 0
        push_rel(buf, v, self._peer_hi, self._peer_lo, cum)
        rwnd = self._a_rwnd()
        self._last_rwnd = rwnd
        push_small32(buf, v + 4, rwnd)
        push_u16(buf, v + 8, ngaps)
        push_u16(buf, v + 10, nd)
        push_chunk(buf, off, P.SACK, 0, g - off)
        return g

    # ---------------------------------------------------------------- sending DATA

    def _ring_alloc(self, head, used, m, size):
        """Offset of m contiguous ring bytes (-1 when full); skipped tail bytes in _waste."""
        self._waste = 0
        if used == 0:
            return 0
        tail = (head - used) % size
        if tail < head:
            if m <= size - head:
                return head
            if m <= tail:
                self._waste = size - head
                return 0
            return -1
        return head if m <= tail - head else -1

    def _push_data_chunks(self, buf, off):
        """Retransmissions first, then new chunks, as cwnd and the peer's window allow."""
        d = self._d
        room = self.max_packet
        now = self._now
        ds = self._d_state
        sent = False
        if self._n_rtx:
            t = self._acked + 1
            while t < self._next_send and self._n_rtx:
                i = t % d
                if ds[i] == _RTX:
                    if self._give_up(i, now):
                        self._abandon(t)
                    else:
                        m = self._d_len[i]
                        if off + P.padded(DATA_HEADER + m) > room:
                            break
                        if not self._fast_rtx and self._flight + m > self._cwnd and (
                            self._flight
                        ):
                            break
                        off = self._put_chunk(buf, off, t, i, now)
                        self._n_rtx -= 1
                        self.counters.retransmits += 1
                        sent = True
                t += 1
            self._fast_rtx = False
        if not self._n_rtx:
            while self._next_send < self._next_tsn:
                t = self._next_send
                i = t % d
                if ds[i] == _NEW:
                    m = self._d_len[i]
                    if self._give_up(i, now):
                        self._abandon(t)
                        continue
                    if off + P.padded(DATA_HEADER + m) > room:
                        break
                    if self._flight and (self._flight + m > self._cwnd or (
                        self._flight + m > self._peer_rwnd
                    )):
                        break
                    off = self._put_chunk(buf, off, t, i, now)
                    sent = True
                self._next_send = t + 1
        if sent and self._t3_at is None:
            self._t3_at = ticks_add(now, self._rto)
        if self._adv_point > self._acked and off + 8 <= room and self._ctl & _C_FWD:
            self._ctl &= ~_C_FWD
            off = self._push_forward_tsn(buf, off)
        return off

    def _put_chunk(self, buf, off, t, i, now):
        m = self._d_len[i]
        end = push_data(buf, off, self._d_flags[i], self._my_hi, self._my_lo, t, self._d_sid[i],
                        self._d_ssn[i], self._d_ppid[i], self._ring, self._d_off[i], m)
        self._d_state[i] = _FLIGHT
        self._d_xmit[i] += 1
        self._d_sent_at[i] = now
        self._flight += m
        rw = self._peer_rwnd - m
        self._peer_rwnd = rw if rw > 0 else 0
        return end

    def _give_up(self, i, now):
        """Partial reliability (RFC 3758 §4): has this chunk's message run out of chances?"""
        mr = self._d_max_rtx[i]
        if mr >= 0 and self._d_xmit[i] > mr:
            return True
        exp = self._d_expire_at[i]
        return exp is not None and ticks_diff(now, exp) >= 0

    def _abandon(self, t):
        """Abandon every chunk of the message holding TSN t and advance the peer ack point."""
        d = self._d
        ds = self._d_state
        b = t
        while b > self._acked + 1 and not self._d_flags[b % d] & FLAG_BEGIN:
            b -= 1
        e = t
        while e < self._next_tsn - 1 and not self._d_flags[e % d] & FLAG_END:
            e += 1
        sid = self._d_sid[b % d]
        total = 0
        for u in range(b, e + 1):
            i = u % d
            st = ds[i]
            if st == _ABANDONED:
                continue
            if st == _FLIGHT:
                self._flight -= self._d_len[i]
            elif st == _RTX:
                self._n_rtx -= 1
            total += self._d_len[i]
            ds[i] = _ABANDONED
        if e >= self._next_send:
            self._next_send = e + 1
        self.counters.abandoned += 1
        self._unbuffer(sid, total)
        a = self._adv_point if self._adv_point > self._acked else self._acked
        while a + 1 < self._next_tsn and ds[(a + 1) % d] == _ABANDONED:
            a += 1
        if a > self._adv_point:
            self._adv_point = a
            self._ctl |= _C_FWD
            if self._t3_at is None:
                self._t3_at = ticks_add(self._now, self._rto)  # until the peer acks past it

    def _push_forward_tsn(self, buf, off):
        """FORWARD-TSN with the last skipped SSN of each ordered stream (RFC 3758 §3.2)."""
        d = self._d
        end = off + 8
        limit = self.max_packet - 4
        for t in range(self._acked + 1, self._adv_point + 1):
            i = t % d
            f = self._d_flags[i]
            if f & FLAG_UNORDERED or not f & FLAG_END:
                continue
            sid = self._d_sid[i]
            o = off + 8
            while o < end and pull_u16(buf, o) != sid:
                o += 4
            if o == end:
                if end + 4 > limit:
                    continue
                end += 4
            push_u16(buf, o, sid)
            push_u16(buf, o + 2, self._d_ssn[i])
        push_chunk(buf, off, P.FORWARD_TSN, 0, end - off)
        push_rel(buf, off + 4, self._my_hi, self._my_lo, self._adv_point)
        return end

    def _unbuffer(self, sid, n):
        before = self._buffered[sid]
        after = before - n
        self._buffered[sid] = after
        self.buffered_amount -= n
        lw = self._low_water
        if before > lw >= after:
            self._event(events.SCTP_BUFFERED_LOW, sid)

    def _handle_sack(self, buf, off, ln, now):
        """Acknowledgements, gap reports, RTT, congestion window (RFC 9260 §6.2.1, §7.2)."""
        if ln < 16 or self.state < ESTABLISHED:
            if ln < 16:
                self.counters.malformed += 1
            return
        cum = pull_rel(buf, off + 4, self._my_hi, self._my_lo)
        if cum < self._acked or cum >= self._next_send:
            return  # stale, or acks what we never sent
        a_rwnd = pull_small32(buf, off + 8)
        ngaps = pull_u16(buf, off + 12)
        if 16 + 4 * ngaps > ln:
            self.counters.malformed += 1
            return
        d = self._d
        ds = self._d_state
        flight_before = self._flight
        acked_bytes = 0
        advanced = cum > self._acked
        sampled = False
        t = self._acked + 1
        while t <= cum:
            i = t % d
            st = ds[i]
            m = self._d_len[i]
            if st == _FLIGHT or st == _RTX or st == _GAP:
                if st == _FLIGHT:
                    self._flight -= m
                    acked_bytes += m
                    if not sampled and self._d_xmit[i] == 1:
                        self._rtt_sample(ticks_diff(now, self._d_sent_at[i]))
                        sampled = True
                elif st == _RTX:
                    self._n_rtx -= 1
                    acked_bytes += m
                self._unbuffer(self._d_sid[i], m)
            self._ring_used -= m + self._d_waste[i]
            ds[i] = _NEW
            t += 1
        self._acked = cum
        if self._ring_used == 0:
            self._ring_head = 0
        highest = cum
        covered = cum  # TSNs up to here were reported by this SACK
        g = off + 16
        for _ in range(ngaps):
            start = cum + pull_u16(buf, g)
            end = cum + pull_u16(buf, g + 2)
            g += 4
            if end >= self._next_send:
                end = self._next_send - 1
            if start <= cum:
                start = cum + 1
            self._reneged(covered + 1, start)
            if end > covered:
                covered = end
            for u in range(start, end + 1):
                i = u % d
                st = ds[i]
                if st == _FLIGHT or st == _RTX:
                    if st == _FLIGHT:
                        self._flight -= self._d_len[i]
                    else:
                        self._n_rtx -= 1
                    ds[i] = _GAP
                    acked_bytes += self._d_len[i]
                    if u > highest:
                        highest = u
        self._reneged(covered + 1, self._next_send)
        if highest > cum:
            self._miss_indications(cum, highest)
        if self._recovery_exit is not None and cum >= self._recovery_exit:
            self._recovery_exit = None
        if advanced:
            self._errors = 0
            self._grow_cwnd(acked_bytes, flight_before)
        rw = a_rwnd - self._flight
        self._peer_rwnd = rw if rw > 0 else 0
        if self._flight == 0 and not self._n_rtx and self._adv_point <= cum:
            self._t3_at = None
        elif advanced:
            self._t3_at = ticks_add(now, self._rto)
        if self._adv_point > cum:
            self._ctl |= _C_FWD  # RFC 3758 §3.5 C2: repeat FORWARD-TSN until acked
        if self.state == SHUTDOWN_PENDING or self.state == SHUTDOWN_RECEIVED:
            self._check_shutdown(now)

    def _reneged(self, first, stop):
        """Gap-acked chunks in [first, stop) this SACK no longer reports were dropped by the peer
        (reneged, RFC 9260 §6.2.1 D): send them again.
        """
        d = self._d
        ds = self._d_state
        for u in range(first, stop):
            i = u % d
            if ds[i] == _GAP:
                ds[i] = _RTX
                self._n_rtx += 1
                self._d_miss[i] = 0

    def _miss_indications(self, cum, highest):
        """Fast retransmit after three miss reports (RFC 9260 §7.2.4)."""
        d = self._d
        ds = self._d_state
        marked = False
        for u in range(cum + 1, highest):
            i = u % d
            if ds[i] == _FLIGHT:
                self._d_miss[i] += 1
                if self._d_miss[i] == 3:
                    ds[i] = _RTX
                    self._flight -= self._d_len[i]
                    self._n_rtx += 1
                    marked = True
        if marked:
            self.counters.fast_retransmits += 1
            self._fast_rtx = True
            if self._recovery_exit is None:
                self._ssthresh = max(self._cwnd // 2, 4 * self.max_packet)
                self._cwnd = self._ssthresh
                self._pba = 0
                self._recovery_exit = self._next_send - 1

    def _grow_cwnd(self, acked, flight_before):
        """Slow start and congestion avoidance (RFC 9260 §7.2.1-2)."""
        if self._recovery_exit is not None or not acked:
            return
        mtu = self.max_packet
        if self._cwnd <= self._ssthresh:
            if flight_before + mtu >= self._cwnd:
                self._cwnd += acked if acked < mtu else mtu
        else:
            self._pba += acked
            if self._pba >= self._cwnd and flight_before + mtu >= self._cwnd:
                self._pba -= self._cwnd
                self._cwnd += mtu

    def _rtt_sample(self, r):
        """RTO from a round-trip sample in ms (RFC 9260 §6.3.1)."""
        if r < 0:
            return
        if self._srtt == 0:
            self._srtt = r
            self._rttvar = r // 2
        else:
            dv = self._srtt - r
            self._rttvar = (3 * self._rttvar + (dv if dv > 0 else -dv)) // 4
            self._srtt = (7 * self._srtt + r) // 8
        rto = self._srtt + 4 * self._rttvar
        self._rto = _RTO_MIN if rto < _RTO_MIN else (_RTO_MAX if rto > _RTO_MAX else rto)

    def _on_t3(self, now):
        """Retransmission timeout (RFC 9260 §6.3.3): everything in flight goes again."""
        self.counters.t3_expiries += 1
        self._errors += 1
        if self._errors > _MAX_RETRANS:
            self._closed(events.SCTP_FAILED, "peer stopped acknowledging data (%d retransmission "
                         "timeouts)" % _MAX_RETRANS, True)
            return
        d = self._d
        ds = self._d_state
        for t in range(self._acked + 1, self._next_send):
            i = t % d
            if ds[i] == _FLIGHT:
                ds[i] = _RTX
                self._n_rtx += 1
        self._flight = 0
        self._ssthresh = max(self._cwnd // 2, 4 * self.max_packet)
        self._cwnd = self.max_packet
        self._pba = 0
        self._recovery_exit = None
        self._rto = min(self._rto * 2, _RTO_MAX)
        fwd = self._adv_point > self._acked
        self._t3_at = ticks_add(now, self._rto) if self._n_rtx or fwd else None
        if fwd:
            self._ctl |= _C_FWD  # the FORWARD-TSN may have been lost too

    def _on_heartbeat_timer(self, now):
        """Probe an idle path (RFC 9260 §8.3); an unanswered probe counts as an error."""
        self._hb_at = ticks_add(now, _HB_INTERVAL + self._rto)
        if self._hb_sent_at is not None:
            self._errors += 1
            if self._errors > _MAX_RETRANS:
                self._closed(events.SCTP_FAILED, "peer stopped answering heartbeats", True)
                return
        if self._flight == 0:
            self._hb_sent_at = now
            self._ctl |= _C_HEARTBEAT

    # ---------------------------------------------------------------- shutdown

    def _check_shutdown(self, now):
        if self._acked + 1 < self._next_tsn:
            return  # RFC 9260 §9.2: first everything we queued must be acknowledged
        if self.state == SHUTDOWN_PENDING:
            self.state = SHUTDOWN_SENT
            self._ctl |= _C_SHUTDOWN
        elif self.state == SHUTDOWN_RECEIVED:
            self.state = SHUTDOWN_ACK_SENT
            self._ctl |= _C_SHUTDOWN_ACK
        else:
            return
        self._t2_at = ticks_add(now, self._rto)

    def _on_t2(self, now):
        self._errors += 1
        if self._errors > _MAX_RETRANS:
            self._closed(events.SCTP_FAILED, "peer did not complete the SHUTDOWN", True)
            return
        self._rto = min(self._rto * 2, _RTO_MAX)
        self._t2_at = ticks_add(now, self._rto)
        self._ctl |= _C_SHUTDOWN if self.state == SHUTDOWN_SENT else _C_SHUTDOWN_ACK

    # ---------------------------------------------------------------- stream reset (RFC 6525)

    def _start_reconfig(self, now):
        if self._reset_inflight or not self._reset_q or self.state != ESTABLISHED:
            return
        self._reset_inflight = self._reset_q
        self._reset_q = []
        push_rel(self._req_seq, 0, self._my_hi, self._my_lo, self._reconf_seq)
        self._reconf_seq += 1
        for sid in self._reset_inflight:
            if sid < self.n_streams:
                self._out_ssn[sid] = 0
        self._ctl |= _C_RECONF_REQ
        self._reconf_at = ticks_add(now, self._rto)

    def _push_reconfig(self, buf, off):
        """RE-CONFIG with our Outgoing SSN Reset Request and/or a response (RFC 6525 §4)."""
        p = off + 4
        if self._ctl & _C_RECONF_RESP:
            push_u16(buf, p, P.P_RECONFIG_RESPONSE)
            push_u16(buf, p + 2, 12)
            buf[p + 4 : p + 8] = self._resp_seq
            push_small32(buf, p + 8, self._resp_result)
            p += 12
        if self._ctl & _C_RECONF_REQ and self._reset_inflight:
            k = len(self._reset_inflight)
            push_u16(buf, p, P.P_OUTGOING_RESET)
            push_u16(buf, p + 2, 16 + 2 * k)
            buf[p + 4 : p + 8] = self._req_seq
            buf[p + 8 : p + 12] = self._peer_req_seq
            push_rel(buf, p + 12, self._my_hi, self._my_lo, self._next_tsn - 1)
            q = p + 16
            for sid in self._reset_inflight:
                push_u16(buf, q, sid)
                q += 2
            if k & 1:
                push_u16(buf, q, 0)
                q += 2
            p = q
            self._reconf_at = ticks_add(self._now, self._rto)
        self._ctl &= ~(_C_RECONF_REQ | _C_RECONF_RESP)
        if p == off + 4:
            return off
        push_chunk(buf, off, P.RECONFIG, 0, p - off)
        return p

    def _handle_reconfig(self, buf, off, ln, now):
        for t, vo, vn in P.pull_params(buf, off + 4, off + ln):
            if t == P.P_OUTGOING_RESET and vn >= 12:
                seq = bytes(buf[vo : vo + 4])
                if seq == self._resp_seq and self._resp_result:
                    self._ctl |= _C_RECONF_RESP  # a retransmission: repeat our answer
                    continue
                self._resp_seq[0:4] = seq
                self._peer_req_seq[0:4] = seq
                last = pull_rel(buf, vo + 8, self._peer_hi, self._peer_lo)
                streams = []
                for j in range((vn - 12) // 2):
                    if len(streams) < self.n_streams:
                        streams.append(pull_u16(buf, vo + 12 + 2 * j))
                self._deferred = (last, streams)
                self._resp_result = 6  # in progress, until our cum TSN reaches `last`
                self._try_deferred_reset()
                self._ctl |= _C_RECONF_RESP
            elif t == P.P_RECONFIG_RESPONSE and vn >= 8:
                if bytes(buf[vo : vo + 4]) == self._req_seq and self._reset_inflight:
                    if pull_small32(buf, vo + 4) == 6:
                        self._reconf_at = ticks_add(now, self._rto)  # retry later
                        continue
                    self._reset_inflight = []
                    self._reconf_at = None
                    self._start_reconfig(now)

    def _try_deferred_reset(self):
        last, streams = self._deferred
        if self._cum < last:
            return
        self._deferred = None
        self._resp_result = 1  # performed
        self._ctl |= _C_RECONF_RESP
        for sid in streams:
            self._event(events.SCTP_STREAM_RESET, sid)
