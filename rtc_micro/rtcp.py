"""RTCP (RFC 3550 §6): SR, RR, SDES, BYE; feedback (RFC 4585 NACK/PLI, RFC 5104 FIR, REMB,
transport-cc). Compound packets are walked with a reused `RtcpCursor` (no callbacks, no slices).

Fields are read at offsets the cursor gives; 32-bit values (SSRC, NTP, LSR) are compared or
copied as bytes on hot paths (`rtp.same4`/`copy4`); `u32` is for setup and tests.
"""

from rtc_micro.compat import const
from rtc_micro.rtp import copy4, put_u32

SR = const(200)
RR = const(201)
SDES = const(202)
BYE = const(203)
APP = const(204)
RTPFB = const(205)  # RFC 4585 §6.1 transport-layer feedback
PSFB = const(206)  # payload-specific feedback

FMT_NACK = const(1)  # RTPFB
FMT_TWCC = const(15)  # RTPFB, draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1
FMT_PLI = const(1)  # PSFB
FMT_FIR = const(4)  # PSFB, RFC 5104 §4.3.1
FMT_AFB = const(15)  # PSFB application layer feedback (REMB)

SDES_CNAME = const(1)
REPORT_BLOCK_SIZE = const(24)
SR_HEADER_SIZE = const(28)
RR_HEADER_SIZE = const(8)


def u16(buf, off):
    return (buf[off] << 8) | buf[off + 1]


def u32(buf, off):
    """A 32-bit field as an int (setup paths and tests: may be a heap int on boards)."""
    return (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]


class RtcpCursor:
    """Walks the packets of a compound RTCP datagram (RFC 3550 §6.1).

    `reset(buf, off, n)`, then `next()` returns each packet's type (0 at the end, -1 when the
    rest is malformed); `off` is its first byte, `length` its size in bytes, `count` the RC/SC/FMT
    field, `ssrc_off` the sender SSRC, `body` the first byte after the SSRC, `end` its end
    (padding excluded).
    """

    def __init__(self):
        self.buf = None
        self.pos = 0
        self.limit = 0
        self.pt = 0
        self.count = 0
        self.off = 0
        self.length = 0
        self.ssrc_off = 0
        self.body = 0
        self.end = 0
        self.item_len = 0  # set by sdes_cname

    def reset(self, buf, off, n):
        self.buf = buf
        self.pos = off
        self.limit = off + n

    def next(self):
        b = self.buf
        i = self.pos
        if i >= self.limit:
            return 0
        if i + 4 > self.limit or (b[i] >> 6) != 2:
            self.pos = self.limit
            return -1
        ln = 4 * (u16(b, i + 2) + 1)
        if i + ln > self.limit:
            self.pos = self.limit
            return -1
        end = i + ln
        if b[i] & 0x20:  # padding (only legal on the last packet; tolerated anywhere)
            pad = b[end - 1]
            if pad == 0 or pad > ln - 4:
                self.pos = self.limit
                return -1
            end -= pad
        self.off = i
        self.length = ln
        self.count = b[i] & 31
        self.pt = b[i + 1]
        self.ssrc_off = i + 4
        self.body = i + 8
        self.end = end
        self.pos = i + ln
        if end < i + 8 and self.pt != BYE:  # every type we read carries an SSRC
            return -1
        return self.pt


def report_blocks_off(cur):
    """Offset of the first report block of an SR or RR at the cursor (RFC 3550 §6.4)."""
    return cur.off + (SR_HEADER_SIZE if cur.pt == SR else RR_HEADER_SIZE)


def report_blocks_valid(cur):
    """True when the RC report blocks fit inside the packet."""
    return report_blocks_off(cur) + REPORT_BLOCK_SIZE * cur.count <= cur.end


# Report block field offsets (RFC 3550 §6.4.1), relative to the block start.
RB_SSRC = const(0)
RB_FRACTION = const(4)
RB_LOST = const(5)  # 24-bit signed cumulative lost
RB_HIGHEST = const(8)  # extended highest sequence number (cycles << 16 | seq)
RB_JITTER = const(12)
RB_LSR = const(16)
RB_DLSR = const(20)


def rb_lost(buf, off):
    """Cumulative packets lost of the report block at `off`, signed 24-bit."""
    v = (buf[off + RB_LOST] << 16) | (buf[off + RB_LOST + 1] << 8) | buf[off + RB_LOST + 2]
    return v - 0x1000000 if v & 0x800000 else v


def rb_jitter(buf, off):
    """Interarrival jitter in timestamp units, saturated below 2**24 (keeps a small int)."""
    if buf[off + RB_JITTER]:
        return 0xFFFFFF
    return (buf[off + RB_JITTER + 1] << 16) | u16(buf, off + RB_JITTER + 2)


def rb_dlsr_ms(buf, off):
    """DLSR (units of 1/65536 s) in milliseconds, with small-int arithmetic only."""
    return u16(buf, off + RB_DLSR) * 1000 + ((u16(buf, off + RB_DLSR + 2) * 1000) >> 16)


