"""ICE-lite agent (rtc_micro/ice.py) against a controlling test agent on the simulator."""

import boards
from host_tests.support import assert_no_alloc, raises, skip
from rtc_micro import events, stun
from rtc_micro.compat import ticks_add, ticks_diff
from rtc_micro.crypto.hmac import HmacSha1
from rtc_micro.drivers.sim import Network
from rtc_micro.errors import ConfigError
from rtc_micro.ice import (
    STATE_CLOSED,
    STATE_CONNECTED,
    STATE_DISCONNECTED,
    STATE_FAILED,
    IceLiteAgent,
    is_stun,
)
from rtc_micro.ice_control import IceControllingAgent

LITE_UFRAG = "lite"
LITE_PWD = "a-password-of-22-chars"
PEER_UFRAG = "peer"
LITE_ADDR = ("10.0.0.1", 5000)
PEER_ADDR = ("10.0.0.2", 6000)
PEER_ADDR2 = ("192.168.1.7", 6001)
PROFILE = boards.load("esp32")


class Controller:
    """A minimal controlling full agent (RFC 8445 §7.2): a check to `target` every `interval_ms`.

    `nominate` adds USE-CANDIDATE; `running = False` stops the checks (consent then expires).
    Verifies answers (integrity with the lite agent's password, fingerprint) and counts them.
    """

    def __init__(self, target, interval_ms=500, nominate=True, username=None, pwd=LITE_PWD):
        self.target = target
        self.interval_ms = interval_ms
        self.nominate = nominate
        self.running = True
        self.role_attr = stun.ATTR_ICE_CONTROLLING
        self.username = username or (LITE_UFRAG + ":" + PEER_UFRAG).encode()
        self.hmac = HmacSha1(pwd.encode())
        self.out_data = bytearray(200)
        self.out_addr = target
        self.next_at = 0
        self._n = 0
        self._txid = bytearray(12)
        self._seq = 0
        self.sent = 0
        self.ok = 0  # verified success responses
        self.errors = []  # error codes received
        self.mapped = None  # (ip text, port) from the last success
        self._msg = stun.StunMessage()

    def build(self, out, use_candidate):
        """A binding request like a browser's: PRIORITY, ICE-CONTROLLING, USERNAME, MI, FP."""
        self._seq += 1
        self._txid[8:12] = self._seq.to_bytes(4, "big")
        off = stun.push_header(out, stun.BINDING_REQUEST, self._txid, 0)
        off = stun.push_attr(out, off, stun.ATTR_USERNAME, self.username, 0, len(self.username))
        off = stun.push_attr(out, off, stun.ATTR_PRIORITY, b"\x6e\x00\x01\xff", 0, 4)
        off = stun.push_attr(out, off, self.role_attr, b"\x01\x02\x03\x04\x05\x06\x07\x08", 0, 8)
        if use_candidate:
            off = stun.push_flag(out, off, stun.ATTR_USE_CANDIDATE)
        off = stun.push_integrity(out, off, self.hmac)
        return stun.push_fingerprint(out, off)

    def handle_datagram(self, buf, n, addr, now):
        msg = self._msg
        assert stun.pull_message(buf, n, msg) == stun.OK
        assert stun.check_fingerprint(buf, msg)
        if msg.msg_type == stun.BINDING_ERROR:
            self.errors.append(msg.error_code)
            return
        assert msg.msg_type == stun.BINDING_SUCCESS
        assert stun.check_integrity(buf, msg, self.hmac, bytearray(20))
        ip = bytearray(16)
        port = stun.pull_xor_address(buf, msg, ip)
        family = stun.FAMILY_IPV4 if msg.xor_address_len == 8 else stun.FAMILY_IPV6
        self.mapped = (stun.ip_text(family, ip), port)
        self.ok += 1

    def handle_timeout(self, now):
        if self.running and ticks_diff(now, self.next_at) >= 0:
            self._n = self.build(self.out_data, self.nominate)
            self.sent += 1
            self.next_at = ticks_add(now, self.interval_ms)

    def poll_transmit(self):
        n, self._n = self._n, 0
        return n

    def poll_timeout(self):
        return self.next_at if self.running else None


def lite(profile=PROFILE, remote_ufrag=PEER_UFRAG):
    return IceLiteAgent(profile, LITE_UFRAG, LITE_PWD, remote_ufrag, "peer-password-22-chars")


