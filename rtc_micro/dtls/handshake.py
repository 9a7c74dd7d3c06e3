"""DTLS 1.2 handshake message codecs (RFC 6347 §4.2.2, RFC 5246 §7.4, RFC 8422, RFC 5764).

Handshake messages are parsed and built once per connection, so these codecs favour clarity over
zero allocation: parsers return small objects (or None when the message is malformed), builders
return bytes. The 12-byte DTLS handshake header is handled with `push_header`/`pull_*`.
"""

from rtc_micro.compat import const

HELLO_REQUEST = const(0)
CLIENT_HELLO = const(1)
SERVER_HELLO = const(2)
HELLO_VERIFY_REQUEST = const(3)
CERTIFICATE = const(11)
SERVER_KEY_EXCHANGE = const(12)
CERTIFICATE_REQUEST = const(13)
SERVER_HELLO_DONE = const(14)
CERTIFICATE_VERIFY = const(15)
CLIENT_KEY_EXCHANGE = const(16)
FINISHED = const(20)

HEADER_LEN = const(12)

TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = const(0xC02B)
GROUP_SECP256R1 = const(23)
GROUP_X25519 = const(29)
ECDSA_SECP256R1_SHA256 = const(0x0403)
CERT_TYPE_ECDSA_SIGN = const(64)
SRTP_AES128_CM_HMAC_SHA1_80 = const(0x0001)
SRTP_AEAD_AES_128_GCM = const(0x0007)

EXT_SUPPORTED_GROUPS = const(10)
EXT_EC_POINT_FORMATS = const(11)
EXT_SIGNATURE_ALGORITHMS = const(13)
EXT_USE_SRTP = const(14)
EXT_EXTENDED_MASTER_SECRET = const(23)
EXT_RENEGOTIATION_INFO = const(0xFF01)

_DTLS12 = const(0xFEFD)
_NAMED_CURVE = const(3)


def pull_u24(buf, off):
    return (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2]


def push_header(buf, off, msg_type, length, seq, frag_off, frag_len):
    """Write a DTLS handshake header (RFC 6347 §4.2.2) at `buf[off]`."""
    buf[off] = msg_type
    buf[off + 1] = (length >> 16) & 0xFF
    buf[off + 2] = (length >> 8) & 0xFF
    buf[off + 3] = length & 0xFF
    buf[off + 4] = (seq >> 8) & 0xFF
    buf[off + 5] = seq & 0xFF
    buf[off + 6] = (frag_off >> 16) & 0xFF
    buf[off + 7] = (frag_off >> 8) & 0xFF
    buf[off + 8] = frag_off & 0xFF
    buf[off + 9] = (frag_len >> 16) & 0xFF
    buf[off + 10] = (frag_len >> 8) & 0xFF
    buf[off + 11] = frag_len & 0xFF


def pull_length(buf, off):
    return pull_u24(buf, off + 1)


def pull_seq(buf, off):
    return (buf[off + 4] << 8) | buf[off + 5]


def pull_frag_off(buf, off):
    return pull_u24(buf, off + 6)


def pull_frag_len(buf, off):
    return pull_u24(buf, off + 9)


def message(msg_type, seq, body):
    """A whole (unfragmented) handshake message with its header, as bytes."""
    n = len(body)
    out = bytearray(HEADER_LEN + n)
    push_header(out, 0, msg_type, n, seq, 0, n)
    out[HEADER_LEN:] = body
    return bytes(out)


class Reader:
    """Bounds-checked reads over `buf[off:end]`; any overrun raises ValueError."""

    def __init__(self, buf, off, end):
        self.buf = buf
        self.off = off
        self.end = end

    def need(self, n):
        if self.off + n > self.end:
            raise ValueError("truncated")

    def u8(self):
        self.need(1)
        self.off += 1
        return self.buf[self.off - 1]

    def u16(self):
        self.need(2)
        self.off += 2
        return (self.buf[self.off - 2] << 8) | self.buf[self.off - 1]

    def u24(self):
        self.need(3)
        self.off += 3
        return pull_u24(self.buf, self.off - 3)

    def take(self, n):
        self.need(n)
        self.off += n
        return bytes(self.buf[self.off - n : self.off])

    def vec8(self):
        return self.take(self.u8())

    def vec16(self):
        return self.take(self.u16())

    def vec24(self):
        return self.take(self.u24())

    def done(self):
        if self.off != self.end:
            raise ValueError("trailing bytes")


def _u16(v):
    return bytes(((v >> 8) & 0xFF, v & 0xFF))


