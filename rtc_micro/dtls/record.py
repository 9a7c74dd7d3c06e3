"""DTLS 1.2 record layer (RFC 6347 §4.1): header codec, AES-128-GCM protection, replay window.

A record is `type(1) version(2) epoch(2) sequence(6) length(2)` and its payload. Protected
records (RFC 5288 §3, RFC 6347 §4.1.2.1) carry an 8-byte explicit nonce (epoch || sequence), the
ciphertext and a 16-byte tag.
"""

from rtc_micro.compat import const
from rtc_micro.crypto.aes import AesGcm

CT_CHANGE_CIPHER_SPEC = const(20)
CT_ALERT = const(21)
CT_HANDSHAKE = const(22)
CT_APPLICATION_DATA = const(23)

HEADER_LEN = const(13)
EXPLICIT_NONCE_LEN = const(8)
TAG_LEN = const(16)
GCM_OVERHEAD = const(24)  # explicit nonce + tag
_VERSION_HI = const(0xFE)
_DTLS12_LO = const(0xFD)
_DTLS10_LO = const(0xFF)  # ClientHello records may say DTLS 1.0 (RFC 6347 §4.1)
_MAX_PAYLOAD = const(18432)  # 2^14 + 2048, RFC 6347 §4.1 / RFC 5246 §6.2.3
_WINDOW = const(64)


def pull_record(buf, off, end):
    """Payload length of the record at `buf[off:end]`, or -1 when it is truncated or malformed."""
    if end - off < HEADER_LEN:
        return -1
    t = buf[off]
    if t < CT_CHANGE_CIPHER_SPEC or t > CT_APPLICATION_DATA:
        return -1
    if buf[off + 1] != _VERSION_HI or (buf[off + 2] != _DTLS12_LO and buf[off + 2] != _DTLS10_LO):
        return -1
    n = (buf[off + 11] << 8) | buf[off + 12]
    if n > _MAX_PAYLOAD or off + HEADER_LEN + n > end:
        return -1
    return n


def record_epoch(buf, off):
    return (buf[off + 3] << 8) | buf[off + 4]


def record_seq(buf, off):
    """The 48-bit record sequence number (a heap int above 2^30 on 32-bit boards)."""
    hi = (buf[off + 5] << 8) | buf[off + 6]
    mid = (buf[off + 7] << 8) | buf[off + 8]
    lo = (buf[off + 9] << 8) | buf[off + 10]
    return (((hi << 16) | mid) << 16) | lo




def push_record_header(buf, off, ctype, epoch, seq, length):
    """Write a DTLS 1.2 record header at `buf[off]`."""
    buf[off] = ctype
    buf[off + 1] = _VERSION_HI
    buf[off + 2] = _DTLS12_LO
    buf[off + 3] = (epoch >> 8) & 0xFF
    buf[off + 4] = epoch & 0xFF
    for i in range(6):
        buf[off + 10 - i] = (seq >> (8 * i)) & 0xFF
    buf[off + 11] = (length >> 8) & 0xFF
    buf[off + 12] = length & 0xFF


class GcmProtection:
    """One direction of TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 record protection (RFC 5288)."""

    def __init__(self, key, salt):
        self._gcm = AesGcm(key)
        self._nonce = bytearray(12)
        self._nonce[0:4] = salt
        self._aad = bytearray(13)

    def _prepare(self, buf, off, n):
        # Nonce = salt || explicit nonce; AAD = epoch||seq, type, version, plaintext length.
        nonce = self._nonce
        aad = self._aad
        for i in range(8):
            nonce[4 + i] = buf[off + 3 + i]
            aad[i] = buf[off + 3 + i]
        aad[8] = buf[off]
        aad[9] = buf[off + 1]
        aad[10] = buf[off + 2]
        aad[11] = (n >> 8) & 0xFF
        aad[12] = n & 0xFF

    def seal(self, buf, off, ctype, epoch, seq, n):
        """Protect the `n` plaintext bytes at `buf[off+21:]` in place; returns the record size."""
        push_record_header(buf, off, ctype, epoch, seq, n + GCM_OVERHEAD)
        for i in range(EXPLICIT_NONCE_LEN):
            buf[off + HEADER_LEN + i] = buf[off + 3 + i]
        self._prepare(buf, off, n)
        p = off + HEADER_LEN + EXPLICIT_NONCE_LEN
        self._gcm.seal(self._nonce, self._aad, 0, 13, buf, p, n, buf, p + n)
        return HEADER_LEN + n + GCM_OVERHEAD

    def open(self, buf, off, length):
        """Verify and decrypt the record at `buf[off]` (payload `length`) in place.

        Returns the plaintext length (plaintext at `off + 21`) or -1 on a bad record.
        """
        n = length - GCM_OVERHEAD
        if n < 0:
            return -1
        self._prepare(buf, off, n)
        # The explicit nonce on the wire is what the sender used (RFC 5288 §3).
        nonce = self._nonce
        for i in range(EXPLICIT_NONCE_LEN):
            nonce[4 + i] = buf[off + HEADER_LEN + i]
        p = off + HEADER_LEN + EXPLICIT_NONCE_LEN
        if not self._gcm.open(nonce, self._aad, 0, 13, buf, p, n, buf, p + n):
            return -1
        return n


class ReplayWindow:
    """Sliding anti-replay window of 64 records for one epoch (RFC 6347 §4.1.2.6).

    A ring of 64 bits indexed by `seq % 64` in a bytearray: no big ints, no allocation.
    """

    def __init__(self):
        self.top = -1
        self._bits = bytearray(_WINDOW // 8)

    def check(self, seq):
        """True when `seq` is new (not seen and not older than the window)."""
        if seq > self.top:
            return True
        if self.top - seq >= _WINDOW:
            return False
        i = seq & (_WINDOW - 1)
        return not self._bits[i >> 3] & (1 << (i & 7))

    def update(self, seq):
        """Mark `seq` as received (call only after the record authenticated)."""
        bits = self._bits
        if seq > self.top:
            # Slots between the old top and `seq` now stand for new, unseen numbers.
            if seq - self.top >= _WINDOW:
                for j in range(_WINDOW // 8):
                    bits[j] = 0
            else:
                s = self.top + 1
                while s < seq:
                    i = s & (_WINDOW - 1)
                    bits[i >> 3] &= ~(1 << (i & 7))
                    s += 1
            self.top = seq
        i = seq & (_WINDOW - 1)
        bits[i >> 3] |= 1 << (i & 7)
