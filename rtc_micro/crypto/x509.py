"""X.509 (RFC 5280) as far as WebRTC needs it: a self-signed ECDSA P-256 certificate, the public
key of a peer's certificate, and SHA-256 fingerprints in SDP form (RFC 8122 §5).

Browsers check only the fingerprint, so the certificate is minimal: v3, random positive serial,
ecdsa-with-SHA256, issuer = subject = CN, no extensions, and a wide fixed validity window by
default (a device may not know the date). File format (`save`/`load`): PEM text, a CERTIFICATE
block then an EC PRIVATE KEY block (RFC 5915), so `openssl x509`/`openssl ec` read it too; `load`
also takes a PKCS#8 PRIVATE KEY block (what `openssl req -newkey ec` writes).
"""

import binascii

from rtc_micro.crypto import der, ec, p256
from rtc_micro.crypto.hashes import sha256
from rtc_micro.crypto.random import random_bytes

_OID_EC_PUBLIC_KEY = b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"  # 1.2.840.10045.2.1
_OID_PRIME256V1 = b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07"  # 1.2.840.10045.3.1.7
_OID_ECDSA_SHA256 = b"\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"  # 1.2.840.10045.4.3.2
_OID_COMMON_NAME = b"\x06\x03\x55\x04\x03"  # 2.5.4.3

_SIG_ALG = der.tlv(der.SEQUENCE, [_OID_ECDSA_SHA256])
_SPKI_ALG = der.tlv(der.SEQUENCE, [_OID_EC_PUBLIC_KEY, _OID_PRIME256V1])

NOT_BEFORE = (2025, 1, 1, 0, 0, 0)
NOT_AFTER = (2035, 1, 1, 0, 0, 0)

_PEM_CERT = "CERTIFICATE"
_PEM_KEY = "EC PRIVATE KEY"
_PEM_PKCS8 = "PRIVATE KEY"


def _time(t):
    """UTCTime for 1950..2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5); `t` is
    (year, month, day[, hour, minute, second, ...]) as from time.gmtime()."""
    t = tuple(t) + (0, 0, 0)
    year = t[0]
    s = "%02d%02d%02d%02d%02dZ" % (t[1], t[2], t[3], t[4], t[5])
    if 1950 <= year < 2050:
        return der.tlv(der.UTC_TIME, [("%02d" % (year % 100) + s).encode()])
    return der.tlv(der.GENERALIZED_TIME, [("%04d" % year + s).encode()])


def _name(common_name):
    cn = der.tlv(der.UTF8_STRING, [common_name.encode()])
    atv = der.tlv(der.SEQUENCE, [_OID_COMMON_NAME, cn])
    return der.tlv(der.SEQUENCE, [der.tlv(der.SET, [atv])])


def _spki(pub):
    return der.tlv(der.SEQUENCE, [_SPKI_ALG, der.tlv(der.BIT_STRING, [b"\x00", pub])])


def fingerprint_sha256(cert_der):
    """SHA-256 of the DER certificate as SDP writes it: "AB:CD:..." (RFC 8122 §5)."""
    return ":".join("%02X" % b for b in sha256(cert_der))


def public_key_from_der(cert_der):
    """The 65-byte P-256 public key of a DER certificate, or None (other key types, malformed
    input, a point not on the curve); never raises."""
    try:
        buf = bytes(cert_der)
        a, end = der.expect(buf, 0, len(buf), der.SEQUENCE)  # Certificate
        a, end = der.expect(buf, a, end, der.SEQUENCE)  # TBSCertificate
        tag, _, b = der.read(buf, a, end)
        if tag == der.CONTEXT_0:  # version
            a = b
        for want in (der.INTEGER, der.SEQUENCE, der.SEQUENCE, der.SEQUENCE, der.SEQUENCE):
            a = der.expect(buf, a, end, want)[1]  # serial, signature, issuer, validity, subject
        a, end = der.expect(buf, a, end, der.SEQUENCE)  # SubjectPublicKeyInfo
        b, c = der.expect(buf, a, end, der.SEQUENCE)
        if buf[b:c] != _OID_EC_PUBLIC_KEY + _OID_PRIME256V1:
            return None
        b, c = der.expect(buf, c, end, der.BIT_STRING)
        if c - b != 66 or buf[b] != 0:
            return None
        pub = buf[b + 1 : c]
        if p256.decode_point(pub) is None:
            return None
        return pub
    except Exception:  # peer bytes of any shape: no key
        return None


def _ec_private_key_der(priv, pub):
    """ECPrivateKey (RFC 5915 §3) with the curve and the public key."""
    return der.tlv(
        der.SEQUENCE,
        [
            der.integer(1),
            der.tlv(der.OCTET_STRING, [priv]),
            der.tlv(der.CONTEXT_0, [_OID_PRIME256V1]),
            der.tlv(der.CONTEXT_1, [der.tlv(der.BIT_STRING, [b"\x00", pub])]),
        ],
    )


