"""Media codecs and RTP payload formats: g711, opus (RFC 7587 + Ogg), h264, vp8, ivf.

Plain functions over (buffer, offset, length) and small packetizer classes that write into
caller buffers. `copy_into` is the allocation-free byte copy they share; `FrameAssembler` is
what the video depacketizers share.
"""

from rtc_micro.memory import copy_into


class FrameAssembler:
    """One frame gathered from RTP payloads into a buffer sized by the board profile
    (`video_frame_bytes`). A sequence gap or an overflow marks the frame broken: the
    depacketizer drops it at its marker and counts it in `lost_frames`."""

    def __init__(self, profile):
        self.frame = bytearray(profile.video_frame_bytes)
        self.len = 0
        self.keyframe = False
        self.lost_frames = 0
        self.malformed = 0
        self._expect = -1
        self._broken = False

    def _next_seq(self, seq):
        """A gap in RTP sequence numbers (RFC 3550 §5.1) breaks the frame being gathered."""
        if self._expect >= 0 and seq != self._expect:
            self._broken = True
        self._expect = (seq + 1) & 0xFFFF

    def _append(self, buf, off, n):
        """Add `buf[off:off+n]`; a broken frame, or one that would overflow, stays broken."""
        if self._broken or self.len + n > len(self.frame):
            self._broken = True
            return
        copy_into(self.frame, self.len, buf, off, n)
        self.len += n
