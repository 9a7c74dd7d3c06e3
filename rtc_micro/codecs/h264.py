"""H.264 over RTP, packetization-mode 1 (RFC 6184): single NAL units, STAP-A, FU-A.

`H264Packetizer` turns an Annex-B access unit into RTP payloads of at most `max_payload` bytes,
sending the remembered SPS and PPS as one STAP-A before every IDR picture (§5.7.1) so that a
receiver joining late, or recovering from loss, can decode the keyframe. `H264Depacketizer`
rebuilds Annex-B access units (4-byte start codes) from payloads.
"""

import micropython

from rtc_micro.codecs import FrameAssembler, copy_into
from rtc_micro.compat import const, fast, ptr8  # noqa: F401  (viper annotation names)
from rtc_micro.errors import ConfigError

NAL_IDR = const(5)
NAL_SEI = const(6)
NAL_SPS = const(7)
NAL_PPS = const(8)
NAL_AUD = const(9)
NAL_STAP_A = const(24)  # RFC 6184 §5.7.1
NAL_FU_A = const(28)  # RFC 6184 §5.8
CLOCK_RATE = const(90000)
_RTP_AND_SRTP = const(28)  # RTP header (12) + SRTP trailer room (16)


@micropython.viper
def _find_start_viper(buf: ptr8, pos: int, end: int) -> int:
    i = pos
    while i + 2 < end:
        if buf[i + 2] > 1:
            i += 3
        elif buf[i] == 0 and buf[i + 1] == 0 and buf[i + 2] == 1:
            return i + 3
        else:
            i += 1
    return -1


def _find_start_pure(buf, pos, end):
    i = pos
    while i + 2 < end:
        if buf[i + 2] > 1:  # no start code can end here or in the next two bytes
            i += 3
        elif buf[i] == 0 and buf[i + 1] == 0 and buf[i + 2] == 1:
            return i + 3
        else:
            i += 1
    return -1


# find_start(buf, pos, end): offset of the first NAL byte after a 00 00 01 start code at or
# after `pos`, or -1.
find_start = fast(_find_start_viper, _find_start_pure)


def nal_end(buf, start, end):
    """End of the NAL unit starting at `start`: the next start code (its zeros excluded)."""
    nxt = find_start(buf, start, end)
    if nxt < 0:
        return end
    e = nxt - 3
    while e > start and buf[e - 1] == 0:  # a 4-byte start code's leading zero
        e -= 1
    return e


def _unit_start(buf, pos, end, seen_slice):
    """The header offset of the first NAL unit after `pos` that begins a new access unit, or -1:
    an AUD, SPS, PPS or SEI after a slice, or a slice whose first_mb_in_slice is 0 (its first
    header bit set) (H.264 §7.4.1.2.3). `seen_slice`: a slice of this unit came before `pos`."""
    s = find_start(buf, pos, end)
    while s >= 0:
        t = buf[s] & 31
        if t == NAL_IDR or t == 1:
            if seen_slice and s + 1 < end and buf[s + 1] & 0x80:
                return s
            seen_slice = True
        elif seen_slice and (t == NAL_AUD or t == NAL_SPS or t == NAL_PPS or t == NAL_SEI):
            return s
        s = find_start(buf, s, end)
    return -1


def _code_start(buf, s, low):
    """Where the start code in front of NAL header `s` begins (its leading zeros included)."""
    e = s - 3
    while e > low and buf[e - 1] == 0:
        e -= 1
    return e


def access_unit_end(buf, pos, end):
    """Where the access unit starting at `pos` (on a start code) ends in an Annex-B stream."""
    s = _unit_start(buf, pos, end, False)
    return end if s < 0 else _code_start(buf, s, pos)