def setup(seed=1, peer_addr=PEER_ADDR, **controller):
    net = Network(seed=seed)
    agent = lite()
    ctl = Controller(LITE_ADDR, **controller)
    a = net.add(agent, LITE_ADDR)
    c = net.add(ctl, peer_addr)
    return net, agent, ctl, a, c


def test_nomination_connects_and_answers_with_mapped_address():
    net, agent, ctl, a, _c = setup()
    reasons = []
    a.on_event = lambda ep, kind: reasons.append((kind, ep.machine.ev_reason, ep.machine.ev_addr))
    assert net.run(lambda: agent.state == STATE_CONNECTED and ctl.ok >= 1, timeout_ms=2000)
    assert agent.selected_addr == PEER_ADDR
    assert ctl.mapped == PEER_ADDR
    assert reasons[0][0] == events.ICE_CONNECTED and reasons[0][2] == PEER_ADDR
    assert "nominated" in reasons[0][1]
    assert agent.counters.requests == agent.counters.responses >= 1
    assert agent.poll_timeout() == ticks_add(10, PROFILE.ice_consent_timeout_ms)  # delay 10 ms


def test_ipv6_peer_gets_ipv6_mapped_address():
    addr = ("2001:db8::7", 4444)
    net, agent, ctl, _a, _c = setup(peer_addr=addr)
    assert net.run(lambda: ctl.ok >= 1, timeout_ms=2000)
    assert ctl.mapped == ("2001:db8:0:0:0:0:0:7", 4444)
    assert agent.selected_addr == addr


def test_checks_without_nomination_learn_pairs_but_do_not_connect():
    net, agent, ctl, a, _c = setup(nominate=False)
    net.run(lambda: ctl.ok >= 3, timeout_ms=5000)
    assert ctl.ok >= 3 and agent.state == 0 and agent.selected_addr is None
    assert agent.pairs == [PEER_ADDR] and a.events == []
    assert agent.poll_timeout() is None


def test_nomination_change_follows_the_peer():
    net, agent, ctl, a, _c = setup()
    assert net.run(lambda: agent.state == STATE_CONNECTED, timeout_ms=2000)
    ctl.running = False
    ctl2 = Controller(LITE_ADDR)
    net.add(ctl2, PEER_ADDR2)
    assert net.run(lambda: agent.selected_addr == PEER_ADDR2, timeout_ms=2000)
    assert a.events == [events.ICE_CONNECTED, events.ICE_PAIR_CHANGED]
    assert agent.state == STATE_CONNECTED and agent.ev_addr == PEER_ADDR2
    assert sorted(agent.pairs) == sorted([PEER_ADDR, PEER_ADDR2])


def test_connects_through_loss_and_duplicates():
    net, agent, ctl, _a, _c = setup(seed=5, interval_ms=50)
    net.impair(loss=40, duplicate=20, reorder=20, delay_ms=15, jitter_ms=10)
    assert net.run(lambda: agent.state == STATE_CONNECTED and ctl.ok >= 5, timeout_ms=5000)
    assert net.dropped > 0
    assert agent.counters.malformed == 0 and agent.counters.bad_integrity == 0


def test_consent_timeout_then_failed_with_reasons():
    net, agent, ctl, a, _c = setup()
    got = []
    a.on_event = lambda ep, kind: got.append((kind, ep.machine.ev_reason))
    assert net.run(lambda: agent.state == STATE_CONNECTED, timeout_ms=2000)
    last = net.now
    ctl.running = False
    assert net.run(lambda: agent.state == STATE_DISCONNECTED, timeout_ms=40000)
    lost_at = net.now
    # The last check left the controller at `last` and arrived 10 ms later.
    assert ticks_diff(lost_at, last) <= PROFILE.ice_consent_timeout_ms + 10
    assert got[-1][0] == events.ICE_DISCONNECTED and "RFC 7675" in got[-1][1]
    assert agent.selected_addr == PEER_ADDR  # still where to send while disconnected
    assert net.run(lambda: agent.state == STATE_FAILED, timeout_ms=70000)
    assert ticks_diff(net.now, lost_at) == PROFILE.ice_failed_timeout_ms
    assert got[-1][0] == events.ICE_FAILED and "failed" in got[-1][1]
    assert agent.selected_addr is None and agent.poll_timeout() is None
    ctl.running = True
    ctl.next_at = net.now
    net.run(timeout_ms=1000)
    assert agent.state == STATE_FAILED and agent.counters.ignored >= 1


