"""G.711 µ-law / A-law (rtc_micro/codecs/g711.py) against tables computed from ITU-T G.711."""

from host_tests.support import assert_no_alloc, skip
from rtc_micro import compat, rtp
from rtc_micro.codecs import copy_into, g711


def _ref_ulaw(code):
    # G.711 Table 2a: sign, 3-bit segment, 4-bit step, all bits inverted; bias 132 (0x84).
    c = 255 - code
    seg = (c >> 4) & 7
    v = ((2 * (c & 15) + 33) << (seg + 2)) - 132
    return -v if c & 128 else v


def _ref_alaw(code):
    # G.711 Table 1a: even bits inverted; segment 0 is linear, the others double each time.
    a = code ^ 0x55
    seg = (a >> 4) & 7
    step = a & 15
    v = (2 * step + 1) << 3 if seg == 0 else (2 * step + 33) << (seg + 2)
    return v if a & 128 else -v


def _s16(lo, hi):
    v = lo | (hi << 8)
    return v - 65536 if v >= 32768 else v


def _pcm(samples):
    b = bytearray(2 * len(samples))
    for i in range(len(samples)):
        v = samples[i] & 0xFFFF
        b[2 * i] = v & 255
        b[2 * i + 1] = v >> 8
    return b


def _all_codes():
    return bytearray(range(256))


def test_decode_all_codes_match_reference():
    for dec, ref in ((g711.ulaw_decode, _ref_ulaw), (g711.alaw_decode, _ref_alaw)):
        out = bytearray(512)
        dec(_all_codes(), 0, 256, out, 0)
        for c in range(256):
            assert _s16(out[2 * c], out[2 * c + 1]) == ref(c), (dec, c)


def test_roundtrip_all_codes():
    for enc, dec in ((g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)):
        pcm = bytearray(512)
        dec(_all_codes(), 0, 256, pcm, 0)
        codes = bytearray(256)
        enc(pcm, 0, 256, codes, 0)
        for c in range(256):
            # µ-law has two zeros (0x7F = -0, 0xFF = +0); both encode back to 0xFF.
            want = 0xFF if (enc is g711.ulaw_encode and c == 0x7F) else c
            assert codes[c] == want, (enc, c, codes[c])


def _nearest_check(enc, ref):
    # Every code's decoded value is the reconstruction of an interval; encoding any sample must
    # land on a code whose value is at most one step away (the step of that segment).
    samples = []
    for v in range(-32768, 32768, 97):
        samples.append(v)
    samples += [-32768, -1, 0, 1, 32767]
    pcm = _pcm(samples)
    out = bytearray(len(samples))
    enc(pcm, 0, len(samples), out, 0)
    for i in range(len(samples)):
        s = samples[i]
        if s > 32124 or s < -32124:
            continue  # clipped
        got = ref(out[i])
        assert abs(got - s) <= 1024, (s, got)
        assert (got >= 0) == (s >= 0) or abs(got) <= 8, (s, got)


def test_encode_is_nearest_quantizer():
    _nearest_check(g711.ulaw_encode, _ref_ulaw)
    _nearest_check(g711.alaw_encode, _ref_alaw)


def test_viper_and_pure_twins_agree():
    if not compat.MICROPYTHON:
        skip("twins differ only on MicroPython")
    samples = []
    x = 12345
    for _ in range(400):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        samples.append((x >> 8) & 0xFFFF)
    samples += [0, 1, 0xFFFF, 0x8000, 0x7FFF]
    pcm = _pcm(samples)
    n = len(samples)
    for v, p in ((g711._ulaw_encode_viper, g711._ulaw_encode_pure),
                 (g711._alaw_encode_viper, g711._alaw_encode_pure)):
        a = bytearray(n + 3)
        b = bytearray(n + 3)
        v(pcm, 0, n, a, 3)
        p(pcm, 0, n, b, 3)
        assert a == b
    a = bytearray(600)
    b = bytearray(600)
    g711._decode_viper(_all_codes(), 0, 256, a, 4, g711._ULAW_TABLE)
    g711._decode_pure(_all_codes(), 0, 256, b, 4, g711._ULAW_TABLE)
    assert a == b


def test_against_audioop_when_present():
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop  # CPython < 3.13 only
    except ImportError:
        skip("audioop absent (MicroPython, or CPython >= 3.13)")
    pcm = _pcm(list(range(-32768, 32768, 7)))
    n = len(pcm) // 2
    out = bytearray(n)
    g711.ulaw_encode(pcm, 0, n, out, 0)
    assert bytes(out) == audioop.lin2ulaw(bytes(pcm), 2)
    g711.alaw_encode(pcm, 0, n, out, 0)
    assert bytes(out) == audioop.lin2alaw(bytes(pcm), 2)
    back = bytearray(512)
    g711.ulaw_decode(_all_codes(), 0, 256, back, 0)
    assert bytes(back) == audioop.ulaw2lin(bytes(_all_codes()), 2)
    g711.alaw_decode(_all_codes(), 0, 256, back, 0)
    assert bytes(back) == audioop.alaw2lin(bytes(_all_codes()), 2)


def _packetize_20ms(pcm, slot, seq, ts_step):
    # Header template already in the slot: bump seq and timestamp, encode straight after it.
    rtp.set_seq(slot, 0, seq)
    rtp.ts_add_into(slot, 4, ts_step)
    g711.ulaw_encode(pcm, 0, 160, slot, rtp.HEADER_SIZE)
    return rtp.HEADER_SIZE + 160


def test_packetize_20ms_frame_allocation_free():
    pcm = _pcm([(i * 377) % 20000 - 10000 for i in range(160)])
    slot = bytearray(200)
    rtp.push_header(slot, 0, g711.PT_PCMU, 0, 0xFFFFFF00, 0xDEADBEEF)
    n = assert_no_alloc(_packetize_20ms, pcm, slot, 7, 160)
    assert n == 172
    h = rtp.RtpHeader()
    assert rtp.pull_header(slot, 0, n, h) and h.seq == 7 and h.timestamp() == 0x40
    back = bytearray(320)
    g711.ulaw_decode(slot, 12, 160, back, 0)
    assert abs(_s16(back[20], back[21]) - _s16(pcm[20], pcm[21])) < 600


def test_copy_into_overlap():
    b = bytearray(b"abcdefgh")
    copy_into(b, 2, b, 0, 5)
    assert bytes(b) == b"ababcdeh"
    copy_into(b, 0, b, 3, 4)
    assert bytes(b) == b"bcdecdeh"
    out = bytearray(4)
    if compat.MICROPYTHON:
        assert_no_alloc(copy_into, out, 1, b, 0, 3)
    else:
        copy_into(out, 1, b, 0, 3)
    assert bytes(out) == b"\x00bcd"