class H264Packetizer:
    """Payloads for one access unit at a time: `begin(au, off, n)`, then `next(out, off)` -> n
    until 0; `marker` is 1 on the access unit's last payload (RFC 6184 §5.1)."""

    def __init__(self, profile, max_payload=0):
        self.max_payload = max_payload if max_payload > 0 else profile.mtu - _RTP_AND_SRTP
        if self.max_payload < 64:
            raise ConfigError("max_payload too small for H.264 packetization")
        self._sps = bytearray(self.max_payload)
        self._pps = bytearray(self.max_payload)
        self.sps_len = 0
        self.pps_len = 0
        self.marker = 0
        self._au = None
        self._pos = 0
        self._end = 0
        self._ns = -1  # current NAL: start, end; -1 when none
        self._ne = 0
        self._fu = 0  # FU-A: next byte of the current NAL to send (0: not fragmenting)
        self._stap = False
        self._params_sent = False

    def begin(self, au, off, n):
        self._au = au
        self._end = off + n
        self._pos = find_start(au, off, off + n)
        if self._pos < 0:  # no start code: the whole buffer is one NAL unit
            self._pos = off
            self._ns = off
            self._ne = off + n
            self._pos = off + n
        else:
            self._ns = -1
        self._fu = 0
        self._stap = False
        self._params_sent = False  # once per access unit, even with several IDR slices
        self.marker = 0

    def _advance(self):
        if self._pos < 0 or self._pos >= self._end:
            return False
        s = self._pos
        e = nal_end(self._au, s, self._end)
        nxt = find_start(self._au, e, self._end)
        self._pos = nxt if nxt >= 0 else self._end
        self._ns = s
        self._ne = e
        return e > s

    def next(self, out, off):
        au = self._au
        while True:
            if self._stap:
                self._stap = False
                return self._write_stap(out, off)
            if self._ns < 0:
                if not self._advance():
                    self._ns = -1
                    if self._pos >= self._end:
                        return 0
                    continue
                t = au[self._ns] & 31
                if t == NAL_SPS or t == NAL_PPS:
                    self._remember(t)
                    self._ns = -1
                    continue
                if t == NAL_AUD:  # carries nothing RTP needs
                    self._ns = -1
                    continue
                if t == NAL_IDR and self.sps_len and self.pps_len and not self._params_sent:
                    self._stap = True
                    self._params_sent = True
                continue
            return self._write_nal(out, off)

    def _remember(self, t):
        n = self._ne - self._ns
        if n > self.max_payload:
            return
        if t == NAL_SPS:
            copy_into(self._sps, 0, self._au, self._ns, n)
            self.sps_len = n
        else:
            copy_into(self._pps, 0, self._au, self._ns, n)
            self.pps_len = n

    def _write_stap(self, out, off):
        a = self.sps_len
        b = self.pps_len
        self.marker = 0
        if 1 + 2 + a + 2 + b > self.max_payload:  # too big together: SPS now, PPS next time
            copy_into(out, off, self._sps, 0, a)
            return a
        out[off] = (self._sps[0] & 0x60) | NAL_STAP_A  # NRI of the parameter sets
        out[off + 1] = a >> 8
        out[off + 2] = a & 255
        copy_into(out, off + 3, self._sps, 0, a)
        o = off + 3 + a
        out[o] = b >> 8
        out[o + 1] = b & 255
        copy_into(out, o + 2, self._pps, 0, b)
        return 1 + 2 + a + 2 + b

    def _write_nal(self, out, off):
        au = self._au
        s = self._ns
        e = self._ne
        if self._fu == 0 and e - s <= self.max_payload:
            copy_into(out, off, au, s, e - s)
            self._ns = -1
            self.marker = 1 if self._pos >= self._end else 0
            return e - s
        hdr = au[s]
        start = self._fu == 0
        if start:
            self._fu = s + 1  # the NAL header byte travels in the FU indicator/header
        room = self.max_payload - 2
        n = e - self._fu
        end = n <= room
        if not end:
            n = room
        out[off] = (hdr & 0xE0) | NAL_FU_A
        out[off + 1] = (0x80 if start else 0) | (0x40 if end else 0) | (hdr & 31)
        copy_into(out, off + 2, au, self._fu, n)
        self._fu += n
        self.marker = 0
        if end:
            self._fu = 0
            self._ns = -1
            self.marker = 1 if self._pos >= self._end else 0
        return n + 2


