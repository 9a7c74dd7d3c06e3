"""RTCP packets and compound walking (rtc_micro/rtcp.py)."""

from host_tests.support import assert_no_alloc
from rtc_micro import rtcp

_SSRC = bytes.fromhex("11223344")
_MEDIA = bytes.fromhex("cafebabe")


def _compound_sr_sdes():
    buf = bytearray(200)
    ntp = bytes.fromhex("e8a1b2c3 80000000".replace(" ", ""))
    ts = bytes.fromhex("deadbeef")
    o = rtcp.push_sr(buf, 0, _SSRC, 0, ntp, 0, ts, 0, 1000, 160000, 1)
    o = rtcp.push_report_block(buf, o, _MEDIA, 0, 25, -3, 1, 0x1234, 80, ntp, 2, 1, 0x8000)
    o = rtcp.push_sdes_cname(buf, o, _SSRC, 0, b"rtc_micro-1")
    return buf, o


def test_sr_with_block_and_sdes():
    buf, n = _compound_sr_sdes()
    assert n == 28 + 24 + 24
    cur = rtcp.RtcpCursor()
    cur.reset(buf, 0, n)
    assert cur.next() == rtcp.SR and cur.count == 1 and cur.length == 52
    assert rtcp.u32(buf, cur.ssrc_off) == 0x11223344
    assert rtcp.u32(buf, cur.off + 8) == 0xE8A1B2C3 and rtcp.u32(buf, cur.off + 16) == 0xDEADBEEF
    assert rtcp.u32(buf, cur.off + 20) == 1000 and rtcp.u32(buf, cur.off + 24) == 160000
    assert rtcp.report_blocks_valid(cur)
    rb = rtcp.report_blocks_off(cur)
    assert rtcp.u32(buf, rb) == 0xCAFEBABE and buf[rb + rtcp.RB_FRACTION] == 25
    assert rtcp.rb_lost(buf, rb) == -3 and rtcp.u32(buf, rb + rtcp.RB_HIGHEST) == 0x11234
    assert rtcp.rb_jitter(buf, rb) == 80
    assert rtcp.u32(buf, rb + rtcp.RB_LSR) == 0xB2C38000  # middle 32 bits of the NTP time
    assert rtcp.rb_dlsr_ms(buf, rb) == 1500  # 1.5 s
    assert cur.next() == rtcp.SDES
    o = rtcp.sdes_cname(cur)
    assert bytes(buf[o:o + cur.item_len]) == b"rtc_micro-1"
    assert cur.next() == 0


def test_rr_bye_and_feedback():
    buf = bytearray(200)
    o = rtcp.push_rr(buf, 0, _SSRC, 0, 0)
    o = rtcp.push_nack(buf, o, _SSRC, 0, _MEDIA, 0, 500, 0x8001)
    o = rtcp.push_pli(buf, o, _SSRC, 0, _MEDIA, 0)
    o = rtcp.push_fir(buf, o, _SSRC, 0, _MEDIA, 0, 9)
    o = rtcp.push_bye(buf, o, _SSRC, 0)
    cur = rtcp.RtcpCursor()
    cur.reset(buf, 0, o)
    assert cur.next() == rtcp.RR and cur.count == 0 and cur.length == 8
    assert cur.next() == rtcp.RTPFB and cur.count == rtcp.FMT_NACK
    assert rtcp.nack_items(cur) == 1 and rtcp.u16(buf, cur.off + 12) == 500
    assert rtcp.u16(buf, cur.off + 14) == 0x8001
    assert rtcp.u32(buf, rtcp.media_ssrc_off(cur)) == 0xCAFEBABE
    assert cur.next() == rtcp.PSFB and cur.count == rtcp.FMT_PLI and cur.length == 12
    assert cur.next() == rtcp.PSFB and cur.count == rtcp.FMT_FIR and rtcp.fir_items(cur) == 1
    assert rtcp.u32(buf, cur.off + 12) == 0xCAFEBABE and buf[cur.off + 16] == 9
    assert cur.next() == rtcp.BYE and cur.count == 1
    assert cur.next() == 0


