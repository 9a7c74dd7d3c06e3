"""G.711 µ-law (PCMU) and A-law (PCMA) per ITU-T G.711, into caller buffers.

PCM is 16-bit signed little-endian. Encoding follows the reference segment search of G.711
(µ-law on the 14-bit magnitude with bias 33, A-law on 13 bits); decoding uses a 256-entry table
built once at import. Each loop has a `@viper` body and a pure twin (RTP payload types 0 and 8,
8 kHz clock: RFC 3551 §4.5.14).
"""

import micropython

from rtc_micro.compat import const, fast, ptr8  # noqa: F401  (viper annotation names)

PT_PCMU = const(0)
PT_PCMA = const(8)
CLOCK_RATE = const(8000)

_ULAW_BIAS = const(0x21)  # on the 14-bit magnitude
_ULAW_CLIP = const(8159)


def _ulaw_to_linear(code):
    """One µ-law code to a 16-bit sample (G.711 Table 2a)."""
    c = ~code & 0xFF
    t = (((c & 0x0F) << 3) + 0x84) << ((c & 0x70) >> 4)
    return (0x84 - t) if c & 0x80 else (t - 0x84)


def _alaw_to_linear(code):
    """One A-law code to a 16-bit sample (G.711 Table 1a; even bits inverted)."""
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def _table(fn):
    t = bytearray(512)
    for code in range(256):
        v = fn(code) & 0xFFFF
        t[2 * code] = v & 255
        t[2 * code + 1] = v >> 8
    return t


_ULAW_TABLE = _table(_ulaw_to_linear)
_ALAW_TABLE = _table(_alaw_to_linear)


@micropython.viper
def _ulaw_encode_viper(pcm: ptr8, pcm_off: int, n: int, out: ptr8, out_off: int):
    for i in range(n):
        s = pcm[pcm_off + 2 * i] | (pcm[pcm_off + 2 * i + 1] << 8)
        mask = 0xFF
        if s & 0x8000:
            m = (0x10000 - s + 3) >> 2  # magnitude of floor(s / 4)
            mask = 0x7F
        else:
            m = s >> 2
        if m > _ULAW_CLIP:
            m = _ULAW_CLIP
        m += _ULAW_BIAS
        seg = 0
        while seg < 8 and m >= (0x40 << seg):
            seg += 1
        if seg >= 8:  # the clipped maximum: last step of the last segment
            out[out_off + i] = 0x7F ^ mask
        else:
            out[out_off + i] = ((seg << 4) | ((m >> (seg + 1)) & 0x0F)) ^ mask


def _ulaw_encode_pure(pcm, pcm_off, n, out, out_off):
    for i in range(n):
        s = pcm[pcm_off + 2 * i] | (pcm[pcm_off + 2 * i + 1] << 8)
        mask = 0xFF
        if s & 0x8000:
            m = (0x10000 - s + 3) >> 2
            mask = 0x7F
        else:
            m = s >> 2
        if m > _ULAW_CLIP:
            m = _ULAW_CLIP
        m += _ULAW_BIAS
        seg = 0
        while seg < 8 and m >= (0x40 << seg):
            seg += 1
        if seg >= 8:  # the clipped maximum: last step of the last segment
            out[out_off + i] = 0x7F ^ mask
        else:
            out[out_off + i] = ((seg << 4) | ((m >> (seg + 1)) & 0x0F)) ^ mask


@micropython.viper
def _alaw_encode_viper(pcm: ptr8, pcm_off: int, n: int, out: ptr8, out_off: int):
    for i in range(n):
        s = pcm[pcm_off + 2 * i] | (pcm[pcm_off + 2 * i + 1] << 8)
        mask = 0xD5
        if s & 0x8000:
            m = (0x10000 - s - 1) >> 3  # -floor(s / 8) - 1
            mask = 0x55
        else:
            m = s >> 3
        seg = 0
        while seg < 8 and m >= (0x20 << seg):
            seg += 1
        if seg >= 8:
            out[out_off + i] = 0x7F ^ mask
        elif seg < 2:
            out[out_off + i] = ((seg << 4) | ((m >> 1) & 0x0F)) ^ mask
        else:
            out[out_off + i] = ((seg << 4) | ((m >> seg) & 0x0F)) ^ mask


def _alaw_encode_pure(pcm, pcm_off, n, out, out_off):
    for i in range(n):
        s = pcm[pcm_off + 2 * i] | (pcm[pcm_off + 2 * i + 1] << 8)
        mask = 0xD5
        if s & 0x8000:
            m = (0x10000 - s - 1) >> 3
            mask = 0x55
        else:
            m = s >> 3
        seg = 0
        while seg < 8 and m >= (0x20 << seg):
            seg += 1
        if seg >= 8:
            out[out_off + i] = 0x7F ^ mask
        elif seg < 2:
            out[out_off + i] = ((seg << 4) | ((m >> 1) & 0x0F)) ^ mask
        else:
            out[out_off + i] = ((seg << 4) | ((m >> seg) & 0x0F)) ^ mask


@micropython.viper
def _decode_viper(src: ptr8, src_off: int, n: int, pcm: ptr8, pcm_off: int, table: ptr8):
    for i in range(n):
        c = src[src_off + i] << 1
        pcm[pcm_off + 2 * i] = table[c]
        pcm[pcm_off + 2 * i + 1] = table[c + 1]


def _decode_pure(src, src_off, n, pcm, pcm_off, table):
    for i in range(n):
        c = src[src_off + i] << 1
        pcm[pcm_off + 2 * i] = table[c]
        pcm[pcm_off + 2 * i + 1] = table[c + 1]


_decode = fast(_decode_viper, _decode_pure)

# ulaw_encode(pcm, pcm_off, n, out, out_off): n samples (2n bytes) -> n µ-law bytes.
ulaw_encode = fast(_ulaw_encode_viper, _ulaw_encode_pure)
# alaw_encode(pcm, pcm_off, n, out, out_off): n samples (2n bytes) -> n A-law bytes.
alaw_encode = fast(_alaw_encode_viper, _alaw_encode_pure)


def ulaw_decode(src, src_off, n, pcm, pcm_off):
    """`n` µ-law bytes -> `n` 16-bit little-endian samples at `pcm[pcm_off]`."""
    _decode(src, src_off, n, pcm, pcm_off, _ULAW_TABLE)


def alaw_decode(src, src_off, n, pcm, pcm_off):
    """`n` A-law bytes -> `n` 16-bit little-endian samples at `pcm[pcm_off]`."""
    _decode(src, src_off, n, pcm, pcm_off, _ALAW_TABLE)
