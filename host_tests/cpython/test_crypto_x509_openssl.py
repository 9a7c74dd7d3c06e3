"""Our certificates as other stacks see them (CPython only): `cryptography` and `openssl x509`."""

import datetime
import os
import shutil
import subprocess
import tempfile

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec as cec

from rtc_micro.crypto import p256, x509

_PUB = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _with_pure_back_end(monkeypatch):
    # Make the certificate with the MicroPython code path (pure P-256) instead of OpenSSL.
    monkeypatch.setattr(x509.ec, "p256_keypair", lambda: p256.keypair(os.urandom))
    monkeypatch.setattr(x509.ec, "p256_sign", p256.sign)


@pytest.mark.parametrize("pure", [False, True])
def test_cryptography_loads_and_verifies(monkeypatch, pure):
    if pure:
        _with_pure_back_end(monkeypatch)
    cert = x509.Certificate.generate(common_name="device-1")
    c = cx509.load_der_x509_certificate(cert.der)
    assert c.version == cx509.Version.v3
    assert c.serial_number > 0
    assert c.subject == c.issuer
    assert c.subject.get_attributes_for_oid(cx509.NameOID.COMMON_NAME)[0].value == "device-1"
    assert c.not_valid_before_utc.year == 2025 and c.not_valid_after_utc.year == 2035
    assert c.public_key().public_bytes(*_PUB) == cert.public_key
    c.public_key().verify(c.signature, c.tbs_certificate_bytes, cec.ECDSA(hashes.SHA256()))
    c.verify_directly_issued_by(c)
    assert cert.fingerprint() == c.fingerprint(hashes.SHA256()).hex(":").upper()


def test_public_key_from_foreign_certificates():
    # A certificate made by cryptography (with an extension) yields its key; P-384 is refused.
    for curve, ok in ((cec.SECP256R1(), True), (cec.SECP384R1(), False)):
        key = cec.generate_private_key(curve)
        name = cx509.Name([cx509.NameAttribute(cx509.NameOID.COMMON_NAME, "peer")])
        now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        c = (
            cx509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(cx509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(cx509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        der = c.public_bytes(serialization.Encoding.DER)
        got = x509.public_key_from_der(der)
        if ok:
            assert got == key.public_key().public_bytes(*_PUB)
        else:
            assert got is None


def test_openssl_parses_certificate_and_key_file():
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    cert = x509.Certificate.generate()
    with tempfile.TemporaryDirectory() as tmp:
        der_path = os.path.join(tmp, "cert.der")
        with open(der_path, "wb") as f:
            f.write(cert.der)
        out = subprocess.run(
            [openssl, "x509", "-inform", "DER", "-noout", "-text", "-fingerprint", "-sha256",
             "-in", der_path],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
        assert "Version: 3 (0x2)" in out
        assert "ecdsa-with-SHA256" in out
        assert "prime256v1" in out or "P-256" in out
        assert "CN=rtc_micro" in out or "CN = rtc_micro" in out
        assert cert.fingerprint() in out
        pem_path = os.path.join(tmp, "cert.pem")
        cert.save(pem_path)
        subprocess.run([openssl, "x509", "-noout", "-in", pem_path], capture_output=True,
                       timeout=20, check=True)
        out = subprocess.run([openssl, "ec", "-noout", "-text", "-in", pem_path],
                             capture_output=True, text=True, timeout=20, check=True).stdout
        flat = out.replace("\n", "").replace(" ", "")
        priv_hex = flat[flat.index("priv:") + 5 : flat.index("pub:")].replace(":", "")
        assert int(priv_hex, 16) == int.from_bytes(cert.private_key, "big")


@pytest.mark.parametrize("keygen", ["pkcs8", "sec1"])
def test_load_openssl_made_certificate_and_key(keygen):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    with tempfile.TemporaryDirectory() as tmp:
        key, crt, both = (os.path.join(tmp, n) for n in ("key.pem", "cert.pem", "both.pem"))
        if keygen == "sec1":  # EC PARAMETERS + EC PRIVATE KEY blocks
            subprocess.run([openssl, "ecparam", "-genkey", "-name", "prime256v1", "-out", key],
                           capture_output=True, timeout=20, check=True)
            new_key = ["-key", key]
        else:  # PKCS#8 PRIVATE KEY block
            new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                       "-keyout", key]
        subprocess.run([openssl, "req", "-x509", *new_key, "-subj", "/CN=peer", "-days", "1",
                        "-out", crt], capture_output=True, timeout=20, check=True)
        with open(both, "w") as out:
            for name in (crt, key):
                with open(name) as f:
                    out.write(f.read())
        cert = x509.Certificate.load(both)
        fp = subprocess.run([openssl, "x509", "-noout", "-fingerprint", "-sha256", "-in", crt],
                            capture_output=True, text=True, timeout=20, check=True).stdout
        assert fp.strip().endswith("=" + cert.fingerprint())
        assert p256.public_key(cert.private_key) == cert.public_key
