"""STUN codec (RFC 8489, RFC 5389): parse and build binding messages in caller buffers.

Plain functions over `(buf, offset)`: `pull_message` fills a reused `StunMessage` with offsets
(never slices), `push_*` writers build into a preallocated bytearray and return the new end.
Attributes: XOR-MAPPED-ADDRESS (IPv4, IPv6), USERNAME, MESSAGE-INTEGRITY (HMAC-SHA1),
FINGERPRINT (CRC-32), PRIORITY, USE-CANDIDATE, ICE-CONTROLLING/ICE-CONTROLLED (RFC 8445 §16.1),
ERROR-CODE, UNKNOWN-ATTRIBUTES. Nothing here allocates on the answering path; the CRC-32 runs in
viper so its 32-bit value never becomes a heap int on a board.
"""

import binascii

import micropython

from rtc_micro.compat import const, fast, ptr8, uint

HEADER_LEN = const(20)
MAGIC_COOKIE = const(0x2112A442)  # RFC 8489 §5 (below 2**30: a small int on every board)

# Message types (method binding, RFC 8489 §5 and §18.2).
BINDING_REQUEST = const(0x0001)
BINDING_INDICATION = const(0x0011)
BINDING_SUCCESS = const(0x0101)
BINDING_ERROR = const(0x0111)

# Attribute types (RFC 8489 §18.3, RFC 8445 §16.1).
ATTR_MAPPED_ADDRESS = const(0x0001)
ATTR_USERNAME = const(0x0006)
ATTR_MESSAGE_INTEGRITY = const(0x0008)
ATTR_ERROR_CODE = const(0x0009)
ATTR_UNKNOWN_ATTRIBUTES = const(0x000A)
ATTR_REALM = const(0x0014)
ATTR_NONCE = const(0x0015)
ATTR_XOR_MAPPED_ADDRESS = const(0x0020)
ATTR_PRIORITY = const(0x0024)
ATTR_USE_CANDIDATE = const(0x0025)
ATTR_SOFTWARE = const(0x8022)
ATTR_FINGERPRINT = const(0x8028)
ATTR_ICE_CONTROLLED = const(0x8029)
ATTR_ICE_CONTROLLING = const(0x802A)

FAMILY_IPV4 = const(1)
FAMILY_IPV6 = const(2)

# pull_message results.
OK = const(0)
MALFORMED = const(1)  # not STUN, or lengths that do not add up

# Unknown comprehension-required attribute types kept for a 420 answer (RFC 8489 §14.13); a
# protocol bound, not a memory size: a request naming more is answered with the first ones.
MAX_UNKNOWN = const(4)

_INTEGRITY_LEN = const(20)
_FINGERPRINT_XOR_HI = const(0x5354)  # RFC 8489 §14.7: CRC-32 XOR 0x5354554e
_FINGERPRINT_XOR_LO = const(0x554E)


class StunMessage:
    """One parsed message, reused: types, ints and offsets into the caller's buffer (-1 absent)."""

    def __init__(self):
        self.unknown = bytearray(2 * MAX_UNKNOWN)  # unknown comprehension-required types, BE
        self.clear()

    def clear(self):
        self.msg_type = 0
        self.length = 0  # whole message, header included
        self.username_off = -1
        self.username_len = 0
        self.integrity_off = -1  # attribute header of MESSAGE-INTEGRITY
        self.fingerprint_off = -1  # attribute header of FINGERPRINT
        self.xor_address_off = -1  # value of XOR-MAPPED-ADDRESS
        self.xor_address_len = 0
        self.priority_off = -1
        self.use_candidate = False
        self.controlling_off = -1  # 8-byte tie-breaker value
        self.controlled_off = -1
        self.error_code = 0  # class * 100 + number, 0 when absent
        self.unknown_count = 0


def is_stun(buf, n):
    """True when `buf[0:n]` looks like STUN: first byte 0-3 (RFC 7983) and the magic cookie."""
    return (
        n >= HEADER_LEN
        and buf[0] < 4
        and buf[4] == 0x21
        and buf[5] == 0x12
        and buf[6] == 0xA4
        and buf[7] == 0x42
    )


def _u16(buf, i):
    return (buf[i] << 8) | buf[i + 1]


