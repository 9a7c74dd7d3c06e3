"""SCTP wire format (RFC 9260 §3): common header, chunk headers, CRC-32c, TSN mapping.

Plain `pull_*`/`push_*` functions over (buffer, offset); the association (association.py) owns
all state. 32-bit TSNs never become Python ints here: `pull_rel` maps a wire TSN to a small
signed offset from a base TSN kept as two 16-bit halves, `push_rel` maps it back (see
docs/sctp.md, "32-bit numbers on 32-bit boards").
"""

from rtc_micro.compat import const, fast, ptr8, ptr32, uint  # noqa: F401
from rtc_micro.memory import copy_into
import micropython

# Chunk types (RFC 9260 §3.2, RFC 3758 §3.2, RFC 6525 §3.1).
DATA = const(0)
INIT = const(1)
INIT_ACK = const(2)
SACK = const(3)
HEARTBEAT = const(4)
HEARTBEAT_ACK = const(5)
ABORT = const(6)
SHUTDOWN = const(7)
SHUTDOWN_ACK = const(8)
ERROR = const(9)
COOKIE_ECHO = const(10)
COOKIE_ACK = const(11)
SHUTDOWN_COMPLETE = const(14)
RECONFIG = const(130)
FORWARD_TSN = const(192)

# DATA chunk flags (RFC 9260 §3.3.1).
FLAG_END = const(1)
FLAG_BEGIN = const(2)
FLAG_UNORDERED = const(4)
# ABORT / SHUTDOWN-COMPLETE: the verification tag is the peer's (RFC 9260 §3.3.7).
FLAG_T = const(1)

# Parameters (RFC 9260 §3.3.2-3, RFC 3758 §3.1, RFC 5061 §4.2.7, RFC 6525 §4).
P_HEARTBEAT_INFO = const(1)
P_STATE_COOKIE = const(7)
P_OUTGOING_RESET = const(13)
P_RECONFIG_RESPONSE = const(16)
P_SUPPORTED_EXTENSIONS = const(0x8008)
P_FORWARD_TSN_SUPPORTED = const(0xC000)

# Error causes (RFC 9260 §3.3.10).
CAUSE_PROTOCOL_VIOLATION = const(13)
CAUSE_USER_ABORT = const(12)
CAUSE_UNRECOGNIZED_CHUNK = const(6)

HEADER = const(12)  # common header
DATA_HEADER = const(16)  # DATA chunk header (type .. PPID)

_REL_HALF = const(0x20000000)  # pull_rel results are in [-2**29, 2**29)
_REL_SPAN = const(0x40000000)


def _crc_table():
    """CRC-32c (Castagnoli, reflected 0x82F63B78) table as 256 little-endian words."""
    t = bytearray(1024)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t[4 * i] = c & 0xFF
        t[4 * i + 1] = (c >> 8) & 0xFF
        t[4 * i + 2] = (c >> 16) & 0xFF
        t[4 * i + 3] = c >> 24
    return t


_TABLE = _crc_table()


@micropython.viper
def _crc_viper(src, off: int, n: int, dst):
    t = ptr32(_TABLE)
    p = ptr8(src)
    crc = uint(0xFFFFFFFF)
    i = off
    end = off + n
    while i < end:
        crc = uint(t[(crc ^ uint(p[i])) & 0xFF]) ^ (crc >> 8)
        i += 1
    crc = crc ^ uint(0xFFFFFFFF)
    d = ptr8(dst)
    d[0] = crc & 0xFF
    d[1] = (crc >> 8) & 0xFF
    d[2] = (crc >> 16) & 0xFF
    d[3] = (crc >> 24) & 0xFF


def _crc_pure(src, off, n, dst):
    t = _TABLE
    lo = 0xFFFF  # the CRC as two 16-bit halves, so no step makes a heap int on a board
    hi = 0xFFFF
    for i in range(off, off + n):
        j = ((lo ^ src[i]) & 0xFF) * 4
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ (t[j] | (t[j + 1] << 8))
        hi = (hi >> 8) ^ (t[j + 2] | (t[j + 3] << 8))
    lo ^= 0xFFFF
    hi ^= 0xFFFF
    dst[0] = lo & 0xFF
    dst[1] = lo >> 8
    dst[2] = hi & 0xFF
    dst[3] = hi >> 8


try:
    # CPython: google-crc32c (C, installed with aiortc) when present; MicroPython has no such
    # module and takes the viper twin below.
    from google_crc32c import value as _crc_c_value
except ImportError:
    _crc_c_value = None


def _crc_c(src, off, n, dst):
    v = _crc_c_value(bytes(memoryview(src)[off : off + n]))  # it takes read-only buffers
    dst[0] = v & 0xFF
    dst[1] = (v >> 8) & 0xFF
    dst[2] = (v >> 16) & 0xFF
    dst[3] = v >> 24


# crc32c_into(src, off, n, dst): CRC-32c of src[off:off+n] into dst[0:4], little-endian as
# SCTP carries it (RFC 9260 Appendix B).
crc32c_into = fast(_crc_viper, _crc_pure if _crc_c_value is None else _crc_c)




