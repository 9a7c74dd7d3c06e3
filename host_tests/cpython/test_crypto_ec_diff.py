"""Differential tests (CPython only): the pure back end (p256, x25519) against `cryptography`.

Random keys agree on ECDH; signatures made by either side verify on the other and are byte-equal
(both RFC 6979); mutated signatures, points and garbage are rejected without exceptions.
"""

import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec as cec
from cryptography.hazmat.primitives.asymmetric import x25519 as cx
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hypothesis import given, settings
from hypothesis import strategies as st

from rtc_micro.crypto import ec, p256, x25519

N = p256.N
SETTINGS = settings(max_examples=60, deadline=None)
scalars = st.integers(min_value=1, max_value=N - 1)
ECDSA = cec.ECDSA(Prehashed(hashes.SHA256()))


def _key(d):
    return cec.derive_private_key(d, cec.SECP256R1())


def _pub_bytes(key):
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@SETTINGS
@given(scalars, scalars)
def test_p256_ecdh_agrees(a, b):
    ka, kb = _key(a), _key(b)
    pa = _pub_bytes(ka)
    assert p256.public_key(a.to_bytes(32, "big")) == pa
    expected = kb.exchange(cec.ECDH(), ka.public_key())
    assert p256.ecdh(b.to_bytes(32, "big"), pa) == expected
    assert ec.p256_ecdh(b.to_bytes(32, "big"), pa) == expected


@SETTINGS
@given(scalars, st.binary(min_size=32, max_size=32))
def test_p256_signatures_cross_verify(d, digest):
    key = _key(d)
    priv = d.to_bytes(32, "big")
    pub = _pub_bytes(key)
    ours = p256.sign(priv, digest)
    assert ours == ec.p256_sign(priv, digest)  # deterministic on both sides (RFC 6979)
    key.public_key().verify(ours, digest, ECDSA)  # raises if invalid
    theirs = key.sign(digest, ECDSA)  # random nonce
    assert p256.verify(pub, digest, theirs)
    assert p256.verify(pub, digest, ours)


@SETTINGS
@given(scalars, st.binary(min_size=32, max_size=32), st.integers(min_value=0), st.integers(0, 7))
def test_p256_mutated_signatures_rejected(d, digest, pos, bit):
    priv = d.to_bytes(32, "big")
    pub = _pub_bytes(_key(d))
    sig = bytearray(p256.sign(priv, digest))
    sig[pos % len(sig)] ^= 1 << bit
    sig = bytes(sig)
    assert not p256.verify(pub, digest, sig)
    assert not ec.p256_verify(pub, digest, sig)
    flipped = bytearray(digest)
    flipped[pos % 32] ^= 1 << bit
    assert not p256.verify(pub, bytes(flipped), p256.sign(priv, digest))


@SETTINGS
@given(st.binary(max_size=80), st.binary(max_size=80), st.binary(max_size=80))
def test_p256_garbage_never_raises(pub, digest, sig):
    assert p256.verify(pub, digest, sig) is False
    assert ec.p256_verify(pub, digest, sig) is False
    r = p256.ecdh(b"\x01" * 32, pub)
    assert r == ec.p256_ecdh(b"\x01" * 32, pub)


@SETTINGS
@given(scalars, st.binary(min_size=64, max_size=64))
def test_p256_random_points_judged_alike(d, xy):
    # Random 64 bytes are almost never a point; both back ends must say so the same way.
    pub = b"\x04" + xy
    priv = d.to_bytes(32, "big")
    assert p256.ecdh(priv, pub) == ec.p256_ecdh(priv, pub)


@SETTINGS
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_x25519_agrees(k, u):
    theirs = None
    try:
        theirs = cx.X25519PrivateKey.from_private_bytes(k).exchange(
            cx.X25519PublicKey.from_public_bytes(u)
        )
    except ValueError:
        pass
    assert x25519.x25519(k, u) == theirs
    assert ec.x25519(k, u) == theirs


def test_x25519_rfc7748_thousand_iterations():
    # RFC 7748 §5.2, pure back end (about a second on CPython; too slow for the board tests).
    k = u = b"\x09" + b"\x00" * 31
    for _ in range(1000):
        k, u = x25519.x25519(k, u), k
    assert k == bytes.fromhex("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")


def test_keypairs_are_valid_on_both_back_ends():
    for _ in range(5):
        priv, pub = ec.p256_keypair()
        assert p256.public_key(priv) == pub
        priv, pub = ec.x25519_keypair()
        assert x25519.x25519(priv, b"\x09" + b"\x00" * 31) == pub
    digest = hashlib.sha256(b"x").digest()
    priv, pub = ec.p256_keypair()
    assert p256.verify(pub, digest, ec.p256_sign(priv, digest))
