"""Elliptic-curve seam: P-256 ECDH/ECDSA (SHA-256 digests, DER signatures) and X25519.

CPython: `cryptography` (OpenSSL). MicroPython: pure big-int code in `crypto.p256` and
`crypto.x25519`. Both back ends behave alike: invalid peer points and all-zero X25519 results
give None, `p256_verify` never raises, a bad private key (caller misuse) raises ValueError, and
ECDSA signatures are deterministic (RFC 6979) so both produce the same bytes.

Key generation costs milliseconds on a board's idle loop but is on the handshake's critical path
otherwise: `precompute()` builds the generator table ahead of time and `KeyPool` holds ready
ephemeral key pairs (see docs/crypto.md).
"""

from rtc_micro import compat
from rtc_micro.crypto.random import random_bytes

if compat.MICROPYTHON:
    from rtc_micro.crypto import p256 as _p256
    from rtc_micro.crypto import x25519 as _x25519

    def p256_keypair():
        """(priv32, pub65): a fresh P-256 key pair, public key uncompressed (SEC 1)."""
        return _p256.keypair(random_bytes)

    def p256_ecdh(priv, peer_pub):
        """Shared secret x(priv*peer), 32 bytes, or None if `peer_pub` is not a valid point."""
        return _p256.ecdh(priv, peer_pub)

    def p256_sign(priv, digest):
        """DER ECDSA signature of a 32-byte SHA-256 digest (RFC 6979 nonce)."""
        return _p256.sign(priv, digest)

    def p256_verify(pub, digest, sig):
        """True for a valid DER signature of `digest` under `pub`; never raises."""
        return _p256.verify(pub, digest, sig)

    def x25519_keypair():
        """(priv32, pub32): a fresh X25519 key pair (RFC 7748)."""
        return _x25519.keypair(random_bytes)

    def x25519(priv, peer_pub):
        """X25519(priv, peer_pub), 32 bytes, or None (wrong length, all-zero result)."""
        return _x25519.x25519(priv, peer_pub)

    def precompute():
        """Build the P-256 generator table now (idle time) instead of at the first key pair."""
        _p256.precompute()

else:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes as _hashes
    from cryptography.hazmat.primitives import serialization as _ser
    from cryptography.hazmat.primitives.asymmetric import ec as _ec
    from cryptography.hazmat.primitives.asymmetric import x25519 as _x
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    _CURVE = _ec.SECP256R1()
    _ECDSA = _ec.ECDSA(Prehashed(_hashes.SHA256()), deterministic_signing=True)

    def _private(priv):
        if len(priv) != 32:
            raise ValueError("a P-256 private key is 32 bytes, 0 < d < n")
        return _ec.derive_private_key(int.from_bytes(bytes(priv), "big"), _CURVE)

    def _public(pub):
        if len(pub) != 65 or pub[0] != 4:
            return None
        try:
            return _ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, bytes(pub))
        except ValueError:
            return None

    def p256_keypair():
        key = _ec.generate_private_key(_CURVE)
        pub = key.public_key().public_bytes(
            _ser.Encoding.X962, _ser.PublicFormat.UncompressedPoint
        )
        return key.private_numbers().private_value.to_bytes(32, "big"), pub

    def p256_ecdh(priv, peer_pub):
        key = _private(priv)
        peer = _public(peer_pub)
        if peer is None:
            return None
        return key.exchange(_ec.ECDH(), peer)

    def p256_sign(priv, digest):
        if len(digest) != 32:
            raise ValueError("p256_sign takes a 32-byte SHA-256 digest")
        return _private(priv).sign(bytes(digest), _ECDSA)

    def p256_verify(pub, digest, sig):
        try:
            key = _public(pub)
            if key is None or len(digest) != 32:
                return False
            key.verify(bytes(sig), bytes(digest), _ECDSA)
            return True
        except (InvalidSignature, ValueError, TypeError):
            return False

    def x25519_keypair():
        key = _x.X25519PrivateKey.generate()
        priv = key.private_bytes(_ser.Encoding.Raw, _ser.PrivateFormat.Raw, _ser.NoEncryption())
        return priv, key.public_key().public_bytes(_ser.Encoding.Raw, _ser.PublicFormat.Raw)

    def x25519(priv, peer_pub):
        key = _x.X25519PrivateKey.from_private_bytes(bytes(priv))
        if len(peer_pub) != 32:
            return None
        try:
            return key.exchange(_x.X25519PublicKey.from_public_bytes(bytes(peer_pub)))
        except ValueError:  # all-zero shared secret (RFC 7748 §6.1)
            return None

    def precompute():
        """Nothing to build: OpenSSL has its own tables."""


class KeyPool:
    """Ready ephemeral key pairs: `fill()` from the idle loop, `take()` in the handshake.

    `make` is `p256_keypair` (default) or `x25519_keypair`; at most `size` pairs are kept.
    """

    def __init__(self, make=None, size=1):
        self._make = make or p256_keypair
        self._size = size
        self._ready = []

    def fill(self):
        """Make one key pair if the pool is not full; True if it made one (call again later)."""
        if len(self._ready) >= self._size:
            return False
        self._ready.append(self._make())
        return True

    def take(self):
        """A ready key pair (made now if the pool is empty); each pair is handed out once."""
        if self._ready:
            return self._ready.pop()
        return self._make()

    def __len__(self):
        return len(self._ready)
