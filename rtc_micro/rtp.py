"""RTP header codec (RFC 3550 §5.1), header extensions (RFC 8285) and RTP/RTCP demux (RFC 5761).

Parsing fills a reused `RtpHeader` with offsets into the caller's buffer (no slices). 32-bit
fields (timestamp, SSRC) stay in the packet bytes: the header exposes their 16-bit halves, and
`ts_add_into`/`ts_diff_at` do 32-bit arithmetic in viper, so no heap int appears on a board
where small ints stop at 2**30.
"""

import micropython

from rtc_micro.compat import const, fast, ptr8, uint  # noqa: F401  (viper annotation names)
from rtc_micro.errors import ConfigError

HEADER_SIZE = const(12)
VERSION = const(2)
ONE_BYTE_PROFILE = const(0xBEDE)  # RFC 8285 §4.2
TWO_BYTE_PROFILE = const(0x1000)  # RFC 8285 §4.3 (low 4 bits: appbits)
_TWO_BYTE_MASK = const(0xFFF0)
_SEQ_MOD = const(0x10000)
_SEQ_HALF = const(0x8000)
_TS_CLAMP = const(0x20000000)  # ts_diff_at saturates here so its result stays a small int


class RtpHeader:
    """A parsed RTP header: fields and offsets into `buf` (valid while `buf` is unchanged)."""

    def __init__(self):
        self.buf = None
        self.off = 0  # first byte of the packet
        self.padding = 0
        self.extension = 0
        self.cc = 0
        self.marker = 0
        self.pt = 0
        self.seq = 0
        self.ts_hi = 0  # timestamp, high and low 16 bits (bytes at off+4)
        self.ts_lo = 0
        self.ssrc_hi = 0  # SSRC halves (bytes at off+8)
        self.ssrc_lo = 0
        self.ext_profile = 0  # "defined by profile" word; 0xBEDE or 0x100X for RFC 8285
        self.ext_off = 0  # first byte of the extension data (after the 4-byte ext header)
        self.ext_len = 0  # extension data length in bytes
        self.payload_off = 0
        self.payload_len = 0
        self.pad_len = 0
        self.elem_len = 0  # set by find_extension: length of the element found

    def timestamp(self):
        """The 32-bit timestamp as an int (may be a heap int on boards: not for hot paths)."""
        return (self.ts_hi << 16) | self.ts_lo

    def ssrc(self):
        """The 32-bit SSRC as an int (may be a heap int on boards: not for hot paths)."""
        return (self.ssrc_hi << 16) | self.ssrc_lo

    def find_extension(self, ext_id):
        """Offset of extension element `ext_id`'s data in `buf`, or -1 (RFC 8285 §4).

        Its length goes to `self.elem_len`.
        """
        if not self.extension:
            return -1
        b = self.buf
        i = self.ext_off
        end = i + self.ext_len
        if self.ext_profile == ONE_BYTE_PROFILE:
            while i < end:
                x = b[i]
                if x == 0:  # padding byte
                    i += 1
                    continue
                eid = x >> 4
                if eid == 15:  # reserved: stop processing (RFC 8285 §4.2)
                    return -1
                ln = (x & 15) + 1
                if i + 1 + ln > end:
                    return -1
                if eid == ext_id:
                    self.elem_len = ln
                    return i + 1
                i += 1 + ln
            return -1
        if (self.ext_profile & _TWO_BYTE_MASK) == TWO_BYTE_PROFILE:
            while i < end:
                eid = b[i]
                if eid == 0:
                    i += 1
                    continue
                if i + 2 > end:
                    return -1
                ln = b[i + 1]
                if i + 2 + ln > end:
                    return -1
                if eid == ext_id:
                    self.elem_len = ln
                    return i + 2
                i += 2 + ln
        return -1


