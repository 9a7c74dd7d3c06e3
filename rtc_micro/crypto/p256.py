"""Pure-Python NIST P-256 (FIPS 186-4 D.1.2.3): ECDH (SEC 1 §3.3.1) and ECDSA with SHA-256.

The MicroPython back end of `crypto.ec`; also runs on CPython for differential tests.
Speed notes (MicroPython's `%` on a 512-bit int costs about twice a 256-bit product):
- Jacobian coordinates, doubling with a = -3 (EFD dbl-2001-b), additions add-1998-cmo-2 / mixed
  madd-2004-hmv; sums and differences stay unreduced and only products are reduced (`%`).
- Fixed base G: a Lim-Lee comb with `_COMB_TEETH` teeth (63 affine points, built once, lazily,
  or on `precompute()`, kept as 4 KB of bytes): 43 doublings + <= 43 mixed additions per k*G.
- Variable base (ECDH): width-4 NAF over a Jacobian table of odd multiples (width 5 would save
  ~8 additions but hold twice the table's big ints at the peak of a handshake).
- Verify: u1*G + u2*Q in one NAF loop (Shamir's trick: the doublings are shared), G's odd
  multiples coming from a small affine table built once.
- Inversion by the extended Euclidean algorithm (`field.inverse`; faster here than Fermat).
- ECDSA nonces are deterministic, RFC 6979 §3.2 with HMAC-SHA256.
Not constant time: timing leaks the scalar to a local observer who can measure it precisely.
"""

from rtc_micro.compat import const
from rtc_micro.crypto import der
from rtc_micro.crypto.field import inverse
from rtc_micro.crypto.hmac import hmac_sha256
from rtc_micro.memory import copy_into

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5

_COMB_TEETH = const(6)
_COMB_SPACING = const(43)  # ceil(256 / teeth)
_G_WIDTH = const(5)  # NAF width for G: its 8 odd multiples are a table made once
# For the peer's point the table is made per call: width 4 (4 multiples and their negatives, 24
# big ints) peaks ~2.5 KB lower on x64 than width 5 (48) for ~1 % more additions in a verify.
_VAR_WIDTH = const(4)
_DIGITS = const(273)  # NAF digits of a 34-byte scalar, and one more
_NO_DIGITS = b"\xff" * _DIGITS
_K_DIGITS = bytearray(_DIGITS)  # the peer point's scalar (verify is not re-entered)
_G_DIGITS = bytearray(_DIGITS)  # the generator's

# Affine point tables are kept as bytes, x || y (64 bytes) per entry, in rows of 8 entries: 4 KB
# for the comb where 126 big ints take ~19 KB of a board's heap, and no block over 512 bytes to
# find in a fragmented heap. Converting on use costs ~1 %.
_comb = None  # entry j: the comb's tooth bit pattern j (entry 0 unused)
_g_odd = None  # entry m: (2m + 1)*G, the generator's NAF table for verify


