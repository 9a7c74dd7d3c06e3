"""A full ICE agent in the controlling role (RFC 8445 §6.1.1, §7.2, §8.1.1; RFC 7675 consent).

What a client needs to reach an ICE-lite device, which sends no checks: it checks the remote
candidates, nominates a valid pair and keeps consent alive with its own checks. Apart from
rtc_micro/ice.py so that a device, which only answers, never loads (or compiles) it:
PeerConnection imports it when it becomes the offerer or meets a lite peer. Same machine
contract as the lite agent, whose answering, pairs, consent and events it reuses.
"""

from rtc_micro import events
from rtc_micro.compat import const, ticks_add, ticks_diff, ticks_min, urandom
from rtc_micro.crypto.hmac import HmacSha1
from rtc_micro.errors import ConfigError
from rtc_micro.ice import STATE_FAILED, IceLiteAgent
from rtc_micro.stun import (
    ATTR_ICE_CONTROLLING,
    ATTR_PRIORITY,
    ATTR_USE_CANDIDATE,
    ATTR_USERNAME,
    BINDING_ERROR,
    BINDING_REQUEST,
    BINDING_SUCCESS,
    check_fingerprint,
    check_integrity,
    ip_bytes,
    push_attr,
    push_fingerprint,
    push_flag,
    push_header,
    push_integrity,
)

# Check states (RFC 8445 §6.1.2.6) and timers.
_WAITING = const(0)
_IN_PROGRESS = const(1)
_SUCCEEDED = const(2)
_FAILED = const(3)
_TA_MS = const(50)  # RFC 8445 §14.2: one new check per Ta
_RTO_MS = const(500)  # RFC 8445 §14.3: first retransmission of a check, doubling after
_MAX_SENDS = const(7)  # RFC 8489 §6.2.1 Rc: transmissions of one check
_LAST_WAIT = const(16)  # RFC 8489 §6.2.1 Rm: after the last one, wait Rm * RTO, then fail
_CONSENT_MIN_MS = const(4000)  # RFC 7675 §5.1: a consent check every 5 s +-20 %
_CONSENT_SPREAD_MS = const(2000)
# A request: header 20, PRIORITY 8, ICE-CONTROLLING 12, USE-CANDIDATE 4, MESSAGE-INTEGRITY 24,
# FINGERPRINT 8 = 76 bytes besides USERNAME (4 + value, padded), all in one of the lite agent's
# 128-byte transmit slots: 128 - 80.
_MAX_USERNAME = const(48)
# PRIORITY of a check: what a peer-reflexive candidate of ours would get (RFC 8445 §7.1.1,
# §5.1.2.1: type preference 110, local preference 65535, component 1). As bytes: it is above
# 2**30, a heap int on a board.
_PRFLX_PRIORITY = b"\x6e\xff\xff\xff"


