"""RtpSender / RtpReceiver / JitterBuffer (rtc_micro/media.py) on a virtual clock."""

import gc

import boards
from host_tests.support import assert_no_alloc
from rtc_micro import events, rtcp, rtp
from rtc_micro.codecs import g711
from rtc_micro.media import (
    FRAME_LOST, NOT_READY, JitterBuffer, RtpReceiver, RtpSender, rtcp_interval_ms,
)

_PROFILE = boards.load("esp32").derive(nack_history=16, transmit_slots=8, jitter_slots=8)
_AUDIO = _PROFILE.derive(nack_slot_bytes=200)  # an audio-only sender needs small slots
_SSRC_A = b"\x11\x22\x33\x44"
_SSRC_B = b"\xaa\xbb\xcc\xdd"


def _drain(m, out):
    while True:
        n = m.poll_transmit()
        if not n:
            return out
        out.append(bytes(m.out_data[0:n]))


def _tone(k):
    pcm = bytearray(320)
    for i in range(160):
        v = ((k * 160 + i) * 2731 % 16000) - 8000
        pcm[2 * i] = v & 255
        pcm[2 * i + 1] = (v >> 8) & 255
    return pcm


def _send_frame(s, pcm, now):
    off = s.reserve()
    g711.ulaw_encode(pcm, 0, 160, s.slab, off)
    s.commit(160, 0, now)
    s.advance(160)


def test_sender_packets():
    s = RtpSender(_PROFILE, g711.PT_PCMU, 8000, ssrc=_SSRC_A)
    first = s.seq
    sent = []
    for k in range(20):
        _send_frame(s, _tone(k), 20 * k)
        _drain(s, sent)
    assert len(sent) == 20
    h = rtp.RtpHeader()
    ts0 = None
    for k in range(20):
        assert rtp.pull_header(sent[k], 0, len(sent[k]), h)
        assert h.pt == 0 and h.seq == (first + k) & 0xFFFF and h.ssrc() == 0x11223344
        assert h.payload_len == 160
        if ts0 is None:
            ts0 = h.timestamp()
        assert h.timestamp() == (ts0 + 160 * k) & 0xFFFFFFFF
    assert s.packets == 20 and s.octets == 3200


def test_nack_resends_from_history():
    s = RtpSender(_PROFILE, 0, 8000, ssrc=_SSRC_A)
    first = s.seq
    sent = []
    for k in range(20):
        _send_frame(s, _tone(k), 20 * k)
        _drain(s, sent)
    nack = bytearray(64)
    # Lost: first+10 (PID) and first+12 (BLP bit 1); first+2 is already out of the 16-slot history.
    n = rtcp.push_nack(nack, 0, _SSRC_B, 0, _SSRC_A, 0, (first + 10) & 0xFFFF, 0b10)
    n = rtcp.push_nack(nack, n, _SSRC_B, 0, _SSRC_A, 0, (first + 2) & 0xFFFF, 0)
    s.handle_packet(nack, n, 400)
    again = _drain(s, [])
    assert again == [sent[10], sent[12]]
    c = s.counters
    assert (c.nack_requests, c.nack_resent, c.nack_missed) == (3, 2, 1)
    # A NACK for another SSRC is ignored.
    n = rtcp.push_nack(nack, 0, _SSRC_B, 0, _SSRC_B, 0, (first + 10) & 0xFFFF, 0)
    s.handle_packet(nack, n, 400)
    assert s.poll_transmit() == 0 and s.counters.foreign_ssrc == 1


def test_nack_lookup_allocation_free():
    s = RtpSender(_PROFILE, 0, 8000, ssrc=_SSRC_A)
    for k in range(20):
        _send_frame(s, _tone(0), 20 * k)
        _drain(s, [])
    last = (s.seq - 1) & 0xFFFF
    assert assert_no_alloc(s.lookup, last) == last % 16
    assert assert_no_alloc(s.lookup, (last - 16) & 0xFFFF) == -1
    nack = bytearray(16)
    n = rtcp.push_nack(nack, 0, _SSRC_B, 0, _SSRC_A, 0, last, 0)
    assert_no_alloc(s.handle_packet, nack, n, 500)
    assert s.poll_transmit() == 172 and s.poll_transmit() == 172  # warm-up + locked run


def test_frame_into_slot_allocation_free():
    s = RtpSender(_PROFILE, 0, 8000, ssrc=_SSRC_A)
    pcm = _tone(3)
    assert_no_alloc(_send_frame, s, pcm, 0)
    assert s.poll_transmit() == 172 and s.poll_transmit() == 172