def _put16(buf, i, v):
    buf[i] = (v >> 8) & 0xFF
    buf[i + 1] = v & 0xFF


def pull_message(buf, n, msg):
    """Parse `buf[0:n]` (one whole datagram) into `msg`: OK or MALFORMED (RFC 8489 §5, §14)."""
    msg.clear()
    if not is_stun(buf, n):
        return MALFORMED
    body = _u16(buf, 2)
    if body & 3 or HEADER_LEN + body != n:
        return MALFORMED
    msg.msg_type = _u16(buf, 0)
    msg.length = n
    off = HEADER_LEN
    while off < n:
        if off + 4 > n:
            return MALFORMED
        atype = _u16(buf, off)
        alen = _u16(buf, off + 2)
        val = off + 4
        end = val + ((alen + 3) & ~3)
        if end > n:
            return MALFORMED
        if msg.fingerprint_off >= 0:
            return MALFORMED  # FINGERPRINT must be last (RFC 8489 §14.7)
        if atype == ATTR_FINGERPRINT:
            if alen != 4:
                return MALFORMED
            msg.fingerprint_off = off
        elif msg.integrity_off >= 0:
            pass  # RFC 8489 §14.5: attributes after MESSAGE-INTEGRITY are ignored
        elif atype == ATTR_MESSAGE_INTEGRITY:
            if alen != _INTEGRITY_LEN:
                return MALFORMED
            msg.integrity_off = off
        elif atype == ATTR_USERNAME:
            msg.username_off = val
            msg.username_len = alen
        elif atype == ATTR_PRIORITY:
            if alen != 4:
                return MALFORMED
            msg.priority_off = val
        elif atype == ATTR_USE_CANDIDATE:
            if alen != 0:
                return MALFORMED
            msg.use_candidate = True
        elif atype == ATTR_ICE_CONTROLLING or atype == ATTR_ICE_CONTROLLED:
            if alen != 8:
                return MALFORMED
            if atype == ATTR_ICE_CONTROLLING:
                msg.controlling_off = val
            else:
                msg.controlled_off = val
        elif atype == ATTR_XOR_MAPPED_ADDRESS:
            if alen != 8 and alen != 20:
                return MALFORMED
            msg.xor_address_off = val
            msg.xor_address_len = alen
        elif atype == ATTR_ERROR_CODE:
            if alen < 4:
                return MALFORMED
            msg.error_code = (buf[val + 2] & 7) * 100 + buf[val + 3]
        elif atype < 0x8000 and not _known_required(atype):
            k = msg.unknown_count
            if k < MAX_UNKNOWN:
                _put16(msg.unknown, 2 * k, atype)
            msg.unknown_count = k + 1
        off = end
    return OK


def _known_required(atype):
    """Comprehension-required types we understand or may safely ignore (RFC 8489 §14)."""
    return (
        atype == ATTR_MAPPED_ADDRESS
        or atype == ATTR_UNKNOWN_ATTRIBUTES
        or atype == ATTR_REALM
        or atype == ATTR_NONCE
    )


def message_class(msg_type):
    """0 request, 1 indication, 2 success, 3 error (RFC 8489 §5, C1 and C0 bits)."""
    return ((msg_type >> 7) & 2) | ((msg_type >> 4) & 1)


def check_integrity(buf, msg, hmac, scratch):
    """True when MESSAGE-INTEGRITY verifies under `hmac` (an `HmacSha1`) (RFC 8489 §14.5).

    The length field is set to end at the attribute while hashing, then restored, so `buf` must
    be writable. `scratch` is a 20-byte bytearray the caller keeps.
    """
    mi = msg.integrity_off
    if mi < 0:
        return False
    saved_hi = buf[2]
    saved_lo = buf[3]
    _put16(buf, 2, mi + 4 + _INTEGRITY_LEN - HEADER_LEN)
    hmac.digest_into(buf, 0, mi, scratch, 0)
    buf[2] = saved_hi
    buf[3] = saved_lo
    diff = 0
    val = mi + 4
    for i in range(_INTEGRITY_LEN):
        diff |= scratch[i] ^ buf[val + i]
    return diff == 0


