"""Property tests for the STUN codec and the ICE-lite agent (CPython only: hypothesis)."""

import hmac
import os
import sys

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import boards  # noqa: E402
from rtc_micro import stun  # noqa: E402
from rtc_micro.crypto.hmac import HmacSha1  # noqa: E402
from rtc_micro.ice import IceLiteAgent  # noqa: E402

PWD = b"a-password-of-22-chars"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.integers(0, 3))
def test_any_bytes_parse_or_are_malformed(data, first):
    buf = bytearray(data)
    if len(buf) >= 8:
        buf[0] = (buf[0] & 0x3F) | first
        buf[4:8] = b"\x21\x12\xa4\x42"  # reach past the cookie check often
    msg = stun.StunMessage()
    assert stun.pull_message(buf, len(buf), msg) in (stun.OK, stun.MALFORMED)
    agent = IceLiteAgent(boards.load("esp32"), "lite", PWD, "peer")
    agent.handle_datagram(buf, len(buf), ("10.0.0.2", 9), 0)
    assert agent.counters.requests == 0


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=12, max_size=12),
    st.binary(min_size=1, max_size=60),
    st.booleans(),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    st.integers(0, 65535),
)
def test_build_then_parse_round_trips(txid, user, use_candidate, ip4, port):
    buf = bytearray(300)
    off = stun.push_header(buf, stun.BINDING_SUCCESS, txid, 0)
    off = stun.push_attr(buf, off, stun.ATTR_USERNAME, user, 0, len(user))
    if use_candidate:
        off = stun.push_flag(buf, off, stun.ATTR_USE_CANDIDATE)
    off = stun.push_xor_address(buf, off, stun.FAMILY_IPV4, bytes(ip4), port)
    off = stun.push_integrity(buf, off, HmacSha1(PWD))
    n = stun.push_fingerprint(buf, off)
    msg = stun.StunMessage()
    assert stun.pull_message(buf, n, msg) == stun.OK
    u = msg.username_off
    assert bytes(buf[u : u + msg.username_len]) == user
    assert msg.use_candidate == use_candidate
    ip = bytearray(4)
    assert stun.pull_xor_address(buf, msg, ip) == port and bytes(ip) == bytes(ip4)
    assert stun.check_fingerprint(buf, msg)
    assert stun.check_integrity(buf, msg, HmacSha1(PWD), bytearray(20))
    # MESSAGE-INTEGRITY is the standard HMAC-SHA1 over the message with the adjusted length.
    mi = msg.integrity_off
    signed = bytearray(buf[0:mi])
    signed[2:4] = (mi + 24 - 20).to_bytes(2, "big")
    assert hmac.new(PWD, bytes(signed), "sha1").digest() == bytes(buf[mi + 4 : mi + 24])
