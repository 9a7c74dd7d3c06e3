"""crypto.ec (and its pure back ends p256/x25519/der): RFC 7748, NIST CAVS, RFC 6979 vectors.

On CPython every vector runs twice: through the seam (`cryptography`) and through the pure back
end; on MicroPython the seam is the pure back end.
"""

import hashlib

from host_tests.support import raises
from rtc_micro import compat
from rtc_micro.crypto import der, ec, field, p256, x25519


class _Pure:
    """The pure back end under the seam's names."""

    def __init__(self):
        self.p256_ecdh = p256.ecdh
        self.p256_sign = p256.sign
        self.p256_verify = p256.verify
        self.x25519 = x25519.x25519


BACKENDS = [ec] if compat.MICROPYTHON else [ec, _Pure()]

_NINE = b"\x09" + b"\x00" * 31

# RFC 7748 §5.2 (scalar, u, output)
X25519_VECTORS = (
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
)

# NIST CAVS 14.1 KAS ECC CDH primitive, P-256, COUNT 0..2: (dIUT, QCAVSx, QCAVSy, QIUTx, ZIUT)
ECDH_VECTORS = (
    (
        "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534",
        "700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287",
        "db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac",
        "ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b230",
        "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b",
    ),
    (
        "38f65d6dce47676044d58ce5139582d568f64bb16098d179dbab07741dd5caf5",
        "809f04289c64348c01515eb03d5ce7ac1a8cb9498f5caa50197e58d43a86a7ae",
        "b29d84e811197f25eba8f5194092cb6ff440e26d4421011372461f579271cda3",
        "119f2f047902782ab0c9e27a54aff5eb9b964829ca99c06b02ddba95b0a3f6d0",
        "057d636096cb80b67a8c038c890e887d1adfa4195e9b3ce241c8a778c59cda67",
    ),
    (
        "1accfaf1b97712b85a6f54b148985a1bdc4c9bec0bd258cad4b3d603f49f32c8",
        "a2339c12d4a03c33546de533268b4ad667debf458b464d77443636440ee7fec3",
        "ef48a3ab26e20220bcda2c1851076839dae88eae962869a497bf73cb66faf536",
        None,
        "2d457b78b4614132477618a5b077965ec90730a8c81a1c75d6d4ec68005d67ec",
    ),
)

# RFC 6979 A.2.5: P-256 key, and (message, r, s) with SHA-256
RFC6979_KEY = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"
RFC6979_PUB = (
    "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
    "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"
)
RFC6979_SIGS = (
    (
        b"sample",
        0xEFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716,
        0xF7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8,
    ),
    (
        b"test",
        0xF1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367,
        0x019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083,
    ),
)

# NIST "ECDSA with P-256 and SHA-256" worked example (CSRC P256_SHA256.pdf): verification.
NIST_Q = (
    "04b7e08afdfe94bad3f1dc8c734798ba1c62b3a0ad1e9ea2a38201cd0889bc7a19"
    "3603f747959dbf7a4bb226e41928729063adc7ae43529e61b563bbc606cc5e09"
)
NIST_MSG = b"Example of ECDSA with P-256"
NIST_R = 0x2B42F576D07F4165FF65D1F3B1500F81E44C316F1F0B3EF57325B69ACA46104F
NIST_S = 0xDC42C2122D6392CD3E3A993A89502A8198C1886FE69D262C4B329BDB6B63FAF1


def _h(x):
    return bytes.fromhex(x)


def _sha256(data):
    return hashlib.sha256(data).digest()


def test_x25519_rfc7748_vectors():
    for b in BACKENDS:
        for k, u, out in X25519_VECTORS:
            assert b.x25519(_h(k), _h(u)) == _h(out)


def test_x25519_rfc7748_one_iteration():
    # §5.2: k = u = 9; after one iteration k = X25519(k, u).
    for b in BACKENDS:
        r = b.x25519(_NINE, _NINE)
        assert r == _h("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")


def test_x25519_rfc7748_diffie_hellman():
    a = _h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    b_ = _h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    a_pub = _h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    b_pub = _h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    k = _h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    for b in BACKENDS:
        assert b.x25519(a, _NINE) == a_pub
        assert b.x25519(b_, _NINE) == b_pub
        assert b.x25519(a, b_pub) == k
        assert b.x25519(b_, a_pub) == k


def test_x25519_rejects_small_order_and_bad_lengths():
    a = _h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    zero = b"\x00" * 32
    one = b"\x01" + b"\x00" * 31
    for b in BACKENDS:
        assert b.x25519(a, zero) is None  # all-zero output, RFC 7748 §6.1
        assert b.x25519(a, one) is None
        assert b.x25519(a, _NINE[:31]) is None
        assert b.x25519(a, _NINE + b"\x00") is None
        raises(ValueError, b.x25519, a[:31], _NINE)


