"""VP8 over RTP (RFC 7741): the payload descriptor, a packetizer and a depacketizer.

We send X=1 with a 15-bit PictureID (§4.2) so a receiver can tell frames apart across loss; we
accept every optional field on receive. Keyframes are seen in the VP8 payload header: P bit clear
in the first byte of partition 0 (§4.3, RFC 6386 §9.1).
"""

from rtc_micro.codecs import FrameAssembler, copy_into
from rtc_micro.compat import const
from rtc_micro.errors import ConfigError

CLOCK_RATE = const(90000)
_DESCRIPTOR = const(4)  # what we send: X, I+M, 15-bit PictureID
_RTP_AND_SRTP = const(28)


class Vp8Descriptor:
    """Fields of one payload descriptor (RFC 7741 §4.2)."""

    def __init__(self):
        self.start = 0  # S: first packet of a partition
        self.pid = 0  # partition index
        self.non_ref = 0  # N
        self.picture_id = -1  # -1 when absent
        self.tl0picidx = -1
        self.tid = -1
        self.keyidx = -1
        self.size = 0  # descriptor length in bytes


def pull_descriptor(buf, off, n, d):
    """Parse the descriptor at `buf[off]` into `d`; its length, or -1 if malformed."""
    if n < 1:
        return -1
    b = buf[off]
    d.start = (b >> 4) & 1
    d.pid = b & 7
    d.non_ref = (b >> 5) & 1
    d.picture_id = d.tl0picidx = d.tid = d.keyidx = -1
    i = off + 1
    end = off + n
    if b & 0x80:  # X
        if i >= end:
            return -1
        x = buf[i]
        i += 1
        if x & 0x80:  # I
            if i >= end:
                return -1
            if buf[i] & 0x80:  # M: 15-bit PictureID
                if i + 1 >= end:
                    return -1
                d.picture_id = ((buf[i] & 0x7F) << 8) | buf[i + 1]
                i += 2
            else:
                d.picture_id = buf[i]
                i += 1
        if x & 0x40:  # L
            if i >= end:
                return -1
            d.tl0picidx = buf[i]
            i += 1
        if x & 0x30:  # T or K
            if i >= end:
                return -1
            if x & 0x20:
                d.tid = buf[i] >> 6
            if x & 0x10:
                d.keyidx = buf[i] & 31
            i += 1
    d.size = i - off
    return d.size


class Vp8Packetizer:
    """`begin(frame, off, n)`, then `next(out, off)` -> payload length until 0; `marker` is 1 on
    the frame's last packet. The PictureID advances per frame."""

    def __init__(self, profile, max_payload=0, picture_id=0):
        self.max_payload = max_payload if max_payload > 0 else profile.mtu - _RTP_AND_SRTP
        if self.max_payload <= _DESCRIPTOR:
            raise ConfigError("max_payload too small for VP8")
        self.picture_id = picture_id & 0x7FFF
        self.marker = 0
        self._frame = None
        self._pos = 0
        self._end = 0
        self._first = False

    def begin(self, frame, off, n):
        self._frame = frame
        self._pos = off
        self._end = off + n
        self._first = True
        self.picture_id = (self.picture_id + 1) & 0x7FFF

    def next(self, out, off):
        if self._pos >= self._end:
            return 0
        n = self._end - self._pos
        room = self.max_payload - _DESCRIPTOR
        if n > room:
            n = room
        out[off] = 0x90 if self._first else 0x80  # X, S on the first packet, PID 0
        out[off + 1] = 0x80  # I
        out[off + 2] = 0x80 | (self.picture_id >> 8)  # M: 15 bits
        out[off + 3] = self.picture_id & 255
        copy_into(out, off + _DESCRIPTOR, self._frame, self._pos, n)
        self._pos += n
        self._first = False
        self.marker = 1 if self._pos >= self._end else 0
        return _DESCRIPTOR + n


class Vp8Depacketizer(FrameAssembler):
    """`push(buf, off, n, seq, marker)` -> a complete frame's length in `frame[0:n]` on the marker
    packet, else 0; gaps drop the frame (`lost_frames`); `keyframe` for the last frame."""

    def __init__(self, profile):
        super().__init__(profile)
        self.desc = Vp8Descriptor()
        self._started = False

    def push(self, buf, off, n, seq, marker):
        self._next_seq(seq)
        d = self.desc
        h = pull_descriptor(buf, off, n, d)
        if h < 0:
            self.malformed += 1
            self._broken = True
        else:
            if d.start and d.pid == 0:  # a new frame begins
                if self.len:
                    self.lost_frames += 1  # the previous one never saw its marker
                self.len = 0
                self._broken = False
                self._started = True
                self.keyframe = n > h and not (buf[off + h] & 1)
            if not self._started:
                self._broken = True
            else:
                self._append(buf, off + h, n - h)
        if not marker:
            return 0
        done = self.len if self._started and not self._broken else 0
        if not done:
            self.lost_frames += 1
        self.len = 0
        self._started = False
        self._broken = False
        return done