def pull_header(buf, off, n, hdr):
    """Parse the RTP packet `buf[off:off+n]` into `hdr`; False when malformed (RFC 3550 §5.1)."""
    if n < HEADER_SIZE:
        return False
    b0 = buf[off]
    if (b0 >> 6) != VERSION:
        return False
    cc = b0 & 15
    i = off + HEADER_SIZE + 4 * cc
    end = off + n
    if i > end:
        return False
    hdr.buf = buf
    hdr.off = off
    hdr.padding = (b0 >> 5) & 1
    hdr.extension = (b0 >> 4) & 1
    hdr.cc = cc
    b1 = buf[off + 1]
    hdr.marker = b1 >> 7
    hdr.pt = b1 & 127
    hdr.seq = (buf[off + 2] << 8) | buf[off + 3]
    hdr.ts_hi = (buf[off + 4] << 8) | buf[off + 5]
    hdr.ts_lo = (buf[off + 6] << 8) | buf[off + 7]
    hdr.ssrc_hi = (buf[off + 8] << 8) | buf[off + 9]
    hdr.ssrc_lo = (buf[off + 10] << 8) | buf[off + 11]
    hdr.ext_profile = 0
    hdr.ext_off = 0
    hdr.ext_len = 0
    if hdr.extension:
        if i + 4 > end:
            return False
        hdr.ext_profile = (buf[i] << 8) | buf[i + 1]
        ln = 4 * ((buf[i + 2] << 8) | buf[i + 3])
        i += 4
        if i + ln > end:
            return False
        hdr.ext_off = i
        hdr.ext_len = ln
        i += ln
    pad = 0
    if hdr.padding:
        pad = buf[end - 1]
        if pad == 0 or i + pad > end:
            return False
    hdr.pad_len = pad
    hdr.payload_off = i
    hdr.payload_len = end - pad - i
    return True


def push_header(buf, off, pt, seq, timestamp, ssrc, marker=0, csrcs=None):
    """Write a fixed header (+ CSRC list) at `off`; return its length (RFC 3550 §5.1).

    `timestamp` and `ssrc` are ints: use this at setup (templates); hot paths copy them as bytes.
    """
    cc = 0 if csrcs is None else len(csrcs)
    if cc > 15:
        raise ConfigError("at most 15 CSRCs fit an RTP header")
    buf[off] = (VERSION << 6) | cc
    buf[off + 1] = (marker << 7) | (pt & 127)
    buf[off + 2] = (seq >> 8) & 255
    buf[off + 3] = seq & 255
    put_u32(buf, off + 4, timestamp)
    put_u32(buf, off + 8, ssrc)
    i = off + HEADER_SIZE
    for k in range(cc):
        put_u32(buf, i, csrcs[k])
        i += 4
    return i - off


def put_u32(buf, off, value):
    """Write `value` big-endian in 4 bytes (setup paths: `value` may be a heap int)."""
    buf[off] = (value >> 24) & 255
    buf[off + 1] = (value >> 16) & 255
    buf[off + 2] = (value >> 8) & 255
    buf[off + 3] = value & 255


def set_seq(buf, off, seq):
    """Rewrite the sequence number of the packet at `off`."""
    buf[off + 2] = (seq >> 8) & 255
    buf[off + 3] = seq & 255


def set_marker(buf, off, marker):
    """Rewrite the marker bit of the packet at `off`."""
    buf[off + 1] = (buf[off + 1] & 127) | (marker << 7)


def begin_extensions(buf, hdr_off, ext_off, two_byte=False, appbits=0):
    """Start an RFC 8285 extension block at `ext_off` (just after the CSRCs); set the X bit.

    Returns the offset where the first element goes.
    """
    buf[hdr_off] |= 0x10
    profile = (TWO_BYTE_PROFILE | (appbits & 15)) if two_byte else ONE_BYTE_PROFILE
    buf[ext_off] = profile >> 8
    buf[ext_off + 1] = profile & 255
    return ext_off + 4


def push_extension(buf, off, ext_id, src, src_off, n, two_byte=False):
    """Append one element (id, `src[src_off:src_off+n]`); return the next offset (RFC 8285 §4)."""
    if two_byte:
        if ext_id < 1 or ext_id > 255 or n > 255:
            raise ConfigError("two-byte extension: id 1-255, length 0-255")
        buf[off] = ext_id
        buf[off + 1] = n
        off += 2
    else:
        if ext_id < 1 or ext_id > 14 or n < 1 or n > 16:
            raise ConfigError("one-byte extension: id 1-14, length 1-16 (use two_byte)")
        buf[off] = (ext_id << 4) | (n - 1)
        off += 1
    for k in range(n):
        buf[off + k] = src[src_off + k]
    return off + n


def end_extensions(buf, ext_off, off):
    """Pad the block begun at `ext_off` to 32 bits and write its length; return the end offset."""
    while (off - ext_off) & 3:
        buf[off] = 0
        off += 1
    words = (off - ext_off - 4) >> 2
    buf[ext_off + 2] = words >> 8
    buf[ext_off + 3] = words & 255
    return off