def seal(buf, n):
    """Fill the checksum field of the SCTP packet buf[0:n] (RFC 9260 §6.8)."""
    buf[8] = buf[9] = buf[10] = buf[11] = 0
    crc32c_into(buf, 0, n, _SEAL)
    buf[8] = _SEAL[0]
    buf[9] = _SEAL[1]
    buf[10] = _SEAL[2]
    buf[11] = _SEAL[3]


_SEAL = bytearray(4)
_SAVED = bytearray(4)


def checksum_ok(buf, n):
    """True when the packet buf[0:n] carries a correct CRC-32c; leaves buf as it found it."""
    s = _SAVED
    for i in range(4):
        s[i] = buf[8 + i]
        buf[8 + i] = 0
    crc32c_into(buf, 0, n, _SEAL)
    ok = True
    for i in range(4):
        buf[8 + i] = s[i]
        if _SEAL[i] != s[i]:
            ok = False
    return ok


def push_header(buf, src_port, dst_port, tag):
    """Common header with verification tag `tag` (4 bytes); checksum left for `seal`."""
    buf[0] = src_port >> 8
    buf[1] = src_port & 0xFF
    buf[2] = dst_port >> 8
    buf[3] = dst_port & 0xFF
    buf[4] = tag[0]
    buf[5] = tag[1]
    buf[6] = tag[2]
    buf[7] = tag[3]


def push_chunk(buf, off, kind, flags, length):
    """A chunk header; returns the offset of its value."""
    buf[off] = kind
    buf[off + 1] = flags
    buf[off + 2] = length >> 8
    buf[off + 3] = length & 0xFF
    return off + 4


def pull_u16(buf, off):
    return (buf[off] << 8) | buf[off + 1]


def push_u16(buf, off, v):
    buf[off] = (v >> 8) & 0xFF
    buf[off + 1] = v & 0xFF


def push_small32(buf, off, v):
    """A 32-bit field holding a value below 2**30 (windows, PPIDs, counts)."""
    buf[off] = (v >> 24) & 0xFF
    buf[off + 1] = (v >> 16) & 0xFF
    buf[off + 2] = (v >> 8) & 0xFF
    buf[off + 3] = v & 0xFF


def pull_small32(buf, off):
    """A 32-bit field as an int, saturated at 2**30 - 1 so it stays a small int on boards."""
    if buf[off] & 0xC0:
        return _REL_SPAN - 1
    return (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]


def pull_rel(buf, off, base_hi, base_lo):
    """Wire TSN at buf[off] minus the base TSN (hi, lo halves), as an int in [-2**29, 2**29).

    RFC 1982 serial arithmetic around the base: numbers just below the base come out negative.
    """
    d_lo = ((buf[off + 2] << 8) | buf[off + 3]) - base_lo
    d_hi = ((buf[off] << 8) | buf[off + 1]) - base_hi
    if d_lo < 0:
        d_lo += 0x10000
        d_hi -= 1
    r = ((d_hi & 0x3FFF) << 16) | d_lo
    return r - _REL_SPAN if r >= _REL_HALF else r


def push_rel(buf, off, base_hi, base_lo, rel):
    """Write the wire TSN base + rel (rel as pull_rel returns it)."""
    if rel < 0:
        rel += _REL_SPAN
        base_hi -= 0x4000  # rel is taken modulo 2**30: undo the span on the high half
    lo = base_lo + (rel & 0xFFFF)
    hi = base_hi + (rel >> 16) + (lo >> 16)
    buf[off] = (hi >> 8) & 0xFF
    buf[off + 1] = hi & 0xFF
    buf[off + 2] = (lo >> 8) & 0xFF
    buf[off + 3] = lo & 0xFF


def padded(n):
    """n rounded up to a multiple of 4 (chunks and parameters are padded, RFC 9260 §3.2)."""
    return (n + 3) & ~3


def push_data(buf, off, flags, base_hi, base_lo, rel, sid, ssn, ppid, src, src_off, n):
    """A DATA chunk (RFC 9260 §3.3.1) carrying src[src_off:src_off+n]; returns the end offset."""
    push_chunk(buf, off, DATA, flags, DATA_HEADER + n)
    push_rel(buf, off + 4, base_hi, base_lo, rel)
    buf[off + 8] = sid >> 8
    buf[off + 9] = sid & 0xFF
    buf[off + 10] = ssn >> 8
    buf[off + 11] = ssn & 0xFF
    push_small32(buf, off + 12, ppid)
    o = off + DATA_HEADER
    copy_into(buf, o, src, src_off, n)
    end = off + padded(DATA_HEADER + n)
    for i in range(o + n, end):
        buf[i] = 0
    return end


def pull_params(buf, off, end):
    """(type, value offset, value length) of each TLV parameter in buf[off:end] (setup only)."""
    out = []
    while off + 4 <= end:
        t = pull_u16(buf, off)
        ln = pull_u16(buf, off + 2)
        if ln < 4 or off + ln > end:
            break
        out.append((t, off + 4, ln - 4))
        off += padded(ln)
    return out


def push_param(buf, off, kind, value):
    """A TLV parameter holding bytes `value`; returns the padded end offset."""
    n = len(value)
    push_u16(buf, off, kind)
    push_u16(buf, off + 2, 4 + n)
    buf[off + 4 : off + 4 + n] = value
    end = off + padded(4 + n)
    for i in range(off + 4 + n, end):
        buf[i] = 0
    return end
