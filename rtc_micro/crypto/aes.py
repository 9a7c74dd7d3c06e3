"""AES-128 (FIPS 197): one block, CTR (SP 800-38A §6.5) and GCM (SP 800-38D, RFC 5116), in place.

Two back ends behind `Aes128` and `AesGcm`:
- portable (MicroPython): `cryptolib` ECB makes the keystream, a batch of counter blocks per call
  into a buffer made at construction; XOR and GHASH (`crypto.ghash`) run in `@viper`. Nothing
  is allocated per packet. On CPython the same code runs over a `cryptography` ECB stand-in, so
  tests can check it against OpenSSL.
- OpenSSL (CPython): `cryptography`'s CTR (one context per key, rewound per call) and AESGCM.

`AesGcm.seal_packet`/`open_packet` take the layout SRTP uses (AAD || data || tag from buf[0]);
on CPython they are the lean path, on MicroPython plain `seal`/`open`.
"""

import micropython

from rtc_micro import compat
from rtc_micro.compat import const, fast, ptr8, uint
from rtc_micro.crypto import ghash
from rtc_micro.crypto.bounds import check_span, misuse
from rtc_micro.memory import copy_into

KEY_SIZE = const(16)
NONCE_SIZE = const(12)
TAG_SIZE = const(16)
_BATCH = const(16)  # counter blocks per ECB call

# Working memory of the portable back end, shared by every key: a call fills and uses it before
# it returns (one thread runs protocol code), so a session's keys hold only their key schedule
# and GHASH table. Per key these were ~1.7 KB on x64 (the keystream batch and 17 views of it).
_KS = bytearray(_BATCH * 16)  # keystream batch
_KS_VIEWS = [memoryview(_KS)[0 : 16 * _k] for _k in range(_BATCH + 1)]  # one per batch length
_CTR = bytearray(16)  # working counter block
_EK0 = bytearray(16)  # GCM: AES_K(J0), masks the tag
_BLK = bytearray(16)  # GCM: zero-padded last block; then the lengths block
_TAG = bytearray(16)  # GCM: the tag computed by open()


@micropython.viper
def _xor_viper(dst: ptr8, off: int, src: ptr8, n: int):
    """dst[off:off+n] ^= src[0:n]."""
    i = 0
    while i < n:
        dst[off + i] ^= src[i]
        i += 1


def _xor_pure(dst, off, src, n):
    for i in range(n):
        dst[off + i] ^= src[i]


@micropython.viper
def _ctr_fill_viper(ctr: ptr8, out: ptr8, k: int):
    """Write k counter blocks ctr, inc32(ctr), ... into out; leave ctr advanced by k."""
    c = (uint(ctr[12]) << 24) | (uint(ctr[13]) << 16) | (uint(ctr[14]) << 8) | uint(ctr[15])
    q = 0
    end = k << 4
    while q < end:
        j = 0
        while j < 12:
            out[q + j] = ctr[j]
            j += 1
        out[q + 12] = (c >> 24) & 0xFF
        out[q + 13] = (c >> 16) & 0xFF
        out[q + 14] = (c >> 8) & 0xFF
        out[q + 15] = c & 0xFF
        c = (c + 1) & uint(0xFFFFFFFF)
        q += 16
    ctr[12] = (c >> 24) & 0xFF
    ctr[13] = (c >> 16) & 0xFF
    ctr[14] = (c >> 8) & 0xFF
    ctr[15] = c & 0xFF


def _ctr_fill_pure(ctr, out, k):
    c = int.from_bytes(ctr[12:16], "big")
    for q in range(0, k << 4, 16):
        out[q : q + 12] = ctr[0:12]
        out[q + 12 : q + 16] = c.to_bytes(4, "big")
        c = (c + 1) & 0xFFFFFFFF
    ctr[12:16] = c.to_bytes(4, "big")


@micropython.viper
def _diff16_viper(a: ptr8, b: ptr8, boff: int) -> int:
    """Nonzero when a[0:16] != b[boff:boff+16]; time independent of where they differ."""
    d = 0
    i = 0
    while i < 16:
        d |= a[i] ^ b[boff + i]
        i += 1
    return d


def _diff16_pure(a, b, boff):
    d = 0
    for i in range(16):
        d |= a[i] ^ b[boff + i]
    return d


@micropython.viper
def _pad_block_viper(blk: ptr8, src: ptr8, off: int, r: int):
    """blk[0:16] = src[off:off+r] and zeros (GCM's padding of a last partial block)."""
    i = 0
    while i < r:
        blk[i] = src[off + i]
        i += 1
    while i < 16:
        blk[i] = 0
        i += 1


