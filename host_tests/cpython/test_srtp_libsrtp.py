"""rtc_micro.srtp against libsrtp (pylibsrtp 1.0.0), both profiles, both directions.

Random RTP packets (CSRCs, header extensions, sequence wrap, two SSRCs) and RTCP packets:
our protect output equals libsrtp's byte for byte, each side unprotects the other's packets,
and tampered packets are refused by us exactly when libsrtp refuses them.
"""

import random

import pytest
from pylibsrtp import Error, Policy, Session

import boards
from rtc_micro import srtp

PROFILES = (
    (srtp.PROFILE_AES128_CM_SHA1_80, Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 14),
    (srtp.PROFILE_AEAD_AES_128_GCM, Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 12),
)
BOARD = boards.load("unix")


def _sessions(ours_id, theirs_id, key, salt, ssrc_type):
    policy = Policy(key=key + salt, ssrc_type=ssrc_type, srtp_profile=theirs_id)
    policy.window_size = 128
    return srtp.SrtpSession(ours_id, key, salt, BOARD), Session(policy)


def _rtp_packets(rng, count):
    """Random RTP packets of two SSRCs; sequence numbers wrap past 65535 with some reordering."""
    seqs = {0x1234ABCD: 65500, 0xFEDCBA98: rng.randrange(65536)}
    out = []
    for _ in range(count):
        ssrc = rng.choice(tuple(seqs))
        seqs[ssrc] = (seqs[ssrc] + rng.choice((1, 1, 1, 2, 5))) % 65536
        cc = rng.choice((0, 0, 1, 3))
        ext = rng.random() < 0.3
        b0 = 0x80 | cc | (0x10 if ext else 0)
        pkt = bytearray([b0, rng.randrange(128)]) + seqs[ssrc].to_bytes(2, "big")
        pkt += rng.randbytes(4) + ssrc.to_bytes(4, "big") + rng.randbytes(4 * cc)
        if ext:
            words = rng.randrange(4)
            pkt += b"\xbe\xde" + words.to_bytes(2, "big") + rng.randbytes(4 * words)
        pkt += rng.randbytes(rng.randrange(1, 300))
        out.append(bytes(pkt))
    # Swap a few neighbours: reordering inside the replay window must be accepted.
    for _ in range(count // 10):
        i = rng.randrange(count - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _rtcp_packets(rng, count):
    out = []
    for _ in range(count):
        ssrc = rng.choice((0x1234ABCD, 0xFEDCBA98))
        words = rng.randrange(1, 30)
        pkt = bytes([0x80, 200]) + words.to_bytes(2, "big") + ssrc.to_bytes(4, "big")
        out.append(pkt + rng.randbytes(4 * words - 4))
    return out


def _ours(fn, pkt, room=32):
    buf = bytearray(len(pkt) + room)
    buf[0 : len(pkt)] = pkt
    n = fn(buf, len(pkt))
    return None if n < 0 else bytes(buf[0:n])


@pytest.mark.parametrize("ours_id,theirs_id,salt_len", PROFILES)
def test_rtp_both_directions(ours_id, theirs_id, salt_len):
    rng = random.Random(ours_id)
    key, salt = rng.randbytes(16), rng.randbytes(salt_len)
    our_tx, their_tx = _sessions(ours_id, theirs_id, key, salt, Policy.SSRC_ANY_OUTBOUND)
    _, their_rx = _sessions(ours_id, theirs_id, key, salt, Policy.SSRC_ANY_INBOUND)
    packets = _rtp_packets(rng, 400)
    for pkt in packets:
        mine = _ours(our_tx.protect_rtp, pkt)
        theirs = their_tx.protect(pkt)
        assert mine == theirs
        assert their_rx.unprotect(mine) == pkt
    # libsrtp -> us, on a fresh pair of receivers (ours sees libsrtp's packets first).
    our_rx2, _ = _sessions(ours_id, theirs_id, key, salt, Policy.SSRC_ANY_INBOUND)
    _, their_tx2 = _sessions(ours_id, theirs_id, key, salt, Policy.SSRC_ANY_OUTBOUND)
    for pkt in packets:
        assert _ours(our_rx2.unprotect_rtp, their_tx2.protect(pkt)) == pkt
    assert our_rx2.counters.bad_auth == 0 and our_rx2.counters.replayed == 0
    # A flipped byte: both refuse it.
    _, their_tx3 = _sessions(ours_id, theirs_id, key, salt, Policy.SSRC_ANY_OUTBOUND)
    wire = bytearray(their_tx3.protect(packets[0]))
    wire[len(wire) // 2] ^= 1
    our_rx3, their_rx3 = _sessions(ours_id, theirs_id, key, salt, Policy.SSRC_ANY_INBOUND)
    assert _ours(our_rx3.unprotect_rtp, bytes(wire)) is None
    assert our_rx3.counters.bad_auth == 1
    with pytest.raises(Error):
        their_rx3.unprotect(bytes(wire))


@pytest.mark.parametrize("ours_id,theirs_id,salt_len", PROFILES)
def test_rtcp_both_directions(ours_id, theirs_id, salt_len):
    rng = random.Random(ours_id + 100)
    key, salt = rng.randbytes(16), rng.randbytes(salt_len)
    our_tx, their_tx = _sessions(ours_id, theirs_id, key, salt, Policy.SSRC_ANY_OUTBOUND)
    our_rx, their_rx = _sessions(ours_id, theirs_id, key, salt, Policy.SSRC_ANY_INBOUND)
    for pkt in _rtcp_packets(rng, 200):
        mine = _ours(our_tx.protect_rtcp, pkt)
        theirs = their_tx.protect_rtcp(pkt)
        assert mine == theirs
        assert their_rx.unprotect_rtcp(mine) == pkt
        # The same wire bytes were made by both: use libsrtp's for our receiver.
        assert _ours(our_rx.unprotect_rtcp, theirs) == pkt
        assert _ours(our_rx.unprotect_rtcp, theirs) is None  # replay
    assert our_rx.counters.replayed == 200 and our_rx.counters.bad_auth == 0
