"""G.711 -> RtpSender -> SRTP -> RtpReceiver: the audio packet path, allocation-free (item 5).

A module of its own: SRTP and the crypto back end (~30 KB of bytecode on the Unix port, in flash
on a board) and two GCM sessions do not fit the esp32 heap next to test_media's machines.
"""
# mptest-heap: 163840 (srtp + crypto + media .mpy bytecode sits in the heap; frozen on a board)

import boards
from host_tests.support import assert_no_alloc, skip
from rtc_micro import compat
from rtc_micro.codecs import copy_into, g711
from rtc_micro.media import RtpReceiver, RtpSender

_PROFILE = boards.load("esp32").derive(jitter_slots=8, nack_history=16, nack_slot_bytes=200)


class _Pipe:
    """Device -> SRTP -> wire -> SRTP -> listener, as the PeerConnection will chain them."""

    def __init__(self, srtp, profile_id):
        key = bytes(range(16))
        salt = bytes(range(100, 112 if profile_id == srtp.PROFILE_AEAD_AES_128_GCM else 114))
        self.tx = srtp.SrtpSession(profile_id, key, salt, _PROFILE)
        self.rx = srtp.SrtpSession(profile_id, key, salt, _PROFILE)
        self.s = RtpSender(_PROFILE, g711.PT_PCMU, 8000, ssrc=b"\x11\x22\x33\x44")
        self.r = RtpReceiver(_PROFILE, 8000, ssrc=b"\xaa\xbb\xcc\xdd", jitter=True)
        self.wire = bytearray(_PROFILE.rx_buffer)
        self.pcm = bytearray(320)
        for i in range(160):
            v = (i * 2731 % 16000) - 8000
            self.pcm[2 * i] = v & 255
            self.pcm[2 * i + 1] = (v >> 8) & 255
        self.play = bytearray(_PROFILE.jitter_slot_bytes)


def _one_frame(p, now):
    s = p.s
    off = s.reserve()
    g711.ulaw_encode(p.pcm, 0, 160, s.slab, off)  # straight into the NACK-history slot
    s.commit(160, 0, now)
    s.advance(160)
    n = s.poll_transmit()
    copy_into(p.wire, 0, s.out_data, 0, n)  # the slot stays plaintext for resends
    n = p.tx.protect_rtp(p.wire, n)
    n = p.rx.unprotect_rtp(p.wire, n)
    p.r.handle_packet(p.wire, n, now + 10)  # parse, statistics, jitter buffer
    return p.r.jitter.read(p.play, 0)


def _pipeline(profile_name):
    try:
        from rtc_micro import srtp
    except ImportError:
        skip("rtc_micro.srtp not in this tree")
    p = _Pipe(srtp, getattr(srtp, profile_name))
    for k in range(8):  # fill the jitter buffer to its depth
        _one_frame(p, 20 * k)
    if compat.MICROPYTHON:
        assert assert_no_alloc(_one_frame, p, 200) == 160
    else:
        assert _one_frame(p, 200) == 160
    assert p.rx.counters.bad_auth == 0 and p.r.received >= 9
    ref = bytearray(160)
    g711.ulaw_encode(p.pcm, 0, 160, ref, 0)
    assert bytes(p.play[0:160]) == bytes(ref)  # what was encoded came out of the buffer


def test_g711_srtp_gcm_pipeline_allocation_free():
    _pipeline("PROFILE_AEAD_AES_128_GCM")


def test_g711_srtp_cm_hmac_pipeline_allocation_free():
    _pipeline("PROFILE_AES128_CM_SHA1_80")
