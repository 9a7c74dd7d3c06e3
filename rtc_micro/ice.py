"""ICE-lite agent, always controlled (RFC 8445 §2.5, §7.3), with consent freshness (RFC 7675).

A lite agent sends no checks: it answers the peer's authenticated binding requests, learns the
peer's addresses from them (peer-reflexive, §7.3.1.3), and uses the pair the peer nominates with
USE-CANDIDATE (§7.3.1.5). Consent lives while authenticated checks keep arriving on the selected
pair; after `profile.ice_consent_timeout_ms` without one the agent reports ICE_DISCONNECTED, and
ICE_FAILED `profile.ice_failed_timeout_ms` later unless a check comes back first.

Machine contract: `handle_datagram(buf, n, addr, now)`, `handle_timeout(now)`, `close(now)` in;
`poll_transmit()` (datagram in `out_data[0:n]`, destination `out_addr`), `poll_timeout()`,
`poll_event()` (details in `ev_reason`, `ev_addr`) out. `addr` is `(host, port)` with host as
text or 4/16 raw bytes; the agent hands the same object back in `out_addr` and `selected_addr`.
"""

from rtc_micro import events
from rtc_micro.compat import const, ticks_add, ticks_diff, ticks_max
from rtc_micro.crypto.hmac import HmacSha1
from rtc_micro.errors import ConfigError
from rtc_micro.stun import (
    BINDING_ERROR,
    BINDING_REQUEST,
    BINDING_SUCCESS,
    OK,
    StunMessage,
    check_fingerprint,
    check_integrity,
    ip_bytes,
    pull_message,
    push_error_code,
    push_fingerprint,
    push_header,
    push_integrity,
    push_unknown_attributes,
    push_xor_address,
)
from rtc_micro.stun import is_stun  # noqa: F401  (re-exported for the demux, RFC 7983)

# States (`agent.state`).
STATE_NEW = const(0)  # waiting for the peer's first nomination
STATE_CONNECTED = const(1)
STATE_DISCONNECTED = const(2)  # consent lost; a check on the selected pair brings it back
STATE_FAILED = const(3)
STATE_CLOSED = const(4)

_MIN_UFRAG = const(4)  # RFC 8445 §5.3: ufrag >= 24 bits of randomness, 4 ice-chars
_MIN_PWD = const(22)  # RFC 8445 §5.3: password >= 128 bits, 22 ice-chars
# Largest answer we write: header 20, ERROR-CODE 28, UNKNOWN-ATTRIBUTES 12 (MAX_UNKNOWN types),
# MESSAGE-INTEGRITY 24, FINGERPRINT 8 = 92 bytes. Transmit slots are this size, not the MTU:
# eight MTU-sized slots would cost an ESP32 ~10 KB for answers that never exceed 92 bytes.
_SLOT_BYTES = const(128)
# Constant texts: kept once by the module (in flash when frozen), not formatted per session.
_REASON_LOST = ("no authenticated STUN check from the peer for the profile's "
                "ice_consent_timeout_ms on the selected pair (RFC 7675 consent expired): is the "
                "peer still running and the path open?")
_REASON_FAILED = ("consent not regained within the profile's ice_failed_timeout_ms after the "
                  "disconnect: ICE failed; restart the session")

_R400 = b"Bad Request"
_R401 = b"Unauthorized"
_R420 = b"Unknown Attribute"
_R487 = b"Role Conflict"


def _text(value, what):
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise ConfigError("%s must be str or bytes, got %r" % (what, value))


class IceCounters:
    """What the agent saw and dropped; plain ints anyone can read."""

    def __init__(self):
        self.requests = 0  # authenticated binding requests accepted
        self.responses = 0  # success responses queued
        self.errors_sent = 0  # error responses queued (400, 401, 420, 487)
        self.malformed = 0  # not STUN, or bad lengths
        self.bad_request = 0  # binding request without USERNAME or MESSAGE-INTEGRITY
        self.bad_integrity = 0
        self.bad_fingerprint = 0
        self.unknown_user = 0  # USERNAME is not `local_ufrag:remote_ufrag`
        self.unknown_attribute = 0  # unknown comprehension-required attribute (answered 420)
        self.role_conflict = 0  # peer claims the controlled role too (answered 487)
        self.ignored = 0  # valid STUN we do not act on, or input after failed/closed
        self.dropped_full = 0  # answers dropped: transmit ring full
        self.events_dropped = 0  # events dropped: event queue full
        self.evicted = 0  # remembered pairs replaced (least recently checked first)
        # The controlling agent only (ice_control.IceControllingAgent): our own checks.
        self.checks_sent = 0  # binding requests sent, retransmissions included
        self.check_failures = 0  # our checks answered with an error or never answered