def test_x25519_keypair_agrees():
    a, a_pub = ec.x25519_keypair()
    b, b_pub = ec.x25519_keypair()
    assert len(a) == 32 and len(a_pub) == 32
    k = ec.x25519(a, b_pub)
    assert k is not None and k == ec.x25519(b, a_pub)
    assert ec.x25519(a, _NINE) == a_pub


def _point(x, y):
    return b"\x04" + _h(x) + _h(y)


def test_p256_ecdh_nist_cavs():
    for b in BACKENDS:
        for d, qx, qy, qiut_x, z in ECDH_VECTORS:
            assert b.p256_ecdh(_h(d), _point(qx, qy)) == _h(z)
    for d, qx, qy, qiut_x, z in ECDH_VECTORS:
        if qiut_x is not None:
            assert p256.public_key(_h(d))[1:33] == _h(qiut_x)


def test_p256_ecdh_rejects_invalid_points():
    d = _h(ECDH_VECTORS[0][0])
    good = _point(ECDH_VECTORS[0][1], ECDH_VECTORS[0][2])
    off_curve = good[:64] + bytes((good[64] ^ 1,))
    p_bytes = p256.P.to_bytes(32, "big")
    bad = (
        off_curve,
        good[:64],  # short
        good + b"\x00",  # long
        b"\x02" + good[1:],  # wrong prefix for 65 bytes
        b"\x00",  # SEC 1 encoding of infinity
        b"\x04" + b"\x00" * 64,  # (0, 0) is not on the curve
        b"\x04" + p_bytes + good[33:],  # x >= p
        b"",
    )
    for b in BACKENDS:
        assert b.p256_ecdh(d, good) is not None
        for pub in bad:
            assert b.p256_ecdh(d, pub) is None


def test_p256_bad_private_key_raises():
    good = _point(ECDH_VECTORS[0][1], ECDH_VECTORS[0][2])
    n_bytes = p256.N.to_bytes(32, "big")
    for b in BACKENDS:
        raises(ValueError, b.p256_ecdh, b"\x00" * 32, good)
        raises(ValueError, b.p256_ecdh, n_bytes, good)
        raises(ValueError, b.p256_ecdh, b"\x01" * 31, good)


def test_p256_sign_rfc6979_vectors():
    key = _h(RFC6979_KEY)
    assert p256.public_key(key) == _h(RFC6979_PUB)
    for b in BACKENDS:
        for msg, r, s in RFC6979_SIGS:
            sig = b.p256_sign(key, _sha256(msg))
            assert sig == der.ecdsa_signature(r, s)
            assert der.read_ecdsa_signature(sig) == (r, s)
            assert b.p256_verify(_h(RFC6979_PUB), _sha256(msg), sig)


def test_p256_verify_nist_example_and_bad_signatures():
    q = _h(NIST_Q)
    digest = _sha256(NIST_MSG)
    good = der.ecdsa_signature(NIST_R, NIST_S)
    other = _sha256(b"Example of ECDSA with P-257")
    bad = (
        der.ecdsa_signature(NIST_R, NIST_S ^ 1),
        der.ecdsa_signature(NIST_R ^ (1 << 200), NIST_S),
        der.ecdsa_signature(0, NIST_S),
        der.ecdsa_signature(NIST_R, 0),
        der.ecdsa_signature(NIST_R, NIST_S + p256.N),  # s >= n
        good + b"\x00",  # trailing byte
        b"\x30\x81" + good[1:],  # non-minimal length
        good[:-1],
        b"",
        b"\x30\x00",
        b"\x30\x06\x02\x01\x01\x02\x01\x01",
        bytes(72),
    )
    for b in BACKENDS:
        assert b.p256_verify(q, digest, good)
        assert not b.p256_verify(q, other, good)
        assert not b.p256_verify(_h(RFC6979_PUB), digest, good)
        for i, sig in enumerate(bad):
            assert not b.p256_verify(q, digest, sig), i
        # (r, n - s) is valid too (ECDSA malleability; neither back end enforces low s).
        assert b.p256_verify(q, digest, der.ecdsa_signature(NIST_R, p256.N - NIST_S))
        # Garbage of every shape: False, never an exception.
        assert not b.p256_verify(q[:64], digest, good)
        assert not b.p256_verify(q, digest[:31], good)
        assert not b.p256_verify(b"", b"", b"")
        assert not b.p256_verify(None, None, None)
        assert not b.p256_verify(q, digest, None)
        assert not b.p256_verify(q, "x" * 32, good)
        assert not b.p256_verify("x" * 65, digest, good)


