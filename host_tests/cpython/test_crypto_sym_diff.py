"""Portable symmetric back end (the MicroPython code, pure twins) against OpenSSL, on random input.

CPython only: hypothesis and `cryptography`. References are built here from `cryptography`
primitives and hashlib/hmac, not from the module under test.
"""

import hashlib
import hmac as std_hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from rtc_micro.crypto import aes, ghash, hmac, sha1

SETTINGS = settings(max_examples=150, deadline=None)
keys = st.binary(min_size=16, max_size=16)
nonces = st.binary(min_size=12, max_size=12)
short = st.binary(max_size=300)


def ctr_reference(key, counter, data):
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    out = bytearray(data)
    c = int.from_bytes(counter[12:16], "big")
    for i in range(0, len(data), 16):
        block = ecb.update(bytes(counter[0:12]) + c.to_bytes(4, "big"))
        for j in range(min(16, len(data) - i)):
            out[i + j] ^= block[j]
        c = (c + 1) & 0xFFFFFFFF
    return bytes(out)


@SETTINGS
@given(keys, nonces, st.integers(0, 2**32 - 1), short, st.integers(0, 7))
def test_ctr_both_backends_match_reference(key, prefix, low, data, off):
    counter = prefix + low.to_bytes(4, "big")
    expected = ctr_reference(key, counter, data)
    for cls in (aes.PortableAes128, aes.OpenSslAes128):
        buf = bytearray(off) + data
        cls(key).ctr_xor(counter, buf, off, len(data))
        assert bytes(buf[off:]) == expected


@SETTINGS
@given(keys, nonces, short, short)
def test_gcm_seal_matches_openssl_and_opens(key, nonce, aad, data):
    expected = AESGCM(key).encrypt(nonce, data, aad)
    for cls in (aes.PortableAesGcm, aes.OpenSslAesGcm):
        g = cls(key)
        buf = bytearray(data)
        tag = bytearray(16)
        g.seal(nonce, aad, 0, len(aad), buf, 0, len(buf), tag, 0)
        assert bytes(buf) + bytes(tag) == expected
        assert g.open(nonce, aad, 0, len(aad), buf, 0, len(buf), tag, 0)
        assert buf == data


@SETTINGS
@given(keys, nonces, short, st.binary(min_size=1, max_size=300), st.data())
def test_gcm_open_rejects_forgeries(key, nonce, aad, data, draw):
    sealed = AESGCM(key).encrypt(nonce, data, aad)
    cipher, tag = sealed[:-16], sealed[-16:]
    what = draw.draw(st.sampled_from(("tag", "cipher", "aad", "truncated", "short_n")))
    bit = draw.draw(st.integers(0, 7))
    a, c, t, n = bytearray(aad), bytearray(cipher), bytearray(tag), len(cipher)
    if what == "tag":
        t[draw.draw(st.integers(0, 15))] ^= 1 << bit
    elif what == "cipher":
        c[draw.draw(st.integers(0, n - 1))] ^= 1 << bit
    elif what == "aad":
        a += b"\x00"
    elif what == "truncated":
        t = t[0 : draw.draw(st.integers(0, 15))]
    else:
        n -= 1
    for cls in (aes.PortableAesGcm, aes.OpenSslAesGcm):
        buf = bytearray(c)
        assert cls(key).open(nonce, a, 0, len(a), buf, 0, n, t, 0) is False
        assert buf == c


def gf_mul(x, y):
    """Bitwise GF(2^128) product in GCM's bit order (SP 800-38D §6.3, Algorithm 1)."""
    r = 0xE1 << 120
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ r if v & 1 else v >> 1
    return z


@SETTINGS
@given(st.binary(min_size=16, max_size=16), st.binary(max_size=80))
def test_ghash_tables_match_bitwise_product(h, data):
    data = data[0 : len(data) // 16 * 16]
    state = ghash.new_state(h)
    ghash.update(state, data, 0, len(data))
    y = 0
    for i in range(0, len(data), 16):
        y = gf_mul(y ^ int.from_bytes(data[i : i + 16], "big"), int.from_bytes(h, "big"))
    got = (state[0] << 96) | (state[1] << 64) | (state[2] << 32) | state[3]
    assert got == y


@SETTINGS
@given(st.binary(max_size=150), st.binary(max_size=300), st.integers(0, 5))
def test_hmac_matches_stdlib(key, data, off):
    mac1 = std_hmac.digest(key, data, "sha1")
    mac256 = std_hmac.digest(key, data, "sha256")
    assert hmac.hmac_sha1(key, data) == hmac.hmac_sha1_portable(key, data) == mac1
    assert hmac.hmac_sha256(key, data) == hmac.hmac_sha256_portable(key, data) == mac256
    buf = bytes(off) + data
    for cls in (hmac.HmacSha1, sha1.Sha1Hmac):
        out = bytearray(21)
        cls(key).digest_into(buf, off, len(data), out, 1)
        assert bytes(out[1:]) == mac1


@SETTINGS
@given(st.binary(max_size=300))
def test_sha1_compression_matches_hashlib(data):
    # Whole SHA-1 from our compression function: FIPS 180-4 §5.1.1 padding, IV of §5.3.1.
    msg = data + b"\x80" + bytes((55 - len(data)) % 64) + (8 * len(data)).to_bytes(8, "big")
    state = sha1._words(5)
    for i in range(5):
        state[i] = sha1._IV[i]
    w = sha1._words(80)
    for off in range(0, len(msg), 64):
        sha1.compress(state, w, msg, off)
    assert b"".join(x.to_bytes(4, "big") for x in state) == hashlib.sha1(data).digest()
