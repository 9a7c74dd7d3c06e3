"""HMAC (RFC 2104) with SHA-1 and SHA-256, and the TLS 1.2 PRF (RFC 5246 §5).

MicroPython has no `hmac` module: one-shot HMACs run over hashlib there, and `HmacSha1` (STUN,
SRTP: once per packet) runs our own SHA-1 from precomputed ipad/opad states so that
`digest_into` allocates nothing (`crypto.sha1`). CPython uses its C `hmac` for one-shot HMACs
and, for `HmacSha1`, copies of hashlib SHA-1 states taken after the ipad and opad blocks.
"""

import hashlib

from rtc_micro import compat
from rtc_micro.crypto import sha1 as _sha1
from rtc_micro.crypto.bounds import check_span

_BLOCK = 64


def _hmac_portable(new, key, data):
    if len(key) > _BLOCK:
        key = new(key).digest()
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    for i in range(_BLOCK):
        k = key[i] if i < len(key) else 0
        ipad[i] = k ^ 0x36
        opad[i] = k ^ 0x5C
    h = new(ipad)
    h.update(data)
    inner = h.digest()
    h = new(opad)
    h.update(inner)
    return h.digest()


def hmac_sha1_portable(key, data):
    return _hmac_portable(hashlib.sha1, key, data)


def hmac_sha256_portable(key, data):
    return _hmac_portable(hashlib.sha256, key, data)


if compat.MICROPYTHON:
    hmac_sha1 = hmac_sha1_portable
    hmac_sha256 = hmac_sha256_portable
    HmacSha1 = _sha1.Sha1Hmac
else:
    import hmac as _std

    def hmac_sha1(key, data):
        """HMAC-SHA1 of `data` (bytes-like) under `key`: 20 bytes."""
        return _std.digest(key, data, "sha1")

    def hmac_sha256(key, data):
        """HMAC-SHA256 of `data` under `key`: 32 bytes."""
        return _std.digest(key, data, "sha256")

    class HmacSha1:
        """HMAC-SHA1 under a fixed key (STUN MESSAGE-INTEGRITY, SRTP auth): SHA-1 states after
        the ipad and opad blocks, copied per message (cheaper than `hmac`'s own copy)."""

        def __init__(self, key):
            if len(key) > _BLOCK:
                key = hashlib.sha1(key).digest()
            key = bytes(key) + bytes(_BLOCK - len(key))
            self._inner = hashlib.sha1(bytes([k ^ 0x36 for k in key]))
            self._outer = hashlib.sha1(bytes([k ^ 0x5C for k in key]))

        def digest_into(self, buf, off, n, out, out_off):
            """Write HMAC-SHA1 of `buf[off:off+n]` into `out[out_off:out_off+20]`."""
            if off < 0 or n < 0 or off + n > len(buf) or out_off < 0 or out_off + 20 > len(out):
                check_span("buf", buf, off, n)
                check_span("out", out, out_off, 20)
            h = self._inner.copy()
            h.update(memoryview(buf)[off : off + n])
            o = self._outer.copy()
            o.update(h.digest())
            out[out_off : out_off + 20] = o.digest()


def prf_sha256(secret, label, seed, n):
    """TLS 1.2 PRF (RFC 5246 §5): P_SHA256(secret, label + seed), first `n` bytes.

    `label` is ASCII (str or bytes), e.g. "master secret".
    """
    if isinstance(label, str):
        label = label.encode()
    seed = bytes(label) + bytes(seed)
    out = bytearray()
    a = seed
    while len(out) < n:
        a = hmac_sha256(secret, a)
        out += hmac_sha256(secret, a + seed)
    return bytes(out[0:n])