def test_p256_verify_when_u1_g_equals_u2_q():
    # Key d = 1 (Q = G) and digest e = r make u1 = u2: verify's final addition adds a point to
    # itself, the doubling branch of the addition formula.
    n = p256.N
    k = 123456789
    x = p256._to_affine(*p256._mul_base(k))[0]
    r = x % n
    sig = der.ecdsa_signature(r, field.inverse(k, n) * (r + r) % n)
    for b in BACKENDS:
        assert b.p256_verify(p256.public_key(b"\x00" * 31 + b"\x01"), r.to_bytes(32, "big"), sig)


def test_p256_digests_that_reduce_to_zero():
    # e = 0 and e = n both make u1 = 0: verify's loop then adds no multiple of G.
    key = _h(RFC6979_KEY)
    pub = _h(RFC6979_PUB)
    for digest in (bytes(32), p256.N.to_bytes(32, "big")):
        for b in BACKENDS:
            sig = b.p256_sign(key, digest)
            for c in BACKENDS:
                assert c.p256_verify(pub, digest, sig)


def test_p256_keypair_sign_verify_ecdh():
    a, a_pub = ec.p256_keypair()
    b, b_pub = ec.p256_keypair()
    assert len(a) == 32 and len(a_pub) == 65 and a_pub[0] == 4
    assert p256.decode_point(a_pub) is not None
    z = ec.p256_ecdh(a, b_pub)
    assert z is not None and len(z) == 32 and z == ec.p256_ecdh(b, a_pub)
    digest = _sha256(b"rtc_micro")
    sig = ec.p256_sign(a, digest)
    assert ec.p256_verify(a_pub, digest, sig)
    assert not ec.p256_verify(b_pub, digest, sig)
    assert p256.public_key(a) == a_pub


def test_p256_base_and_variable_multiplication_agree():
    # The comb (fixed base) and the NAF (variable base) paths must give the same points.
    p256.precompute()
    n = p256.N
    for k in (1, 2, 3, 15, 16, 17, 1 << 43, (1 << 255) + 12345, n - 1, n - 2):
        a = p256._mul_base(k)
        b = p256._mul_var(k, p256.GX, p256.GY)
        assert p256._to_affine(a[0], a[1], a[2]) == p256._to_affine(b[0], b[1], b[2]), k
    assert p256._mul_base(n)[2] == 0
    assert p256._mul_var(n, p256.GX, p256.GY)[2] == 0


def test_inversions():
    p25519 = (1 << 255) - 19
    for x in (1, 2, 3, p256.GX, p256.P - 1, p256.N - 1, (1 << 255) - 20, 1 << 200):
        for m in (p256.P, p256.N, p25519):
            if x < m:
                assert x * field.inverse(x, m) % m == 1
    assert field.inverse(0, p256.P) == 0


def test_key_pool():
    pool = ec.KeyPool(ec.x25519_keypair, size=2)
    assert len(pool) == 0
    assert pool.fill() and pool.fill()
    assert not pool.fill()
    a = pool.take()
    b = pool.take()
    assert len(pool) == 0 and a != b
    assert ec.x25519(a[0], _NINE) == a[1]
    c = ec.KeyPool().take()  # empty pool: made on demand, P-256 by default
    assert len(c[1]) == 65


def test_der_reader_is_strict():
    ok = der.ecdsa_signature(1, 0x80)
    assert ok == b"\x30\x07\x02\x01\x01\x02\x02\x00\x80"
    assert der.read_ecdsa_signature(ok) == (1, 0x80)
    for bad in (
        b"\x30\x08\x02\x02\x00\x01\x02\x02\x00\x80",  # 00 01: non-minimal INTEGER
        b"\x30\x06\x02\x01\x01\x02\x01\x80",  # 0x80: negative INTEGER
        b"\x30\x81\x07\x02\x01\x01\x02\x02\x00\x80",  # long form for a short length
        b"\x30\x07\x02\x01\x01\x02\x02\x00\x80\x00",  # trailing byte
        b"\x30\x08\x02\x01\x01\x02\x02\x00\x80",  # length overruns
        b"\x31\x07\x02\x01\x01\x02\x02\x00\x80",  # SET, not SEQUENCE
        b"\x30\x80\x02\x01\x01\x02\x02\x00\x80\x00\x00",  # indefinite length
    ):
        raises(ValueError, der.read_ecdsa_signature, bad)
    assert der.integer(0) == b"\x02\x01\x00"
    assert der.tlv(der.SEQUENCE, [b"\x00" * 200])[:3] == b"\x30\x81\xc8"
