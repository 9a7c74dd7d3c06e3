"""SHA-1 (FIPS 180-4 §6.1) compression in `@viper`, for an allocation-free HMAC-SHA1 (RFC 2104).

MicroPython's hashlib makes a new object per message and cannot resume from a saved state, so
STUN MESSAGE-INTEGRITY and SRTP authentication would allocate per packet. `Sha1Hmac` hashes the
key's ipad/opad blocks once and then runs every message from those saved states, in buffers
made at construction. Words live in `array('I')` and viper `uint` (never Python ints: on boards
small ints stop at 2**30).
"""

import array

import micropython

from rtc_micro.compat import fast, ptr8, ptr32, uint
from rtc_micro.crypto.bounds import check_span

_BLOCK = 64
_SIZE = 20


@micropython.viper
def _compress_viper(state: ptr32, w: ptr32, block: ptr8, off: int):
    m = uint(0xFFFFFFFF)
    i = 0
    while i < 16:
        j = off + (i << 2)
        w[i] = (uint(block[j]) << 24) | (uint(block[j + 1]) << 16) | (
            uint(block[j + 2]) << 8) | uint(block[j + 3])
        i += 1
    while i < 80:
        x = uint(w[i - 3]) ^ uint(w[i - 8]) ^ uint(w[i - 14]) ^ uint(w[i - 16])
        w[i] = (x << 1) | (x >> 31)
        i += 1
    a = uint(state[0])
    b = uint(state[1])
    c = uint(state[2])
    d = uint(state[3])
    e = uint(state[4])
    i = 0
    while i < 80:
        if i < 20:
            f = d ^ (b & (c ^ d))
            k = uint(0x5A827999)
        elif i < 40:
            f = b ^ c ^ d
            k = uint(0x6ED9EBA1)
        elif i < 60:
            f = (b & c) | (d & (b | c))
            k = uint(0x8F1BBCDC)
        else:
            f = b ^ c ^ d
            k = uint(0xCA62C1D6)
        t = (((a << 5) | (a >> 27)) + f + e + k + uint(w[i])) & m
        e = d
        d = c
        c = ((b << 30) | (b >> 2)) & m
        b = a
        a = t
        i += 1
    state[0] = uint(state[0]) + a
    state[1] = uint(state[1]) + b
    state[2] = uint(state[2]) + c
    state[3] = uint(state[3]) + d
    state[4] = uint(state[4]) + e


def _compress_pure(state, w, block, off):
    m = 0xFFFFFFFF
    for i in range(16):
        j = off + 4 * i
        w[i] = (block[j] << 24) | (block[j + 1] << 16) | (block[j + 2] << 8) | block[j + 3]
    for i in range(16, 80):
        x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
        w[i] = ((x << 1) | (x >> 31)) & m
    a, b, c, d, e = state[0], state[1], state[2], state[3], state[4]
    for i in range(80):
        if i < 20:
            f = d ^ (b & (c ^ d))
            k = 0x5A827999
        elif i < 40:
            f = b ^ c ^ d
            k = 0x6ED9EBA1
        elif i < 60:
            f = (b & c) | (d & (b | c))
            k = 0x8F1BBCDC
        else:
            f = b ^ c ^ d
            k = 0xCA62C1D6
        t = (((a << 5) | (a >> 27)) + f + e + k + w[i]) & m
        e, d, c, b, a = d, c, ((b << 30) | (b >> 2)) & m, a, t
    state[0] = (state[0] + a) & m
    state[1] = (state[1] + b) & m
    state[2] = (state[2] + c) & m
    state[3] = (state[3] + d) & m
    state[4] = (state[4] + e) & m


@micropython.viper
def _pad_viper(blk: ptr8, src: ptr8, soff: int, r: int, nbits: int) -> int:
    """blk = src[soff:soff+r] + 0x80 + zeros + 64-bit big-endian `nbits`: 1 or 2 blocks."""
    i = 0
    while i < r:
        blk[i] = src[soff + i]
        i += 1
    blk[i] = 0x80
    i += 1
    end = 64
    if r > 55:
        end = 128
    while i < end - 4:
        blk[i] = 0
        i += 1
    blk[end - 4] = (nbits >> 24) & 0xFF
    blk[end - 3] = (nbits >> 16) & 0xFF
    blk[end - 2] = (nbits >> 8) & 0xFF
    blk[end - 1] = nbits & 0xFF
    return end >> 6


