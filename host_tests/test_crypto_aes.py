"""AES-128 (FIPS-197 C.1), CTR (SP 800-38A F.5.1), GCM (GCM spec test cases 1-4), in place."""

from host_tests.support import assert_no_alloc, raises, skip
from rtc_micro import compat
from rtc_micro.crypto import aes, ghash
from rtc_micro.errors import ConfigError

_BACKENDS = ((aes.Aes128, aes.AesGcm), (aes.PortableAes128, aes.PortableAesGcm))

_CTR_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
_CTR_IV = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
_CTR_PLAIN = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)
_CTR_CIPHER = bytes.fromhex(
    "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
    "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"
)

_GCM_K = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
_GCM_IV = bytes.fromhex("cafebabefacedbaddecaf888")
_GCM_P = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
_GCM_C = bytes.fromhex(
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
)
_GCM_A = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")

# (key, iv, plaintext, aad, ciphertext, tag): test cases 1-4 of McGrew & Viega's GCM spec.
_GCM_CASES = (
    (bytes(16), bytes(12), b"", b"", b"", "58e2fccefa7e3061367f1d57a4e7455a"),
    (
        bytes(16),
        bytes(12),
        bytes(16),
        b"",
        bytes.fromhex("0388dace60b6a392f328c2b971b2fe78"),
        "ab6e47d42cec13bdf53a67b21257bddf",
    ),
    (_GCM_K, _GCM_IV, _GCM_P, b"", _GCM_C, "4d5c2af327cd64a62cf35abd2ba6fab4"),
    (_GCM_K, _GCM_IV, _GCM_P[0:60], _GCM_A, _GCM_C[0:60], "5bc94fbc3221a5db94fae95ae7121a47"),
)


def test_aes_fips197_c1():
    key = bytes(range(16))
    src = bytearray(b"..") + bytes.fromhex("00112233445566778899aabbccddeeff")
    for cls, _ in _BACKENDS:
        dst = bytearray(19)
        cls(key).encrypt_block(src, 2, dst, 3)
        assert dst[3:19] == bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")
        assert dst[0:3] == bytes(3)


def test_ctr_sp800_38a_f51():
    for cls, _ in _BACKENDS:
        counter = bytearray(_CTR_IV)
        buf = bytearray(b"xyz") + _CTR_PLAIN
        cls(_CTR_KEY).ctr_xor(counter, buf, 3, 64)
        assert buf[3:] == _CTR_CIPHER
        assert buf[0:3] == b"xyz"
        assert counter == _CTR_IV  # the caller's counter is left alone
        cls(_CTR_KEY).ctr_xor(counter, buf, 3, 61)  # a partial last block
        assert buf[3:64] == _CTR_PLAIN[0:61]


def test_ctr_inc32_wraps_in_the_last_32_bits():
    counter = bytes.fromhex("000102030405060708090a0bfffffffe")
    for cls, _ in _BACKENDS:
        a = cls(_CTR_KEY)
        buf = bytearray(16 * 40)  # more than one keystream batch
        a.ctr_xor(counter, buf, 0, len(buf))
        ctr = bytearray(counter)
        block = bytearray(16)
        for i in range(40):
            a.encrypt_block(ctr, 0, block, 0)
            assert buf[16 * i : 16 * i + 16] == block, i
            c = (int.from_bytes(ctr[12:16], "big") + 1) & 0xFFFFFFFF
            ctr[12:16] = c.to_bytes(4, "big")
        assert ctr[0:12] == counter[0:12]


def test_gcm_spec_test_cases_seal_and_open():
    for _, cls in _BACKENDS:
        for key, iv, plain, aad, cipher, tag in _GCM_CASES:
            g = cls(key)
            buf = bytearray(b"#") + plain
            t = bytearray(18)
            g.seal(iv, aad, 0, len(aad), buf, 1, len(plain), t, 2)
            assert buf[1:] == cipher
            assert t[2:] == bytes.fromhex(tag)
            assert g.open(iv, aad, 0, len(aad), buf, 1, len(plain), t, 2)
            assert buf[1:] == plain and buf[0:1] == b"#"
            # AAD, data and tag in one buffer, the tag right after the data (DTLS, SRTP).
            a, n = len(aad), len(plain)
            one = bytearray(aad + plain + bytes(16))
            g.seal(iv, one, 0, a, one, a, n, one, a + n)
            assert one == aad + cipher + bytes.fromhex(tag)
            assert g.open(iv, one, 0, a, one, a, n, one, a + n)
            assert one[a : a + n] == plain
            one[a + n] ^= 1
            assert not g.open(iv, one, 0, a, one, a, n, one, a + n)
            assert one[a : a + n] == plain