def sdes_cname(cur):
    """Offset of the first chunk's CNAME text and its length in `cur.item_len`, or -1 (§6.5)."""
    b = cur.buf
    i = cur.off + 8  # first chunk's items, after its SSRC
    while i + 2 <= cur.end:
        t = b[i]
        if t == 0:
            return -1
        ln = b[i + 1]
        if i + 2 + ln > cur.end:
            return -1
        if t == SDES_CNAME:
            cur.item_len = ln
            return i + 2
        i += 2 + ln
    return -1


def nack_items(cur):
    """Number of PID/BLP pairs of a generic NACK (RFC 4585 §6.2.1), at `cur.off + 12 + 4k`."""
    return (cur.end - cur.off - 12) >> 2


def fir_items(cur):
    """Number of FIR entries (SSRC, seq nr) at `cur.off + 12 + 8k` (RFC 5104 §4.3.1.1)."""
    return (cur.end - cur.off - 12) >> 3


def media_ssrc_off(cur):
    """Offset of a feedback packet's media source SSRC (RFC 4585 §6.1)."""
    return cur.off + 8


def remb_bitrate(cur):
    """REMB bitrate in bit/s, or -1 if the AFB packet is not REMB (draft-alvestrand-rmcat-remb)."""
    b = cur.buf
    i = cur.off + 12
    if i + 8 > cur.end or b[i] != 0x52 or b[i + 1] != 0x45 or b[i + 2] != 0x4D \
            or b[i + 3] != 0x42:
        return -1
    exp = b[i + 5] >> 2
    mant = ((b[i + 5] & 3) << 16) | u16(b, i + 6)
    if exp > 12:  # beyond 2**30 bit/s: saturate so the result stays a small int on boards
        return 0x3FFFFFFF
    v = mant << exp
    return v if v < 0x3FFFFFFF else 0x3FFFFFFF


class TwccReader:
    """Iterates a transport-cc feedback (RTPFB FMT 15) packet by packet.

    `start(cur)` -> False when malformed; then `next()` -> True while packets remain, setting
    `seq`, `received` (0/1) and `delta_us` (receive delta of received packets, in µs).
    """

    def __init__(self):
        self.buf = None
        self.base_seq = 0
        self.count = 0
        self.ref_time_ms = 0  # reference time, multiples of 64 ms (24-bit signed)
        self.fb_count = 0
        self.seq = 0
        self.received = 0
        self.delta_us = 0
        self._i = 0  # packets yielded so far
        self._chunk = 0  # offset of the current chunk
        self._in_chunk = 0  # packets yielded from the current chunk
        self._delta = 0  # offset of the next receive delta
        self._end = 0

    def start(self, cur):
        b = cur.buf
        i = cur.off + 12
        if i + 8 > cur.end:
            return False
        self.buf = b
        self.base_seq = u16(b, i)
        self.count = u16(b, i + 2)
        ref = (b[i + 4] << 16) | u16(b, i + 5)
        if ref & 0x800000:
            ref -= 0x1000000
        self.ref_time_ms = ref * 64
        self.fb_count = b[i + 7]
        self._end = cur.end
        # Chunks come first; the deltas start after as many chunks as it takes to cover count.
        c = i + 8
        covered = 0
        while covered < self.count:
            if c + 2 > cur.end:
                return False
            covered += self._chunk_len(c)
            c += 2
        self._delta = c
        self._chunk = i + 8
        self._in_chunk = 0
        self._i = 0
        return True

    def _chunk_len(self, c):
        w = u16(self.buf, c)
        if not w & 0x8000:
            return w & 0x1FFF  # run length chunk
        return 14 if not w & 0x4000 else 7  # status vector: 1-bit or 2-bit symbols

    def _status(self, c, k):
        w = u16(self.buf, c)
        if not w & 0x8000:
            return (w >> 13) & 3
        if not w & 0x4000:
            return (w >> (13 - k)) & 1
        return (w >> (12 - 2 * k)) & 3

    def next(self):
        if self._i >= self.count:
            return False
        while self._in_chunk >= self._chunk_len(self._chunk):  # (skips empty run chunks)
            self._chunk += 2
            self._in_chunk = 0
            if self._chunk + 2 > self._delta:  # start() made sure the chunks cover count
                self._i = self.count
                return False
        st = self._status(self._chunk, self._in_chunk)
        self._in_chunk += 1
        self.seq = (self.base_seq + self._i) & 0xFFFF
        self._i += 1
        self.received = 1 if st else 0
        self.delta_us = 0
        b = self.buf
        d = self._delta
        if st == 1:  # small delta: 1 byte, unsigned, 250 µs units
            if d + 1 > self._end:
                self._i = self.count
                return False
            self.delta_us = b[d] * 250
            self._delta = d + 1
        elif st == 2:  # large or negative delta: 2 bytes, signed
            if d + 2 > self._end:
                self._i = self.count
                return False
            v = u16(b, d)
            self.delta_us = (v - 0x10000 if v & 0x8000 else v) * 250
            self._delta = d + 2
        return True


# ---- writers: each returns the offset after what it wrote ----