def _pad_pure(blk, src, soff, r, nbits):
    end = 64 if r <= 55 else 128
    blk[0:r] = bytes(src[soff : soff + r])
    blk[r] = 0x80
    blk[r + 1 : end - 4] = bytes(end - 5 - r)
    blk[end - 4 : end] = nbits.to_bytes(4, "big")
    return end >> 6


@micropython.viper
def _words_be_viper(words: ptr32, dst: ptr8, off: int):
    """Write the 5 state words big-endian to dst[off:off+20]."""
    i = 0
    while i < 5:
        x = uint(words[i])
        j = off + (i << 2)
        dst[j] = x >> 24
        dst[j + 1] = (x >> 16) & 0xFF
        dst[j + 2] = (x >> 8) & 0xFF
        dst[j + 3] = x & 0xFF
        i += 1


def _words_be_pure(words, dst, off):
    for i in range(5):
        dst[off + 4 * i : off + 4 * i + 4] = words[i].to_bytes(4, "big")


@micropython.viper
def _copy5_viper(dst: ptr32, src: ptr32):
    dst[0] = src[0]
    dst[1] = src[1]
    dst[2] = src[2]
    dst[3] = src[3]
    dst[4] = src[4]


def _copy5_pure(dst, src):
    dst[0:5] = src[0:5]


compress = fast(_compress_viper, _compress_pure)
_pad = fast(_pad_viper, _pad_pure)
_words_be = fast(_words_be_viper, _words_be_pure)
_copy5 = fast(_copy5_viper, _copy5_pure)

_IV = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)


def _words(n):
    return array.array("I", [0] * n)


# Scratch every Sha1Hmac shares (digest_into runs to its end before another can start): the
# message schedule, the running state and the padded tail, ~0.5 KB a key would otherwise keep.
_W = _words(80)
_ST = _words(5)
_BLK = bytearray(2 * _BLOCK)


class Sha1Hmac:
    """HMAC-SHA1 (RFC 2104) under a fixed key, from precomputed inner/outer states.

    `digest_into` allocates nothing: the portable back end of `crypto.hmac.HmacSha1`.
    `compress_fn` picks a twin (tests run the pure one on MicroPython too).
    """

    def __init__(self, key, compress_fn=None):
        self._compress = compress_fn or compress
        if len(key) > _BLOCK:
            import hashlib

            key = hashlib.sha1(key).digest()
        self._inner = _words(5)
        self._outer = _words(5)
        for pad, state in ((0x36, self._inner), (0x5C, self._outer)):
            for i in range(_BLOCK):
                _BLK[i] = pad ^ (key[i] if i < len(key) else 0)
            for i in range(5):
                state[i] = _IV[i]
            self._compress(state, _W, _BLK, 0)

    def digest_into(self, buf, off, n, out, out_off):
        """Write HMAC-SHA1 of `buf[off:off+n]` into `out[out_off:out_off+20]`."""
        check_span("buf", buf, off, n)
        check_span("out", out, out_off, _SIZE)
        st = _ST
        w = _W
        blk = _BLK
        comp = self._compress
        _copy5(st, self._inner)
        end = off + n - _BLOCK
        while off <= end:
            comp(st, w, buf, off)
            off += _BLOCK
        # The bytes left after the whole blocks, padded; the length counts the ipad block too.
        blocks = _pad(blk, buf, off, end + _BLOCK - off, (_BLOCK + n) << 3)
        comp(st, w, blk, 0)
        if blocks == 2:
            comp(st, w, blk, _BLOCK)
        _words_be(st, blk, 0)
        _pad(blk, blk, 0, _SIZE, (_BLOCK + _SIZE) << 3)
        _copy5(st, self._outer)
        comp(st, w, blk, 0)
        _words_be(st, out, out_off)