@micropython.viper
def _crc_viper(buf: ptr8, n: int, at: int, write: int) -> int:
    crc = uint(0xFFFFFFFF)
    for i in range(n):
        crc ^= uint(buf[i])
        for _k in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ uint(0xEDB88320)
            else:
                crc = crc >> 1
    crc = crc ^ uint(0xFFFFFFFF) ^ uint(0x5354554E)
    b0 = int((crc >> 24) & 0xFF)
    b1 = int((crc >> 16) & 0xFF)
    b2 = int((crc >> 8) & 0xFF)
    b3 = int(crc & 0xFF)
    if write:
        buf[at] = b0
        buf[at + 1] = b1
        buf[at + 2] = b2
        buf[at + 3] = b3
        return 1
    if buf[at] == b0 and buf[at + 1] == b1 and buf[at + 2] == b2 and buf[at + 3] == b3:
        return 1
    return 0


def _crc_pure(buf, n, at, write):
    crc = binascii.crc32(memoryview(buf)[0:n])
    hi = ((crc >> 16) & 0xFFFF) ^ _FINGERPRINT_XOR_HI
    lo = (crc & 0xFFFF) ^ _FINGERPRINT_XOR_LO
    if write:
        _put16(buf, at, hi)
        _put16(buf, at + 2, lo)
        return 1
    return 1 if _u16(buf, at) == hi and _u16(buf, at + 2) == lo else 0


# fingerprint_crc(buf, n, at, write): CRC-32 of buf[0:n] XOR 0x5354554e, written big-endian at
# buf[at:at+4] (write=1) or compared with it (write=0, returns 1 on a match).
fingerprint_crc = fast(_crc_viper, _crc_pure)


def check_fingerprint(buf, msg):
    """True when FINGERPRINT is present and matches (RFC 8489 §14.7)."""
    fp = msg.fingerprint_off
    return fp >= 0 and fingerprint_crc(buf, fp, fp + 4, 0) == 1


def _set_length(buf, end):
    _put16(buf, 2, end - HEADER_LEN)


def push_header(buf, msg_type, txid_buf, txid_off):
    """Write a header with the 12-byte transaction id from `txid_buf[txid_off:]`; returns 20."""
    _put16(buf, 0, msg_type)
    _put16(buf, 2, 0)
    buf[4] = 0x21
    buf[5] = 0x12
    buf[6] = 0xA4
    buf[7] = 0x42
    for i in range(12):
        buf[8 + i] = txid_buf[txid_off + i]
    return HEADER_LEN


def push_attr(buf, off, atype, src, src_off, n):
    """Append attribute `atype` with value `src[src_off:src_off+n]`, zero padded (RFC 8489 §14)."""
    _put16(buf, off, atype)
    _put16(buf, off + 2, n)
    off += 4
    for i in range(n):
        buf[off + i] = src[src_off + i]
    end = off + ((n + 3) & ~3)
    for i in range(off + n, end):
        buf[i] = 0
    _set_length(buf, end)
    return end


def push_flag(buf, off, atype):
    """Append an attribute with no value (USE-CANDIDATE)."""
    _put16(buf, off, atype)
    _put16(buf, off + 2, 0)
    _set_length(buf, off + 4)
    return off + 4


def push_xor_address(buf, off, family, ip, port):
    """Append XOR-MAPPED-ADDRESS for `ip` (4 or 16 bytes) and `port` (RFC 8489 §14.2).

    The header (cookie and transaction id) must already be in `buf`: they are the XOR key.
    """
    alen = 8 if family == FAMILY_IPV4 else 20
    _put16(buf, off, ATTR_XOR_MAPPED_ADDRESS)
    _put16(buf, off + 2, alen)
    buf[off + 4] = 0
    buf[off + 5] = family
    buf[off + 6] = ((port >> 8) & 0xFF) ^ 0x21
    buf[off + 7] = (port & 0xFF) ^ 0x12
    for i in range(alen - 4):
        buf[off + 8 + i] = ip[i] ^ buf[4 + i]  # cookie, then transaction id
    end = off + 4 + alen
    _set_length(buf, end)
    return end