def _private_key_from_der(key):
    """The 32-byte scalar of an ECPrivateKey (RFC 5915 §3) or of a PKCS#8 PrivateKeyInfo
    (RFC 5208 §5) holding a P-256 one; ValueError otherwise."""
    a, end = der.expect(key, 0, len(key), der.SEQUENCE)
    b, c = der.expect(key, a, end, der.INTEGER)
    version = der.read_uint(key, b, c)
    if version == 0:  # PKCS#8
        b, c = der.expect(key, c, end, der.SEQUENCE)
        if key[b:c] != _OID_EC_PUBLIC_KEY + _OID_PRIME256V1:
            raise ValueError("not a P-256 private key")
        b, c = der.expect(key, c, end, der.OCTET_STRING)
        return _private_key_from_der(key[b:c])
    if version != 1:
        raise ValueError("not an EC private key")
    b, c = der.expect(key, c, end, der.OCTET_STRING)
    if c - b != 32:
        raise ValueError("not a P-256 private key")
    return key[b:c]


def _pem(label, data):
    out = ["-----BEGIN %s-----\n" % label]
    for i in range(0, len(data), 48):
        out.append(binascii.b2a_base64(data[i : i + 48]).decode())
    out.append("-----END %s-----\n" % label)
    return "".join(out)


def _unpem(text, label):
    """The DER bytes of the first PEM block labelled `label` in `text`, or None."""
    begin = "-----BEGIN %s-----" % label
    end = "-----END %s-----" % label
    i = text.find(begin)
    j = text.find(end, i)
    if i < 0 or j < 0:
        return None
    body = "".join(text[i + len(begin) : j].split())
    return binascii.a2b_base64(body)


class Certificate:
    """A self-signed ECDSA P-256 certificate and its key: `.der`, `.private_key` (32 bytes),
    `.public_key` (65 bytes, uncompressed)."""

    def __init__(self, cert_der, private_key, public_key):
        self.der = cert_der
        self.private_key = private_key
        self.public_key = public_key

    @classmethod
    def generate(cls, common_name="rtc_micro", serial=None, not_before=None, not_after=None):
        """A new key pair and certificate; `not_before`/`not_after` are (Y, M, D[, h, m, s])."""
        priv, pub = ec.p256_keypair()
        if serial is None:
            b = bytearray(random_bytes(16))
            b[0] = (b[0] & 0x7F) | 0x40  # positive, and 16 bytes long in DER
            serial = int.from_bytes(bytes(b), "big")
        elif serial <= 0:
            raise ValueError("a certificate serial number is a positive integer")
        name = _name(common_name)
        validity = der.tlv(
            der.SEQUENCE, [_time(not_before or NOT_BEFORE), _time(not_after or NOT_AFTER)]
        )
        tbs = der.tlv(
            der.SEQUENCE,
            [
                der.tlv(der.CONTEXT_0, [der.integer(2)]),  # v3
                der.integer(serial),
                _SIG_ALG,
                name,
                validity,
                name,
                _spki(pub),
            ],
        )
        sig = ec.p256_sign(priv, sha256(tbs))
        cert = der.tlv(der.SEQUENCE, [tbs, _SIG_ALG, der.tlv(der.BIT_STRING, [b"\x00", sig])])
        return cls(cert, priv, pub)

    def fingerprint(self):
        """The SHA-256 fingerprint "AB:CD:..." for SDP `a=fingerprint:sha-256`."""
        return fingerprint_sha256(self.der)

    def save(self, path):
        """Write the certificate and private key as PEM (see module docstring)."""
        key = _ec_private_key_der(self.private_key, self.public_key)
        with open(path, "w") as f:
            f.write(_pem(_PEM_CERT, self.der))
            f.write(_pem(_PEM_KEY, key))

    @classmethod
    def load(cls, path):
        """Read a PEM file with a certificate and its key, as `save` writes it (ValueError if
        a block is missing or malformed, or the key does not belong to the certificate).

        Checks the key by computing its public key: one P-256 multiplication (tens of ms on a
        board), once at boot."""
        with open(path) as f:
            text = f.read()
        cert = _unpem(text, _PEM_CERT)
        key = _unpem(text, _PEM_KEY) or _unpem(text, _PEM_PKCS8)
        if cert is None or key is None:
            raise ValueError("%s: needs a CERTIFICATE and an EC PRIVATE KEY block" % path)
        pub = public_key_from_der(cert)
        if pub is None:
            raise ValueError("%s: the certificate has no P-256 public key" % path)
        priv = _private_key_from_der(key)
        if p256.public_key(priv) != pub:
            raise ValueError("%s: the private key does not belong to the certificate" % path)
        return cls(cert, priv, pub)