def _pad_block_pure(blk, src, off, r):
    blk[0:16] = bytes(src[off : off + r]) + bytes(16 - r)


@micropython.viper
def _lengths_viper(blk: ptr8, a: int, c: int):
    """blk[0:16] = [8a]64 || [8c]64: the bit lengths of AAD and ciphertext (SP 800-38D §7.1)."""
    i = 0
    while i < 16:
        blk[i] = 0
        i += 1
    a <<= 3
    c <<= 3
    blk[4] = a >> 24
    blk[5] = a >> 16
    blk[6] = a >> 8
    blk[7] = a
    blk[12] = c >> 24
    blk[13] = c >> 16
    blk[14] = c >> 8
    blk[15] = c


def _lengths_pure(blk, a, c):
    blk[0:16] = ((a << 67) | (c << 3)).to_bytes(16, "big")


_xor = fast(_xor_viper, _xor_pure)
_ctr_fill = fast(_ctr_fill_viper, _ctr_fill_pure)
_diff16 = fast(_diff16_viper, _diff16_pure)
_pad_block = fast(_pad_block_viper, _pad_block_pure)
_lengths = fast(_lengths_viper, _lengths_pure)


def _check_key(key):
    if len(key) != KEY_SIZE:
        misuse("AES-128 needs a 16-byte key, got %d bytes" % len(key))


def _check_seal(nonce12, aad, aad_off, aad_len, buf, off, n, tag_out, tag_off):
    if _spans_ok(nonce12, aad, aad_off, aad_len, buf, off, n, tag_out, tag_off):
        return
    if len(nonce12) != NONCE_SIZE:
        misuse("AES-GCM needs a 12-byte nonce, got %d bytes" % len(nonce12))
    if aad_len:  # no AAD may be passed as None
        check_span("aad", aad, aad_off, aad_len)
    check_span("buf", buf, off, n)
    check_span("tag_out", tag_out, tag_off, TAG_SIZE)


def _spans_ok(nonce12, aad, aad_off, aad_len, buf, off, n, tag, tag_off):
    """The nonce has 12 bytes and each span lies inside its buffer (one test on the fast path)."""
    return not (
        len(nonce12) != NONCE_SIZE
        or aad_len < 0
        or (aad_len and (aad_off < 0 or aad_off + aad_len > len(aad)))
        or off < 0
        or n < 0
        or off + n > len(buf)
        or tag_off < 0
        or tag_off + TAG_SIZE > len(tag)
    )


class _CryptographyEcb:
    """`cryptolib.aes(key, 1)` stand-in on CPython, so the portable back end runs there too."""

    def __init__(self, key):
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self._enc = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()

    def encrypt(self, src, dst):
        n = len(src)
        dst[0:n] = self._enc.update(bytes(src))


def _ecb(key):
    if compat.MICROPYTHON:
        import cryptolib

        return cryptolib.aes(bytes(key), 1)
    return _CryptographyEcb(key)


class PortableAes128:
    """AES-128 block and CTR over an ECB primitive; allocation-free after construction."""

    def __init__(self, key):
        _check_key(key)
        self._ecb = _ecb(key)

    def encrypt_block(self, src, src_off, dst, dst_off):
        """dst[dst_off:dst_off+16] = AES_K(src[src_off:src_off+16])."""
        check_span("src", src, src_off, 16)
        check_span("dst", dst, dst_off, 16)
        ks = _KS_VIEWS[1]
        copy_into(ks, 0, src, src_off, 16)
        self._ecb.encrypt(ks, ks)
        copy_into(dst, dst_off, ks, 0, 16)

    def ctr_xor(self, counter16, buf, off, n):
        """XOR buf[off:off+n] with AES_K(counter), AES_K(inc32(counter)), ... (SP 800-38A §6.5).

        `counter16` itself is left as it was.
        """
        check_span("buf", buf, off, n)
        check_span("counter16", counter16, 0, 16)
        copy_into(_CTR, 0, counter16, 0, 16)
        self._ctr_run(buf, off, n)

    def _ctr_run(self, buf, off, n):
        """CTR from the working counter `_CTR`, which ends advanced past the data."""
        ks = _KS
        ctr = _CTR
        while n > 0:
            k = (n + 15) >> 4
            if k > _BATCH:
                k = _BATCH
            _ctr_fill(ctr, ks, k)
            view = _KS_VIEWS[k]
            self._ecb.encrypt(view, view)
            m = k << 4
            if m > n:
                m = n
            _xor(buf, off, ks, m)
            off += m
            n -= m