def test_keyframe_requests():
    s = RtpSender(_PROFILE, 96, 90000, ssrc=_SSRC_A)
    buf = bytearray(64)
    n = rtcp.push_pli(buf, 0, _SSRC_B, 0, _SSRC_A, 0)
    s.handle_packet(buf, n, 0)
    assert s.poll_event() == events.KEYFRAME_REQUEST and s.poll_event() == events.NONE
    n = rtcp.push_fir(buf, 0, _SSRC_B, 0, _SSRC_A, 0, 1)
    s.handle_packet(buf, n, 0)
    assert s.poll_event() == events.KEYFRAME_REQUEST
    n = rtcp.push_pli(buf, 0, _SSRC_B, 0, _SSRC_B, 0)  # someone else's stream
    s.handle_packet(buf, n, 0)
    assert s.poll_event() == events.NONE
    s.handle_packet(bytearray(b"\x80\xce\x00\x09"), 4, 0)  # truncated
    assert s.counters.malformed == 1


def test_rtcp_interval_bounds():
    for r in (0, 32768, 65535):
        t = rtcp_interval_ms(2, 1, True, 64000, 100, False, r)
        assert 2052 <= t <= 6157, t
        t = rtcp_interval_ms(2, 1, True, 64000, 100, True, r)
        assert 1026 <= t <= 3079, t
    # A large group on a thin session: the bandwidth term dominates the 5 s minimum.
    assert rtcp_interval_ms(200, 1, False, 64000, 100, False, 32768) > 20000


def _run_call(loss_every, frames, nack=False):
    """Sender A -> receiver B, 20 ms frames, 10 ms one-way delay; RTCP both ways."""
    s = RtpSender(_PROFILE, 0, 8000, ssrc=_SSRC_A)
    r = RtpReceiver(_PROFILE, 8000, ssrc=_SSRC_B, nack=nack)
    got = 0  # RTP_PACKET events
    back = []
    now = 0
    k = 0
    for step in range(frames):
        now = 20 * step
        _send_frame(s, _tone(step), now)
        s.handle_timeout(now)
        for p in _drain(s, []):
            k += 1
            if loss_every and k % loss_every == 0 and not rtp.is_rtcp(p, len(p)):
                continue
            r.handle_packet(bytearray(p), len(p), now + 10)
            while r.poll_event() == events.RTP_PACKET:
                got += 1
        r.handle_timeout(now + 10)
        for p in _drain(r, []):
            back.append(p)
            s.handle_packet(bytearray(p), len(p), now + 20)
    return s, r, got, back


def test_reports_and_rtt():
    s, r, got, back = _run_call(10, 600)  # 12 s, every 10th datagram lost
    assert r.has_source and bytes(r.remote_ssrc) == _SSRC_A
    assert len(back) >= 2  # RR + SDES at least twice in 12 s
    cur = rtcp.RtcpCursor()
    cur.reset(back[-1], 0, len(back[-1]))
    assert cur.next() == rtcp.RR and cur.count == 1
    assert cur.next() == rtcp.SDES
    assert 20 <= s.fraction_lost <= 32  # 10 % of 256
    assert 10 <= s.cumulative_lost <= 60
    assert 20 <= s.rtt_ms <= 21  # 10 ms each way, DLSR removed (DLSR rounds down to 1/65536 s)
    assert r.interarrival_jitter() == 0  # constant delay


def test_receiver_nack_gets_resent():
    s, r, got, back = _run_call(7, 60, nack=True)
    nacks = 0
    for p in back:
        cur = rtcp.RtcpCursor()
        cur.reset(p, 0, len(p))
        while True:
            pt = cur.next()
            if pt <= 0:
                break
            if pt == rtcp.RTPFB:
                nacks += 1
    assert nacks >= 7
    assert s.counters.nack_resent >= 7


def test_receiver_malformed_and_foreign():
    r = RtpReceiver(_PROFILE, 8000)
    r.handle_packet(bytearray(b"\x80\x00\x00"), 3, 0)
    assert r.counters.malformed == 1
    pkt = bytearray(20)
    rtp.push_header(pkt, 0, 0, 1, 0, 0x01020304)
    r.handle_packet(pkt, 20, 0)
    assert r.poll_event() == events.RTP_PACKET and r.ev_len == 8
    rtp.push_header(pkt, 0, 0, 2, 0, 0x05060708)
    r.handle_packet(pkt, 20, 0)
    assert r.poll_event() == events.NONE and r.counters.foreign_ssrc == 1


