"""SHA-1 and SHA-256 (FIPS 180-4) and the DTLS handshake transcript hash.

hashlib serves both runtimes (OpenSSL on CPython, mbedTLS on MicroPython). MicroPython's hash
objects have no `copy()` and allow one `digest()`, so a running hash cannot be peeked at; the
`Transcript` keeps the handshake bytes instead, in a buffer bounded by its `capacity`, and hashes
them on demand (a DTLS 1.2 handshake asks for the transcript hash two or three times).
"""

import hashlib


def sha1(data):
    """SHA-1 of a bytes-like object: 20 bytes."""
    return hashlib.sha1(data).digest()


def sha256(data):
    """SHA-256 of a bytes-like object: 32 bytes."""
    return hashlib.sha256(data).digest()


class Transcript:
    """SHA-256 over a DTLS handshake transcript (RFC 5246 §7.4.9, RFC 6347 §4.2.6).

    Holds at most `capacity` bytes (from the board profile); `update` refuses, with False,
    data that would overflow it, leaving the transcript as it was.
    """

    def __init__(self, capacity, buf=None):
        """`buf`: a bytearray of `capacity` bytes to use (one kept for every handshake)."""
        self._buf = bytearray(capacity) if buf is None else buf
        self._mv = memoryview(self._buf)
        self._n = 0

    def update(self, data):
        """Append `data` (bytes-like); False when it does not fit."""
        n = self._n
        end = n + len(data)
        if end > len(self._buf):
            return False
        self._buf[n:end] = data
        self._n = end
        return True

    def digest(self):
        """SHA-256 of everything so far (the transcript stays as it is)."""
        return hashlib.sha256(self._mv[0 : self._n]).digest()

    def reset(self):
        """Forget everything (a new handshake, e.g. after a HelloVerifyRequest)."""
        self._n = 0

    def __len__(self):
        return self._n
