"""GHASH (NIST SP 800-38D §6.4) with 4-bit tables (Shoup's method), in `@viper`.

The product X·H is built a nibble at a time from the top of X: Z = Z·x^4 + T[nibble], where
T[v] = v·H for the 16 four-bit values v (256 bytes per key) and multiplying by x^4 shifts the
128-bit value right by 4 bits and folds the 4 bits that fall off back in through a 16-entry
reduction table. An 8-bit table would halve the steps but cost 4 KB per key on a board.

State lives in one `array('I')` of 32-bit words (`_words` long): Y (4 words, big-endian order,
word 0 holds the first bytes), T (16 x 4 words), the reduction table R (16 words, already in
the position of the top word) and 4 scratch words.
"""

import array

import micropython

from rtc_micro.compat import const, fast, ptr8, ptr32, uint

_T = const(4)
_R = const(68)
_S = const(84)
_WORDS = const(88)
_POLY = 0xE1 << 120  # x^128 = x^7 + x^2 + x + 1, in GCM's reflected bit order
_ZERO = bytearray(4 * _WORDS)  # a new state copies these bytes: no 88-item list (704 B on x64)


def _mulx(v):
    """v·x in GCM bit order (a right shift), reduced."""
    return (v >> 1) ^ _POLY if v & 1 else v >> 1


def new_state(h):
    """GHASH state for the hash key `h` (16 bytes, AES_K(0^128))."""
    st = array.array("I", _ZERO)
    t = [0] * 16
    t[8] = int.from_bytes(h, "big")
    t[4] = _mulx(t[8])
    t[2] = _mulx(t[4])
    t[1] = _mulx(t[2])
    for v in (3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15):
        t[v] = t[v & 8] ^ t[v & 4] ^ t[v & 2] ^ t[v & 1]
    for v in range(16):
        for j in range(4):
            st[_T + 4 * v + j] = (t[v] >> (96 - 32 * j)) & 0xFFFFFFFF
        r = v
        for _ in range(4):
            r = _mulx(r)
        st[_R + v] = r >> 96
    return st


@micropython.viper
def _update_viper(st: ptr32, data: ptr8, off: int, n: int):
    """Y = (Y ^ block)·H for each whole 16-byte block of data[off:off+n]."""
    m = uint(0xFFFFFFFF)
    table = uint(st) + (_T << 2)  # address of T[0]; T[v] is 16 bytes further per v
    z0 = uint(st[0])
    z1 = uint(st[1])
    z2 = uint(st[2])
    z3 = uint(st[3])
    p = off
    end = off + n - 15
    while p < end:
        # Scratch words = Y ^ block, big-endian words.
        q = p + 12
        k = 3
        while k >= 0:
            x = (uint(data[q]) << 24) | (uint(data[q + 1]) << 16) | (
                uint(data[q + 2]) << 8) | uint(data[q + 3])
            if k == 3:
                x ^= z3
            elif k == 2:
                x ^= z2
            elif k == 1:
                x ^= z1
            else:
                x ^= z0
            st[_S + k] = x
            q -= 4
            k -= 1
        z0 = uint(0)
        z1 = uint(0)
        z2 = uint(0)
        z3 = uint(0)
        # Horner from the last nibble (the highest powers of x) to the first.
        k = _S + 3
        while k >= _S:
            x = uint(st[k])
            i = 0
            while i < 8:
                rem = int(z3 & 0xF)
                z3 = ((z3 >> 4) | (z2 << 28)) & m
                z2 = ((z2 >> 4) | (z1 << 28)) & m
                z1 = ((z1 >> 4) | (z0 << 28)) & m
                t = ptr32(table + ((x & 0xF) << 4))
                z0 = (z0 >> 4) ^ uint(st[_R + rem]) ^ uint(t[0])
                z1 ^= uint(t[1])
                z2 ^= uint(t[2])
                z3 ^= uint(t[3])
                x >>= 4
                i += 1
            k -= 1
        p += 16
    st[0] = z0
    st[1] = z1
    st[2] = z2
    st[3] = z3


def _update_pure(st, data, off, n):
    z0, z1, z2, z3 = st[0], st[1], st[2], st[3]
    for p in range(off, off + n - 15, 16):
        xs = (
            z0 ^ int.from_bytes(data[p : p + 4], "big"),
            z1 ^ int.from_bytes(data[p + 4 : p + 8], "big"),
            z2 ^ int.from_bytes(data[p + 8 : p + 12], "big"),
            z3 ^ int.from_bytes(data[p + 12 : p + 16], "big"),
        )
        z0 = z1 = z2 = z3 = 0
        for k in (3, 2, 1, 0):
            x = xs[k]
            for s in range(0, 32, 4):
                rem = z3 & 0xF
                z3 = ((z3 >> 4) | (z2 << 28)) & 0xFFFFFFFF
                z2 = ((z2 >> 4) | (z1 << 28)) & 0xFFFFFFFF
                z1 = ((z1 >> 4) | (z0 << 28)) & 0xFFFFFFFF
                t = _T + (((x >> s) & 0xF) << 2)
                z0 = (z0 >> 4) ^ st[_R + rem] ^ st[t]
                z1 ^= st[t + 1]
                z2 ^= st[t + 2]
                z3 ^= st[t + 3]
    st[0], st[1], st[2], st[3] = z0, z1, z2, z3


@micropython.viper
def _tag_viper(st: ptr32, ek: ptr8, out: ptr8, off: int):
    """out[off:off+16] = Y ^ ek (the tag, SP 800-38D §7.1 step 6)."""
    i = 0
    while i < 16:
        y = uint(st[i >> 2]) >> (24 - ((i & 3) << 3))
        out[off + i] = (y & 0xFF) ^ ek[i]
        i += 1


def _tag_pure(st, ek, out, off):
    for i in range(16):
        out[off + i] = ((st[i >> 2] >> (24 - 8 * (i & 3))) & 0xFF) ^ ek[i]


update = fast(_update_viper, _update_pure)
tag_into = fast(_tag_viper, _tag_pure)


def reset(st):
    """Y = 0, for a new message."""
    st[0] = st[1] = st[2] = st[3] = 0