class IceControllingAgent(IceLiteAgent):
    """A full agent in the controlling role (RFC 8445 §6.1.1): what a client needs to reach an
    ICE-lite device, which sends no checks.

    Checks each remote candidate (`add_candidate`, one new check per Ta), retransmitting per
    RFC 8489 §6.2.1; nominates the first pair whose check succeeds by repeating that check
    with USE-CANDIDATE (regular nomination, §8.1.1); then keeps consent alive with a check every
    4-6 s (RFC 7675 §5.1), whose answers renew it. Checks a full peer sends are answered as the
    lite agent answers them and trigger a check back (§7.3.1.4); they neither nominate nor
    renew consent. It never switches role: a peer claiming the controlling role gets 487.
    """

    def __init__(self, profile, local_ufrag, local_pwd, remote_ufrag=None, remote_pwd=None):
        np = profile.ice_max_pairs
        self._chk_addr = [None] * np  # remote candidates, in the order they are checked
        self._chk_state = [_WAITING] * np
        self._chk_txid = [bytearray(12) for _ in range(np)]  # the check's current transaction
        self._chk_use = [False] * np  # that transaction carries USE-CANDIDATE
        self._chk_sends = [0] * np
        self._chk_rto = [0] * np
        self._chk_at = [0] * np  # next retransmission, or when to give up
        self._check_at = None  # when the next waiting check may start (Ta pacing)
        self._consent_at = None  # next consent check
        self._nominating = -1  # the check slot whose USE-CANDIDATE transaction is out
        self._user_out = None  # USERNAME of our checks: remote_ufrag:local_ufrag
        self._remote_hmac = None  # our checks are signed with the peer's password (§7.2.2)
        self.tie_breaker = urandom(8)  # RFC 8445 §16.1
        super().__init__(profile, local_ufrag, local_pwd, remote_ufrag, remote_pwd)

    def set_remote(self, ufrag, pwd=None):
        """The peer's credentials from its SDP; both are needed before checks start."""
        IceLiteAgent.set_remote(self, ufrag, pwd)
        if self.remote_ufrag is None or self.remote_pwd is None:
            return
        user = self.remote_ufrag + b":" + self.local_ufrag
        if len(user) > _MAX_USERNAME:
            raise ConfigError("ice-ufrag %r is too long for a check: the two ufrags together "
                              "may have %d characters" % (ufrag, _MAX_USERNAME - 1))
        self._user_out = user
        self._remote_hmac = HmacSha1(self.remote_pwd)

    def add_candidate(self, addr, now):
        """Check the remote candidate `addr` = (host, port) (from the remote SDP, or trickled).

        False when it is known already, when all `profile.ice_max_pairs` slots are taken, or
        when host is not an IP address (an mDNS name: resolve it first).
        """
        free = -1
        for i in range(len(self._chk_addr)):
            a = self._chk_addr[i]
            if a == addr:
                return False
            if a is None and free < 0:
                free = i
        if free < 0 or self.state >= STATE_FAILED or not ip_bytes(addr[0], self._scratch):
            return False
        self._chk_addr[free] = addr
        self._chk_state[free] = _WAITING
        if self._check_at is None and self._selected < 0:
            self._check_at = now  # the first check goes at once; the next after Ta
        return True

    # ---- input ----------------------------------------------------------------------------

    def _conflicts(self, msg):
        """We stay controlling (RFC 8445 §7.3.1.1 as if our tie-breaker were the largest): with
        a lite peer, or as the offerer, a peer that claims the role too is misconfigured."""
        return msg.controlling_off >= 0

    def _checked(self, i, msg, addr, now):
        """A full peer checks us: check it back (a triggered check, RFC 8445 §7.3.1.4)."""
        if self._selected < 0:
            self.add_candidate(addr, now)

    def _handle_answer(self, buf, msg, addr, now):
        """A response to one of our checks (RFC 8445 §7.2.5): matched by transaction id and
        source address, then authenticated with the peer's password."""
        c = self.counters
        kind = msg.msg_type
        i = -1
        if kind == BINDING_SUCCESS or kind == BINDING_ERROR:
            i = self._transaction(buf)
        if i < 0 or self._chk_addr[i] != addr:
            c.ignored += 1  # indications, stale or foreign answers, or from elsewhere (§7.2.5.2.1)
            return
        if msg.fingerprint_off >= 0 and not check_fingerprint(buf, msg):
            c.bad_fingerprint += 1
            return
        if kind == BINDING_ERROR:
            c.check_failures += 1
            self._failed(i, now)
            return
        if not check_integrity(buf, msg, self._remote_hmac, self._scratch):
            c.bad_integrity += 1
            return
        if self._chk_use[i]:
            self._chk_state[i] = _SUCCEEDED
            p = self._pair_for(addr, now)
            self._nominate(p)
            self._consent(now)
            self._nominating = -1
            self._check_at = None  # selected: no further checks (§8.1.2)
            if self._consent_at is None:
                self._consent_at = ticks_add(now, self._consent_interval())
        elif self._chk_state[i] == _IN_PROGRESS:
            self._chk_state[i] = _SUCCEEDED
            self._pair_for(addr, now)  # valid: DTLS from there is accepted
            if self._selected < 0 and self._nominating < 0:
                self._begin(i, True, now)  # regular nomination at once (§8.1.1)

    def _transaction(self, buf):
        """The check slot whose current transaction id is in `buf`, or -1."""
        for i in range(len(self._chk_addr)):
            if self._chk_addr[i] is None or self._chk_state[i] == _FAILED:
                continue
            t = self._chk_txid[i]
            k = 0
            while k < 12 and buf[8 + k] == t[k]:
                k += 1
            if k == 12:
                return i
        return -1

    # ---- timers ---------------------------------------------------------------------------

    def handle_timeout(self, now):
        """Retransmit due checks, start the next waiting one, send a consent check; consent
        expiry as in the lite agent."""
        IceLiteAgent.handle_timeout(self, now)
        if self.state >= STATE_FAILED:
            self._stop()
            return
        for i in range(len(self._chk_addr)):
            if self._chk_state[i] == _IN_PROGRESS and ticks_diff(now, self._chk_at[i]) >= 0:
                if self._chk_sends[i] >= _MAX_SENDS:
                    self.counters.check_failures += 1
                    self._failed(i, now)
                else:
                    self._send_check(i, now)
        at = self._check_at
        if at is not None and ticks_diff(now, at) >= 0:
            self._check_at = None
            for i in range(len(self._chk_addr)):
                if self._chk_addr[i] is not None and self._chk_state[i] == _WAITING:
                    self._begin(i, False, now)
                    self._check_at = ticks_add(now, _TA_MS)
                    break
        at = self._consent_at
        if at is not None and ticks_diff(now, at) >= 0 and self._selected >= 0:
            i = self._slot_of(self.selected_addr)
            if i >= 0:
                self._new_transaction(i, True)
                self._send_check(i, now)  # consent checks are not retransmitted (RFC 7675)
            self._consent_at = ticks_add(now, self._consent_interval())

    def poll_timeout(self):
        """The soonest of: consent expiry, a retransmission, the next check, a consent check."""
        t = ticks_min(self._deadline_at, self._check_at)
        t = ticks_min(t, self._consent_at)
        for i in range(len(self._chk_addr)):
            if self._chk_state[i] == _IN_PROGRESS:
                t = ticks_min(t, self._chk_at[i])
        return t

    def close(self, now=None):
        IceLiteAgent.close(self, now)
        self._stop()

    # ---- checks ---------------------------------------------------------------------------

    def _consent_interval(self):
        return _CONSENT_MIN_MS + urandom(1)[0] * _CONSENT_SPREAD_MS // 255

    def _slot_of(self, addr):
        for i in range(len(self._chk_addr)):
            if self._chk_addr[i] == addr:
                return i
        return -1

    def _new_transaction(self, i, use_candidate):
        self._chk_txid[i][0:12] = urandom(12)  # RFC 8489 §6: random, new per transaction
        self._chk_use[i] = use_candidate
        self._chk_sends[i] = 0
        self._chk_rto[i] = _RTO_MS

    def _begin(self, i, use_candidate, now):
        """Start a check on slot `i` (a new transaction) and send it."""
        self._new_transaction(i, use_candidate)
        self._chk_state[i] = _IN_PROGRESS
        if use_candidate:
            self._nominating = i
        self._send_check(i, now)

    def _send_check(self, i, now):
        """A binding request (RFC 8445 §7.2.2): USERNAME, PRIORITY, ICE-CONTROLLING,
        USE-CANDIDATE when nominating, MESSAGE-INTEGRITY (peer's password), FINGERPRINT."""
        n = self._chk_sends[i] + 1
        self._chk_sends[i] = n
        rto = self._chk_rto[i]
        if n < _MAX_SENDS:
            self._chk_at[i] = ticks_add(now, rto)
            self._chk_rto[i] = rto * 2
        else:
            self._chk_at[i] = ticks_add(now, _LAST_WAIT * _RTO_MS)
        j = self._tx_slot()
        if j < 0:
            return  # counted; the retransmission timer tries again
        out = self._tx_view[j]
        user = self._user_out
        off = push_header(out, BINDING_REQUEST, self._chk_txid[i], 0)
        off = push_attr(out, off, ATTR_USERNAME, user, 0, len(user))
        off = push_attr(out, off, ATTR_PRIORITY, _PRFLX_PRIORITY, 0, 4)
        off = push_attr(out, off, ATTR_ICE_CONTROLLING, self.tie_breaker, 0, 8)
        if self._chk_use[i]:
            off = push_flag(out, off, ATTR_USE_CANDIDATE)
        off = push_integrity(out, off, self._remote_hmac)
        off = push_fingerprint(out, off)
        self._commit(j, off, self._chk_addr[i])
        self.counters.checks_sent += 1

    def _failed(self, i, now):
        """Check `i` failed (error answer or no answer): nominate another valid pair, or fail
        ICE when nothing is left to try (RFC 8445 §7.2.5.3.4, §8.1.2)."""
        if self._chk_state[i] != _IN_PROGRESS:
            return  # an error answer to a consent check: consent simply runs out
        self._chk_state[i] = _FAILED
        if self._nominating == i:
            self._nominating = -1
        if self._selected >= 0:
            return
        pending = False
        for k in range(len(self._chk_addr)):
            if self._chk_addr[k] is None:
                continue
            st = self._chk_state[k]
            if st == _SUCCEEDED and self._nominating < 0:
                self._begin(k, True, now)
            if st == _WAITING or self._chk_state[k] == _IN_PROGRESS:
                pending = True
        if not pending:
            self.state = STATE_FAILED
            self._stop()
            self._emit(events.ICE_FAILED, "no connectivity check to the peer's candidates "
                       "succeeded (answered with an error or never answered): is the peer "
                       "reachable, and its ICE credentials those of its SDP?", None)

    def _stop(self):
        """No more checks or timers (closed or failed)."""
        self._check_at = None
        self._consent_at = None
        for i in range(len(self._chk_addr)):
            if self._chk_state[i] == _IN_PROGRESS:
                self._chk_state[i] = _FAILED