def test_gcm_rejects_wrong_tag_aad_and_data_untouched():
    for _, cls in _BACKENDS:
        g = cls(_GCM_K)
        key, iv, plain, aad, cipher, tag = _GCM_CASES[3]
        tag = bytes.fromhex(tag)
        for i in (0, 15):
            bad = bytearray(tag)
            bad[i] ^= 1
            buf = bytearray(cipher)
            assert not g.open(iv, aad, 0, len(aad), buf, 0, len(buf), bad, 0)
            assert buf == cipher
        buf = bytearray(cipher)
        assert not g.open(iv, aad, 1, len(aad) - 1, buf, 0, len(buf), tag, 0)
        assert not g.open(iv, aad, 0, len(aad), buf, 0, len(buf) - 1, tag, 0)
        assert not g.open(iv, aad, 0, len(aad), buf, 0, len(buf), tag[0:15], 0)  # truncated
        assert not g.open(iv, aad, 0, len(aad), buf, 0, len(buf) + 1, tag, 0)  # past the end
        assert not g.open(iv[0:8], aad, 0, len(aad), buf, 0, len(buf), tag, 0)
        assert buf == cipher
        assert g.open(iv, aad, 0, len(aad), buf, 0, len(buf), tag, 0)


def test_misuse_raises_config_error():
    for cls, gcm in _BACKENDS:
        raises(ConfigError, cls, bytes(15))
        raises(ConfigError, cls(bytes(16)).ctr_xor, bytes(16), bytearray(8), 4, 5)
        raises(ConfigError, cls(bytes(16)).ctr_xor, bytes(12), bytearray(8), 0, 8)
        g = gcm(bytes(16))
        raises(ConfigError, g.seal, bytes(12), b"", 0, 0, bytearray(4), 0, 4, bytearray(15), 0)
        raises(ConfigError, g.seal, bytes(8), b"", 0, 0, bytearray(4), 0, 4, bytearray(16), 0)


def test_viper_twins_agree():
    if not compat.MICROPYTHON:
        skip("the viper twins run on MicroPython only")
    data = bytes((i * 13 + 5) & 0xFF for i in range(100))
    st_v = ghash.new_state(bytes.fromhex("66e94bd4ef8a2c3b884cfa59ca342b2e"))
    st_p = ghash.new_state(bytes.fromhex("66e94bd4ef8a2c3b884cfa59ca342b2e"))
    ghash._update_viper(st_v, data, 3, 96)
    ghash._update_pure(st_p, data, 3, 96)
    assert list(st_v)[0:4] == list(st_p)[0:4] != [0, 0, 0, 0]
    ek = bytes(range(16))
    a = bytearray(16)
    b = bytearray(16)
    ghash._tag_viper(st_v, ek, a, 0)
    ghash._tag_pure(st_p, ek, b, 0)
    assert a == b
    ca = bytearray(b"\x01" * 12 + b"\xff\xff\xff\xfe")
    cb = bytearray(ca)
    ka = bytearray(64)
    kb = bytearray(64)
    aes._ctr_fill_viper(ca, ka, 4)
    aes._ctr_fill_pure(cb, kb, 4)
    assert ca == cb and ka == kb
    aes._xor_viper(ka, 1, data, 50)
    aes._xor_pure(kb, 1, data, 50)
    assert ka == kb
    assert aes._diff16_viper(ka, kb, 0) == aes._diff16_pure(ka, kb, 0) == 0
    kb[15] ^= 0x80
    assert aes._diff16_viper(ka, kb, 0) == aes._diff16_pure(ka, kb, 0) == 0x80


def _roundtrip(g, nonce, aad, buf, tag):
    g.seal(nonce, aad, 0, len(aad), buf, 0, len(buf), tag, 0)
    return g.open(nonce, aad, 0, len(aad), buf, 0, len(buf), tag, 0)


def _open(g, nonce, aad, buf, tag):
    return g.open(nonce, aad, 0, len(aad), buf, 0, len(buf), tag, 0)


def test_gcm_and_ctr_allocate_nothing():
    g = aes.AesGcm(_GCM_K)
    nonce = bytearray(_GCM_IV)
    aad = memoryview(bytearray(13))
    buf = memoryview(bytearray(1200))
    tag = bytearray(16)
    assert assert_no_alloc(_roundtrip, g, nonce, aad, buf, tag)
    assert buf == bytes(1200)
    tag[0] ^= 1
    assert assert_no_alloc(_open, g, nonce, aad, buf, tag) is False
    a = aes.Aes128(_CTR_KEY)
    assert_no_alloc(a.ctr_xor, _CTR_IV, buf, 1, 1199)
    assert_no_alloc(a.encrypt_block, buf, 0, buf, 16)
    assert buf != bytes(1200)
