"""RTP header codec, RFC 8285 extensions, serial arithmetic and demux (rtc_micro/rtp.py)."""

from host_tests.support import assert_no_alloc
from rtc_micro import rtp
from rtc_micro.errors import ConfigError

# V=2, X=1, CC=1, M=1, PT=111, seq=0xABCD, ts=0xDEADBEEF, SSRC=0xCAFEBABE, CSRC=0x01020304,
# one-byte extensions: id 1 (1 byte 0x42), id 3 (3 bytes 0x010203), then padding to 32 bits,
# payload 4 bytes, 3 bytes of RTP padding (P=1: 0xb1 = V2, P, X, CC=1).
_PKT = bytes.fromhex(
    "b1ef abcd deadbeef cafebabe 01020304"
    "bede 0002 10 42 32 010203 0000"
    "f00dface"
    "000003".replace(" ", "")
)


def test_parse_full_header():
    buf = bytearray(_PKT)
    h = rtp.RtpHeader()
    assert rtp.pull_header(buf, 0, len(buf), h)
    assert (h.cc, h.marker, h.pt, h.seq) == (1, 1, 111, 0xABCD)
    assert h.timestamp() == 0xDEADBEEF and h.ssrc() == 0xCAFEBABE
    assert (h.ts_hi, h.ts_lo, h.ssrc_hi, h.ssrc_lo) == (0xDEAD, 0xBEEF, 0xCAFE, 0xBABE)
    assert h.ext_profile == rtp.ONE_BYTE_PROFILE and h.ext_len == 8
    assert h.payload_off == 28 and h.payload_len == 4 and h.pad_len == 3
    assert bytes(buf[h.payload_off:h.payload_off + h.payload_len]) == bytes.fromhex("f00dface")
    o = h.find_extension(3)
    assert o == 23 and h.elem_len == 3 and bytes(buf[o:o + 3]) == b"\x01\x02\x03"
    o = h.find_extension(1)
    assert o == 21 and h.elem_len == 1 and buf[o] == 0x42
    assert h.find_extension(2) == -1


def test_parse_at_offset_and_malformed():
    h = rtp.RtpHeader()
    buf = bytearray(b"\xff" * 5 + _PKT)
    assert rtp.pull_header(buf, 5, len(_PKT), h) and h.payload_off == 33
    assert not rtp.pull_header(bytearray(11), 0, 11, h)  # short
    bad = bytearray(_PKT)
    bad[0] = 0x41  # version 1
    assert not rtp.pull_header(bad, 0, len(bad), h)
    bad = bytearray(_PKT)
    bad[0] = 0x8F  # 15 CSRCs do not fit
    assert not rtp.pull_header(bad, 0, len(bad), h)
    bad = bytearray(_PKT)
    bad[19] = 0x40  # extension length beyond the packet
    assert not rtp.pull_header(bad, 0, len(bad), h)
    bad = bytearray(_PKT)
    bad[0] |= 0x20
    bad[-1] = 200  # padding larger than the packet
    assert not rtp.pull_header(bad, 0, len(bad), h)
    bad[-1] = 0  # zero padding count
    assert not rtp.pull_header(bad, 0, len(bad), h)


def test_build_roundtrip_one_and_two_byte():
    for two in (False, True):
        buf = bytearray(64)
        n = rtp.push_header(buf, 0, 96, 65535, 0xFFFFFFF0, 0x12345678, 1, (7, 0xFFFFFFFF))
        assert n == 20
        e = rtp.begin_extensions(buf, 0, n, two)
        src = bytes(range(1, 21))
        e = rtp.push_extension(buf, e, 5, src, 0, 3, two)
        e = rtp.push_extension(buf, e, 14, src, 3, 16 if not two else 17, two)
        e = rtp.end_extensions(buf, n, e)
        buf[e:e + 3] = b"abc"
        end = rtp.push_padding(buf, 0, e + 3, 5)
        h = rtp.RtpHeader()
        assert rtp.pull_header(buf, 0, end, h)
        assert h.extension and h.padding and h.marker and h.pt == 96 and h.seq == 65535
        assert h.timestamp() == 0xFFFFFFF0 and h.ssrc() == 0x12345678 and h.cc == 2
        assert bytes(buf[h.payload_off:h.payload_off + h.payload_len]) == b"abc"
        o = h.find_extension(5)
        assert h.elem_len == 3 and bytes(buf[o:o + 3]) == src[0:3]
        o = h.find_extension(14)
        ln = 17 if two else 16
        assert h.elem_len == ln and bytes(buf[o:o + ln]) == src[3:3 + ln]
        assert (h.ext_profile == rtp.ONE_BYTE_PROFILE) != two


def test_extension_limits():
    buf = bytearray(32)
    e = rtp.begin_extensions(buf, 0, 12)
    for bad in ((15, 1), (0, 1), (1, 17), (1, 0)):
        try:
            rtp.push_extension(buf, e, bad[0], buf, 0, bad[1])
        except ConfigError:
            pass
        else:
            raise AssertionError("accepted %r" % (bad,))


def test_seq_and_ts_arithmetic():
    assert rtp.seq_diff(2, 65534) == 4 and rtp.seq_diff(65534, 2) == -4
    assert rtp.seq_diff(100, 100) == 0 and rtp.seq_add(65535, 2) == 1
    assert rtp.ts_diff(5, 0xFFFFFFFB) == 10 and rtp.ts_diff(0xFFFFFFFB, 5) == -10
    a = bytearray(b"\xff\xff\xff\xfb")
    b = bytearray(b"\x00\x00\x00\x05")
    assert rtp.ts_diff_at(b, 0, a, 0) == 10 and rtp.ts_diff_at(a, 0, b, 0) == -10
    far = bytearray(b"\x7f\x00\x00\x00")
    assert rtp.ts_diff_at(far, 0, b, 0) == 0x20000000  # saturated
    assert rtp.ts_diff_at(b, 0, far, 0) == -0x20000000
    rtp.ts_add_into(a, 0, 960)
    assert bytes(a) == (955).to_bytes(4, "big")
    rtp.ts_add_into(a, 0, -960)
    assert bytes(a) == b"\xff\xff\xff\xfb"
    assert rtp.same4(a, 0, b"\x00\xff\xff\xff\xfb", 1) and not rtp.same4(a, 0, b, 0)


def test_demux():
    rtcp_rr = bytes.fromhex("80c9000100000001")
    assert rtp.is_rtp_or_rtcp(rtcp_rr, 8) and rtp.is_rtcp(rtcp_rr, 8)
    assert rtp.is_rtp_or_rtcp(_PKT, len(_PKT)) and not rtp.is_rtcp(_PKT, len(_PKT))
    assert not rtp.is_rtp_or_rtcp(b"\x16\xfe\xfd", 3)  # DTLS
    assert not rtp.is_rtp_or_rtcp(b"\x00\x01", 2)  # STUN
    assert not rtp.is_rtp_or_rtcp(b"", 0)


def _parse_and_read(buf, n, h):
    rtp.pull_header(buf, 0, n, h)
    return h.find_extension(3) + h.seq + h.payload_len


def test_parse_allocation_free():
    buf = bytearray(_PKT)
    h = rtp.RtpHeader()
    assert assert_no_alloc(_parse_and_read, buf, len(buf), h) == 23 + 0xABCD + 4
    a = bytearray(b"\xff\xff\xff\xfb")
    assert_no_alloc(rtp.ts_add_into, a, 0, 160)  # runs twice (warm-up, then locked)
    assert assert_no_alloc(rtp.ts_diff_at, a, 0, bytearray(4), 0) == 315
