"""STUN codec (rtc_micro/stun.py) against the RFC 5769 test vectors, and hostile input."""

from host_tests.support import assert_no_alloc
from rtc_micro import compat, stun
from rtc_micro.crypto.hmac import HmacSha1

# RFC 5769 §2.1-2.3 (short-term password "VOkJxbRl1RmTxUk/WvJxBt").
SAMPLE_REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"
    "002400046e0001ff"
    "80290008932ff9b151263b36"
    "000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf"
)
SAMPLE_IPV4_RESPONSE = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96"
)
SAMPLE_IPV6_RESPONSE = bytes.fromhex(
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c"
)
PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"
TXID = bytes.fromhex("b7e7a701bc34d686fa87dfae")


def parsed(vector):
    buf = bytearray(vector)
    msg = stun.StunMessage()
    assert stun.pull_message(buf, len(buf), msg) == stun.OK
    return buf, msg


def test_rfc5769_sample_request_parses_and_verifies():
    buf, msg = parsed(SAMPLE_REQUEST)
    assert msg.msg_type == stun.BINDING_REQUEST and stun.message_class(msg.msg_type) == 0
    u = msg.username_off
    assert bytes(buf[u : u + msg.username_len]) == b"evtj:h6vY"
    p = msg.priority_off
    assert bytes(buf[p : p + 4]) == bytes.fromhex("6e0001ff")
    c = msg.controlled_off
    assert bytes(buf[c : c + 8]) == bytes.fromhex("932ff9b151263b36")
    assert msg.controlling_off == -1 and not msg.use_candidate and msg.unknown_count == 0
    assert stun.check_fingerprint(buf, msg)
    scratch = bytearray(20)
    assert stun.check_integrity(buf, msg, HmacSha1(PASSWORD), scratch)
    assert not stun.check_integrity(buf, msg, HmacSha1(b"VOkJxbRl1RmTxUk/WvJxBu"), scratch)
    assert bytes(buf) == SAMPLE_REQUEST  # the length field was restored


def test_rfc5769_responses_decode_and_verify():
    for vector, family, text in (
        (SAMPLE_IPV4_RESPONSE, stun.FAMILY_IPV4, "192.0.2.1"),
        (SAMPLE_IPV6_RESPONSE, stun.FAMILY_IPV6, "2001:db8:1234:5678:11:2233:4455:6677"),
    ):
        buf, msg = parsed(vector)
        assert stun.message_class(msg.msg_type) == 2
        assert stun.check_fingerprint(buf, msg)
        assert stun.check_integrity(buf, msg, HmacSha1(PASSWORD), bytearray(20))
        ip = bytearray(16)
        assert stun.pull_xor_address(buf, msg, ip) == 32853
        assert stun.ip_text(family, ip) == text


def build_response(family, host):
    """Rebuild an RFC 5769 response; SOFTWARE is padded with a space there (any value is legal)."""
    buf = bytearray(200)
    off = stun.push_header(buf, stun.BINDING_SUCCESS, TXID, 0)
    off = stun.push_attr(buf, off, stun.ATTR_SOFTWARE, b"test vector", 0, 11)
    buf[off - 1] = 0x20
    ip = bytearray(16)
    assert stun.ip_bytes(host, ip) == family
    off = stun.push_xor_address(buf, off, family, ip, 32853)
    off = stun.push_integrity(buf, off, HmacSha1(PASSWORD))
    off = stun.push_fingerprint(buf, off)
    return bytes(buf[0:off])


def test_rfc5769_responses_are_generated_byte_exact():
    assert build_response(stun.FAMILY_IPV4, "192.0.2.1") == SAMPLE_IPV4_RESPONSE
    ipv6 = "2001:db8:1234:5678:11:2233:4455:6677"
    assert build_response(stun.FAMILY_IPV6, ipv6) == SAMPLE_IPV6_RESPONSE


def test_rfc5769_request_is_generated_byte_exact():
    buf = bytearray(200)
    off = stun.push_header(buf, stun.BINDING_REQUEST, TXID, 0)
    off = stun.push_attr(buf, off, stun.ATTR_SOFTWARE, b"STUN test client", 0, 16)
    off = stun.push_attr(buf, off, stun.ATTR_PRIORITY, bytes.fromhex("6e0001ff"), 0, 4)
    tie = bytes.fromhex("932ff9b151263b36")
    off = stun.push_attr(buf, off, stun.ATTR_ICE_CONTROLLED, tie, 0, 8)
    off = stun.push_attr(buf, off, stun.ATTR_USERNAME, b"evtj:h6vY", 0, 9)
    buf[off - 3 : off] = b"   "
    off = stun.push_integrity(buf, off, HmacSha1(PASSWORD))
    off = stun.push_fingerprint(buf, off)
    assert bytes(buf[0:off]) == SAMPLE_REQUEST


def crc_twins():
    """Both CRC twins on MicroPython; the viper one does not run on CPython."""
    return (stun._crc_viper, stun._crc_pure) if compat.MICROPYTHON else (stun._crc_pure,)