def test_remb():
    # AFB, sender 1, media 0, "REMB", 1 SSRC, exp 3, mantissa 0x1F400 (128000): 1.024 Mbit/s.
    pkt = bytes.fromhex("8fce0005 00000001 00000000 52454d42 010df400 cafebabe".replace(" ", ""))
    cur = rtcp.RtcpCursor()
    cur.reset(pkt, 0, len(pkt))
    assert cur.next() == rtcp.PSFB and cur.count == rtcp.FMT_AFB
    assert rtcp.remb_bitrate(cur) == 128000 * 8
    pkt2 = bytearray(pkt)
    pkt2[12] = 0x41  # not "REMB"
    cur.reset(pkt2, 0, len(pkt2))
    cur.next()
    assert rtcp.remb_bitrate(cur) == -1


_TWCC = bytes.fromhex(
    "8fcd0007 00000001 cafebabe"  # RTPFB FMT 15
    "0064 0005 000001 02"  # base 100, count 5, reference time 1 (64 ms), feedback count 2
    "2003 e000"  # run of 3 "small delta"; 2-bit vector: large delta, not received
    "04 08 00 ff38"  # deltas: 1 ms, 2 ms, 0, -50 ms
    "000000".replace(" ", "")
)


def test_twcc():
    cur = rtcp.RtcpCursor()
    cur.reset(_TWCC, 0, len(_TWCC))
    assert cur.next() == rtcp.RTPFB and cur.count == rtcp.FMT_TWCC
    r = rtcp.TwccReader()
    assert r.start(cur)
    assert (r.base_seq, r.count, r.ref_time_ms, r.fb_count) == (100, 5, 64, 2)
    got = []
    while r.next():
        got.append((r.seq, r.received, r.delta_us))
    assert got == [(100, 1, 1000), (101, 1, 2000), (102, 1, 0), (103, 1, -50000), (104, 0, 0)]


def test_malformed_compound():
    buf, n = _compound_sr_sdes()
    cur = rtcp.RtcpCursor()
    cur.reset(buf, 0, n - 4)  # SDES cut short
    assert cur.next() == rtcp.SR
    assert cur.next() == -1 and cur.next() == 0
    bad = bytearray(buf[0:n])
    bad[0] = 0x41  # version 1
    cur.reset(bad, 0, n)
    assert cur.next() == -1
    bad = bytearray(buf[0:n])
    bad[0] |= 0x1F  # RC 31: blocks beyond the packet
    cur.reset(bad, 0, n)
    assert cur.next() == rtcp.SR and not rtcp.report_blocks_valid(cur)


def _walk(cur, buf, n):
    cur.reset(buf, 0, n)
    total = 0
    while True:
        pt = cur.next()
        if pt <= 0:
            return total
        total += pt


def test_walk_allocation_free():
    buf, n = _compound_sr_sdes()
    cur = rtcp.RtcpCursor()
    assert assert_no_alloc(_walk, cur, buf, n) == rtcp.SR + rtcp.SDES


def test_twcc_truncated_and_run_of_losses():
    # Base 7, 3 packets in a run of "not received", no deltas; then a cut-off copy.
    pkt = bytes.fromhex(
        "8fcd0005 00000001 cafebabe 0007 0003 000000 00 0003 0000".replace(" ", ""))
    cur = rtcp.RtcpCursor()
    cur.reset(pkt, 0, len(pkt))
    assert cur.next() == rtcp.RTPFB
    r = rtcp.TwccReader()
    assert r.start(cur)
    got = []
    while r.next():
        got.append((r.seq, r.received))
    assert got == [(7, 0), (8, 0), (9, 0)]
    short = bytearray(pkt[0:20])
    short[3] = 3
    cur.reset(short, 0, 16)
    assert cur.next() == rtcp.RTPFB and not r.start(cur)