def test_recovery_after_disconnected():
    net, agent, ctl, a, _c = setup()
    assert net.run(lambda: agent.state == STATE_CONNECTED, timeout_ms=2000)
    ctl.running = False
    assert net.run(lambda: agent.state == STATE_DISCONNECTED, timeout_ms=40000)
    ctl.running = True
    ctl.next_at = net.now
    assert net.run(lambda: agent.state == STATE_CONNECTED, timeout_ms=2000)
    assert a.events == [events.ICE_CONNECTED, events.ICE_DISCONNECTED, events.ICE_CONNECTED]
    assert ticks_diff(agent.poll_timeout(), net.now) == PROFILE.ice_consent_timeout_ms


def test_close_emits_closed_and_stops_answering():
    net, agent, ctl, a, _c = setup()
    assert net.run(lambda: agent.state == STATE_CONNECTED, timeout_ms=2000)
    agent.close(net.now)
    agent.close(net.now)
    net.run(timeout_ms=1200)
    assert a.events == [events.ICE_CONNECTED, events.ICE_CLOSED]
    answered = ctl.ok
    net.run(timeout_ms=2000)
    assert ctl.ok == answered and agent.state == STATE_CLOSED and agent.selected_addr is None


def test_peer_claiming_controlled_gets_487():
    net, agent, ctl, _a, _c = setup()
    ctl.role_attr = stun.ATTR_ICE_CONTROLLED
    net.run(lambda: len(ctl.errors) >= 2, timeout_ms=3000)
    assert ctl.errors[0] == 487 and ctl.ok == 0
    assert agent.counters.role_conflict >= 2 and agent.selected_addr is None


def test_pairs_are_bounded_lru_and_keep_the_selected():
    profile = PROFILE.derive(ice_max_pairs=2)
    agent = lite(profile)
    ctl = Controller(LITE_ADDR)
    buf = bytearray(200)
    n = ctl.build(buf, True)
    agent.handle_datagram(buf, n, ("10.0.0.9", 1), 0)  # nominated: selected
    assert agent.selected_addr == ("10.0.0.9", 1)
    ctl.nominate = False
    for port in range(2, 6):
        n = ctl.build(buf, False)
        agent.handle_datagram(buf, n, ("10.0.0.9", port), port * 10)
    assert sorted(agent.pairs) == [("10.0.0.9", 1), ("10.0.0.9", 5)]
    assert agent.counters.evicted == 3 and agent.selected_addr == ("10.0.0.9", 1)


def test_transmit_ring_full_drops_and_counts():
    profile = PROFILE.derive(transmit_slots=2)
    agent = lite(profile)
    ctl = Controller(LITE_ADDR, nominate=False)
    buf = bytearray(200)
    for i in range(5):
        n = ctl.build(buf, False)
        agent.handle_datagram(buf, n, PEER_ADDR, i)
    assert agent.counters.requests == 5 and agent.counters.responses == 2
    assert agent.counters.dropped_full == 3
    assert agent.poll_transmit() > 0 and agent.out_addr == PEER_ADDR
    assert agent.poll_transmit() > 0 and agent.poll_transmit() == 0


def test_unknown_remote_ufrag_accepts_any_peer_part():
    agent = lite(remote_ufrag=None)
    ctl = Controller(LITE_ADDR, username=b"lite:whoever")
    buf = bytearray(200)
    n = ctl.build(buf, True)
    agent.handle_datagram(buf, n, PEER_ADDR, 0)
    assert agent.state == STATE_CONNECTED and agent.counters.unknown_user == 0


def test_bad_configuration_raises():
    raises(ConfigError, IceLiteAgent, PROFILE, "ab", LITE_PWD)
    raises(ConfigError, IceLiteAgent, PROFILE, "li:te", LITE_PWD)
    raises(ConfigError, IceLiteAgent, PROFILE, LITE_UFRAG, "short")
    raises(ConfigError, IceLiteAgent, PROFILE.derive(mtu=100), LITE_UFRAG, LITE_PWD)
    raises(ConfigError, IceLiteAgent, PROFILE, LITE_UFRAG, 12345)
    agent = lite()
    ctl = Controller(LITE_ADDR)
    buf = bytearray(200)
    n = ctl.build(buf, True)
    raises(ConfigError, agent.handle_datagram, buf, n, ("not an address", 1), 0)