def test_jitter_buffer_order_loss_late():
    jb = JitterBuffer(_PROFILE, depth=3)
    out = bytearray(640)
    for seq in (65534, 0, 65535):  # reordered across the wrap
        jb.put(seq, bytes([seq & 255]) * 4, 0, 4)
    assert jb.read(out, 0) == 4 and out[0] == 254
    assert jb.read(out, 0) == 4 and out[0] == 255
    assert jb.read(out, 0) == 4 and out[0] == 0
    jb.put(2, b"\x02\x02", 0, 2)  # 1 is missing
    assert jb.read(out, 0) == FRAME_LOST
    assert jb.read(out, 0) == 2 and out[0] == 2
    jb.put(1, b"\x01", 0, 1)  # too late
    assert jb.counters.late == 1
    assert jb.read(out, 0) == NOT_READY  # empty: buffers again
    jb.put(3, b"x", 0, 1)
    jb.put(3, b"x", 0, 1)
    assert jb.counters.duplicates == 1
    jb.put(5, b"x", 0, 1)
    jb.put(4, b"x", 0, 1)
    assert jb.read(out, 0) == 1 and jb.next_seq == 4  # playout starts at the earliest, 3
    jb.put(200, b"z", 0, 1)  # far ahead while playing: skips forward, keeps a window
    assert jb.counters.overrun == 1 and jb.next_seq == 193 and jb.count == 1
    jb = JitterBuffer(_PROFILE, depth=2)
    jb.put(3, b"x", 0, 1)
    jb.put(100, b"y", 0, 1)  # far ahead while buffering: buffering restarts at 100
    assert jb.counters.overrun == 1 and jb.next_seq == 100 and jb.count == 1
    jb.put(101, b"y", 0, 1)
    assert jb.read(out, 0) == 1 and jb.next_seq == 101


def test_receiver_jitter_path_allocation_free():
    r = RtpReceiver(_PROFILE, 8000, jitter=True)
    pkt = bytearray(172)
    rtp.push_header(pkt, 0, 0, 10, 1000, 0xCAFEBABE)
    r.handle_packet(pkt, 172, 0)
    rtp.set_seq(pkt, 0, 11)
    assert_no_alloc(r.handle_packet, pkt, 172, 20)  # 11, then a duplicate of 11
    assert r.jitter.count == 2 and r.counters.duplicates == 1
    out = bytearray(640)
    r.jitter.put(12, pkt, 12, 160)
    r.jitter.put(13, pkt, 12, 160)
    assert assert_no_alloc(r.jitter.read, out, 0) == 160


def test_sender_report_contents_and_bye():
    s = RtpSender(_PROFILE, 0, 8000, ssrc=_SSRC_A, cname=b"dev")
    assert s.poll_timeout() is not None
    for k in range(50):
        _send_frame(s, _tone(k), 20 * k)
        _drain(s, [])
    at = s.poll_timeout()
    s.handle_timeout(at)
    sr = _drain(s, [])
    assert len(sr) == 1
    cur = rtcp.RtcpCursor()
    cur.reset(sr[0], 0, len(sr[0]))
    assert cur.next() == rtcp.SR and rtcp.u32(sr[0], 20) == 50 and rtcp.u32(sr[0], 24) == 8000
    secs = rtcp.u32(sr[0], 8)
    assert secs == at // 1000
    assert cur.next() == rtcp.SDES
    o = rtcp.sdes_cname(cur)
    assert bytes(sr[0][o:o + cur.item_len]) == b"dev"
    s.close(at + 1)
    last = _drain(s, [])[0]
    cur.reset(last, 0, len(last))
    assert cur.next() == rtcp.SR and cur.next() == rtcp.SDES and cur.next() == rtcp.BYE
    assert s.poll_timeout() is None


def test_sender_header_extensions():
    from rtc_micro.media import TransportSequence

    shared = TransportSequence()
    shared.seq = 65535
    s = RtpSender(_PROFILE, 111, 48000, ssrc=_SSRC_A, mid=b"0", mid_id=4, abs_send_time_id=3,
                  twcc_id=5, twcc=shared)
    assert s.header_len == 12 + 4 + 12 and s.max_payload == 1200 - 16 - 28
    h = rtp.RtpHeader()
    for k in range(2):
        s.send(b"\xf8\xff\xfe", 0, 3, 0, 65500 + k)  # an Opus packet; now = 65.5 s
        n = s.poll_transmit()
        pkt = bytes(s.out_data[0:n])
        assert rtp.pull_header(pkt, 0, n, h) and h.pt == 111 and h.ssrc() == 0x11223344
        assert pkt[h.payload_off:] == b"\xf8\xff\xfe"
        o = h.find_extension(4)
        assert pkt[o:o + h.elem_len] == b"0"
        o = h.find_extension(5)
        assert h.elem_len == 2 and (pkt[o] << 8 | pkt[o + 1]) == (65535 + k) & 0xFFFF
        o = h.find_extension(3)
        abs_time = (pkt[o] << 16) | (pkt[o + 1] << 8) | pkt[o + 2]
        assert abs_time == (1 << 18) + (500 + k) * 262144 // 1000  # 65.5 s modulo 64 s
    assert shared.seq == 1