class PortableAesGcm:
    """AES-128-GCM (RFC 5116 AEAD_AES_128_GCM, 12-byte nonce, 16-byte tag), in place.

    seal/open allocate nothing after construction (tested under heap_lock on MicroPython).
    """

    def __init__(self, key):
        self._aes = aes = PortableAes128(key)
        h = bytearray(16)
        aes._ecb.encrypt(h, h)
        self._gh = ghash.new_state(h)

    def seal(self, nonce12, aad, aad_off, aad_len, buf, off, n, tag_out, tag_off):
        """Encrypt buf[off:off+n] in place; write the tag to tag_out[tag_off:tag_off+16]."""
        _check_seal(nonce12, aad, aad_off, aad_len, buf, off, n, tag_out, tag_off)
        self._start(nonce12)
        self._aes._ctr_run(buf, off, n)
        self._hash(aad, aad_off, aad_len, buf, off, n)
        ghash.tag_into(self._gh, _EK0, tag_out, tag_off)

    def open(self, nonce12, aad, aad_off, aad_len, buf, off, n, tag, tag_off):
        """Check the tag, then decrypt buf[off:off+n] in place: True; False (data untouched) on a
        bad tag or impossible spans. Never raises."""
        if not _spans_ok(nonce12, aad, aad_off, aad_len, buf, off, n, tag, tag_off):
            return False
        self._start(nonce12)
        self._hash(aad, aad_off, aad_len, buf, off, n)
        ghash.tag_into(self._gh, _EK0, _TAG, 0)
        if _diff16(_TAG, tag, tag_off):
            return False
        self._aes._ctr_run(buf, off, n)
        return True

    def seal_packet(self, nonce12, buf, aad_len, n):
        """`seal` of a packet laid out AAD || data || room for the tag from buf[0] (SRTP)."""
        self.seal(nonce12, buf, 0, aad_len, buf, aad_len, n, buf, aad_len + n)

    def open_packet(self, nonce12, buf, aad_len, n):
        """`open` of a packet laid out AAD || data || tag from buf[0] (SRTP)."""
        return self.open(nonce12, buf, 0, aad_len, buf, aad_len, n, buf, aad_len + n)

    def _start(self, nonce12):
        """J0 = nonce || 0^31 || 1 (SP 800-38D §7.1); keep AES_K(J0); counter = inc32(J0)."""
        ctr = _CTR
        copy_into(ctr, 0, nonce12, 0, NONCE_SIZE)
        ctr[12] = ctr[13] = ctr[14] = 0
        ctr[15] = 1
        self._aes._ecb.encrypt(ctr, _EK0)
        ctr[15] = 2

    def _hash(self, aad, aad_off, aad_len, buf, off, n):
        """GHASH(A || pad || C || pad || [len(A)]64 || [len(C)]64) into the state's Y."""
        gh = self._gh
        ghash.reset(gh)
        self._absorb(aad, aad_off, aad_len)
        self._absorb(buf, off, n)
        _lengths(_BLK, aad_len, n)
        ghash.update(gh, _BLK, 0, 16)

    def _absorb(self, data, off, n):
        r = n & 15
        if n > r:
            ghash.update(self._gh, data, off, n - r)
        if r:
            _pad_block(_BLK, data, off + n - r, r)
            ghash.update(self._gh, _BLK, 0, 16)


class OpenSslAes128:
    """AES-128 block and CTR over `cryptography` (CPython)."""

    def __init__(self, key):
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        _check_key(key)
        alg = algorithms.AES(bytes(key))
        self._ecb = Cipher(alg, modes.ECB()).encryptor()
        # One CTR context, rewound per call with reset_nonce (cryptography >= 43): a new
        # context costs ~3.5 us, a rewind ~0.2 us.
        self._ctr = Cipher(alg, modes.CTR(bytes(16))).encryptor()

    def encrypt_block(self, src, src_off, dst, dst_off):
        """dst[dst_off:dst_off+16] = AES_K(src[src_off:src_off+16])."""
        check_span("src", src, src_off, 16)
        check_span("dst", dst, dst_off, 16)
        dst[dst_off : dst_off + 16] = self._ecb.update(bytes(src[src_off : src_off + 16]))

    def ctr_xor(self, counter16, buf, off, n):
        """XOR buf[off:off+n] with AES_K(counter), AES_K(inc32(counter)), ... (SP 800-38A)."""
        if off < 0 or n < 0 or off + n > len(buf) or len(counter16) != 16:  # one test when fine
            check_span("buf", buf, off, n)
            misuse("AES-CTR needs a 16-byte counter, got %d bytes" % len(counter16))
        ctx = self._ctr
        ctx.reset_nonce(counter16)
        view = memoryview(buf)[off : off + n]
        # OpenSSL's CTR carries into all 128 bits; inc32 wraps in the last 32: split at the wrap,
        # which only a counter within 2**16 blocks of it can reach in under 1 MiB.
        if n > 1 << 20 or counter16[12] & counter16[13] == 0xFF:
            first = ((1 << 32) - int.from_bytes(counter16[12:16], "big")) << 4
            if first < n:
                ctx.update_into(view[0:first], view)
                ctx.reset_nonce(bytes(counter16[0:12]) + bytes(4))
                view = view[first:]
        ctx.update_into(view, view)