def _header(buf, off, count, pt, words_after):
    buf[off] = 0x80 | count
    buf[off + 1] = pt
    buf[off + 2] = words_after >> 8
    buf[off + 3] = words_after & 255


def push_sr(buf, off, ssrc, ssrc_off, ntp, ntp_off, rtp_ts, rtp_ts_off, packets, octets,
            blocks=0):
    """SR header + sender info (RFC 3550 §6.4.1); `blocks` report blocks must follow it.

    SSRC, NTP (8 bytes) and RTP timestamp are copied from byte buffers; counts are ints.
    """
    _header(buf, off, blocks, SR, 6 + 6 * blocks)
    copy4(buf, off + 4, ssrc, ssrc_off)
    copy4(buf, off + 8, ntp, ntp_off)
    copy4(buf, off + 12, ntp, ntp_off + 4)
    copy4(buf, off + 16, rtp_ts, rtp_ts_off)
    put_u32(buf, off + 20, packets & 0x3FFFFFFF)
    put_u32(buf, off + 24, octets & 0x3FFFFFFF)
    return off + SR_HEADER_SIZE


def push_rr(buf, off, ssrc, ssrc_off, blocks=0):
    """RR header (RFC 3550 §6.4.2); `blocks` report blocks must follow it."""
    _header(buf, off, blocks, RR, 1 + 6 * blocks)
    copy4(buf, off + 4, ssrc, ssrc_off)
    return off + RR_HEADER_SIZE


def push_report_block(buf, off, ssrc, ssrc_off, fraction, lost, cycles, seq, jitter, lsr,
                      lsr_off, dlsr_hi, dlsr_lo):
    """One report block (RFC 3550 §6.4.1). `lsr` holds the 4 LSR bytes; DLSR as 16-bit halves."""
    copy4(buf, off, ssrc, ssrc_off)
    buf[off + 4] = fraction
    lost &= 0xFFFFFF
    buf[off + 5] = lost >> 16
    buf[off + 6] = (lost >> 8) & 255
    buf[off + 7] = lost & 255
    buf[off + 8] = cycles >> 8
    buf[off + 9] = cycles & 255
    buf[off + 10] = seq >> 8
    buf[off + 11] = seq & 255
    put_u32(buf, off + 12, jitter)
    copy4(buf, off + 16, lsr, lsr_off)
    buf[off + 20] = dlsr_hi >> 8
    buf[off + 21] = dlsr_hi & 255
    buf[off + 22] = dlsr_lo >> 8
    buf[off + 23] = dlsr_lo & 255
    return off + REPORT_BLOCK_SIZE


def push_sdes_cname(buf, off, ssrc, ssrc_off, cname):
    """SDES with one chunk holding a CNAME item (RFC 3550 §6.5.1); `cname` is bytes."""
    n = len(cname)
    body = 4 + 2 + n + 1  # SSRC, type+len, text, at least one null
    body = (body + 3) & ~3
    _header(buf, off, 1, SDES, body >> 2)
    copy4(buf, off + 4, ssrc, ssrc_off)
    buf[off + 8] = SDES_CNAME
    buf[off + 9] = n
    for k in range(n):
        buf[off + 10 + k] = cname[k]
    for k in range(off + 10 + n, off + 4 + body):
        buf[k] = 0
    return off + 4 + body


def push_bye(buf, off, ssrc, ssrc_off):
    """BYE for one SSRC (RFC 3550 §6.6)."""
    _header(buf, off, 1, BYE, 1)
    copy4(buf, off + 4, ssrc, ssrc_off)
    return off + 8


def _feedback(buf, off, fmt, pt, words_after, ssrc, ssrc_off, media, media_off):
    _header(buf, off, fmt, pt, words_after)
    copy4(buf, off + 4, ssrc, ssrc_off)
    copy4(buf, off + 8, media, media_off)
    return off + 12


def push_nack(buf, off, ssrc, ssrc_off, media, media_off, pid, blp):
    """Generic NACK with one PID/BLP pair (RFC 4585 §6.2.1)."""
    off = _feedback(buf, off, FMT_NACK, RTPFB, 3, ssrc, ssrc_off, media, media_off)
    buf[off] = pid >> 8
    buf[off + 1] = pid & 255
    buf[off + 2] = blp >> 8
    buf[off + 3] = blp & 255
    return off + 4


def push_pli(buf, off, ssrc, ssrc_off, media, media_off):
    """Picture Loss Indication (RFC 4585 §6.3.1)."""
    return _feedback(buf, off, FMT_PLI, PSFB, 2, ssrc, ssrc_off, media, media_off)


def push_fir(buf, off, ssrc, ssrc_off, media, media_off, seq_nr):
    """Full Intra Request with one entry (RFC 5104 §4.3.1); media source field is zero."""
    _header(buf, off, FMT_FIR, PSFB, 4)
    copy4(buf, off + 4, ssrc, ssrc_off)
    put_u32(buf, off + 8, 0)
    copy4(buf, off + 12, media, media_off)
    buf[off + 16] = seq_nr & 255
    buf[off + 17] = buf[off + 18] = buf[off + 19] = 0
    return off + 20