class IceLiteAgent:
    """ICE-lite, controlled role (RFC 8445 §2.5). Sizes come from `profile` (boards.Profile)."""

    def __init__(self, profile, local_ufrag, local_pwd, remote_ufrag=None, remote_pwd=None):
        ufrag = _text(local_ufrag, "local_ufrag")
        pwd = _text(local_pwd, "local_pwd")
        if len(ufrag) < _MIN_UFRAG or b":" in ufrag:
            raise ConfigError("local_ufrag needs at least 4 characters and no ':' (RFC 8445 §5.3)")
        if len(pwd) < _MIN_PWD:
            raise ConfigError("local_pwd needs at least 22 characters (RFC 8445 §5.3)")
        slots = profile.transmit_slots
        if slots < 1 or profile.mtu < _SLOT_BYTES:
            raise ConfigError(
                "profile needs transmit_slots >= 1 and mtu >= %d for STUN answers" % _SLOT_BYTES
            )
        if profile.ice_max_pairs < 1 or profile.event_slots < 1:
            raise ConfigError("profile needs ice_max_pairs >= 1 and event_slots >= 1")
        self.local_ufrag = ufrag
        self.local_pwd = pwd
        self._user = ufrag + b":"  # USERNAME of checks sent to us starts with this
        self.remote_ufrag = None
        self.remote_pwd = None
        self.set_remote(remote_ufrag, remote_pwd)
        self._hmac = HmacSha1(pwd)
        self._msg = StunMessage()
        self._scratch = bytearray(20)
        self.counters = IceCounters()
        self.state = STATE_NEW
        self._consent_ms = profile.ice_consent_timeout_ms
        self._failed_ms = profile.ice_failed_timeout_ms
        self._deadline_at = None
        # Transmit ring: `slots` answers, each with its destination.
        ring = memoryview(bytearray(slots * _SLOT_BYTES))
        self._tx_view = [ring[i * _SLOT_BYTES : (i + 1) * _SLOT_BYTES] for i in range(slots)]
        self._tx_len = [0] * slots
        self._tx_addr = [None] * slots
        self._tx_head = 0
        self._tx_count = 0
        self.out_data = self._tx_view[0]
        self.out_addr = None
        # Event queue.
        ne = profile.event_slots
        self._ev_kind = [0] * ne
        self._ev_reason = [None] * ne
        self._ev_addr = [None] * ne
        self._ev_head = 0
        self._ev_count = 0
        self.ev_reason = None
        self.ev_addr = None
        # Candidate pairs: the peer addresses checks came from (our side has one host address).
        np = profile.ice_max_pairs
        self._pair_addr = [None] * np
        self._pair_ip = [bytearray(16) for _ in range(np)]
        self._pair_family = [0] * np
        self._pair_port = [0] * np
        self._pair_seen = [0] * np  # ticks of the last authenticated check
        self._selected = -1
        self.selected_addr = None

    def set_remote(self, ufrag, pwd=None):
        """The peer's credentials from its SDP; with a ufrag, USERNAME is checked in full."""
        self.remote_ufrag = None if ufrag is None else _text(ufrag, "remote_ufrag")
        self.remote_pwd = None if pwd is None else _text(pwd, "remote_pwd")

    @property
    def pairs(self):
        """The peer addresses currently remembered (for logs and tests; allocates)."""
        return [a for a in self._pair_addr if a is not None]

    # ---- input ----------------------------------------------------------------------------

    def handle_datagram(self, buf, n, addr, now):
        """One received datagram (`buf` writable, `buf[0:n]`) from `addr` (RFC 8445 §7.3)."""
        c = self.counters
        if self.state >= STATE_FAILED:
            c.ignored += 1
            return
        msg = self._msg
        if pull_message(buf, n, msg) != OK:
            c.malformed += 1
            return
        if msg.msg_type != BINDING_REQUEST:
            self._handle_answer(buf, msg, addr, now)
            return
        if msg.fingerprint_off >= 0 and not check_fingerprint(buf, msg):
            c.bad_fingerprint += 1  # RFC 7983: not STUN after all, drop silently
            return
        if msg.integrity_off < 0 or msg.username_off < 0:
            c.bad_request += 1
            self._answer_error(buf, addr, 400, _R400, False)  # RFC 8489 §9.1.3
            return
        if not self._username_ok(buf, msg):
            c.unknown_user += 1
            self._answer_error(buf, addr, 401, _R401, False)
            return
        if not check_integrity(buf, msg, self._hmac, self._scratch):
            c.bad_integrity += 1
            self._answer_error(buf, addr, 401, _R401, False)
            return
        if msg.unknown_count:
            c.unknown_attribute += 1
            self._answer_error(buf, addr, 420, _R420, True)  # RFC 8489 §6.3.1.1
            return
        if self._conflicts(msg):
            c.role_conflict += 1
            self._answer_error(buf, addr, 487, _R487, True)
            return
        c.requests += 1
        i = self._pair_for(addr, now)
        self._answer_success(buf, i)
        self._checked(i, msg, addr, now)

    def _handle_answer(self, buf, msg, addr, now):
        """Indications (keepalives) and responses: a lite agent asks nothing."""
        self.counters.ignored += 1

    def _conflicts(self, msg):
        """The peer claims our role (RFC 8445 §7.3.1.1). We stay controlled (a lite agent must,
        §6.1.1), i.e. our tie-breaker counts as the largest: 487 makes the peer controlling."""
        return msg.controlled_off >= 0 and msg.controlling_off < 0

    def _checked(self, i, msg, addr, now):
        """An authenticated check from pair `i` was answered: USE-CANDIDATE selects the pair
        (§7.3.1.5), and a check on the selected pair renews consent (RFC 7675)."""
        if msg.use_candidate:
            self._nominate(i)
        if i == self._selected:
            self._consent(now)

    def _username_ok(self, buf, msg):
        """USERNAME is `local_ufrag:remote_ufrag` (RFC 8445 §7.2.2); remote part when known."""
        u = msg.username_off
        want = self._user
        k = len(want)
        n = msg.username_len
        if n <= k:
            return False
        for j in range(k):
            if buf[u + j] != want[j]:
                return False
        remote = self.remote_ufrag
        if remote is None:
            return True
        if n - k != len(remote):
            return False
        u += k
        for j in range(n - k):
            if buf[u + j] != remote[j]:
                return False
        return True

    def _pair_for(self, addr, now):
        """Index of the pair for `addr`, learning it as peer-reflexive (RFC 8445 §7.3.1.3)."""
        pa = self._pair_addr
        np = len(pa)
        for i in range(np):
            if pa[i] == addr:
                self._pair_seen[i] = now
                return i
        victim = -1
        for i in range(np):
            if pa[i] is None:
                victim = i
                break
        if victim < 0:
            # Full: forget the pair checked least recently, never the selected one.
            for i in range(np):
                if i != self._selected and (
                    victim < 0 or ticks_diff(self._pair_seen[i], self._pair_seen[victim]) < 0
                ):
                    victim = i
            self.counters.evicted += 1
        family = ip_bytes(addr[0], self._pair_ip[victim])
        if not family:
            raise ConfigError("addr must be (host, port), host IPv4/IPv6, got %r" % (addr,))
        pa[victim] = addr
        self._pair_family[victim] = family
        self._pair_port[victim] = addr[1]
        self._pair_seen[victim] = now
        return victim

    def _nominate(self, i):
        """USE-CANDIDATE from the controlling peer selects pair `i` (RFC 8445 §7.3.1.5, §8.1.1)."""
        sel = self._selected
        if sel == i:
            return
        self._selected = i
        addr = self._pair_addr[i]
        self.selected_addr = addr
        if sel < 0:
            self.state = STATE_CONNECTED
            self._emit(events.ICE_CONNECTED, "the peer nominated a pair: connected", addr)
        else:
            self._emit(events.ICE_PAIR_CHANGED, "the peer nominated another pair", addr)
            if self.state == STATE_DISCONNECTED:
                self.state = STATE_CONNECTED
                self._deadline_at = None  # the failure deadline; _consent sets consent's
                self._emit(events.ICE_CONNECTED, "consent regained on a new pair", addr)

    def _consent(self, now):
        """An authenticated check on the selected pair renews consent (RFC 7675 §5.1)."""
        if self.state == STATE_DISCONNECTED:
            self.state = STATE_CONNECTED
            self._deadline_at = None
            self._emit(events.ICE_CONNECTED, "consent regained: checks arrive again", None)
        # ticks_max: a `now` that goes backwards never shortens consent.
        self._deadline_at = ticks_max(self._deadline_at, ticks_add(now, self._consent_ms))

    def handle_timeout(self, now):
        """Consent expiry -> disconnected; no recovery in time -> failed."""
        at = self._deadline_at
        if at is None or ticks_diff(now, at) < 0:
            return
        if self.state == STATE_CONNECTED:
            self.state = STATE_DISCONNECTED
            self._deadline_at = ticks_add(now, self._failed_ms)
            self._emit(events.ICE_DISCONNECTED, _REASON_LOST, self.selected_addr)
        elif self.state == STATE_DISCONNECTED:
            self.state = STATE_FAILED
            self._deadline_at = None
            self.selected_addr = None
            self._emit(events.ICE_FAILED, _REASON_FAILED, None)
        else:
            self._deadline_at = None

    def close(self, now=None):
        """Stop answering checks; emits ICE_CLOSED once."""
        if self.state == STATE_CLOSED:
            return
        self.state = STATE_CLOSED
        self._deadline_at = None
        self.selected_addr = None
        self._emit(events.ICE_CLOSED, "closed by the application", None)

    # ---- output ---------------------------------------------------------------------------

    def _tx_slot(self):
        """Index of a free transmit slot, or -1 (counted) when the ring is full."""
        k = self._tx_count
        nslots = len(self._tx_view)
        if k >= nslots:
            self.counters.dropped_full += 1
            return -1
        j = self._tx_head + k
        return j - nslots if j >= nslots else j

    def _commit(self, j, n, addr):
        self._tx_len[j] = n
        self._tx_addr[j] = addr
        self._tx_count += 1

    def _answer_success(self, req, i):
        """Binding success with XOR-MAPPED-ADDRESS, integrity, fingerprint (RFC 8445 §7.3.1.2)."""
        j = self._tx_slot()
        if j < 0:
            return
        out = self._tx_view[j]
        off = push_header(out, BINDING_SUCCESS, req, 8)
        off = push_xor_address(
            out, off, self._pair_family[i], self._pair_ip[i], self._pair_port[i]
        )
        off = push_integrity(out, off, self._hmac)
        off = push_fingerprint(out, off)
        self._commit(j, off, self._pair_addr[i])
        self.counters.responses += 1

    def _answer_error(self, req, addr, code, reason, signed):
        """Binding error response; signed only when the request authenticated (RFC 8489 §9.1.3)."""
        j = self._tx_slot()
        if j < 0:
            return
        out = self._tx_view[j]
        off = push_header(out, BINDING_ERROR, req, 8)
        off = push_error_code(out, off, code, reason)
        if code == 420:
            off = push_unknown_attributes(out, off, self._msg)
        if signed:
            off = push_integrity(out, off, self._hmac)
        off = push_fingerprint(out, off)
        self._commit(j, off, addr)
        self.counters.errors_sent += 1

    def poll_transmit(self):
        """Length of the next datagram (in `out_data`, to `out_addr`), 0 when none."""
        if not self._tx_count:
            return 0
        j = self._tx_head
        self.out_data = self._tx_view[j]
        self.out_addr = self._tx_addr[j]
        self._tx_addr[j] = None
        self._tx_head = 0 if j + 1 == len(self._tx_view) else j + 1
        self._tx_count -= 1
        return self._tx_len[j]

    def poll_timeout(self):
        """Absolute deadline (ticks ms) of consent expiry or failure, None when none."""
        return self._deadline_at

    def _emit(self, kind, reason, addr):
        k = self._ev_count
        ne = len(self._ev_kind)
        if k >= ne:
            self.counters.events_dropped += 1
            return
        j = self._ev_head + k
        if j >= ne:
            j -= ne
        self._ev_kind[j] = kind
        self._ev_reason[j] = reason
        self._ev_addr[j] = addr if addr is not None else self.selected_addr
        self._ev_count = k + 1

    def poll_event(self):
        """Next event kind (events.ICE_*), 0 when none; details in `ev_reason`, `ev_addr`."""
        if not self._ev_count:
            return 0
        j = self._ev_head
        kind = self._ev_kind[j]
        self.ev_reason = self._ev_reason[j]
        self.ev_addr = self._ev_addr[j]
        self._ev_reason[j] = None
        self._ev_addr[j] = None
        self._ev_head = 0 if j + 1 == len(self._ev_kind) else j + 1
        self._ev_count -= 1
        return kind

