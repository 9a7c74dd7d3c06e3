"""Symmetric crypto figures (both runtimes): AES-128-GCM, AES-CTR, HMAC-SHA1, SHA-256.

On CPython both back ends are measured: the one in use (OpenSSL via `cryptography`) and the
portable one (pure twins of the viper code; slow, shown only for scale).
"""

import sys

sys.path.insert(0, ".")

from rtc_micro import compat  # noqa: E402
from rtc_micro.crypto import aes, hashes, hmac, sha1  # noqa: E402

from benchclock import elapsed_us  # noqa: E402
from benchclock import now_us as clock_us  # noqa: E402


RECORD = 1200
KEY = bytes(range(16))
NONCE = bytes(range(12))


def best_us(fn, a, b, rounds, n):
    """Best of `rounds` mean times of `n` calls fn(a, b), in microseconds."""
    fn(a, b)
    best = None
    for _ in range(rounds):
        t0 = clock_us()
        for _ in range(n):
            fn(a, b)
        us = elapsed_us(t0) / n
        if best is None or us < best:
            best = us
    return best


def gcm_seal(g, buf):
    g.seal(NONCE, buf, 0, 13, buf, 13, RECORD, buf, 13 + RECORD)


def gcm_open(g, buf):
    # A forgery (buf holds no valid record): the whole tag check, then no decrypt.
    g.open(NONCE, buf, 0, 13, buf, 13, RECORD, buf, 13 + RECORD)


def gcm_seal_open(g, buf):
    g.seal(NONCE, buf, 0, 13, buf, 13, RECORD, buf, 13 + RECORD)
    g.open(NONCE, buf, 0, 13, buf, 13, RECORD, buf, 13 + RECORD)


def ctr(a, buf):
    a.ctr_xor(NONCE + b"\x00\x00\x00\x01", buf, 0, RECORD)


def hmac_sha1(mac, buf):
    mac.digest_into(buf, 0, RECORD, buf, RECORD)


def sha256(_, buf):
    hashes.sha256(buf)


def report(name, us):
    print("%s: %.1f us" % (name, us))


def run(label, gcm_cls, aes_cls, mac, n):
    buf = bytearray(13 + RECORD + 16 + 20)
    g = gcm_cls(KEY)
    report("aes128_gcm_seal_1200%s" % label, best_us(gcm_seal, g, buf, 5, n))
    report("aes128_gcm_open_reject_1200%s" % label, best_us(gcm_open, g, buf, 5, n))
    report("aes128_gcm_seal_open_1200%s" % label, best_us(gcm_seal_open, g, buf, 5, n))
    report("aes128_ctr_1200%s" % label, best_us(ctr, aes_cls(KEY), buf, 5, n))
    report("hmac_sha1_1200%s" % label, best_us(hmac_sha1, mac, buf, 5, n))


def main():
    run("", aes.AesGcm, aes.Aes128, hmac.HmacSha1(KEY), 200)
    report("sha256_1024", best_us(sha256, None, bytearray(1024), 5, 200))
    if not compat.MICROPYTHON:
        run("_portable", aes.PortableAesGcm, aes.PortableAes128, sha1.Sha1Hmac(KEY), 5)


main()
