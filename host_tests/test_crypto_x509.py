"""crypto.x509: self-signed P-256 certificates, public key extraction, fingerprints, files."""

import os

from host_tests.support import raises
from rtc_micro.crypto import der, ec, x509
from rtc_micro.crypto.hashes import sha256

_PATH = "/tmp/rtc_micro_test_x509_%d.pem"

_cert = None


def _shared():
    # One certificate for the read-only tests: generation costs a key pair and a signature.
    global _cert
    if _cert is None:
        _cert = x509.Certificate.generate()
    return _cert


def _split(cert_der):
    """(tbs, signature DER) of a certificate, checking the outer structure on the way."""
    a, end = der.expect(cert_der, 0, len(cert_der), der.SEQUENCE)
    assert end == len(cert_der)
    tag, b, c = der.read(cert_der, a, end)
    assert tag == der.SEQUENCE
    tbs = cert_der[a:c]
    d, e = der.expect(cert_der, c, end, der.SEQUENCE)
    assert cert_der[d:e] == b"\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"
    f, g = der.expect(cert_der, e, end, der.BIT_STRING)
    assert g == end and cert_der[f] == 0
    return tbs, cert_der[f + 1 : g]


def test_generate_is_self_signed_p256():
    cert = _shared()
    assert len(cert.private_key) == 32 and len(cert.public_key) == 65
    assert x509.public_key_from_der(cert.der) == cert.public_key
    tbs, sig = _split(cert.der)
    assert ec.p256_verify(cert.public_key, sha256(tbs), sig)
    assert not ec.p256_verify(cert.public_key, sha256(tbs + b"\x00"), sig)
    assert b"rtc_micro" in tbs
    assert b"250101000000Z" in tbs and b"350101000000Z" in tbs
    a = der.expect(tbs, 0, len(tbs), der.SEQUENCE)[0]
    assert tbs[a : a + 5] == b"\xa0\x03\x02\x01\x02"  # [0] version v3 comes first


def test_fingerprint_sdp_form():
    cert = _shared()
    fp = cert.fingerprint()
    assert fp == x509.fingerprint_sha256(cert.der)
    parts = fp.split(":")
    assert len(parts) == 32
    assert bytes.fromhex("".join(parts)) == sha256(cert.der)
    assert fp == fp.upper()
    assert x509.fingerprint_sha256(b"abc") == (
        "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:"
        "B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
    )


def test_generate_parameters():
    cert = x509.Certificate.generate(
        common_name="cam-7",
        serial=0x1234,
        not_before=(2024, 5, 6),
        not_after=(2060, 1, 2, 3, 4, 5),
    )
    tbs = _split(cert.der)[0]
    assert b"cam-7" in tbs
    assert b"\x02\x02\x12\x34" in tbs  # serial
    assert b"\x17\x0d240506000000Z" in tbs  # UTCTime
    assert b"\x18\x0f20600102030405Z" in tbs  # GeneralizedTime from 2050 on
    raises(ValueError, x509.Certificate.generate, "x", 0)


def _serial(cert_der):
    tbs = _split(cert_der)[0]
    a, end = der.expect(tbs, 0, len(tbs), der.SEQUENCE)
    a = der.expect(tbs, a, end, der.CONTEXT_0)[1]
    b, c = der.expect(tbs, a, end, der.INTEGER)
    return tbs[b:c]


def test_serials_are_random_positive_16_bytes():
    a = _serial(_shared().der)
    b = _serial(x509.Certificate.generate().der)
    assert len(a) == 16 and len(b) == 16 and a != b
    assert 0x40 <= a[0] < 0x80 and 0x40 <= b[0] < 0x80  # positive, no leading zero byte


def test_save_and_load():
    cert = _shared()
    path = _PATH % 1
    try:
        cert.save(path)
        with open(path) as f:
            text = f.read()
        assert text.startswith("-----BEGIN CERTIFICATE-----\n")
        assert "-----BEGIN EC PRIVATE KEY-----" in text
        again = x509.Certificate.load(path)
        assert again.der == cert.der
        assert again.private_key == cert.private_key
        assert again.public_key == cert.public_key
        assert again.fingerprint() == cert.fingerprint()
        # A key that does not belong to the certificate is refused.
        other = x509.Certificate.generate()
        with open(path, "w") as f:
            f.write(x509._pem("CERTIFICATE", cert.der))
            f.write(x509._pem("EC PRIVATE KEY", x509._ec_private_key_der(other.private_key,
                                                                          other.public_key)))
        raises(ValueError, x509.Certificate.load, path)
        with open(path, "w") as f:
            f.write("not a certificate\n")
        raises(ValueError, x509.Certificate.load, path)
    finally:
        try:
            os.remove(path)
        except OSError:
            pass


def test_public_key_from_der_rejects_garbage():
    cert = _shared()
    d = cert.der
    assert x509.public_key_from_der(memoryview(d)) == cert.public_key
    for bad in (b"", b"\x30", b"\x30\x00", bytes(100), b"\xff" * 300, None, 12):
        assert x509.public_key_from_der(bad) is None
    for n in range(0, len(d), 7):  # every truncation stays silent
        assert x509.public_key_from_der(d[:n]) is None
    # Another curve (secp384r1) in the algorithm identifier: not ours.
    p256_oid = b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07"
    i = d.find(p256_oid)
    assert i > 0
    p384 = d[:i] + b"\x06\x05\x2b\x81\x04\x00\x22" + d[i + len(p256_oid) :]
    assert x509.public_key_from_der(p384) is None
    # A point that is not on the curve.
    j = d.find(cert.public_key)
    assert j > 0
    off = bytearray(d)
    off[j + 64] ^= 1
    assert x509.public_key_from_der(bytes(off)) is None
