"""DTLS 1.2 for WebRTC (RFC 6347, RFC 5764): `record` and `handshake` codecs, `Connection`.

`dtls.Connection(profile, role, certificate, remote_fingerprint, srtp_profiles)` is the machine;
see docs/dtls.md.
"""

from rtc_micro.dtls.connection import CLIENT, SERVER, Connection  # noqa: F401