# ---- hostile input (issue item 9): each dropped or refused, counted, nothing raises ----------


def answer_to(agent, buf, n, addr=PEER_ADDR):
    """Feed one datagram; the answer's error code (0 for success), or None when unanswered."""
    agent.handle_datagram(buf, n, addr, 0)
    m = agent.poll_transmit()
    if not m:
        return None
    msg = stun.StunMessage()
    out = bytearray(agent.out_data[0:m])
    assert stun.pull_message(out, m, msg) == stun.OK and stun.check_fingerprint(out, msg)
    return msg.error_code


def request(use_candidate=False, username=None, pwd=LITE_PWD):
    ctl = Controller(LITE_ADDR, username=username, pwd=pwd)
    buf = bytearray(200)
    return buf, ctl.build(buf, use_candidate)


def test_hostile_truncated_oversized_wrong_length():
    agent = lite()
    buf, n = request()
    assert answer_to(agent, buf, n - 1) is None  # truncated
    assert answer_to(agent, buf, 10) is None
    big = bytearray(buf[0:n]) + bytearray(1500)
    assert answer_to(agent, big, len(big)) is None  # oversized: more than the length field
    wrong = bytearray(buf)
    wrong[3] += 4
    assert answer_to(agent, wrong, n) is None
    assert agent.counters.malformed == 4 and agent.counters.requests == 0


def test_hostile_bad_integrity_and_wrong_user_get_401_unsigned():
    agent = lite()
    buf, n = request(pwd="another-password-22chr")
    assert answer_to(agent, buf, n) == 401
    buf, n = request(username=b"lite:intruder")
    assert answer_to(agent, buf, n) == 401
    buf, n = request(username=b"other:peer")
    assert answer_to(agent, buf, n) == 401
    c = agent.counters
    assert c.bad_integrity == 1 and c.unknown_user == 2 and c.requests == 0
    assert agent.pairs == [] and agent.state == 0


def test_hostile_bad_fingerprint_dropped_silently():
    agent = lite()
    buf, n = request(True)
    buf[n - 1] ^= 0x40
    assert answer_to(agent, buf, n) is None
    assert agent.counters.bad_fingerprint == 1 and agent.state == 0


def test_hostile_unknown_required_attribute_gets_420():
    agent = lite()
    ctl = Controller(LITE_ADDR)
    buf = bytearray(200)
    ctl._txid[0] = 9
    off = stun.push_header(buf, stun.BINDING_REQUEST, ctl._txid, 0)
    off = stun.push_attr(buf, off, stun.ATTR_USERNAME, ctl.username, 0, len(ctl.username))
    off = stun.push_attr(buf, off, 0x0031, b"\x00\x00\x00\x00", 0, 4)
    off = stun.push_attr(buf, off, 0xC001, b"\x00", 0, 1)  # optional: ignored
    off = stun.push_integrity(buf, off, ctl.hmac)
    n = stun.push_fingerprint(buf, off)
    assert answer_to(agent, buf, n) == 420
    out = bytearray(agent.out_data[0:200])
    n = 20 + (out[2] << 8 | out[3])
    msg = stun.StunMessage()
    assert stun.pull_message(out, n, msg) == stun.OK
    assert stun.check_integrity(out, msg, ctl.hmac, bytearray(20))  # signed: it authenticated
    assert agent.counters.unknown_attribute == 1 and agent.counters.requests == 0


def test_hostile_missing_credentials_get_400():
    agent = lite()
    buf = bytearray(100)
    off = stun.push_header(buf, stun.BINDING_REQUEST, bytes(12), 0)
    n = stun.push_fingerprint(buf, off)
    assert answer_to(agent, buf, n) == 400
    assert agent.counters.bad_request == 1


def test_hostile_non_requests_are_ignored():
    agent = lite()
    buf, n = request()
    buf[1] = 0x11  # binding indication
    buf[n - 8 : n] = bytes(8)
    stun.push_fingerprint(buf, n - 8)
    assert answer_to(agent, buf, n) is None
    assert agent.counters.ignored == 1