def _u24(v):
    return bytes(((v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF))


def _vec8(b):
    return bytes((len(b),)) + b


def _vec16(b):
    return _u16(len(b)) + b


def _vec24(b):
    return _u24(len(b)) + b


def _u16_list(values):
    out = b""
    for v in values:
        out += _u16(v)
    return out


def _read_u16_list(data):
    if len(data) & 1:
        raise ValueError("odd list")
    out = []
    for i in range(0, len(data), 2):
        out.append((data[i] << 8) | data[i + 1])
    return out


class Hello:
    """A parsed ClientHello or ServerHello (fields of the other kind stay at their defaults)."""

    def __init__(self):
        self.version = 0
        self.random = b""
        self.session_id = b""
        self.cookie = b""
        self.suites = []  # ClientHello: offered; ServerHello: [chosen]
        self.raw_suites = b""
        self.compressions = b""
        self.groups = []
        self.point_formats = b""
        self.sig_algs = []
        self.srtp_profiles = []
        self.srtp_mki = b""
        self.ems = False
        self.reneg_info = None  # bytes when the extension was present
        self.ext_types = []


def _pull_extensions(r, h):
    if r.off == r.end:
        return
    ext = Reader(r.buf, r.off, r.off)
    ext.end = r.off + 2 + r.u16()
    ext.off = r.off
    r.need(ext.end - r.off)
    while ext.off < ext.end:
        t = ext.u16()
        data = ext.vec16()
        if t in h.ext_types:
            raise ValueError("duplicate extension")
        h.ext_types.append(t)
        if t == EXT_SUPPORTED_GROUPS:
            d = Reader(data, 0, len(data))
            h.groups = _read_u16_list(d.vec16())
            d.done()
        elif t == EXT_EC_POINT_FORMATS:
            d = Reader(data, 0, len(data))
            h.point_formats = d.vec8()
            d.done()
        elif t == EXT_SIGNATURE_ALGORITHMS:
            d = Reader(data, 0, len(data))
            h.sig_algs = _read_u16_list(d.vec16())
            d.done()
        elif t == EXT_USE_SRTP:
            d = Reader(data, 0, len(data))
            h.srtp_profiles = _read_u16_list(d.vec16())
            h.srtp_mki = d.vec8()
            d.done()
        elif t == EXT_EXTENDED_MASTER_SECRET:
            if data:
                raise ValueError("extended_master_secret with data")
            h.ems = True
        elif t == EXT_RENEGOTIATION_INFO:
            d = Reader(data, 0, len(data))
            h.reneg_info = d.vec8()
            d.done()
    r.off = ext.end


def pull_client_hello(buf, off, end):
    """Parse a ClientHello body (RFC 6347 §4.2.1, RFC 5246 §7.4.1.2); None when malformed."""
    try:
        r = Reader(buf, off, end)
        h = Hello()
        h.version = r.u16()
        h.random = r.take(32)
        h.session_id = r.vec8()
        h.cookie = r.vec8()
        h.raw_suites = r.vec16()
        h.suites = _read_u16_list(h.raw_suites)
        h.compressions = r.vec8()
        if len(h.session_id) > 32 or not h.suites or not h.compressions:
            return None
        _pull_extensions(r, h)
        r.done()
        return h
    except (ValueError, IndexError):
        return None


def pull_server_hello(buf, off, end):
    """Parse a ServerHello body (RFC 5246 §7.4.1.3); None when malformed."""
    try:
        r = Reader(buf, off, end)
        h = Hello()
        h.version = r.u16()
        h.random = r.take(32)
        h.session_id = r.vec8()
        h.suites = [r.u16()]
        h.compressions = bytes((r.u8(),))
        if len(h.session_id) > 32:
            return None
        _pull_extensions(r, h)
        r.done()
        return h
    except (ValueError, IndexError):
        return None


def pull_hello_verify_request(buf, off, end):
    """The cookie of a HelloVerifyRequest body (RFC 6347 §4.2.1), or None."""
    try:
        r = Reader(buf, off, end)
        r.u16()
        cookie = r.vec8()
        r.done()
        return cookie
    except (ValueError, IndexError):
        return None


def _srtp_ext(profiles):
    return _u16(EXT_USE_SRTP) + _vec16(_vec16(_u16_list(profiles)) + b"\x00")


def client_hello(random, cookie, srtp_profiles):
    """ClientHello body offering our one suite, both groups, EMS and use_srtp."""
    ext = _u16(EXT_SUPPORTED_GROUPS) + _vec16(_vec16(_u16_list((GROUP_X25519, GROUP_SECP256R1))))
    ext += _u16(EXT_EC_POINT_FORMATS) + _vec16(b"\x01\x00")
    ext += _u16(EXT_SIGNATURE_ALGORITHMS) + _vec16(_vec16(_u16(ECDSA_SECP256R1_SHA256)))
    if srtp_profiles:
        ext += _srtp_ext(srtp_profiles)
    ext += _u16(EXT_EXTENDED_MASTER_SECRET) + b"\x00\x00"
    ext += _u16(EXT_RENEGOTIATION_INFO) + b"\x00\x01\x00"
    return (
        _u16(_DTLS12)
        + bytes(random)
        + b"\x00"
        + _vec8(bytes(cookie))
        + _vec16(_u16(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256))
        + b"\x01\x00"
        + _vec16(ext)
    )


def hello_verify_request(cookie):
    """HelloVerifyRequest body; server_version is DTLS 1.0 as RFC 6347 §4.2.1 advises."""
    return b"\xfe\xff" + _vec8(bytes(cookie))


def server_hello(random, suite, srtp_profile, ems, reneg=True, point_formats=True):
    """ServerHello body answering (only) the extensions the client sent (RFC 5246 §7.4.1.4)."""
    ext = b""
    if reneg:
        ext += _u16(EXT_RENEGOTIATION_INFO) + b"\x00\x01\x00"
    if point_formats:
        ext += _u16(EXT_EC_POINT_FORMATS) + _vec16(b"\x01\x00")
    if ems:
        ext += _u16(EXT_EXTENDED_MASTER_SECRET) + b"\x00\x00"
    if srtp_profile:
        ext += _srtp_ext((srtp_profile,))
    return _u16(_DTLS12) + bytes(random) + b"\x00" + _u16(suite) + b"\x00" + _vec16(ext)


def certificate(ders):
    """Certificate body: a list of DER certificates (RFC 5246 §7.4.2)."""
    body = b""
    for der in ders:
        body += _vec24(bytes(der))
    return _vec24(body)


def pull_certificate(buf, off, end):
    """The DER certificates of a Certificate body (list, maybe empty), or None when malformed."""
    try:
        r = Reader(buf, off, end)
        lst = Reader(buf, 0, 0)
        n = r.u24()
        r.need(n)
        lst.off = r.off
        lst.end = r.off + n
        r.off += n
        r.done()
        out = []
        while lst.off < lst.end:
            der = lst.vec24()
            if not der:
                return None
            out.append(der)
        return out
    except (ValueError, IndexError):
        return None


def ecdh_params(group, public):
    """ServerECDHParams (RFC 8422 §5.4): named_curve, group, public point."""
    return bytes((_NAMED_CURVE,)) + _u16(group) + _vec8(bytes(public))


def server_key_exchange(params, signature):
    return params + _u16(ECDSA_SECP256R1_SHA256) + _vec16(bytes(signature))


class KeyExchange:
    """A parsed ServerKeyExchange: group, public point, signed params, signature."""

    def __init__(self):
        self.group = 0
        self.public = b""
        self.params = b""
        self.sig_alg = 0
        self.signature = b""


def pull_server_key_exchange(buf, off, end):
    try:
        r = Reader(buf, off, end)
        k = KeyExchange()
        if r.u8() != _NAMED_CURVE:
            return None
        k.group = r.u16()
        k.public = r.vec8()
        k.params = bytes(buf[off : r.off])
        k.sig_alg = r.u16()
        k.signature = r.vec16()
        r.done()
        return k
    except (ValueError, IndexError):
        return None


def certificate_request():
    """CertificateRequest (RFC 5246 §7.4.4): ecdsa_sign, ecdsa_secp256r1_sha256, no CAs."""
    types = _vec8(bytes((CERT_TYPE_ECDSA_SIGN,)))
    return types + _vec16(_u16(ECDSA_SECP256R1_SHA256)) + b"\x00\x00"


def pull_certificate_request(buf, off, end):
    """The signature algorithms a CertificateRequest accepts, or None when malformed."""
    try:
        r = Reader(buf, off, end)
        types = r.vec8()
        algs = _read_u16_list(r.vec16())
        r.vec16()  # certificate_authorities: WebRTC certificates are self-signed
        r.done()
        if not types:
            return None
        return algs
    except (ValueError, IndexError):
        return None


def client_key_exchange(public):
    return _vec8(bytes(public))


def pull_client_key_exchange(buf, off, end):
    try:
        r = Reader(buf, off, end)
        pub = r.vec8()
        r.done()
        return pub
    except (ValueError, IndexError):
        return None


def certificate_verify(signature):
    return _u16(ECDSA_SECP256R1_SHA256) + _vec16(bytes(signature))


def pull_certificate_verify(buf, off, end):
    """The signature of a CertificateVerify with ecdsa_secp256r1_sha256, or None."""
    try:
        r = Reader(buf, off, end)
        if r.u16() != ECDSA_SECP256R1_SHA256:
            return None
        sig = r.vec16()
        r.done()
        return sig
    except (ValueError, IndexError):
        return None
