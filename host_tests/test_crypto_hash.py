"""SHA-1/SHA-256 (FIPS 180), HMAC (RFC 2202, RFC 4231), TLS 1.2 PRF, transcript, random."""

from host_tests.support import assert_no_alloc, raises, skip
from rtc_micro import compat
from rtc_micro.crypto import hashes, hmac, random, sha1
from rtc_micro.errors import ConfigError

_ABC56 = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"


def test_sha_fips180_examples():
    assert hashes.sha1(b"abc") == bytes.fromhex("a9993e364706816aba3e25717850c26c9cd0d89d")
    assert hashes.sha1(_ABC56) == bytes.fromhex("84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    assert hashes.sha256(b"abc") == bytes.fromhex(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert hashes.sha256(_ABC56) == bytes.fromhex(
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    )
    assert hashes.sha256(b"") == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


# (key, data, HMAC-SHA1) from RFC 2202 §3, cases 1, 2, 3, 4, 6, 7.
_RFC2202 = (
    (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    (b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
    (bytes(range(1, 26)), b"\xcd" * 50, "4c9007f4026250c6bc8414f9bf50c86c2d7235da"),
    (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "aa4ae5e15272d00e95705637ce8a3b55ed402112",
    ),
    (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
        "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
    ),
)

# (key, data, HMAC-SHA256) from RFC 4231 §4, cases 1, 2, 3, 6.
_RFC4231 = (
    (
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 20,
        b"\xdd" * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
)


def test_hmac_sha1_rfc2202():
    out = bytearray(24)
    for key, data, mac in _RFC2202:
        mac = bytes.fromhex(mac)
        assert hmac.hmac_sha1(key, data) == mac
        assert hmac.hmac_sha1_portable(key, data) == mac
        hmac.HmacSha1(key).digest_into(data, 0, len(data), out, 2)
        assert out[2:22] == mac
        sha1.Sha1Hmac(key).digest_into(data, 0, len(data), out, 4)
        assert out[4:24] == mac


def test_hmac_sha256_rfc4231():
    for key, data, mac in _RFC4231:
        assert hmac.hmac_sha256(key, data) == bytes.fromhex(mac)
        assert hmac.hmac_sha256_portable(key, data) == bytes.fromhex(mac)


def test_hmac_sha1_every_tail_length_and_offset():
    # 0..130 bytes crosses the one-block and two-block padding cases of the inner hash.
    key = b"stun-password"
    data = bytes((i * 7 + 3) & 0xFF for i in range(140))
    mac = hmac.HmacSha1(key)
    out = bytearray(20)
    for n in range(131):
        off = n % 9
        mac.digest_into(data, off, n, out, 0)
        assert bytes(out) == hmac.hmac_sha1_portable(key, data[off : off + n]), n


def test_hmac_sha1_span_outside_buffer_raises():
    for mac in (hmac.HmacSha1(b"key"), sha1.Sha1Hmac(b"key")):
        raises(ConfigError, mac.digest_into, bytes(10), 5, 6, bytearray(20), 0)
        raises(ConfigError, mac.digest_into, bytes(10), 0, -1, bytearray(20), 0)
        raises(ConfigError, mac.digest_into, bytes(10), 0, 10, bytearray(20), 1)


def test_sha1_twins_agree():
    if not compat.MICROPYTHON:
        skip("the viper twin runs on MicroPython only")
    key = b"k" * 16
    data = bytes(range(200))
    a = bytearray(20)
    b = bytearray(20)
    for n in (0, 20, 55, 56, 64, 119, 200):
        sha1.Sha1Hmac(key, sha1._compress_viper).digest_into(data, 0, n, a, 0)
        sha1.Sha1Hmac(key, sha1._compress_pure).digest_into(data, 0, n, b, 0)
        assert a == b, n
    for r in (0, 20, 55, 56, 63):
        pa = bytearray(128)
        pb = bytearray(128)
        assert sha1._pad_viper(pa, data, 3, r, 8 * r) == sha1._pad_pure(pb, data, 3, r, 8 * r)
        assert pa == pb, r
    words = sha1._words(5)
    for i in range(5):
        words[i] = sha1._IV[i]
    sha1._words_be_viper(words, a, 0)
    sha1._words_be_pure(words, b, 0)
    assert a == b == bytes.fromhex("67452301efcdab8998badcfe10325476c3d2e1f0")


def test_hmac_sha1_digest_into_allocates_nothing():
    mac = hmac.HmacSha1(b"0123456789abcdef0123")
    buf = memoryview(bytearray(1200))
    out = bytearray(20)
    assert_no_alloc(mac.digest_into, buf, 0, 1200, out, 0)
    assert bytes(out) == hmac.hmac_sha1(b"0123456789abcdef0123", bytes(1200))


def test_prf_sha256_known_vector():
    # The TLS 1.2 PRF (SHA-256) vector circulated on the IETF TLS list.
    secret = bytes.fromhex("9bbe436ba940f017b17652849a71db35")
    seed = bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c")
    expected = bytes.fromhex(
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
        "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"
        "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
        "87347b66"
    )
    assert hmac.prf_sha256(secret, b"test label", seed, 100) == expected
    assert hmac.prf_sha256(secret, "test label", seed, 13) == expected[0:13]


def test_transcript_digest_is_repeatable_and_bounded():
    t = hashes.Transcript(64)
    assert t.digest() == hashes.sha256(b"")
    assert t.update(b"abc")
    assert t.digest() == hashes.sha256(b"abc")
    assert t.digest() == hashes.sha256(b"abc")  # non-destructive
    assert t.update(memoryview(b"xdefx")[1:4])
    assert t.digest() == hashes.sha256(b"abcdef")
    assert not t.update(bytes(59))  # 6 + 59 > 64: refused, unchanged
    assert len(t) == 6
    assert t.update(bytes(58))
    assert len(t) == 64
    t.reset()
    assert t.digest() == hashes.sha256(b"")


def test_random_bytes_and_into():
    a = random.random_bytes(16)
    b = random.random_bytes(16)
    assert len(a) == 16 and a != b  # equal with probability 2**-128
    buf = bytearray(32)
    random.random_into(buf)
    assert buf != bytearray(32)
    view = memoryview(bytearray(40))
    random.random_into(view)
    assert bytes(view) != bytes(40)