def test_hostile_fuzz_never_raises():
    agent = lite()
    good, n = request(True)
    state = 99
    for rnd in range(400):
        buf = bytearray(good)
        for _flip in range(1 + rnd % 3):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            buf[state % n] ^= 1 << ((state >> 16) % 8)
        m = n if rnd % 4 else (state >> 8) % (n + 8)
        agent.handle_datagram(buf, m, PEER_ADDR, rnd)
        while agent.poll_transmit():
            pass
    for rnd in range(100):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        m = state % 90
        buf = bytearray(m + 4)
        for i in range(m):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            buf[i] = (state >> 16) & 0xFF
        agent.handle_datagram(buf, m, PEER_ADDR, rnd)
    c = agent.counters
    dropped = c.malformed + c.bad_fingerprint + c.bad_integrity + c.unknown_user + c.ignored
    assert dropped > 300 and c.requests < 100
    buf, n = request(True)
    assert answer_to(agent, buf, n) == 0  # still answers a good check afterwards
    while agent.poll_event():
        pass


def test_is_stun_demux():
    buf, n = request()
    assert is_stun(buf, n)
    dtls = bytearray(buf)
    dtls[0] = 22
    assert not is_stun(dtls, n) and not is_stun(buf, 19)


# ---- allocation-free answering (issue item 11) -----------------------------------------------


class XorMac:
    """Stand-in MAC (allocation-free) that isolates the agent's own path from HmacSha1's."""

    def digest_into(self, buf, off, n, out, out_off):
        for i in range(20):
            out[out_off + i] = i
        for i in range(n):
            out[out_off + i % 20] ^= buf[off + i]


def answer(agent, buf, n, addr, now):
    agent.handle_datagram(buf, n, addr, now)
    m = agent.poll_transmit()
    while agent.poll_event():
        pass
    return m


def connected_agent(mac):
    agent = lite()
    ctl = Controller(LITE_ADDR)
    if mac is not None:
        agent._hmac = mac
        ctl.hmac = mac
    buf = bytearray(200)
    n = ctl.build(buf, True)
    assert answer(agent, buf, n, PEER_ADDR, 0) > 0 and agent.state == STATE_CONNECTED
    return agent, buf, n


def test_answering_is_allocation_free_apart_from_the_mac():
    agent, buf, n = connected_agent(XorMac())
    assert assert_no_alloc(answer, agent, buf, n, PEER_ADDR, 5) > 0
    assert agent.counters.requests == 3  # setup, warm-up, locked call


def test_answering_with_hmac_sha1_is_allocation_free():
    hmac = HmacSha1(LITE_PWD.encode())
    out = bytearray(20)
    try:
        assert_no_alloc(hmac.digest_into, out, 0, 20, out, 0)
    except AssertionError:
        skip("needs the allocation-free HmacSha1 of the crypto issue (rtc_micro/crypto/hmac.py)")
    agent, buf, n = connected_agent(None)
    assert assert_no_alloc(answer, agent, buf, n, PEER_ADDR, 5) > 0


# ---- the controlling agent (a client of an ICE-lite device) ----------------------------------

CTL_UFRAG = "ctrl"
CTL_PWD = "controlling-password-22"


def controlling(profile=PROFILE, remote_pwd=LITE_PWD):
    return IceControllingAgent(profile, CTL_UFRAG, CTL_PWD, LITE_UFRAG, remote_pwd)


def client_and_lite(seed=1, remote_pwd=LITE_PWD, candidates=(LITE_ADDR,)):
    """The controlling agent at PEER_ADDR checking a real lite agent at LITE_ADDR."""
    net = Network(seed=seed)
    agent = IceLiteAgent(PROFILE, LITE_UFRAG, LITE_PWD, CTL_UFRAG, CTL_PWD)
    ctl = controlling(remote_pwd=remote_pwd)
    a = net.add(agent, LITE_ADDR)
    c = net.add(ctl, PEER_ADDR)
    for addr in candidates:
        assert ctl.add_candidate(addr, net.now)
    return net, agent, ctl, a, c


