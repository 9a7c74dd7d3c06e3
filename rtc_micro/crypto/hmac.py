"""HMAC (RFC 2104) over hashlib: MicroPython has no `hmac` module.

Interim version (hashlib objects allocate per call on MicroPython); the crypto issue replaces the
internals of `HmacSha1` with an allocation-free SHA-1, keeping this interface.
"""

import hashlib

_BLOCK = 64


def _pads(key, new):
    if len(key) > _BLOCK:
        key = new(key).digest()
    k = bytearray(_BLOCK)
    k[0 : len(key)] = key
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    for i in range(_BLOCK):
        ipad[i] = k[i] ^ 0x36
        opad[i] = k[i] ^ 0x5C
    return ipad, opad


def _hmac(new, key, data):
    ipad, opad = _pads(key, new)
    h = new(ipad)
    h.update(data)
    inner = h.digest()
    h = new(opad)
    h.update(inner)
    return h.digest()


def hmac_sha1(key, data):
    """HMAC-SHA1 of `data` (bytes-like) under `key`: 20 bytes."""
    return _hmac(hashlib.sha1, key, data)


def hmac_sha256(key, data):
    """HMAC-SHA256 of `data` under `key`: 32 bytes."""
    return _hmac(hashlib.sha256, key, data)


class HmacSha1:
    """HMAC-SHA1 under a fixed key (STUN MESSAGE-INTEGRITY, SRTP auth)."""

    def __init__(self, key):
        self._ipad, self._opad = _pads(key, hashlib.sha1)

    def digest_into(self, buf, off, n, out, out_off):
        """Write HMAC-SHA1 of `buf[off:off+n]` into `out[out_off:out_off+20]`."""
        h = hashlib.sha1(self._ipad)
        h.update(memoryview(buf)[off : off + n])
        inner = h.digest()
        h = hashlib.sha1(self._opad)
        h.update(inner)
        out[out_off : out_off + 20] = h.digest()