def test_sr_carries_paired_receivers_block():
    r = RtpReceiver(_PROFILE, 8000, ssrc=_SSRC_A, send_reports=False)
    pkt = bytearray(20)
    for seq in (7, 9):  # 8 is lost
        rtp.push_header(pkt, 0, 0, seq, 160 * seq, 0xCAFEBABE)
        r.handle_packet(pkt, 20, 20 * seq)
    assert r.poll_timeout() is None
    s = RtpSender(_PROFILE, 0, 8000, ssrc=_SSRC_A, receiver=r)
    _send_frame(s, _tone(0), 0)
    _drain(s, [])
    s.handle_timeout(s.poll_timeout())
    sr = _drain(s, [])[0]
    cur = rtcp.RtcpCursor()
    cur.reset(sr, 0, len(sr))
    assert cur.next() == rtcp.SR and cur.count == 1
    o = rtcp.report_blocks_off(cur)
    assert rtcp.u32(sr, o) == 0xCAFEBABE and rtcp.rb_lost(sr, o) == 1
    assert sr[o + rtcp.RB_FRACTION] == 256 // 3 and rtcp.u32(sr, o + rtcp.RB_HIGHEST) == 9


class _ToneDevice:
    """A sender machine for the simulator: one 20 ms PCMU frame per timer tick."""

    def __init__(self, frames):
        self.s = RtpSender(_AUDIO, 0, 8000, ssrc=_SSRC_A)
        self.left = frames
        self.frame_at = 0
        self.pcm = _tone(1)
        self.out_data = None

    def handle_packet(self, buf, n, now):
        self.s.handle_packet(buf, n, now)

    def handle_timeout(self, now):
        if self.frame_at is not None and now - self.frame_at >= 0:
            _send_frame(self.s, self.pcm, now)
            self.left -= 1
            self.frame_at = now + 20 if self.left else None
        self.s.handle_timeout(now)

    def poll_transmit(self):
        n = self.s.poll_transmit()
        self.out_data = self.s.out_data
        return n

    def poll_timeout(self):
        t = self.s.poll_timeout()
        if self.frame_at is None:
            return t
        return self.frame_at if t is None or self.frame_at - t < 0 else t


class _Listener:
    """A receiver machine that plays out one frame every 20 ms from the jitter buffer."""

    def __init__(self, nack):
        self.r = RtpReceiver(_PROFILE, 8000, ssrc=_SSRC_B, jitter=True, jitter_depth=6, nack=nack)
        self.play_at = 0
        self.played = 0
        self.concealed = 0
        self.out = bytearray(_PROFILE.jitter_slot_bytes)
        self.out_data = None

    def handle_packet(self, buf, n, now):
        self.r.handle_packet(buf, n, now)

    def handle_timeout(self, now):
        if now - self.play_at >= 0:
            k = self.r.jitter.read(self.out, 0)
            if k > 0:
                self.played += 1
            elif k == FRAME_LOST:
                self.concealed += 1
            self.play_at = now + 20
        self.r.handle_timeout(now)

    def poll_transmit(self):
        n = self.r.poll_transmit()
        self.out_data = self.r.out_data
        return n

    def poll_timeout(self):
        t = self.r.poll_timeout()
        return self.play_at if t is None or self.play_at - t < 0 else t


def _call(seed, nack):
    from rtc_micro.drivers.sim import Network

    net = Network(seed=seed)
    dev = _ToneDevice(150)  # 3 s of audio
    lis = _Listener(nack)
    net.pair(dev, lis)
    net.impair(loss=8, reorder=5, delay_ms=15, jitter_ms=10)
    net.advance(3600)
    return dev, lis


def test_lossy_network_with_nack_and_jitter_buffer():
    dev, lis = _call(7, True)
    c = dev.s.counters
    assert c.nack_requests > 0 and c.nack_resent > 0 and c.nack_missed == 0
    assert lis.played + lis.concealed >= 145  # every frame period accounted for
    assert lis.r.jitter.counters.late <= 2  # a 120 ms buffer leaves time for a resend
    assert dev.s.rtt_ms == -1 or dev.s.rtt_ms >= 30  # 15 ms + 0-10 ms jitter each way
    concealed = lis.concealed
    dev = lis = None
    gc.collect()
    plain, plain_lis = _call(7, False)
    assert plain.s.counters.nack_requests == 0
    # 8 % loss: ~12 frames lost; NACK repairs most of them (seen: 3-5 left against 12-20).
    assert concealed <= 8 and 2 * concealed < plain_lis.concealed, (
        concealed, plain_lis.concealed)