def test_controlling_nominates_after_a_successful_check():
    net, agent, ctl, a, c = client_and_lite()
    seen = []  # (now, USE-CANDIDATE) of each check the lite agent gets
    msg = stun.StunMessage()

    def tap(buf, n, addr, now, handle=agent.handle_datagram):
        assert stun.pull_message(buf, n, msg) == stun.OK
        seen.append((now, msg.use_candidate, msg.controlling_off >= 0, msg.priority_off >= 0))
        handle(buf, n, addr, now)

    agent.handle_datagram = tap
    assert net.run(lambda: ctl.state == STATE_CONNECTED, timeout_ms=1000)
    # Regular nomination (RFC 8445 §8.1.1): a check, then at once the same with USE-CANDIDATE;
    # 10 ms each way: the check is answered at 20 ms, the nomination at 40 ms.
    assert seen == [(10, False, True, True), (30, True, True, True)] and net.now == 40
    assert ctl.selected_addr == LITE_ADDR and agent.selected_addr == PEER_ADDR
    assert c.events == [events.ICE_CONNECTED] and a.events == [events.ICE_CONNECTED]
    assert ctl.pairs == [LITE_ADDR]  # valid: DTLS from there is accepted
    assert ctl.counters.checks_sent == 2 and ctl.counters.check_failures == 0
    assert ticks_diff(ctl.poll_timeout(), 4000) >= 0  # next: a consent check in 4-6 s


def test_controlling_keeps_consent_with_checks_every_4_to_6_s():
    net, agent, ctl, a, c = client_and_lite()
    assert net.run(lambda: ctl.state == STATE_CONNECTED, timeout_ms=1000)
    net.advance(60000)
    assert agent.state == STATE_CONNECTED and ctl.state == STATE_CONNECTED
    assert 10 <= ctl.counters.checks_sent - 2 <= 15  # 60 s at one per 4-6 s
    assert a.events == [events.ICE_CONNECTED] and c.events == [events.ICE_CONNECTED]


def test_controlling_retransmits_per_rfc_8489_then_fails():
    ctl = controlling()
    assert ctl.add_candidate(("10.9.9.9", 9), 0) and not ctl.add_candidate(("10.9.9.9", 9), 0)
    sent = []
    now = 0
    while ctl.state == 0:
        now = ctl.poll_timeout()
        ctl.handle_timeout(now)
        while ctl.poll_transmit():
            assert ctl.out_addr == ("10.9.9.9", 9)
            sent.append(now)
    assert sent == [0, 500, 1500, 3500, 7500, 15500, 31500] and now == 39500  # Rc 7, Rm 16
    assert ctl.state == STATE_FAILED and ctl.poll_timeout() is None
    assert ctl.poll_event() == events.ICE_FAILED and "no connectivity check" in ctl.ev_reason
    assert ctl.counters.check_failures == 1


def test_controlling_paces_checks_and_uses_the_pair_that_answers():
    net, agent, ctl, _a, c = client_and_lite(candidates=(("10.0.0.99", 1), LITE_ADDR))
    assert net.run(lambda: ctl.state == STATE_CONNECTED, timeout_ms=2000)
    assert net.now == 50 + 40 and ctl.selected_addr == LITE_ADDR  # 2nd check after Ta = 50 ms
    assert net.unroutable >= 1 and c.events == [events.ICE_CONNECTED]


def test_controlling_connects_through_loss():
    net, agent, ctl, _a, _c = client_and_lite(seed=3)
    net.impair(loss=40, duplicate=20, reorder=20, delay_ms=15, jitter_ms=10)
    assert net.run(lambda: ctl.state == STATE_CONNECTED and agent.state == STATE_CONNECTED,
                   timeout_ms=20000)
    assert net.dropped > 0 and ctl.counters.checks_sent > 2
    assert agent.selected_addr == PEER_ADDR and ctl.selected_addr == LITE_ADDR


def test_controlling_error_answer_fails_at_once():
    net, agent, ctl, _a, c = client_and_lite(remote_pwd="not-the-lite-password!")
    assert net.run(lambda: ctl.state == STATE_FAILED, timeout_ms=1000)
    assert net.now == 20 and agent.counters.bad_integrity == 1  # answered 401
    assert c.events == [events.ICE_FAILED] and ctl.counters.check_failures == 1


