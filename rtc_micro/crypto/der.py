"""Minimal DER (X.690 §10) writer and strict reader: what ECDSA signatures and X.509 need.

Writer functions return `bytes`; `tlv(tag, parts)` takes a list of already-encoded parts.
Reader functions walk a buffer with offsets and raise `ValueError` on anything that is not
canonical DER (indefinite or non-minimal lengths, overruns, non-minimal INTEGERs); callers that
take peer input catch it.
"""

from rtc_micro.compat import const

INTEGER = const(0x02)
BIT_STRING = const(0x03)
OCTET_STRING = const(0x04)
OID = const(0x06)
UTF8_STRING = const(0x0C)
SEQUENCE = const(0x30)
SET = const(0x31)
UTC_TIME = const(0x17)
GENERALIZED_TIME = const(0x18)
CONTEXT_0 = const(0xA0)  # [0] EXPLICIT, constructed
CONTEXT_1 = const(0xA1)


def _length(n):
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    if n < 0x10000:
        return bytes((0x82, n >> 8, n & 0xFF))
    raise ValueError("DER element longer than 65535 bytes")


def tlv(tag, parts):
    """One element: `tag`, then the concatenation of `parts` (a list of bytes-likes)."""
    body = b"".join(parts)
    return bytes((tag,)) + _length(len(body)) + body


def integer(value):
    """A non-negative INTEGER in minimal two's-complement form."""
    if value < 0:
        raise ValueError("negative DER INTEGER")
    n = 1
    while value >> (8 * n):
        n += 1
    body = value.to_bytes(n, "big")
    if body[0] & 0x80:
        body = b"\x00" + body
    return tlv(INTEGER, [body])


def read(buf, off, end):
    """Read the element at `off`: returns (tag, content_start, content_end)."""
    if off + 2 > end:
        raise ValueError("DER element truncated")
    tag = buf[off]
    if tag & 0x1F == 0x1F:
        raise ValueError("DER high tag numbers not supported")
    n = buf[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 3 or off + k > end:
            raise ValueError("DER length invalid")
        if buf[off] == 0:
            raise ValueError("DER length not minimal")
        n = 0
        for i in range(k):
            n = (n << 8) | buf[off + i]
        off += k
        if n < 0x80:
            raise ValueError("DER length not minimal")
    if off + n > end:
        raise ValueError("DER element overruns its container")
    return tag, off, off + n


def expect(buf, off, end, tag):
    """Read the element at `off`, which must carry `tag`: returns (content_start, content_end)."""
    t, start, stop = read(buf, off, end)
    if t != tag:
        raise ValueError("DER tag 0x%02x where 0x%02x was expected" % (t, tag))
    return start, stop


def read_uint(buf, start, stop):
    """The value of a non-negative INTEGER's content octets (strict minimal form)."""
    if start >= stop:
        raise ValueError("empty DER INTEGER")
    if buf[start] & 0x80:
        raise ValueError("negative DER INTEGER")
    if buf[start] == 0 and stop - start > 1 and not buf[start + 1] & 0x80:
        raise ValueError("DER INTEGER not minimal")
    return int.from_bytes(bytes(buf[start:stop]), "big")


def ecdsa_signature(r, s):
    """Ecdsa-Sig-Value (RFC 5480 §2.2.3 / RFC 3279 §2.2.3): SEQUENCE { r INTEGER, s INTEGER }."""
    return tlv(SEQUENCE, [integer(r), integer(s)])


def read_ecdsa_signature(sig):
    """(r, s) from a DER Ecdsa-Sig-Value; ValueError unless it is exactly one canonical value."""
    end = len(sig)
    start, stop = expect(sig, 0, end, SEQUENCE)
    if stop != end:
        raise ValueError("bytes after the signature")
    a, b = expect(sig, start, stop, INTEGER)
    r = read_uint(sig, a, b)
    c, d = expect(sig, b, stop, INTEGER)
    if d != stop:
        raise ValueError("bytes after s in the signature")
    return r, read_uint(sig, c, d)