def test_crc_twins_agree():
    buf = bytearray(SAMPLE_REQUEST)
    fp = len(buf) - 8
    for crc in crc_twins():
        assert crc(buf, fp, fp + 4, 0) == 1
        buf[fp + 7] ^= 1
        assert crc(buf, fp, fp + 4, 0) == 0
        assert crc(buf, fp, fp + 4, 1) == 1
        assert bytes(buf) == SAMPLE_REQUEST
    state = 7
    for n in (0, 1, 3, 64, 200):
        data = bytearray(n + 8)
        for i in range(n):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            data[i] = (state >> 16) & 0xFF
        written = []
        for crc in crc_twins():
            crc(data, n, n, 1)
            written.append(bytes(data[n : n + 4]))
        assert written.count(written[0]) == len(written)


def test_crc_check_value():
    data = bytearray(b"123456789\x00\x00\x00\x00")
    for crc in crc_twins():
        crc(data, 9, 9, 1)
        want = bytes.fromhex("98a06c68")  # check value 0xcbf43926 XOR 0x5354554e
        assert bytes(data[9:13]) == want


def test_ip_bytes_forms():
    out = bytearray(16)
    assert stun.ip_bytes("10.1.2.3", out) == stun.FAMILY_IPV4
    assert bytes(out[0:4]) == b"\n\x01\x02\x03"
    assert stun.ip_bytes("::1", out) == stun.FAMILY_IPV6 and bytes(out) == bytes(15) + b"\x01"
    assert stun.ip_bytes("fe80::1:2%eth0", out) == stun.FAMILY_IPV6
    assert bytes(out) == b"\xfe\x80" + bytes(10) + b"\x00\x01\x00\x02"
    assert stun.ip_bytes(b"\x7f\x00\x00\x01", out) == stun.FAMILY_IPV4
    for bad in ("1.2.3", "1.2.3.256", "a.b.c.d", "1::2::3", "12345::", "1:2:3:4:5:6:7", b"\x01"):
        assert stun.ip_bytes(bad, out) == 0


def test_error_code_and_unknown_attributes_round_trip():
    buf = bytearray(SAMPLE_REQUEST)
    buf[48] = 0x00  # the ICE-CONTROLLED type 0x8029 becomes 0x0029: unknown, required
    _b, msg = parsed(buf)
    assert msg.unknown_count == 1 and bytes(msg.unknown[0:2]) == b"\x00\x29"
    out = bytearray(200)
    off = stun.push_header(out, stun.BINDING_ERROR, buf, 8)
    off = stun.push_error_code(out, off, 420, b"Unknown Attribute")
    off = stun.push_unknown_attributes(out, off, msg)
    off = stun.push_fingerprint(out, off)
    got = stun.StunMessage()
    assert stun.pull_message(out, off, got) == stun.OK
    assert got.msg_type == stun.BINDING_ERROR and got.error_code == 420
    assert stun.check_fingerprint(out, got)
    assert bytes(out[8:20]) == TXID


def test_hostile_messages_are_malformed_not_raised():
    msg = stun.StunMessage()
    good = bytearray(SAMPLE_REQUEST)
    cases = [
        bytearray(0),
        good[0:19],  # truncated header
        good[0:60],  # truncated body
        good + b"\x00\x00\x00\x00",  # datagram longer than the length field
    ]
    wrong_len = bytearray(good)
    wrong_len[3] = 0x59  # not a multiple of 4
    cases.append(wrong_len)
    overrun = bytearray(good)
    overrun[23] = 0xF0  # SOFTWARE claims 240 bytes
    cases.append(overrun)
    bad_cookie = bytearray(good)
    bad_cookie[5] = 0x13
    cases.append(bad_cookie)
    not_stun = bytearray(good)
    not_stun[0] = 0x80
    cases.append(not_stun)
    bad_mi_len = bytearray(good)
    bad_mi_len[79] = 0x10
    cases.append(bad_mi_len)
    after_fp = bytearray(good) + b"\x00\x25\x00\x00"
    after_fp[3] += 4
    cases.append(after_fp)
    for case in cases:
        assert stun.pull_message(case, len(case), msg) == stun.MALFORMED, bytes(case)


def test_fuzzed_messages_never_raise():
    msg = stun.StunMessage()
    hmac = HmacSha1(PASSWORD)
    scratch = bytearray(20)
    state = 12345
    base = bytearray(SAMPLE_REQUEST)
    ok = 0
    for _round in range(300):
        buf = bytearray(base)
        for _flip in range(1 + _round % 4):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            i = state % len(buf)
            buf[i] ^= 1 << (state >> 16) % 8
        n = len(buf) - (_round % 7 if _round % 5 == 0 else 0)
        if stun.pull_message(buf, n, msg) == stun.OK:
            ok += 1
            stun.check_fingerprint(buf, msg)
            stun.check_integrity(buf, msg, hmac, scratch)
    for _round in range(200):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        n = 20 + state % 60
        buf = bytearray(n)
        for i in range(n):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            buf[i] = state >> 16 & 0xFF
        buf[0] &= 3
        buf[4:8] = b"\x21\x12\xa4\x42"
        buf[2] = 0
        buf[3] = (n - 20) & 0xFC
        stun.pull_message(buf, n, msg)
    assert 0 < ok < 300  # some flips land in values, some in lengths


def test_parse_and_fingerprint_are_allocation_free():
    buf = bytearray(SAMPLE_REQUEST)
    msg = stun.StunMessage()

    def parse_and_check(buf, n, msg):
        return stun.pull_message(buf, n, msg) == stun.OK and stun.check_fingerprint(buf, msg)

    assert assert_no_alloc(parse_and_check, buf, len(buf), msg)