def test_controlling_consent_lost_then_regained_then_failed():
    net, agent, ctl, a, c = client_and_lite()
    assert net.run(lambda: ctl.state == STATE_CONNECTED, timeout_ms=1000)
    net.link(c, a, loss=100)  # our checks stop arriving
    assert net.run(lambda: ctl.state == STATE_DISCONNECTED, timeout_ms=40000)
    assert ctl.selected_addr == LITE_ADDR and "RFC 7675" in ctl.ev_reason
    net.link(c, a, loss=0)
    assert net.run(lambda: ctl.state == STATE_CONNECTED, timeout_ms=7000)
    assert c.events == [events.ICE_CONNECTED, events.ICE_DISCONNECTED, events.ICE_CONNECTED]
    net.link(c, a, loss=100)
    assert net.run(lambda: ctl.state == STATE_FAILED, timeout_ms=100000)
    assert ctl.poll_timeout() is None and ctl.selected_addr is None
    checks = ctl.counters.checks_sent
    net.advance(20000)
    assert ctl.counters.checks_sent == checks  # failed: silent


def test_controlling_answers_a_full_peer_and_checks_it_back():
    ctl = controlling()
    ctl.set_remote("peer", "peer-password-22-chars")
    req = Controller(LITE_ADDR, username=b"ctrl:peer", pwd=CTL_PWD)
    req.role_attr = stun.ATTR_ICE_CONTROLLED  # a full peer in the controlled role
    buf = bytearray(200)
    assert answer_to(ctl, buf, req.build(buf, False), PEER_ADDR2) == 0  # success, signed
    # ... and a triggered check back to where it came from (RFC 8445 §7.3.1.4).
    assert ctl.poll_timeout() == 0
    ctl.handle_timeout(0)
    n = ctl.poll_transmit()
    msg = stun.StunMessage()
    out = bytearray(ctl.out_data[0:n])
    assert ctl.out_addr == PEER_ADDR2 and stun.pull_message(out, n, msg) == stun.OK
    assert msg.msg_type == stun.BINDING_REQUEST and msg.controlling_off >= 0
    assert stun.check_integrity(out, msg, HmacSha1(b"peer-password-22-chars"), bytearray(20))
    assert ctl.state == 0 and ctl.selected_addr is None  # its checks never nominate
    req.role_attr = stun.ATTR_ICE_CONTROLLING  # a peer that wants our role: 487
    assert answer_to(ctl, buf, req.build(buf, False), PEER_ADDR2) == 487
    assert ctl.counters.role_conflict == 1


def test_controlling_drops_foreign_and_forged_answers():
    ctl = controlling()
    ctl.add_candidate(LITE_ADDR, 0)
    ctl.handle_timeout(0)
    n = ctl.poll_transmit()
    check = bytearray(ctl.out_data[0:n])
    lite_agent = lite(remote_ufrag=CTL_UFRAG)
    lite_agent.handle_datagram(check, n, PEER_ADDR, 0)
    m = lite_agent.poll_transmit()
    good = bytearray(lite_agent.out_data[0:m])
    ctl.handle_datagram(bytearray(good), m, ("10.6.6.6", 5000), 1)  # from elsewhere
    other = bytearray(good)
    other[19] ^= 1  # another transaction
    ctl.handle_datagram(other, m, LITE_ADDR, 1)
    forged = bytearray(good)
    forged[m - 9] ^= 1  # MESSAGE-INTEGRITY's last byte (FINGERPRINT follows)
    stun.push_fingerprint(forged, m - 8)
    ctl.handle_datagram(forged, m, LITE_ADDR, 1)
    assert ctl.counters.ignored == 2 and ctl.counters.bad_integrity == 1
    assert ctl.pairs == [] and ctl.poll_transmit() == 0
    ctl.handle_datagram(good, m, LITE_ADDR, 1)
    assert ctl.pairs == [LITE_ADDR] and ctl.poll_transmit() > 0  # valid: now it nominates


def test_controlling_bad_configuration():
    e = raises(ConfigError, IceControllingAgent, PROFILE, CTL_UFRAG, CTL_PWD, "u" * 60, LITE_PWD)
    assert "too long" in str(e)
    ctl = controlling()
    assert not ctl.add_candidate(("a1b2.local", 5000), 0)  # mDNS: resolve first
    assert ctl.poll_timeout() is None
    full = controlling(PROFILE.derive(ice_max_pairs=1))
    assert full.add_candidate(LITE_ADDR, 0) and not full.add_candidate(PEER_ADDR, 0)


def test_controlling_idle_timers_allocate_nothing():
    net, _agent, ctl, _a, _c = client_and_lite()
    assert net.run(lambda: ctl.state == STATE_CONNECTED, timeout_ms=1000)
    assert assert_no_alloc(ctl.poll_timeout) is not None
    assert_no_alloc(ctl.handle_timeout, net.now)