class OpenSslAesGcm:
    """AES-128-GCM (RFC 5116) over `cryptography`'s AESGCM (CPython), same in-place interface."""

    def __init__(self, key):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        _check_key(key)
        self._gcm = AESGCM(bytes(key))

    def seal(self, nonce12, aad, aad_off, aad_len, buf, off, n, tag_out, tag_off):
        """Encrypt buf[off:off+n] in place; write the tag to tag_out[tag_off:tag_off+16]."""
        _check_seal(nonce12, aad, aad_off, aad_len, buf, off, n, tag_out, tag_off)
        whole = memoryview(buf)
        a = memoryview(aad)[aad_off : aad_off + aad_len] if aad_len else None
        if tag_out is buf and tag_off == off + n:
            # Tag right after the data (DTLS, SRTP): OpenSSL encrypts in place.
            self._gcm.encrypt_into(nonce12, whole[off:tag_off], a, whole[off : tag_off + TAG_SIZE])
            return
        out = self._gcm.encrypt(nonce12, whole[off : off + n], a)
        whole[off : off + n] = out[0:n]
        tag_out[tag_off : tag_off + TAG_SIZE] = out[n:]

    def open(self, nonce12, aad, aad_off, aad_len, buf, off, n, tag, tag_off):
        """Check the tag, then decrypt buf[off:off+n] in place: True; False (data untouched) on a
        bad tag or impossible spans. Never raises."""
        try:
            if not _spans_ok(nonce12, aad, aad_off, aad_len, buf, off, n, tag, tag_off):
                return False
            whole = memoryview(buf)
            a = memoryview(aad)[aad_off : aad_off + aad_len] if aad_len else None
            if tag is buf and tag_off == off + n:
                sealed = whole[off : tag_off + TAG_SIZE]
            else:
                sealed = bytes(whole[off : off + n]) + bytes(tag[tag_off : tag_off + TAG_SIZE])
            # Not decrypt_into: it writes the plaintext before the tag check fails.
            whole[off : off + n] = self._gcm.decrypt(nonce12, sealed, a)
            return True
        except Exception:  # InvalidTag, or a buffer of the wrong kind: a forgery is a False
            return False

    # The packet forms check their spans in one test and slice straight into OpenSSL: an SRTP
    # packet pays ~0.2 us of Python around each OpenSSL call instead of ~0.6.

    def seal_packet(self, nonce12, buf, aad_len, n):
        """`seal` of a packet laid out AAD || data || room for the tag from buf[0] (SRTP)."""
        end = aad_len + n
        if aad_len < 0 or n < 0 or end + TAG_SIZE > len(buf) or len(nonce12) != NONCE_SIZE:
            _check_seal(nonce12, buf, 0, aad_len, buf, aad_len, n, buf, end)
        whole = memoryview(buf)
        self._gcm.encrypt_into(
            nonce12, whole[aad_len:end], whole[0:aad_len], whole[aad_len : end + TAG_SIZE]
        )

    def open_packet(self, nonce12, buf, aad_len, n):
        """`open` of a packet laid out AAD || data || tag from buf[0] (SRTP)."""
        end = aad_len + n
        if aad_len < 0 or n < 0 or end + TAG_SIZE > len(buf) or len(nonce12) != NONCE_SIZE:
            return False
        whole = memoryview(buf)
        try:
            whole[aad_len:end] = self._gcm.decrypt(
                nonce12, whole[aad_len : end + TAG_SIZE], whole[0:aad_len]
            )
        except Exception:  # InvalidTag: a forgery is a False, the data as it was
            return False
        return True


if compat.MICROPYTHON:
    Aes128 = PortableAes128
    AesGcm = PortableAesGcm
else:
    Aes128 = OpenSslAes128
    AesGcm = OpenSslAesGcm