def pull_xor_address(buf, msg, ip_out):
    """Decode XOR-MAPPED-ADDRESS into `ip_out` (4 or 16 bytes); returns the port, -1 if absent."""
    val = msg.xor_address_off
    if val < 0:
        return -1
    for i in range(msg.xor_address_len - 4):
        ip_out[i] = buf[val + 4 + i] ^ buf[4 + i]
    return _u16(buf, val + 2) ^ 0x2112


def push_error_code(buf, off, code, reason):
    """Append ERROR-CODE `code` (300-699) with `reason` (bytes, UTF-8) (RFC 8489 §14.8)."""
    n = len(reason)
    _put16(buf, off, ATTR_ERROR_CODE)
    _put16(buf, off + 2, 4 + n)
    buf[off + 4] = 0
    buf[off + 5] = 0
    buf[off + 6] = code // 100
    buf[off + 7] = code % 100
    val = off + 8
    for i in range(n):
        buf[val + i] = reason[i]
    end = val + ((n + 3) & ~3)
    for i in range(val + n, end):
        buf[i] = 0
    _set_length(buf, end)
    return end


def push_unknown_attributes(buf, off, msg):
    """Append UNKNOWN-ATTRIBUTES listing `msg`'s unknown required types (RFC 8489 §14.9)."""
    k = msg.unknown_count
    if k > MAX_UNKNOWN:
        k = MAX_UNKNOWN
    return push_attr(buf, off, ATTR_UNKNOWN_ATTRIBUTES, msg.unknown, 0, 2 * k)


def push_integrity(buf, off, hmac):
    """Append MESSAGE-INTEGRITY computed with `hmac` (an `HmacSha1`) (RFC 8489 §14.5)."""
    _put16(buf, off, ATTR_MESSAGE_INTEGRITY)
    _put16(buf, off + 2, _INTEGRITY_LEN)
    end = off + 4 + _INTEGRITY_LEN
    _set_length(buf, end)
    hmac.digest_into(buf, 0, off, buf, off + 4)
    return end


def push_fingerprint(buf, off):
    """Append FINGERPRINT; it must be the last attribute (RFC 8489 §14.7)."""
    _put16(buf, off, ATTR_FINGERPRINT)
    _put16(buf, off + 2, 4)
    _set_length(buf, off + 8)
    fingerprint_crc(buf, off, off + 4, 1)
    return off + 8


def ip_bytes(host, out):
    """Write the address `host` (dotted IPv4 or IPv6 text, or 4/16 raw bytes) into `out`.

    Returns FAMILY_IPV4 or FAMILY_IPV6; 0 when `host` is not an address. Allocates: run it when
    an address is first seen, not per packet.
    """
    if not isinstance(host, str):
        n = len(host)
        if n != 4 and n != 16:
            return 0
        out[0:n] = host
        return FAMILY_IPV4 if n == 4 else FAMILY_IPV6
    if ":" not in host:
        parts = host.split(".")
        if len(parts) != 4:
            return 0
        for i in range(4):
            if not parts[i].isdigit() or int(parts[i]) > 255:
                return 0
            out[i] = int(parts[i])
        return FAMILY_IPV4
    return _ipv6_bytes(host, out)


def _ipv6_bytes(host, out):
    pct = host.find("%")  # zone id (fe80::1%eth0)
    if pct >= 0:
        host = host[:pct]
    halves = host.split("::")
    if len(halves) > 2:
        return 0
    head = _groups(halves[0])
    tail = _groups(halves[1]) if len(halves) == 2 else []
    if head is None or tail is None:
        return 0
    missing = 8 - len(head) - len(tail)
    if missing < 0 or (missing and len(halves) == 1):
        return 0
    groups = head + [0] * missing + tail
    for i in range(8):
        _put16(out, 2 * i, groups[i])
    return FAMILY_IPV6


def _groups(text):
    if not text:
        return []
    out = []
    for g in text.split(":"):
        if not g or len(g) > 4:
            return None
        try:
            out.append(int(g, 16))
        except ValueError:
            return None
    return out


def ip_text(family, ip):
    """The text form of a 4- or 16-byte address (for logs and tests; allocates)."""
    if family == FAMILY_IPV4:
        return "%d.%d.%d.%d" % (ip[0], ip[1], ip[2], ip[3])
    return ":".join("%x" % _u16(ip, 2 * i) for i in range(8))