class H264Depacketizer(FrameAssembler):
    """Rebuilds Annex-B access units: `push(buf, off, n, seq, marker)` -> length of a complete
    access unit in `frame[0:n]` (on the marker packet), else 0. A sequence gap or a broken
    FU-A drops the access unit (`lost_frames`); `keyframe` says whether it held an IDR."""

    def __init__(self, profile):
        super().__init__(profile)
        self._in_fu = False

    def _reset(self):
        self.len = 0
        self._broken = False
        self._in_fu = False
        self.keyframe = False

    def _start_code(self, hdr):
        if self.len + 4 > len(self.frame):
            self._broken = True
            return
        f = self.frame
        f[self.len] = f[self.len + 1] = f[self.len + 2] = 0
        f[self.len + 3] = 1
        self.len += 4
        t = hdr & 31
        if t == NAL_IDR or t == NAL_SPS:
            self.keyframe = True

    def push(self, buf, off, n, seq, marker):
        self._next_seq(seq)
        if n < 1:
            self._broken = True
        else:
            self._payload(buf, off, n)
        if not marker:
            return 0
        done = 0 if self._broken or self._in_fu else self.len
        if not done:
            self.lost_frames += 1
        keyframe = self.keyframe
        self._reset()
        self.keyframe = keyframe
        return done

    def _payload(self, buf, off, n):
        t = buf[off] & 31
        if self.len == 0 and not self._in_fu:
            self.keyframe = False
        if 1 <= t <= 23:
            self._start_code(buf[off])
            self._append(buf, off, n)
        elif t == NAL_STAP_A:
            i = off + 1
            end = off + n
            while i + 2 <= end:
                size = (buf[i] << 8) | buf[i + 1]
                i += 2
                if size == 0 or i + size > end:
                    self.malformed += 1
                    self._broken = True
                    return
                self._start_code(buf[i])
                self._append(buf, i, size)
                i += size
        elif t == NAL_FU_A and n >= 2:
            fu = buf[off + 1]
            if fu & 0x80:
                if self._in_fu:
                    self._broken = True
                hdr = (buf[off] & 0xE0) | (fu & 31)
                self._start_code(hdr)
                if self.len < len(self.frame):
                    self.frame[self.len] = hdr
                    self.len += 1
                self._in_fu = True
            elif not self._in_fu:
                self._broken = True  # a middle or end fragment without its start
                return
            self._append(buf, off + 2, n - 2)
            if fu & 0x40:
                self._in_fu = False
        else:
            self.malformed += 1
            self._broken = True


class AnnexBReader:
    """Access units of an Annex-B H.264 stream, one at a time, through a buffer of
    `profile.video_frame_bytes` (a board streams a file from flash without holding it).

    `src` is bytes/bytearray or a file object (`readinto`, `seek` for `rewind`).
    `next_access_unit()` -> n: the unit is `buf[off:off+n]`, valid until the next call; 0 at the
    end of the stream. A unit larger than the buffer is skipped and counted in `oversize`.
    """

    def __init__(self, src, profile):
        self.buf = bytearray(profile.video_frame_bytes)
        self._bv = memoryview(self.buf)
        self._file = src if hasattr(src, "readinto") else None
        self._mem = None if self._file is not None else src
        self.off = 0
        self.oversize = 0
        self.rewind()

    def rewind(self):
        """Back to the start of the stream (a file's first unit is its first keyframe)."""
        if self._file is not None:
            self._file.seek(0)
        self._mpos = 0
        self._start = 0  # unread data is buf[_start:_end]
        self._end = 0
        self._eof = False

    def _fill(self):
        """Move the unread data to the front and read more behind it; False when none came."""
        n = self._end - self._start
        if self._start:
            copy_into(self.buf, 0, self.buf, self._start, n)
        self._start = 0
        self._end = n
        room = len(self.buf) - n
        if self._file is not None:
            got = self._file.readinto(self._bv[n:]) or 0
        else:
            got = min(room, len(self._mem) - self._mpos)
            copy_into(self.buf, n, self._mem, self._mpos, got)
            self._mpos += got
        self._end += got
        if got == 0:
            self._eof = True
        return got > 0

    def next_access_unit(self):
        while True:
            s = self._start
            e = access_unit_end(self.buf, s, self._end) if self._end > s else s
            if e < self._end or (self._eof and e > s):
                self.off = s
                self._start = e
                return e - s
            if self._eof:
                return 0
            if s == 0 and self._end == len(self.buf):  # larger than the buffer: skip it
                self.oversize += 1
                self._skip_unit()
                continue
            self._fill()

    def _skip_unit(self):
        """Drop the rest of a unit that does not fit, up to the next unit's first NAL (its
        first slice lies in the full buffer, so every later slice with first_mb 0 starts one)."""
        while True:
            self._start = self._end - 4  # a start code and header byte may straddle the refill
            if not self._fill():
                return
            s = _unit_start(self.buf, 0, self._end, True)
            if s >= 0:
                self._start = _code_start(self.buf, s, 0)
                return
