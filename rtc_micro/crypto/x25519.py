"""Pure-Python X25519 (RFC 7748 §5): the MicroPython back end of `crypto.ec`.

Montgomery ladder over projective (X:Z) with sums and differences left unreduced (only products
are reduced). The conditional swap is a branch, not a masked swap: speed matters more here than
timing side channels, which interpreted big-int arithmetic cannot hide anyway.
"""

from rtc_micro.crypto.field import inverse

P = (1 << 255) - 19
_A24 = 121665  # (486662 - 2) / 4, RFC 7748 §5


def _decode_scalar(k):
    """Clamped scalar (RFC 7748 §5 decodeScalar25519)."""
    b = bytearray(k)
    if len(b) != 32:
        raise ValueError("an X25519 private key is 32 bytes")
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return int.from_bytes(bytes(b), "little")


def _ladder(k, u):
    """x-coordinate of k*u as an int (RFC 7748 §5, the ladder written out)."""
    p = P
    a24 = _A24
    x1 = u
    x2 = 1
    z2 = 0
    x3 = u
    z3 = 1
    swap = 0
    for t in range(254, -1, -1):
        bit = (k >> t) & 1
        if swap ^ bit:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
        swap = bit
        A = x2 + z2
        B = x2 - z2
        AA = A * A % p
        BB = B * B % p
        E = AA - BB
        DA = (x3 - z3) * A % p
        CB = (x3 + z3) * B % p
        t1 = DA + CB
        x3 = t1 * t1 % p
        t1 = DA - CB
        z3 = x1 * (t1 * t1 % p) % p
        x2 = AA * BB % p
        z2 = E * (AA + a24 * E) % p
    if swap:
        x2 = x3
        z2 = z3
    return x2 * inverse(z2, p) % p


def x25519(k, u):
    """X25519(k, u) (RFC 7748 §5): 32 bytes, or None when the result is all zero (§6.1)."""
    k = _decode_scalar(k)
    if len(u) != 32:
        return None
    b = bytearray(u)
    b[31] &= 127  # mask the top bit; non-canonical u >= p is reduced by the arithmetic
    r = _ladder(k, int.from_bytes(bytes(b), "little") % P)
    if not r:
        return None
    return r.to_bytes(32, "little")


def keypair(random_bytes):
    """(priv32, pub32): a random private key and its public key X25519(priv, 9)."""
    priv = random_bytes(32)
    return priv, x25519(priv, b"\x09" + b"\x00" * 31)
