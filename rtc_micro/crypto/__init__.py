"""Crypto seam (see docs/crypto.md): one small interface, a back end per runtime.

Modules, imported directly so a device loads only what it uses:
- `crypto.random`: `random_bytes(n)`, `random_into(buf)` (os.urandom on both runtimes).
- `crypto.hashes`: `sha1(data)`, `sha256(data)`, `Transcript` (running SHA-256 of a handshake).
- `crypto.hmac`: `hmac_sha1`, `hmac_sha256`, `HmacSha1` (precomputed key, `digest_into`),
  `prf_sha256` (TLS 1.2 PRF, RFC 5246 §5).
- `crypto.aes`: `Aes128` (ECB block, CTR keystream XOR), `AesGcm` (RFC 5116 AEAD; `seal_packet`/
  `open_packet` for AAD || data || tag from buf[0], SRTP's layout), in place.
- `crypto.ec`: P-256 ECDH/ECDSA and X25519.
- `crypto.x509`: self-signed ECDSA P-256 certificates, public key from a peer's DER, fingerprints.

Back ends: `cryptography` and the C hashlib/hmac on CPython; on MicroPython `cryptolib` (AES-ECB)
and `hashlib` plus our own `@viper` code with pure twins: `crypto.sha1` (SHA-1 compression for an
allocation-free HMAC-SHA1) and `crypto.ghash` (GCM's GHASH, 4-bit tables).

Internal: `p256` and `x25519` (pure curve code), `field` (modular inverse), `der` (minimal
DER), `sha1`, `ghash`, `bounds` (the MicroPython back end's pieces).
"""