def push_padding(buf, hdr_off, end, count):
    """Append `count` (1-255) padding bytes at `end`, set the P bit; return the new end (§5.1)."""
    if count < 1 or count > 255:
        raise ConfigError("RTP padding is 1-255 bytes")
    for k in range(count - 1):
        buf[end + k] = 0
    buf[end + count - 1] = count
    buf[hdr_off] |= 0x20
    return end + count


def seq_diff(a, b):
    """`a - b` for 16-bit sequence numbers, in -32768..32767 (serial arithmetic, RFC 1982)."""
    return ((a - b + _SEQ_HALF) & (_SEQ_MOD - 1)) - _SEQ_HALF


def seq_add(a, delta):
    """`a + delta` modulo 2**16."""
    return (a + delta) & (_SEQ_MOD - 1)


def ts_diff(a, b):
    """`a - b` for 32-bit timestamps given as ints, signed (serial arithmetic)."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


@micropython.viper
def _ts_add_viper(buf: ptr8, off: int, delta: int):
    v = (uint(buf[off]) << 24) | (uint(buf[off + 1]) << 16) | (uint(buf[off + 2]) << 8)
    v = v | uint(buf[off + 3])
    v = v + uint(delta)
    buf[off] = (v >> 24) & 255
    buf[off + 1] = (v >> 16) & 255
    buf[off + 2] = (v >> 8) & 255
    buf[off + 3] = v & 255


def _ts_add_pure(buf, off, delta):
    v = (int.from_bytes(bytes(buf[off:off + 4]), "big") + delta) & 0xFFFFFFFF
    put_u32(buf, off, v)


# ts_add_into(buf, off, delta): add `delta` to the 32-bit big-endian value at buf[off], mod 2**32.
ts_add_into = fast(_ts_add_viper, _ts_add_pure)


@micropython.viper
def _ts_diff_viper(a: ptr8, a_off: int, b: ptr8, b_off: int) -> int:
    x = (uint(a[a_off]) << 24) | (uint(a[a_off + 1]) << 16) | (uint(a[a_off + 2]) << 8)
    x = x | uint(a[a_off + 3])
    y = (uint(b[b_off]) << 24) | (uint(b[b_off + 1]) << 16) | (uint(b[b_off + 2]) << 8)
    y = y | uint(b[b_off + 3])
    d = (x - y) & uint(0xFFFFFFFF)
    if d & uint(0x80000000):
        m = (uint(0) - d) & uint(0xFFFFFFFF)  # magnitude of a negative difference
        if m > uint(_TS_CLAMP):
            return 0 - _TS_CLAMP
        return 0 - int(m)
    if d > uint(_TS_CLAMP):
        return _TS_CLAMP
    return int(d)


def _ts_diff_pure(a, a_off, b, b_off):
    d = ts_diff(int.from_bytes(bytes(a[a_off:a_off + 4]), "big"),
                int.from_bytes(bytes(b[b_off:b_off + 4]), "big"))
    if d > _TS_CLAMP:
        return _TS_CLAMP
    if d < -_TS_CLAMP:
        return -_TS_CLAMP
    return d


# ts_diff_at(a, a_off, b, b_off): signed 32-bit difference of the big-endian values at a[a_off]
# and b[b_off], saturated at +-2**29 so that it is always a small int.
ts_diff_at = fast(_ts_diff_viper, _ts_diff_pure)


def same4(a, a_off, b, b_off):
    """True when the 4 bytes at `a[a_off]` and `b[b_off]` are equal (SSRC compare, no ints)."""
    return (a[a_off] == b[b_off] and a[a_off + 1] == b[b_off + 1]
            and a[a_off + 2] == b[b_off + 2] and a[a_off + 3] == b[b_off + 3])


def copy4(dst, dst_off, src, src_off):
    """Copy 4 bytes (a 32-bit field) without making an int of them."""
    dst[dst_off] = src[src_off]
    dst[dst_off + 1] = src[src_off + 1]
    dst[dst_off + 2] = src[src_off + 2]
    dst[dst_off + 3] = src[src_off + 3]


def is_rtp_or_rtcp(buf, n):
    """First byte 128-191: RTP or RTCP on a multiplexed port (RFC 7983 §7)."""
    return n > 0 and 128 <= buf[0] <= 191


def is_rtcp(buf, n):
    """Second byte 192-223 (RTCP packet types, RFC 5761 §4): RTCP rather than RTP."""
    return n >= 8 and 192 <= buf[1] <= 223