def _double(X1, Y1, Z1):
    """2*(X1:Y1:Z1), EFD dbl-2001-b (a = -3); infinity (Z = 0) stays infinity."""
    p = P
    delta = Z1 * Z1 % p
    gamma = Y1 * Y1 % p
    beta = X1 * gamma % p
    alpha = 3 * (X1 - delta) * (X1 + delta) % p
    X3 = (alpha * alpha - 8 * beta) % p
    return X3, (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p, 2 * Y1 * Z1 % p


def _add(X1, Y1, Z1, X2, Y2, Z2, ZZ2, ZZZ2):
    """(X1:Y1:Z1) + (X2:Y2:Z2), EFD add-1998-cmo-2; the caller passes Z2^2 and Z2^3."""
    if not Z1:
        return X2, Y2, Z2
    p = P
    ZZ1 = Z1 * Z1 % p
    U1 = X1 * ZZ2 % p
    S1 = Y1 * ZZZ2 % p
    H = X2 * ZZ1 % p - U1
    r = Y2 * ZZ1 * Z1 % p - S1
    if not H:
        if r:
            return 1, 1, 0
        return _double(X2, Y2, Z2)
    HH = H * H % p
    HHH = H * HH % p
    V = U1 * HH % p
    X3 = (r * r - HHH - 2 * V) % p
    return X3, (r * (V - X3) - S1 * HHH) % p, Z1 * Z2 * H % p


def _add_affine(X1, Y1, Z1, x2, y2):
    """(X1:Y1:Z1) + (x2, y2), EFD madd-2004-hmv."""
    if not Z1:
        return x2, y2, 1
    p = P
    T1 = Z1 * Z1 % p
    T2 = T1 * Z1 % p
    H = x2 * T1 % p - X1
    r = y2 * T2 % p - Y1
    if not H:
        if r:
            return 1, 1, 0
        return _double(x2, y2, 1)
    HH = H * H % p
    HHH = HH * H % p
    V = X1 * HH % p
    X3 = (r * r - HHH - 2 * V) % p
    return X3, (r * (V - X3) - Y1 * HHH) % p, Z1 * H % p


def _to_affine(X, Y, Z):
    """(x, y) of a Jacobian point that is not infinity."""
    p = P
    zi = inverse(Z, p)
    zi2 = zi * zi % p
    return X * zi2 % p, Y * zi2 * zi % p


def _new_table(entries):
    return [bytearray(512) for _ in range((entries + 7) >> 3)]


def _put(table, j, x, y):
    row = table[j >> 3]
    o = (j & 7) << 6
    row[o : o + 32] = x.to_bytes(32, "big")
    row[o + 32 : o + 64] = y.to_bytes(32, "big")


def _get(table, j):
    row = table[j >> 3]
    o = (j & 7) << 6
    return int.from_bytes(row[o : o + 32], "big"), int.from_bytes(row[o + 32 : o + 64], "big")


def _build_comb():
    """Comb table: entry j = sum of 2^(i*spacing)*G over the set bits i of j, as affine points.

    Each entry is made affine at once (one inversion each, ~0.12 ms on the Unix port) rather
    than with one shared inversion: holding 63 Jacobian points took ~30 KB of heap at the peak.
    """
    global _comb
    table = _new_table(1 << _COMB_TEETH)
    x = GX
    y = GY
    _put(table, 1, x, y)
    for i in range(1, _COMB_TEETH):
        X, Y, Z = x, y, 1
        for _ in range(_COMB_SPACING):
            X, Y, Z = _double(X, Y, Z)
        x, y = _to_affine(X, Y, Z)  # 2^(i*spacing)*G
        top = 1 << i
        _put(table, top, x, y)
        for j in range(1, top):
            x1, y1 = _get(table, j)
            X, Y, Z = _add_affine(x1, y1, 1, x, y)
            x1, y1 = _to_affine(X, Y, Z)
            _put(table, top + j, x1, y1)
    _comb = table


def precompute():
    """Build the generator's tables now (idle time) rather than at the first use."""
    if _comb is None:
        _build_comb()
    if _g_odd is None:
        _build_g_odd()


def _mul_base(k):
    """k*G in Jacobian coordinates, 0 < k < 2^258."""
    if _comb is None:
        _build_comb()
    table = _comb
    kb = k.to_bytes(33, "big")  # bit i of k: kb[32 - (i >> 3)] >> (i & 7) & 1
    X = Y = 1
    Z = 0
    for col in range(_COMB_SPACING - 1, -1, -1):
        if Z:
            X, Y, Z = _double(X, Y, Z)
        j = 0
        bit = col + (_COMB_TEETH - 1) * _COMB_SPACING
        while bit >= 0:
            j = j << 1 | kb[32 - (bit >> 3)] >> (bit & 7) & 1
            bit -= _COMB_SPACING
        if j:
            x, y = _get(table, j)
            X, Y, Z = _add_affine(X, Y, Z, x, y)
    return X, Y, Z


def _wnaf(k, w, digits):
    """Width-`w` NAF digits of k >= 0 into `digits` (`_DIGITS` bytes), least significant first,
    as table indexes: digit d is stored as (d + 2^(w-1)) >> 1 (w = 5: -15 -> 0, -1 -> 7,
    1 -> 8, 15 -> 15) and 0 as 0xFF; returns the top digit's index."""
    kb = k.to_bytes(34, "big")
    nbits = 8 * len(kb)
    copy_into(digits, 0, _NO_DIGITS, 0, _DIGITS)
    bit = 0
    carry = 0
    top = 0
    while bit < nbits:
        if (kb[-1 - (bit >> 3)] >> (bit & 7) & 1) == carry:
            bit += 1
            continue
        byte = bit >> 3
        word = kb[-1 - byte]
        if byte + 1 < len(kb):
            word |= kb[-2 - byte] << 8
        word = (word >> (bit & 7) & ((1 << w) - 1)) + carry
        carry = word >> (w - 1) & 1
        word -= carry << w
        digits[bit] = (word + (1 << (w - 1))) >> 1
        top = bit
        bit += w
    return top


def _odd_multiples(x, y, w):
    """[(X, Y, Z, Z^2, Z^3)] for the width-`w` NAF digits d = -(2^(w-1) - 1), ..., -1, 1, ...,
    2^(w-1) - 1 times P, at index (d + 2^(w-1)) >> 1."""
    p = P
    half = 1 << (w - 2)
    table = [None] * (2 * half)
    X2, Y2, Z2 = _double(x, y, 1)
    ZZ2 = Z2 * Z2 % p
    ZZZ2 = ZZ2 * Z2 % p
    X, Y, Z = x, y, 1
    for i in range(half):
        if i:
            X, Y, Z = _add(X, Y, Z, X2, Y2, Z2, ZZ2, ZZZ2)
        ZZ = Z * Z % p
        ZZZ = ZZ * Z % p
        table[half + i] = (X, Y, Z, ZZ, ZZZ)
        table[half - 1 - i] = (X, p - Y, Z, ZZ, ZZZ)
    return table


def _build_g_odd():
    global _g_odd
    table = _new_table(8)
    t = _odd_multiples(GX, GY, _G_WIDTH)
    for m in range(8):
        x, y = _to_affine(t[8 + m][0], t[8 + m][1], t[8 + m][2])
        _put(table, m, x, y)
    _g_odd = table


def _mul_var(k, x, y, kg=0):
    """k*(x, y) + kg*G in Jacobian coordinates: NAF digits of both scalars (width 4 for k, 5 for
    kg, whose table is made once), from the top
    digit down, sharing the doublings (Shamir's trick).

    The doubling (`_double`, with 4*beta kept) is written out in the loop: it runs 256 times
    per call and a call plus a returned tuple cost about a tenth of it on MicroPython.
    """
    # The digit strings are module scratch (a verify failed allocating one, 273 bytes, on a
    # heap that a session's handshake had cut into holes of a block or two).
    digits = _K_DIGITS
    top = _wnaf(k, _VAR_WIDTH, digits)
    gdigits = None
    if kg:
        if _g_odd is None:
            _build_g_odd()
        gtable = _g_odd
        gdigits = _G_DIGITS
        gtop = _wnaf(kg, _G_WIDTH, gdigits)
        if gtop > top:
            top = gtop
    table = _odd_multiples(x, y, _VAR_WIDTH)
    add = _add
    p = P
    X = Y = 1
    Z = 0
    for i in range(top, -1, -1):
        if Z:  # doubling infinity is skipped
            d = Z * Z % p
            g = Y * Y % p
            b = (X * g << 2) % p
            a = 3 * (X - d) * (X + d) % p
            Z = (Y * Z << 1) % p
            X = (a * a - b - b) % p
            Y = (a * (b - X) - (g * g << 3)) % p
        j = digits[i]
        if j != 0xFF:
            t = table[j]
            X, Y, Z = add(X, Y, Z, t[0], t[1], t[2], t[3], t[4])
        if gdigits is not None:
            j = gdigits[i]
            if j != 0xFF:
                # index j >= 8: +(2(j-8)+1)G; j < 8: -(2(7-j)+1)G
                gx, gy = _get(gtable, j - 8 if j >= 8 else 7 - j)
                if j < 8:
                    gy = p - gy
                X, Y, Z = _add_affine(X, Y, Z, gx, gy)
    return X, Y, Z


def decode_point(pub):
    """(x, y) of an uncompressed SEC 1 point (0x04 || x || y) on the curve, or None."""
    if len(pub) != 65 or pub[0] != 4:
        return None
    x = int.from_bytes(bytes(pub[1:33]), "big")
    y = int.from_bytes(bytes(pub[33:65]), "big")
    p = P
    if x >= p or y >= p or (y * y - (x * x - 3) * x - B) % p:
        return None
    return x, y


def _encode_point(x, y):
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def _scalar(priv):
    d = int.from_bytes(bytes(priv), "big") if len(priv) == 32 else 0
    if not 0 < d < N:
        raise ValueError("a P-256 private key is 32 bytes, 0 < d < n")
    return d


def public_key(priv):
    """The 65-byte uncompressed public key of a 32-byte private key."""
    x, y = _to_affine(*_mul_base(_scalar(priv)))
    return _encode_point(x, y)


def keypair(random_bytes):
    """(priv32, pub65) with the private scalar drawn from `random_bytes(n)` by rejection."""
    while True:
        priv = random_bytes(32)
        d = int.from_bytes(priv, "big")
        if 0 < d < N:
            return priv, public_key(priv)


def ecdh(priv, peer_pub):
    """x(priv*peer) (SEC 1 §3.3.1), 32 bytes, or None if the peer point is invalid."""
    d = _scalar(priv)
    q = decode_point(peer_pub)
    if q is None:
        return None
    X, Y, Z = _mul_var(d, q[0], q[1])
    if not Z:
        return None
    p = P
    zi = inverse(Z, p)
    return (X * zi * zi % p).to_bytes(32, "big")


def _rfc6979_nonces(d, e):
    """Candidate nonces k (RFC 6979 §3.2, HMAC-SHA256, qlen = hlen = 256), a generator."""
    x = d.to_bytes(32, "big")
    h = (e % N).to_bytes(32, "big")
    V = b"\x01" * 32
    K = b"\x00" * 32
    K = hmac_sha256(K, V + b"\x00" + x + h)
    V = hmac_sha256(K, V)
    K = hmac_sha256(K, V + b"\x01" + x + h)
    V = hmac_sha256(K, V)
    while True:
        V = hmac_sha256(K, V)
        k = int.from_bytes(V, "big")
        if 0 < k < N:
            yield k
        K = hmac_sha256(K, V + b"\x00")
        V = hmac_sha256(K, V)


def sign(priv, digest):
    """ECDSA signature (DER) of a 32-byte SHA-256 digest, nonce per RFC 6979."""
    d = _scalar(priv)
    if len(digest) != 32:
        raise ValueError("p256.sign takes a 32-byte SHA-256 digest")
    e = int.from_bytes(bytes(digest), "big")
    n = N
    for k in _rfc6979_nonces(d, e):
        X, Y, Z = _mul_base(k)
        r = _to_affine(X, Y, Z)[0] % n
        if not r:
            continue
        s = inverse(k, n) * (e + r * d) % n
        if s:
            return der.ecdsa_signature(r, s)


def verify(pub, digest, sig):
    """True if `sig` (DER) is a valid ECDSA signature of the 32-byte digest; never raises."""
    try:
        q = decode_point(pub)
        r, s = der.read_ecdsa_signature(sig)
        if q is None or len(digest) != 32:
            return False
        e = int.from_bytes(bytes(digest), "big")
    except Exception:  # peer bytes of any type or shape: simply not a valid signature
        return False
    n = N
    if not (0 < r < n and 0 < s < n):
        return False
    w = inverse(s, n)
    X, Y, Z = _mul_var(r * w % n, q[0], q[1], e * w % n)
    if not Z:
        return False
    # x(R) mod n == r without an inversion: X == x * Z^2 for x in {r, r + n} below p.
    p = P
    zz = Z * Z % p
    if X == r * zz % p:
        return True
    return r + n < p and X == (r + n) * zz % p
